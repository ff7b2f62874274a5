//! Broker primitives against a real nats-server.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use jetway_broker::kv::{BucketConfig, Expect, Op, Write};
use jetway_broker::lease::LeasesConfig;
use jetway_broker::stream::{
    ConsumerConfig, DeliverPolicy, Limits, Outgoing, Schedule, StreamConfig,
};
use jetway_broker::{Broker, ConnectOptions, Error, HeaderMap};
use jetway_testkit::NatsServer;

async fn connect(nats: &NatsServer) -> Broker {
    let opts = ConnectOptions {
        url: nats.url().into(),
        name: "broker-test".into(),
        ..Default::default()
    };
    Broker::connect(&opts, Duration::from_secs(5))
        .await
        .expect("connect")
}

fn put(key: &str, value: &'static str, expect: Expect) -> Write {
    Write {
        key: key.into(),
        op: Op::Put {
            value: Bytes::from_static(value.as_bytes()),
            ttl: None,
        },
        expect,
    }
}

fn delete(key: &str, expect: Expect) -> Write {
    Write {
        key: key.into(),
        op: Op::Delete,
        expect,
    }
}

async fn bucket(broker: &Broker, name: &str) -> jetway_broker::kv::Bucket {
    broker
        .bucket(BucketConfig {
            name: name.into(),
            replicas: 1,
            memory: false,
            max_age: None,
            raw_keys: false,
            schedules: false,
        })
        .await
        .expect("bucket")
}

#[tokio::test]
async fn kv_revisions_and_preconditions() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let b = bucket(&broker, "revs").await;

    assert_eq!(b.get("app||k 1").await.unwrap(), None);
    let r1 = b
        .write(put("app||k 1", "one", Expect::Absent))
        .await
        .unwrap();
    assert!(matches!(
        b.write(put("app||k 1", "again", Expect::Absent)).await,
        Err(Error::WrongRevision)
    ));
    let e = b.get("app||k 1").await.unwrap().unwrap();
    assert_eq!((e.value.as_ref(), e.revision), (b"one".as_ref(), r1));

    assert!(matches!(
        b.write(put("app||k 1", "x", Expect::Revision(r1 + 100)))
            .await,
        Err(Error::WrongRevision)
    ));
    let r2 = b
        .write(put("app||k 1", "two", Expect::Revision(r1)))
        .await
        .unwrap();
    assert!(r2 > r1);

    b.write(delete("app||k 1", Expect::Revision(r2)))
        .await
        .unwrap();
    assert_eq!(b.get("app||k 1").await.unwrap(), None);
    // A deleted key counts as absent for a create.
    b.write(put("app||k 1", "three", Expect::Absent))
        .await
        .unwrap();
    assert_eq!(b.get("app||k 1").await.unwrap().unwrap().value, "three");

    // Opening again is idempotent.
    bucket(&broker, "revs").await;
}

#[tokio::test]
async fn kv_ttl_expires_keys() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let b = bucket(&broker, "ttl").await;
    let write = Write {
        key: "short".into(),
        op: Op::Put {
            value: Bytes::from_static(b"v"),
            ttl: Some(Duration::from_secs(1)),
        },
        expect: Expect::Any,
    };
    b.write(write).await.unwrap();
    let entry = b
        .get("short")
        .await
        .unwrap()
        .expect("present before expiry");
    assert!(entry.expires_at.is_some());
    jetway_testkit::eventually(Duration::from_secs(5), || async {
        b.get("short").await.unwrap().is_none().then_some(())
    })
    .await
    .expect("key expires");
}

#[tokio::test]
async fn kv_atomic_batches_are_all_or_nothing() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let b = bucket(&broker, "txn").await;
    let ra = b.write(put("a", "a0", Expect::Any)).await.unwrap();

    b.write_atomic(vec![
        put("a", "a1", Expect::Revision(ra)),
        put("b", "b1", Expect::Absent),
        put("c", "c1", Expect::Any),
    ])
    .await
    .unwrap();
    assert_eq!(b.get("a").await.unwrap().unwrap().value, "a1");
    assert_eq!(b.get("b").await.unwrap().unwrap().value, "b1");

    // A stale revision fails the whole batch.
    let result = b
        .write_atomic(vec![
            put("c", "c2", Expect::Any),
            delete("b", Expect::Any),
            put("a", "a2", Expect::Revision(ra)),
        ])
        .await;
    assert!(matches!(result, Err(Error::WrongRevision)), "{result:?}");
    assert_eq!(b.get("c").await.unwrap().unwrap().value, "c1");
    assert_eq!(b.get("b").await.unwrap().unwrap().value, "b1");

    // Two writes of one key in a batch: the last one wins.
    b.write_atomic(vec![
        put("d", "d1", Expect::Any),
        delete("b", Expect::Any),
        put("d", "d2", Expect::Any),
    ])
    .await
    .unwrap();
    assert_eq!(b.get("d").await.unwrap().unwrap().value, "d2");
    assert_eq!(b.get("b").await.unwrap(), None);

    // A single-message batch is its own first and commit message.
    b.write_atomic(vec![put("e", "e1", Expect::Absent)])
        .await
        .unwrap();
    assert_eq!(b.get("e").await.unwrap().unwrap().value, "e1");
}

#[tokio::test]
async fn fenced_writes_fail_once_the_fence_is_claimed_again() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let b = bucket(&broker, "fenced").await;
    let first = b.claim_fence("partition-1", "host-a").await.unwrap();
    b.write_fenced(
        vec![put("x", "a1", Expect::Any), put("y", "a1", Expect::Any)],
        "partition-1",
        first,
    )
    .await
    .unwrap();
    // Another fence and other keys do not move this one.
    b.claim_fence("partition-2", "host-c").await.unwrap();
    b.write(put("z", "z", Expect::Any)).await.unwrap();
    b.write_fenced(vec![put("x", "a2", Expect::Any)], "partition-1", first)
        .await
        .unwrap();

    let second = b.claim_fence("partition-1", "host-b").await.unwrap();
    let stale = b
        .write_fenced(
            vec![put("x", "a3", Expect::Any), delete("y", Expect::Any)],
            "partition-1",
            first,
        )
        .await;
    assert!(matches!(stale, Err(Error::WrongRevision)), "{stale:?}");
    assert_eq!(b.get("x").await.unwrap().unwrap().value, "a2");
    assert_eq!(b.get("y").await.unwrap().unwrap().value, "a1");
    b.write_fenced(vec![put("x", "b1", Expect::Any)], "partition-1", second)
        .await
        .unwrap();
    assert_eq!(b.get("x").await.unwrap().unwrap().value, "b1");

    // Fences are not keys, and fenced writes take no preconditions.
    let mut keys = b.keys().await.unwrap();
    keys.sort();
    assert_eq!(keys, ["x", "y", "z"]);
    let conditional = b
        .write_fenced(
            vec![put("x", "b2", Expect::Revision(1))],
            "partition-1",
            second,
        )
        .await;
    assert!(
        matches!(conditional, Err(Error::Invalid(_))),
        "{conditional:?}"
    );
}

#[tokio::test]
async fn stream_publish_dedup_and_durable_consumer() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let cfg = StreamConfig {
        name: "PS".into(),
        subjects: vec!["ps.>".into()],
        replicas: 1,
        memory: false,
        limits: Default::default(),
    };
    let stream = broker.stream(cfg.clone()).await.unwrap();
    broker.stream(cfg).await.expect("idempotent");
    for i in 0..3 {
        let id = format!("id-{}", i.min(1)); // the third publish repeats id-1
        stream
            .publish(
                "ps.t".into(),
                HeaderMap::new(),
                Bytes::from(format!("m{i}")),
                Some(&id),
                None,
            )
            .await
            .unwrap();
    }
    let consumer_cfg = ConsumerConfig {
        name: "app_t".into(),
        filter_subject: "ps.t".into(),
        deliver_policy: DeliverPolicy::All,
        max_deliver: -1,
        max_ack_pending: 100,
        ack_wait: Duration::from_secs(30),
        inactive_threshold: None,
        pinned: None,
    };
    let consumer = stream.consumer(consumer_cfg.clone()).await.unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let first = messages.next().await.unwrap().unwrap();
    assert_eq!(first.payload(), "m0");
    first.ack().await.unwrap();
    let second = messages.next().await.unwrap().unwrap();
    assert_eq!(
        (second.payload().as_ref(), second.delivered()),
        (b"m1".as_ref(), 1)
    );
    second.nak(Duration::from_millis(10)).await.unwrap();
    let again = messages.next().await.unwrap().unwrap();
    assert_eq!(
        (again.payload().as_ref(), again.delivered()),
        (b"m1".as_ref(), 2)
    );
    again.ack().await.unwrap();
    // The duplicate id-1 was dropped by the server: nothing else arrives.
    let more = tokio::time::timeout(Duration::from_millis(300), messages.next()).await;
    assert!(more.is_err(), "no third message expected");
    stream
        .consumer(consumer_cfg.clone())
        .await
        .expect("binding to an existing consumer");

    // A consumer with an inactivity threshold is deleted by the server once
    // no one pulls from it.
    let forgetful = ConsumerConfig {
        name: "stream_t".into(),
        inactive_threshold: Some(Duration::from_millis(500)),
        pinned: None,
        ..consumer_cfg
    };
    let consumer = stream.consumer(forgetful).await.unwrap();
    drop(consumer);
    let js = async_nats::jetstream::new(broker.client().clone());
    let ps = js.get_stream("PS").await.unwrap();
    assert!(ps.consumer_info("stream_t").await.is_ok());
    jetway_testkit::eventually(Duration::from_secs(10), || async {
        ps.consumer_info("stream_t").await.is_err().then_some(())
    })
    .await
    .expect("the idle consumer is deleted");
    assert!(
        ps.consumer_info("app_t").await.is_ok(),
        "the durable one stays"
    );
}

#[tokio::test]
async fn stream_atomic_batches_store_every_message_or_none() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let stream = broker
        .stream(StreamConfig {
            name: "HIST".into(),
            subjects: vec!["h.>".into()],
            replicas: 1,
            memory: false,
            limits: Default::default(),
        })
        .await
        .unwrap();
    let out = |subject: &str, payload: &'static str, expect_last: Option<u64>| Outgoing {
        subject: subject.into(),
        payload: payload.into(),
        expect_last,
        ..Default::default()
    };
    let last_seq = stream
        .publish_atomic(vec![
            out("h.a", "a1", Some(0)),
            out("h.b", "b1", None),
            out("h.a.work", "w1", None),
        ])
        .await
        .unwrap();
    assert_eq!(stream.last_sequence("h.a.work").await.unwrap(), last_seq);
    let a = stream.last_sequence("h.a").await.unwrap();
    assert_eq!(stream.last_sequence("h.none").await.unwrap(), 0);

    // A stale expectation on one subject stores nothing of the batch.
    let stale = stream
        .publish_atomic(vec![out("h.b", "b2", None), out("h.a", "a2", Some(a - 1))])
        .await;
    assert!(matches!(stale, Err(Error::WrongRevision)), "{stale:?}");
    let payloads = |messages: Vec<(u64, bytes::Bytes)>| {
        messages.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
    };
    assert_eq!(
        payloads(stream.subject_messages("h.b", 0).await.unwrap()),
        ["b1"]
    );
    stream
        .publish_atomic(vec![out("h.a", "a2", Some(a)), out("h.b", "b2", None)])
        .await
        .unwrap();
    assert_eq!(
        payloads(stream.subject_messages("h.a", 0).await.unwrap()),
        ["a1", "a2"]
    );
    assert_eq!(
        payloads(stream.subject_messages("h.a", a + 1).await.unwrap()),
        ["a2"]
    );

    // A scheduled message in a batch is published to its target when due.
    let mut timer = out("h.t.1", "fired", None);
    timer.schedule = Some(Schedule {
        at: std::time::SystemTime::now() + Duration::from_millis(500),
        target: "h.fired".into(),
    });
    stream
        .publish_atomic(vec![timer, out("h.b", "b3", None)])
        .await
        .unwrap();
    assert!(
        stream
            .subject_messages("h.fired", 0)
            .await
            .unwrap()
            .is_empty()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stream
        .subject_messages("h.fired", 0)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the schedule never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        payloads(stream.subject_messages("h.fired", 0).await.unwrap()),
        ["fired"]
    );
    // A schedule that fired is gone.
    assert!(
        stream
            .subject_messages("h.t.1", 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Purging below a sequence keeps the rest of the subject.
    let a2 = stream.last_sequence("h.a").await.unwrap();
    stream.purge("h.a", Some(a2)).await.unwrap();
    assert_eq!(
        payloads(stream.subject_messages("h.a", 0).await.unwrap()),
        ["a2"]
    );
    stream.purge("h.>", None).await.unwrap();
    assert_eq!(stream.last_sequence("h.b").await.unwrap(), 0);
}

#[tokio::test]
async fn request_reply_and_no_responders() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let err = broker
        .request(
            "nobody.home".into(),
            HeaderMap::new(),
            Bytes::new(),
            Duration::from_secs(2),
        )
        .await;
    assert!(matches!(err, Err(Error::NoResponders)), "{err:?}");

    let mut sub = broker
        .serve("svc.echo".into(), "echo".into())
        .await
        .unwrap();
    let server = broker.clone();
    tokio::spawn(async move {
        while let Some(mut m) = sub.next().await {
            let reply = m.reply.clone().unwrap();
            server.take_payload(&mut m).await.unwrap();
            server
                .reply(reply, HeaderMap::new(), m.payload.clone())
                .await
                .unwrap();
        }
    });
    let reply = broker
        .request(
            "svc.echo".into(),
            HeaderMap::new(),
            Bytes::from_static(b"hi"),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(reply.payload, "hi");

    // Beyond one message, staged both ways; beyond the body limit, refused.
    let big = Bytes::from(vec![7u8; broker.max_payload() * 2]);
    let reply = broker
        .request(
            "svc.echo".into(),
            HeaderMap::new(),
            big.clone(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(reply.payload, big);
    let huge = Bytes::from(vec![0u8; broker.max_body() + 1]);
    let err = broker
        .request(
            "svc.echo".into(),
            HeaderMap::new(),
            huge,
            Duration::from_secs(2),
        )
        .await;
    assert!(matches!(err, Err(Error::PayloadTooLarge(_))), "{err:?}");
}

/// What the server holds of a stream: its limits and message count.
async fn stream_state(broker: &Broker, name: &str) -> (Duration, i64, u64) {
    let js = async_nats::jetstream::new(broker.client().clone());
    let mut stream = js.get_stream(name).await.unwrap();
    let info = stream.info().await.unwrap();
    (
        info.config.max_age,
        info.config.max_messages,
        info.state.messages,
    )
}

#[tokio::test]
async fn stream_limits_apply_when_created_and_when_changed() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let mut cfg = StreamConfig {
        name: "LIM".into(),
        subjects: vec!["lim.>".into()],
        replicas: 1,
        memory: false,
        limits: Limits {
            max_age: Some(Duration::from_secs(3600)),
            max_bytes: None,
            max_msgs: Some(3),
        },
    };
    let stream = broker.stream(cfg.clone()).await.unwrap();
    for i in 0..5 {
        let body = Bytes::from(format!("m{i}"));
        stream
            .publish("lim.t".into(), HeaderMap::new(), body, None, None)
            .await
            .unwrap();
    }
    // The oldest go first.
    assert_eq!(
        stream_state(&broker, "LIM").await,
        (Duration::from_secs(3600), 3, 3)
    );
    // Named limits change an existing stream; unnamed ones stay as they are.
    cfg.limits = Limits {
        max_msgs: Some(10),
        ..Default::default()
    };
    broker.stream(cfg).await.unwrap();
    assert_eq!(
        stream_state(&broker, "LIM").await,
        (Duration::from_secs(3600), 10, 3)
    );
}

#[tokio::test]
async fn what_the_server_lost_is_provisioned_again() {
    let nats = NatsServer::start().await;
    let broker = connect(&nats).await;
    let js = async_nats::jetstream::new(broker.client().clone());

    // A bucket: reads, single writes and atomic batches bring it back.
    let kv = bucket(&broker, "lost").await;
    kv.write(put("a", "1", Expect::Any)).await.unwrap();
    js.delete_stream("KV_lost").await.unwrap();
    assert_eq!(kv.get("a").await.unwrap(), None, "the value went with it");
    js.delete_stream("KV_lost").await.unwrap();
    kv.write(put("a", "2", Expect::Absent)).await.unwrap();
    assert_eq!(kv.get("a").await.unwrap().unwrap().value, "2");
    js.delete_stream("KV_lost").await.unwrap();
    kv.write_atomic(vec![
        put("a", "3", Expect::Absent),
        put("b", "4", Expect::Any),
    ])
    .await
    .unwrap();
    assert_eq!(kv.keys().await.unwrap().len(), 2);

    // A stream: publishes and consumers bring it back.
    let cfg = StreamConfig {
        name: "LOST".into(),
        subjects: vec!["lost.>".into()],
        replicas: 1,
        memory: true,
        limits: Default::default(),
    };
    let stream = broker.stream(cfg).await.unwrap();
    js.delete_stream("LOST").await.unwrap();
    stream
        .publish("lost.t".into(), HeaderMap::new(), "m".into(), None, None)
        .await
        .unwrap();
    js.delete_stream("LOST").await.unwrap();
    let consumer = stream
        .consumer(ConsumerConfig {
            name: "c".into(),
            filter_subject: "lost.t".into(),
            deliver_policy: DeliverPolicy::All,
            max_deliver: -1,
            max_ack_pending: 10,
            ack_wait: Duration::from_secs(30),
            inactive_threshold: None,
            pinned: None,
        })
        .await
        .unwrap();
    stream
        .publish("lost.t".into(), HeaderMap::new(), "n".into(), None, None)
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    assert_eq!(messages.next().await.unwrap().unwrap().payload(), "n");

    // A lease: its holder holds it again once pulls work.
    let leases = broker
        .leases(LeasesConfig {
            name: "LEASES".into(),
            subject_prefix: "lease".into(),
            replicas: 1,
            ttl: Duration::from_secs(1),
        })
        .await
        .unwrap();
    let lease = leases.contend("one", Default::default()).await.unwrap();
    let held = || async { lease.is_held().then_some(()) };
    jetway_testkit::eventually(Duration::from_secs(5), held)
        .await
        .expect("held");
    js.delete_stream("LEASES").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    jetway_testkit::eventually(Duration::from_secs(10), held)
        .await
        .expect("held again");
}

//! Publish, delivery to apps, app answers, dead letters, consumer groups.

use std::time::Duration;

use jetway_testkit::{NatsServer, Resources, Sidecar};
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::client;

fn sub(topic: &str, route: &str) -> Value {
    json!({"pubsubname": "pubsub", "topic": topic, "route": route})
}

async fn publish(
    s: &Sidecar,
    topic: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> u16 {
    client()
        .post(format!("{}/v1.0/publish/pubsub/{topic}", s.url()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn resources(kind: &str) -> Resources {
    Resources::new().component("pubsub", kind, &[])
}

#[tokio::test]
async fn cloudevents_for_json_text_binary_and_passthrough() {
    let nats = NatsServer::start().await;
    for kind in ["pubsub.jetstream", "pubsub.in-memory"] {
        let res = resources(kind);
        let app = TestApp::start(json!([sub("orders", "/orders")])).await;
        let subscriber = Sidecar::builder("subscriber")
            .app_port(app.port)
            .nats(&nats)
            .resources(&res)
            .start()
            .await
            .unwrap();
        // In-memory topics live in one process: publish through the subscriber's own sidecar.
        let publisher = if kind == "pubsub.in-memory" {
            None
        } else {
            Some(
                Sidecar::builder("publisher")
                    .nats(&nats)
                    .resources(&res)
                    .start()
                    .await
                    .unwrap(),
            )
        };
        let p = publisher.as_ref().unwrap_or(&subscriber);
        assert_eq!(
            publish(
                p,
                "orders",
                "application/json",
                r#"{"id": 7, "big": 12345678901234567890}"#
            )
            .await,
            204
        );
        assert_eq!(publish(p, "orders", "text/plain", "hello").await, 204);
        assert_eq!(
            publish(p, "orders", "application/octet-stream", vec![0u8, 255, 1]).await,
            204
        );
        let ce = json!({"specversion": "1.0", "id": "mine-1", "source": "me", "type": "my.type", "datacontenttype": "application/json", "data": {"ok": true}, "ext": "x"});
        assert_eq!(
            publish(p, "orders", "application/cloudevents+json", ce.to_string()).await,
            204
        );

        let got = app.wait_for("/orders", 4, Duration::from_secs(10)).await;
        let events: Vec<Value> = got.iter().map(|r| r.json()).collect();
        let find = |ct: &str| {
            events
                .iter()
                .find(|e| e["datacontenttype"] == ct)
                .unwrap_or_else(|| panic!("{kind}: no {ct} event in {events:?}"))
        };
        let j = find("application/json");
        assert_eq!(j["data"]["id"], 7);
        assert!(
            String::from_utf8_lossy(
                &got.iter()
                    .find(|r| r.json()["datacontenttype"] == "application/json")
                    .unwrap()
                    .body
            )
            .contains("12345678901234567890")
        );
        assert_eq!(
            (
                j["specversion"].as_str(),
                j["type"].as_str(),
                j["topic"].as_str(),
                j["pubsubname"].as_str()
            ),
            (
                Some("1.0"),
                Some("com.dapr.event.sent"),
                Some("orders"),
                Some("pubsub")
            )
        );
        assert_eq!(j["source"], p.app_id.as_str());
        assert!(j["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert_eq!(find("text/plain")["data"], "hello");
        assert_eq!(find("application/octet-stream")["data_base64"], "AP8B");
        let mine = events
            .iter()
            .find(|e| e["id"] == "mine-1")
            .expect("passthrough event");
        assert_eq!(
            (
                mine["source"].as_str(),
                mine["type"].as_str(),
                mine["ext"].as_str()
            ),
            (Some("me"), Some("my.type"), Some("x"))
        );
        assert_eq!(mine["topic"], "orders");
        assert_eq!(
            got[0].headers["content-type"],
            "application/cloudevents+json"
        );
    }
}

#[tokio::test]
async fn raw_payloads_ttl_and_duplicate_ids() {
    let nats = NatsServer::start().await;
    let res = resources("pubsub.jetstream");
    let publisher = Sidecar::builder("publisher")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    // Published before anyone subscribed, with a 1 s TTL: gone by the time the app subscribes.
    let r = client()
        .post(format!(
            "{}/v1.0/publish/pubsub/events?metadata.ttlInSeconds=1",
            publisher.url()
        ))
        .body("expires")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let raw_sub = json!({"pubsubname": "pubsub", "topic": "raw", "route": "/raw", "metadata": {"rawPayload": "true"}});
    let app = TestApp::start(json!([sub("events", "/events"), raw_sub])).await;
    let _s = Sidecar::builder("subscriber")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    for _ in 0..2 {
        let r = client()
            .post(format!(
                "{}/v1.0/publish/pubsub/events?metadata.cloudevent.id=same-id",
                publisher.url()
            ))
            .body("once")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let r = client()
        .post(format!(
            "{}/v1.0/publish/pubsub/raw?metadata.rawPayload=true",
            publisher.url()
        ))
        .body("raw bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let raw = app.wait_for("/raw", 1, Duration::from_secs(10)).await;
    let raw = raw[0].json();
    assert_eq!(
        (raw["datacontenttype"].as_str(), raw["data_base64"].as_str()),
        (Some("application/octet-stream"), Some("cmF3IGJ5dGVz"))
    );
    app.wait_for("/events", 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events: Vec<Value> = app.received("/events").iter().map(|r| r.json()).collect();
    assert_eq!(
        events.len(),
        1,
        "the expired message is never delivered and the duplicate id is suppressed: {events:?}"
    );
    assert_eq!(events[0]["data"], "once");
}

#[tokio::test]
async fn app_answers_decide_ack_retry_drop_and_dead_letters() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component(
        "pubsub",
        "pubsub.jetstream",
        &[("backOff", "50ms"), ("maxDeliver", "3")],
    );
    let subs = json!([
        {"pubsubname": "pubsub", "topic": "retry", "route": "/retry"},
        {"pubsubname": "pubsub", "topic": "drop", "route": "/drop", "deadLetterTopic": "dead"},
        {"pubsubname": "pubsub", "topic": "fail", "route": "/fail", "deadLetterTopic": "dead"},
        {"pubsubname": "pubsub", "topic": "gone", "route": "/gone"},
        sub("dead", "/dead"),
    ]);
    let app = TestApp::start(subs).await;
    app.reply("/retry", 200, r#"{"status":"RETRY"}"#);
    app.reply("/drop", 200, r#"{"status":"DROP"}"#);
    app.reply("/fail", 500, "boom");
    app.reply("/gone", 404, "");
    let s = Sidecar::builder("app")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    for topic in ["retry", "drop", "fail", "gone"] {
        assert_eq!(publish(&s, topic, "text/plain", topic).await, 204);
    }
    // RETRY: redelivered; once the app says SUCCESS it stops.
    app.wait_for("/retry", 2, Duration::from_secs(10)).await;
    app.reply("/retry", 200, r#"{"status":"SUCCESS"}"#);
    // DROP goes straight to the dead-letter topic; a failing event after its 3 attempts.
    let dead = app.wait_for("/dead", 2, Duration::from_secs(15)).await;
    let mut data: Vec<String> = dead
        .iter()
        .map(|r| r.json()["data"].as_str().unwrap_or("").to_owned())
        .collect();
    data.sort();
    assert_eq!(data, ["drop", "fail"]);
    assert_eq!(app.received("/drop").len(), 1, "DROP is not retried");
    assert_eq!(
        app.received("/fail").len(),
        3,
        "a failing event is tried maxDeliver times"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.received("/gone").len(), 1, "404 is not retried");
    let retries = app.received("/retry").len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.received("/retry").len(), retries, "acked after SUCCESS");
}

#[tokio::test]
async fn one_consumer_per_app_id_shared_by_replicas() {
    let nats = NatsServer::start().await;
    let res = resources("pubsub.jetstream");
    let subs = json!([sub("orders", "/orders")]);
    let (r1, r2, other) = (
        TestApp::start(subs.clone()).await,
        TestApp::start(subs.clone()).await,
        TestApp::start(subs).await,
    );
    let _s1 = Sidecar::builder("shipping")
        .app_port(r1.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let _s2 = Sidecar::builder("shipping")
        .app_port(r2.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let _s3 = Sidecar::builder("billing")
        .app_port(other.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let p = Sidecar::builder("orders")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    for i in 0..50 {
        assert_eq!(
            publish(&p, "orders", "application/json", i.to_string()).await,
            204
        );
    }
    other.wait_for("/orders", 50, Duration::from_secs(10)).await;
    jetway_testkit::eventually(Duration::from_secs(10), || async {
        (r1.received("/orders").len() + r2.received("/orders").len() >= 50).then_some(())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut seen: Vec<i64> = r1
        .received("/orders")
        .iter()
        .chain(r2.received("/orders").iter())
        .map(|r| r.json()["data"].as_i64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        (0..50).collect::<Vec<_>>(),
        "each message reaches exactly one replica of an app id"
    );
}

#[tokio::test]
async fn declarative_subscriptions_route_by_rules_and_scopes() {
    let nats = NatsServer::start().await;
    let res = resources("pubsub.jetstream").with(
        "subs.yaml",
        r#"
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: widgets}
spec:
  pubsubname: pubsub
  topic: widgets
  routes:
    rules:
    - match: event.data.size == "big"
      path: /widgets/big
    default: /widgets
scopes: [warehouse]
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: elsewhere}
spec: {pubsubname: pubsub, topic: widgets, route: /not-me}
scopes: [someone-else]
"#,
    );
    let app = TestApp::start(Value::Null).await;
    let s = Sidecar::builder("warehouse")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    publish(&s, "widgets", "application/json", r#"{"size":"big"}"#).await;
    publish(&s, "widgets", "application/json", r#"{"size":"small"}"#).await;
    app.wait_for("/widgets/big", 1, Duration::from_secs(10))
        .await;
    let small = app.wait_for("/widgets", 1, Duration::from_secs(10)).await;
    assert_eq!(small[0].json()["data"]["size"], "small");
    assert!(app.received("/not-me").is_empty());
    let meta: Value = client()
        .get(format!("{}/v1.0/metadata", s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subs = meta["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(
        (
            subs[0]["type"].as_str(),
            subs[0]["rules"].as_array().unwrap().len()
        ),
        (Some("DECLARATIVE"), 2)
    );
}

#[tokio::test]
async fn bulk_publish_and_publish_errors() {
    let nats = NatsServer::start().await;
    let res = resources("pubsub.jetstream");
    let app = TestApp::start(json!([sub("bulk", "/bulk")])).await;
    let s = Sidecar::builder("app")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let entries = json!([
        {"entryId": "1", "event": {"n": 1}, "contentType": "application/json"},
        {"entryId": "2", "event": "two", "contentType": "text/plain"},
    ]);
    let r = client()
        .post(format!("{}/v1.0-alpha1/publish/bulk/pubsub/bulk", s.url()))
        .json(&entries)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let got = app.wait_for("/bulk", 2, Duration::from_secs(10)).await;
    let mut data: Vec<String> = got.iter().map(|r| r.json()["data"].to_string()).collect();
    data.sort();
    assert_eq!(data, [r#""two""#, r#"{"n":1}"#]);

    let r = client()
        .post(format!("{}/v1.0/publish/nope/t", s.url()))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_PUBSUB_NOT_FOUND");
    let r = client()
        .post(format!(
            "{}/v1.0/publish/pubsub/t?metadata.ttlInSeconds=abc",
            s.url()
        ))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A rich error of daprd's: its details, in order, in the body.
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_PUBSUB_REQUEST_METADATA");
    assert_eq!(
        body["details"],
        json!([
            {
                "@type": "type.googleapis.com/google.rpc.ResourceInfo",
                "resource_type": "pubsub",
                "resource_name": "pubsub",
                "owner": "",
                "description": "",
            },
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "DAPR_PUBSUB_METADATA_DESERIALIZATION",
                "domain": "dapr.io",
                "metadata": null,
            },
        ])
    );
    let r = client()
        .post(format!("{}/v1.0/publish/pubsub/t", s.url()))
        .header("content-type", "application/cloudevents+json")
        .body("[1]")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_PUBSUB_CLOUD_EVENTS_SER");
}

#[tokio::test]
async fn programmatic_v2_routes_and_trace_context() {
    let nats = NatsServer::start().await;
    let res = resources("pubsub.jetstream");
    let v2 = json!([{
        "pubsubname": "pubsub",
        "topic": "shapes",
        "routes": {"rules": [{"match": "event.data.sides == 3", "path": "/triangles"}], "default": "/shapes"},
    }]);
    let app = TestApp::start(v2).await;
    let s = Sidecar::builder("geometry")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = client()
        .post(format!("{}/v1.0/publish/pubsub/shapes", s.url()))
        .header("content-type", "application/json")
        .header("traceparent", traceparent)
        .body(r#"{"sides":3}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    publish(&s, "shapes", "application/json", r#"{"sides":4}"#).await;
    let triangle = app.wait_for("/triangles", 1, Duration::from_secs(10)).await;
    assert_eq!(
        triangle[0].headers["traceparent"], traceparent,
        "trace context reaches the subscriber"
    );
    assert_eq!(triangle[0].json()["traceparent"], traceparent);
    let square = app.wait_for("/shapes", 1, Duration::from_secs(10)).await;
    assert_eq!(square[0].json()["data"]["sides"], 4);
    let meta: Value = client()
        .get(format!("{}/v1.0/metadata", s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["subscriptions"][0]["type"], "PROGRAMMATIC");
}

#[tokio::test]
async fn a_slow_app_is_not_sent_a_second_copy() {
    let nats = NatsServer::start().await;
    // Redelivery after 1 s without an ack; the app takes 3 s.
    let res = Resources::new().component("pubsub", "pubsub.jetstream", &[("ackWait", "1s")]);
    let app = TestApp::start(json!([sub("slow", "/slow")])).await;
    app.delay("/slow", Duration::from_secs(3));
    let s = Sidecar::builder("slowpoke")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    assert_eq!(
        publish(&s, "slow", "text/plain", "take your time").await,
        204
    );
    app.wait_for("/slow", 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        app.received("/slow").len(),
        1,
        "progress reports keep the broker from redelivering"
    );
}

/// Bulk subscriptions: events arrive in batches and each entry is settled by
/// its own status.
#[tokio::test]
async fn bulk_subscriptions_settle_each_entry() {
    let nats = NatsServer::start().await;
    let res = resources("pubsub.jetstream");
    let app = TestApp::start(json!([{
        "pubsubname": "pubsub", "topic": "bulk-orders", "route": "/bulk",
        "bulkSubscribe": {"enabled": true, "maxMessagesCount": 10, "maxAwaitDurationMs": 500},
        "metadata": {"maxDeliver": "2"}, "deadLetterTopic": "bulk-dead",
    }, sub("bulk-dead", "/dead")]))
    .await;
    let s = Sidecar::builder("bulk-app")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    for event in [
        json!({"n": 1}),
        json!({"n": 2, "status": "DROP"}),
        json!({"n": 3, "status": "RETRY"}),
        json!({"n": 4}),
    ] {
        assert_eq!(
            publish(&s, "bulk-orders", "application/json", event.to_string()).await,
            204
        );
    }
    // The retried event comes back, then goes to the dead-letter topic with the dropped one.
    let dead = app.wait_for("/dead", 2, Duration::from_secs(30)).await;
    let mut dead_ns: Vec<_> = dead.iter().map(|r| r.json()["data"]["n"].clone()).collect();
    dead_ns.sort_by_key(|n| n.as_i64());
    assert_eq!(dead_ns, [json!(2), json!(3)]);
    let batches = app.received("/bulk");
    assert_eq!(
        batches[0].headers["content-type"],
        "application/cloudevents-batch+json"
    );
    let first = batches[0].json();
    assert_eq!(first["type"], "com.dapr.event.sent.bulk");
    assert_eq!(first["topic"], "bulk-orders");
    assert_eq!(
        first["entries"].as_array().unwrap().len(),
        4,
        "one batch of four"
    );
    let deliveries = |n: i64| {
        batches
            .iter()
            .flat_map(|b| b.json()["entries"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["event"]["data"]["n"] == n)
            .count()
    };
    assert_eq!(
        (deliveries(1), deliveries(2), deliveries(3), deliveries(4)),
        (1, 1, 2, 1)
    );
}

#[tokio::test]
async fn hung_handlers_and_poison_events_are_bounded() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component(
        "pubsub",
        "pubsub.jetstream",
        &[
            ("processingTimeout", "1s"),
            ("maxDeliver", "3"),
            ("backOff", "100ms"),
        ],
    );
    let app = TestApp::start(json!([
        {"pubsubname": "pubsub", "topic": "slow", "route": "/slow"},
        {"pubsubname": "pubsub", "topic": "poison", "route": "/poison"},
    ]))
    .await;
    app.delay("/slow", Duration::from_secs(30));
    let s = Sidecar::builder("sub")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let publish = |topic: &str, body: &str, raw: bool| {
        let mut url = format!("{}/v1.0/publish/pubsub/{topic}", s.url());
        if raw {
            url.push_str("?metadata.rawPayload=true");
        }
        client()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    // A handler that hangs is given up at the deadline and the event
    // redelivered, until maxDeliver: then it is dropped, not held forever.
    assert_eq!(publish("slow", "1", false).await.unwrap().status(), 204);
    app.wait_for("/slow", 3, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.received("/slow").len(), 3);
    // An event that is not a CloudEvent is dropped at once, not retried.
    assert_eq!(
        publish("poison", "not json", true).await.unwrap().status(),
        204
    );
    assert_eq!(publish("poison", "2", false).await.unwrap().status(), 204);
    let got = app.wait_for("/poison", 1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json()["data"], 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.received("/poison").len(), 1);
}

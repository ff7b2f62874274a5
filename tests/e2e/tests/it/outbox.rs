//! The transactional outbox: a transaction's upserts publish their events
//! (projections instead, where given) in the same atomic commit as the state,
//! so a sidecar killed in the middle of many transactions leaves exactly as
//! many state changes as events.

use std::collections::BTreeSet;
use std::time::Duration;

use jetway_testkit::{NatsServer, Resources, Sidecar};
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::client;

fn resources() -> Resources {
    Resources::new()
        .component(
            "store",
            "state.jetstream",
            &[
                ("outboxPublishPubsub", "pubsub"),
                ("outboxPublishTopic", "orders"),
                ("outboxPubsub", "pubsub"),
            ],
        )
        .component("pubsub", "pubsub.jetstream", &[])
}

async fn transact(s: &Sidecar, ops: Value) -> reqwest::Result<u16> {
    client()
        .post(format!("{}/v1.0/state/store/transaction", s.url()))
        .json(&json!({"operations": ops}))
        .send()
        .await
        .map(|r| r.status().as_u16())
}

async fn state(s: &Sidecar, key: &str) -> Option<Value> {
    let r = client()
        .get(format!("{}/v1.0/state/store/{key}", s.url()))
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        200 => Some(r.json().await.unwrap()),
        _ => None,
    }
}

fn events(app: &TestApp) -> Vec<Value> {
    app.received("/orders").iter().map(|r| r.json()).collect()
}

#[tokio::test]
async fn upserts_publish_their_events_and_projections() {
    let nats = NatsServer::start().await;
    let res = resources();
    let app =
        TestApp::start(json!([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]))
            .await;
    let s = Sidecar::builder("shop")
        .nats(&nats)
        .resources(&res)
        .app_port(app.port)
        .start()
        .await
        .unwrap();
    let ops = json!([
        {"operation": "upsert", "request": {"key": "o1", "value": {"n": 1}, "metadata": {"type": "order.placed"}}},
        {"operation": "upsert", "request": {"key": "o2", "value": {"n": 2, "secret": "x"}}},
        {"operation": "upsert", "request": {"key": "o2", "value": {"n": 2}, "metadata": {"outbox.projection": "true"}}},
        {"operation": "delete", "request": {"key": "gone"}},
    ]);
    assert_eq!(transact(&s, ops).await.unwrap(), 204);
    let got = app.wait_for("/orders", 2, Duration::from_secs(15)).await;
    let mut got: Vec<Value> = got.iter().map(|r| r.json()).collect();
    got.sort_by_key(|e| e["data"]["n"].as_i64());
    assert_eq!(got[0]["data"], json!({"n": 1}));
    assert_eq!(
        got[0]["type"], "order.placed",
        "the upsert's metadata overrides"
    );
    assert_eq!(
        got[1]["data"],
        json!({"n": 2}),
        "the projection is published"
    );
    assert_eq!(got[1]["type"], "com.dapr.event.sent");
    for e in &got {
        assert!(e["id"].as_str().unwrap().starts_with("outbox-"), "{e}");
        assert_eq!(
            (&e["source"], &e["topic"], &e["pubsubname"]),
            (&json!("shop"), &json!("orders"), &json!("pubsub"))
        );
        assert_eq!(e["datacontenttype"], "application/json");
    }
    assert_eq!(
        state(&s, "o2").await,
        Some(json!({"n": 2, "secret": "x"})),
        "the projection is not saved"
    );

    // Plain saves publish nothing; a transaction that fails publishes nothing.
    let save = client()
        .post(format!("{}/v1.0/state/store", s.url()))
        .json(&json!([{"key": "quiet", "value": 1}]))
        .send()
        .await
        .unwrap();
    assert_eq!(save.status(), 204);
    let stale = json!([
        {"operation": "upsert", "request": {"key": "o3", "value": {"n": 3}}},
        {"operation": "upsert", "request": {"key": "o1", "value": {"n": 4}, "etag": "999999"}},
    ]);
    assert_eq!(transact(&s, stale).await.unwrap(), 500);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(events(&app).len(), 2);
    assert_eq!(state(&s, "o3").await, None);

    // An outbox on a store that cannot hold one is refused at start-up.
    let memory = Resources::new().component(
        "store",
        "state.in-memory",
        &[
            ("outboxPublishPubsub", "pubsub"),
            ("outboxPublishTopic", "t"),
        ],
    );
    let (code, log) = Sidecar::builder("refused")
        .nats(&nats)
        .resources(&memory)
        .start_fails()
        .await;
    assert_eq!(code, Some(78), "{log}");
    assert!(log.contains("outboxPublishPubsub"), "{log}");
}

#[tokio::test]
async fn a_sidecar_killed_amid_transactions_leaves_one_event_per_state_change() {
    let nats = NatsServer::start().await;
    let res = resources();
    let app =
        TestApp::start(json!([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]))
            .await;
    let _reader = Sidecar::builder("reader")
        .nats(&nats)
        .resources(&res)
        .app_port(app.port)
        .start()
        .await
        .unwrap();
    let mut writer = Sidecar::builder("writer")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    const N: usize = 3000;
    let url = writer.url();
    let sending = tokio::spawn(async move {
        use futures::StreamExt;
        let http = client();
        futures::stream::iter(0..N)
            .map(|i| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let ops = json!([{"operation": "upsert", "request": {"key": format!("k{i}"), "value": {"i": i}}}]);
                    let r = http
                        .post(format!("{url}/v1.0/state/store/transaction"))
                        .json(&json!({"operations": ops}))
                        .send()
                        .await;
                    (i, matches!(r, Ok(r) if r.status() == 204))
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await
    });
    // Kill it while transactions are in flight.
    tokio::time::sleep(Duration::from_millis(400)).await;
    writer.kill().await;
    let acknowledged: BTreeSet<usize> = sending
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(i, ok)| ok.then_some(i))
        .collect();
    assert!(
        acknowledged.len() < N,
        "the kill cut some transactions short"
    );
    writer.restart().await.unwrap();

    // Both sides, once the relay is done: the keys that hold a value and the
    // events published are the same set.
    let mut saved = BTreeSet::new();
    for i in 0..N {
        if state(&writer, &format!("k{i}")).await.is_some() {
            saved.insert(i);
        }
    }
    assert!(
        acknowledged.is_subset(&saved),
        "every acknowledged transaction is saved"
    );
    let published = jetway_testkit::eventually(Duration::from_secs(40), || async {
        let ids: BTreeSet<usize> = events(&app)
            .iter()
            .filter_map(|e| e["data"]["i"].as_u64().map(|i| i as usize))
            .collect();
        (ids.len() >= saved.len()).then_some(ids)
    })
    .await
    .unwrap_or_default();
    assert_eq!(
        published,
        saved,
        "{} saved, {} published, {} acknowledged",
        saved.len(),
        published.len(),
        acknowledged.len()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let all = events(&app);
    let ids: BTreeSet<&str> = all.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), saved.len(), "no event twice");
}

//! Nothing acknowledged is lost: messages published while the subscriber is
//! down, and state writes acknowledged just before a crash.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jetway_testkit::{NatsServer, Resources, Sidecar};
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::client;

const MESSAGES: usize = 1000;

/// An app subscribed to `orders` behind sidecar "consumer", and a sidecar
/// "producer" without an app.
pub(crate) async fn consumer_and_producer(
    nats_url: &str,
    res: &Resources,
) -> (TestApp, Sidecar, Sidecar) {
    let app =
        TestApp::start(json!([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]))
            .await;
    let subscriber = Sidecar::builder("consumer")
        .app_port(app.port)
        .nats_url(nats_url)
        .resources(res)
        .start()
        .await
        .unwrap();
    let publisher = Sidecar::builder("producer")
        .nats_url(nats_url)
        .resources(res)
        .start()
        .await
        .unwrap();
    (app, subscriber, publisher)
}

async fn publish_all(p: &Sidecar, topic: &str) {
    let http = client();
    let url = format!("{}/v1.0/publish/pubsub/{topic}", p.url());
    let ids: Vec<usize> = (0..MESSAGES).collect();
    // 32 at a time.
    for chunk in ids.chunks(32) {
        let sends = chunk.iter().map(|i| {
            http.post(&url)
                .header("content-type", "application/json")
                .body(i.to_string())
                .send()
        });
        for r in futures::future::join_all(sends).await {
            assert_eq!(r.unwrap().status(), 204);
        }
    }
}

fn distinct(app: &TestApp, path: &str) -> HashSet<i64> {
    app.received(path)
        .iter()
        .filter_map(|r| r.json()["data"].as_i64())
        .collect()
}

async fn wait_all(app: &TestApp, path: &str) {
    jetway_testkit::eventually(Duration::from_secs(60), || async {
        (distinct(app, path).len() == MESSAGES).then_some(())
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{path}: {} of {MESSAGES} delivered",
            distinct(app, path).len()
        )
    });
}

#[tokio::test]
async fn messages_published_while_the_app_is_down_are_all_delivered() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component("pubsub", "pubsub.jetstream", &[]);
    let (mut app, _subscriber, publisher) = consumer_and_producer(nats.url(), &res).await;

    app.stop();
    publish_all(&publisher, "orders").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.restart().await;
    wait_all(&app, "/orders").await;
}

#[tokio::test]
async fn messages_published_while_the_sidecar_is_down_are_all_delivered() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component("pubsub", "pubsub.jetstream", &[]);
    let (app, mut subscriber, publisher) = consumer_and_producer(nats.url(), &res).await;
    subscriber.kill().await;
    publish_all(&publisher, "orders").await;
    subscriber.restart().await.unwrap();
    wait_all(&app, "/orders").await;
}

#[tokio::test]
async fn acknowledged_state_writes_survive_a_sidecar_crash() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component("store", "state.jetstream", &[]);
    let mut writer = Sidecar::builder("writer")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let url = format!("{}/v1.0/state/store", writer.url());
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writes = {
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            let http = client();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = json!([{"key": format!("k{i}"), "value": i}]);
                match http
                    .post(&url)
                    .json(&body)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 204 => acked.lock().unwrap().push(i),
                    _ => break, // the sidecar is gone
                }
            }
        })
    };
    jetway_testkit::eventually(Duration::from_secs(20), || async {
        (acked.lock().unwrap().len() >= 200).then_some(())
    })
    .await
    .unwrap();
    writer.kill().await;
    stop.store(true, Ordering::Relaxed);
    writes.await.unwrap();
    writer.restart().await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let keys: Vec<String> = acked.iter().map(|i| format!("k{i}")).collect();
    let r = client()
        .post(format!("{}/v1.0/state/store/bulk", writer.url()))
        .json(&json!({"keys": keys}))
        .send()
        .await
        .unwrap();
    let items: Vec<Value> = r.json().await.unwrap();
    for (item, i) in items.iter().zip(&acked) {
        assert_eq!(
            item["data"].as_i64(),
            Some(*i),
            "acknowledged write k{i} lost"
        );
    }
    assert_eq!(items.len(), acked.len());
}

#[tokio::test]
async fn sidecars_survive_a_nats_server_restart() {
    let mut nats = NatsServer::start().await;
    let res = Resources::new()
        .component("pubsub", "pubsub.jetstream", &[])
        .component("store", "state.jetstream", &[]);
    let (app, subscriber, publisher) = consumer_and_producer(nats.url(), &res).await;
    let http = client();
    let publish = |i: i64| {
        http.post(format!("{}/v1.0/publish/pubsub/orders", publisher.url()))
            .header("content-type", "application/json")
            .body(i.to_string())
            .send()
    };
    assert_eq!(publish(1).await.unwrap().status(), 204);
    app.wait_for("/orders", 1, Duration::from_secs(10)).await;

    let before = nats.pid();
    nats.restart().await;
    assert_ne!(before, nats.pid(), "a new server process");

    // Every building block works again without restarting a sidecar.
    jetway_testkit::eventually(Duration::from_secs(20), || async {
        (publish(2).await.ok()?.status() == 204).then_some(())
    })
    .await
    .expect("publish after the restart");
    let got = app.wait_for("/orders", 2, Duration::from_secs(30)).await;
    assert!(got.iter().any(|r| r.json()["data"] == 2));
    let save = http
        .post(format!("{}/v1.0/state/store", publisher.url()))
        .json(&json!([{"key": "k", "value": 1}]))
        .send()
        .await
        .unwrap();
    assert_eq!(save.status(), 204);
    let r = http
        .post(format!(
            "{}/v1.0/invoke/consumer/method/echo",
            publisher.url()
        ))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(subscriber);
}

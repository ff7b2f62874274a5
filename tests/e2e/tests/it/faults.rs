//! Faults: an actor host paused or cut off past its lease while a call is in
//! flight. Its actors move; its late state write is refused; nothing
//! acknowledged is lost and nothing unacknowledged lands.

use std::path::Path;
use std::time::Duration;

use jetway_testkit::{NatsServer, Relay, Sidecar, eventually};
use serde_json::Value;

use crate::actors::{ActorHost, actor_host, actor_host_at, actor_resources, call};

/// Which host's app answers for actor `id`, asked through `via` (bounded, so
/// a call that reaches a paused host only costs a second).
async fn whoami(via: &Sidecar, id: &str) -> Option<String> {
    let r = crate::client()
        .post(format!(
            "{}/v1.0/actors/Counter/{id}/method/Whoami",
            via.url()
        ))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .ok()?;
    let body: Value = r.json().await.ok()?;
    body["host"].as_str().map(str::to_owned)
}

/// An actor id whose partition `host` serves.
async fn served_by(via: &Sidecar, host: &str) -> String {
    for i in 0..64 {
        let id = format!("f-{i}");
        if whoami(via, &id).await.as_deref() == Some(host) {
            return id;
        }
    }
    panic!("no actor of 64 placed on {host}");
}

/// Starts `SlowIncrement(ms)` of actor `id` through `via`, in the background.
fn slow_increment(
    via: &Sidecar,
    id: &str,
    ms: u32,
) -> tokio::task::JoinHandle<Option<(u16, String)>> {
    let url = format!(
        "{}/v1.0/actors/Counter/{id}/method/SlowIncrement",
        via.url()
    );
    tokio::spawn(async move {
        let r = crate::client()
            .post(url)
            .body(ms.to_string())
            .send()
            .await
            .ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    })
}

async fn count(via: &Sidecar, id: &str) -> String {
    let r = crate::client()
        .get(format!(
            "{}/v1.0/actors/Counter/{id}/state/count",
            via.url()
        ))
        .send()
        .await
        .unwrap();
    r.text().await.unwrap()
}

fn deactivated_on(events: &Path, host: &str, id: &str) -> bool {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|e| e["event"] == "deactivation" && e["host"] == host && e["id"] == id)
}

/// Two hosts; returns them and an actor on the first, counted to 1.
async fn two_hosts(
    nats_url_of_a: &str,
    nats: &NatsServer,
    events: &Path,
) -> (ActorHost, ActorHost, String) {
    let res = actor_resources();
    let a = actor_host_at(nats_url_of_a, &res, "a", 600, Some(events)).await;
    let b = actor_host(nats, &res, "b", 600, Some(events)).await;
    let id = served_by(&b.sidecar, "a").await;
    assert_eq!(
        call(&a.sidecar, &id, "Increment", "1").await,
        (200, "1".into())
    );
    (a, b, id)
}

/// Waits until `b` serves actor `id`, then counts it up through `b`.
async fn b_takes_over(b: &ActorHost, id: &str) {
    eventually(Duration::from_secs(30), || async {
        (whoami(&b.sidecar, id).await.as_deref() == Some("b")).then_some(())
    })
    .await
    .expect("the other host takes the actor over");
    // The paused host's write did not land: b counts on from 1.
    assert_eq!(
        call(&b.sidecar, id, "Increment", "1").await,
        (200, "2".into())
    );
}

#[tokio::test]
async fn a_host_stopped_past_its_lease_does_not_write_after_its_actors_moved() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let (mut a, b, id) = two_hosts(nats.url(), &nats, &events).await;

    // a's app reads 1 and will write 2 while a's sidecar is stopped.
    let in_flight = slow_increment(&a.sidecar, &id, 1000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.sidecar.process().signal("STOP");
    b_takes_over(&b, &id).await;
    a.sidecar.process().signal("CONT");

    let (status, body) = in_flight
        .await
        .unwrap()
        .expect("the call in flight is answered");
    assert_eq!(status, 500, "the late write fails: {body}");
    assert_eq!(count(&b.sidecar, &id).await, "2");
    eventually(Duration::from_secs(10), || async {
        deactivated_on(&events, "a", &id).then_some(())
    })
    .await
    .expect("the stopped host deactivates its copy once it runs again");
    assert_eq!(
        call(&b.sidecar, &id, "Increment", "1").await,
        (200, "3".into())
    );
}

#[tokio::test]
async fn a_host_cut_off_from_nats_has_its_late_write_fenced() {
    let nats = NatsServer::start().await;
    let relay = Relay::start(nats.addr()).await;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let (a, b, id) = two_hosts(&relay.url(), &nats, &events).await;

    // Cut off before its app writes, a still counts itself the owner for a
    // moment: the write leaves it and waits in the cut link.
    let in_flight = slow_increment(&a.sidecar, &id, 800);
    tokio::time::sleep(Duration::from_millis(400)).await;
    relay.pause();
    b_takes_over(&b, &id).await;
    relay.resume();

    // The write reaches NATS after b claimed the partition: refused.
    let (status, body) = in_flight
        .await
        .unwrap()
        .expect("the call in flight is answered");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("claimed by another writer"), "{body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count(&b.sidecar, &id).await, "2");
    assert_eq!(
        call(&b.sidecar, &id, "Increment", "1").await,
        (200, "3".into())
    );
}

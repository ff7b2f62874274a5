//! Faults: an actor host paused or cut off past its lease while a call is in
//! flight (its actors move, its late state write is refused), and
//! nats-server killed under load, an app killed mid-delivery. Nothing acknowledged is lost and nothing
//! unacknowledged lands.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jetway_testkit::{
    App, NatsCluster, NatsServer, Relay, Resources, Sidecar, SidecarBuilder, eventually, free_port,
    python,
};
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::loss::consumer_and_producer;
use crate::sdk::{app_script, read_events};

use crate::actors::{
    ActorHost, actor_host, actor_host_with, actor_resources, call, counter_sidecar,
};

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
    any_served_by(via, host)
        .await
        .unwrap_or_else(|| panic!("no actor of 64 placed on {host}"))
}

async fn any_served_by(via: &Sidecar, host: &str) -> Option<String> {
    for i in 0..64 {
        let id = format!("f-{i}");
        if whoami(via, &id).await.as_deref() == Some(host) {
            return Some(id);
        }
    }
    None
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
    let a_sidecar = Sidecar::builder("counter")
        .nats_url(nats_url_of_a)
        .resources(&res);
    let a = actor_host_with(a_sidecar, "a", 600, Some(events)).await;
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

/// Acknowledged and failed operations of one load loop.
#[derive(Default)]
struct Tally {
    acked: Vec<u64>,
    failed: u64,
    acked_after_restart: u64,
    /// When the first operation after the fault was acknowledged.
    first_after: Option<Instant>,
}

/// Runs `op(i)` for i = 0, 1, … until `stop`, tallying what was acknowledged;
/// `restarted` marks when the fault is over.
fn load<F, Fut>(
    stop: Arc<AtomicBool>,
    restarted: Arc<AtomicBool>,
    op: F,
) -> tokio::task::JoinHandle<Tally>
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        let mut tally = Tally::default();
        for i in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let after = restarted.load(Ordering::Relaxed);
            if op(i).await {
                if after && tally.acked_after_restart == 0 {
                    tally.first_after = Some(Instant::now());
                }
                tally.acked.push(i);
                tally.acked_after_restart += u64::from(after);
            } else {
                tally.failed += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        tally
    })
}

#[tokio::test]
async fn nats_killed_under_load_loses_no_acknowledged_event_write_or_call() {
    let mut nats = NatsServer::start().await;
    let res = actor_resources()
        .component("pubsub", "pubsub.jetstream", &[])
        .component("store", "state.jetstream", &[]);
    let (app, _subscriber, producer) = consumer_and_producer(nats.url(), &res).await;
    let host = actor_host(&nats, &res, "h", 600, None).await;

    let (stop, restarted) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let http = crate::client();
    let publishes = load(
        stop.clone(),
        restarted.clone(),
        publish_op(&http, &producer),
    );
    let writes = load(stop.clone(), restarted.clone(), write_op(&http, &producer));
    let increments = {
        let url = format!(
            "{}/v1.0/actors/Counter/n-1/method/Increment",
            host.sidecar.url()
        );
        load(stop.clone(), restarted.clone(), move |_| {
            succeeds(http.post(&url).body("1"))
        })
    };

    tokio::time::sleep(Duration::from_secs(1)).await;
    let fault = Instant::now();
    nats.restart().await;
    restarted.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Relaxed);
    let (publishes, writes, increments) = (
        publishes.await.unwrap(),
        writes.await.unwrap(),
        increments.await.unwrap(),
    );
    report(
        fault,
        &[
            ("publish", &publishes),
            ("state write", &writes),
            ("actor call", &increments),
        ],
    );
    all_delivered(&app, &publishes).await;
    all_read_back(&producer, &writes).await;

    // The counter holds every acknowledged increment, and at most the ones in
    // doubt besides.
    let count: u64 = count(&host.sidecar, "n-1").await.parse().unwrap();
    let acked = increments.acked.len() as u64;
    assert!(
        (acked..=acked + increments.failed).contains(&count),
        "count {count}, {acked} acknowledged, {} failed",
        increments.failed
    );
}

/// Sends `request` (bounded at 3 s): whether it was acknowledged.
fn succeeds(request: reqwest::RequestBuilder) -> impl Future<Output = bool> + Send {
    let send = request.timeout(Duration::from_secs(3)).send();
    async move { send.await.is_ok_and(|r| r.status().is_success()) }
}

/// Publishes event `i` to topic `orders` through `via`.
fn publish_op(http: &reqwest::Client, via: &Sidecar) -> impl Fn(u64) -> BoxedAck + use<> {
    let (http, url) = (
        http.clone(),
        format!("{}/v1.0/publish/pubsub/orders", via.url()),
    );
    move |i| {
        Box::pin(succeeds(
            http.post(&url)
                .header("content-type", "application/json")
                .body(i.to_string()),
        ))
    }
}

/// Saves `k<i>` = i in store `store` through `via`.
fn write_op(http: &reqwest::Client, via: &Sidecar) -> impl Fn(u64) -> BoxedAck + use<> {
    let (http, url) = (http.clone(), format!("{}/v1.0/state/store", via.url()));
    move |i| {
        Box::pin(succeeds(
            http.post(&url)
                .json(&json!([{"key": format!("k{i}"), "value": i}])),
        ))
    }
}

type BoxedAck = std::pin::Pin<Box<dyn Future<Output = bool> + Send>>;

/// Prints what each load loop saw around the fault at `fault`; each must
/// have worked again afterwards.
fn report(fault: Instant, tallies: &[(&str, &Tally)]) {
    for (what, tally) in tallies {
        eprintln!(
            "{what}: {} acknowledged ({} after the fault, the first {:?} after it), {} failed",
            tally.acked.len(),
            tally.acked_after_restart,
            tally.first_after.map(|t| t - fault),
            tally.failed
        );
        assert!(
            tally.acked_after_restart > 0,
            "{what}s work again after the fault"
        );
    }
}

/// Waits until every acknowledged event reached `app`.
async fn all_delivered(app: &TestApp, publishes: &Tally) {
    let undelivered = || {
        let delivered: HashSet<u64> = app
            .received("/orders")
            .iter()
            .filter_map(|r| r.json()["data"].as_u64())
            .collect();
        let missing: Vec<u64> = publishes
            .acked
            .iter()
            .copied()
            .filter(|i| !delivered.contains(i))
            .collect();
        missing
    };
    eventually(Duration::from_secs(60), || async {
        undelivered().is_empty().then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("acknowledged events not delivered: {:?}", undelivered()));
}

/// Every acknowledged write reads back with its value.
async fn all_read_back(via: &Sidecar, writes: &Tally) {
    let keys: Vec<String> = writes.acked.iter().map(|i| format!("k{i}")).collect();
    let items: Vec<Value> = crate::client()
        .post(format!("{}/v1.0/state/store/bulk", via.url()))
        .json(&json!({"keys": keys}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(items.len(), writes.acked.len());
    let lost: Vec<&Value> = items
        .iter()
        .zip(&writes.acked)
        .filter(|(item, i)| item["data"].as_u64() != Some(**i))
        .map(|(item, _)| item)
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

#[tokio::test]
async fn an_app_killed_mid_delivery_gets_every_event_after_it_restarts() {
    const EVENTS: u64 = 300;
    let nats = NatsServer::start().await;
    let res = Resources::new().component("pubsub", "pubsub.jetstream", &[]);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let app_port = free_port();
    let subscriber = Sidecar::builder("py-subscriber")
        .app_port(app_port)
        .nats(&nats)
        .resources(&res)
        .outbound_only()
        .start()
        .await
        .unwrap();
    let start_app = || {
        App::spawn(
            "subscriber.py",
            &python(),
            &[&app_script("subscriber.py")],
            &[
                ("APP_PORT", app_port.to_string()),
                ("DAPR_HTTP_PORT", subscriber.http_port.to_string()),
                ("EVENTS_FILE", events.display().to_string()),
                ("DELAY_MS", "20".into()),
            ],
        )
    };
    let mut app = start_app();
    subscriber
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let publisher = Sidecar::builder("publisher")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let http = crate::client();
    for i in 0..EVENTS {
        let r = http
            .post(format!("{}/v1.0/publish/pubsub/orders", publisher.url()))
            .header("content-type", "application/json")
            .body(i.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let received = || -> HashSet<u64> {
        read_events(&events)
            .iter()
            .filter_map(|e| e["data"].as_u64())
            .collect()
    };
    eventually(Duration::from_secs(30), || async {
        (received().len() >= 50).then_some(())
    })
    .await
    .expect("deliveries under way");
    // kill -9 with deliveries in flight, then the app comes back.
    app.kill().await;
    let before = received().len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _app = start_app();
    eventually(Duration::from_secs(60), || async {
        (received().len() as u64 == EVENTS).then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("{} of {EVENTS} delivered", received().len()));
    assert!(before < EVENTS as usize, "the kill came mid-delivery");
}

#[tokio::test]
async fn a_cluster_losing_a_node_under_load_keeps_every_acknowledged_event_and_write() {
    let mut cluster = NatsCluster::start(3).await;
    let res = Resources::new()
        .component("pubsub", "pubsub.jetstream", &[("replicas", "3")])
        .component("store", "state.jetstream", &[("replicas", "3")]);
    let (app, _subscriber, producer) = consumer_and_producer(&cluster.urls(), &res).await;
    let (stop, recovered) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let http = crate::client();
    let publishes = load(
        stop.clone(),
        recovered.clone(),
        publish_op(&http, &producer),
    );
    let writes = load(stop.clone(), recovered.clone(), write_op(&http, &producer));

    tokio::time::sleep(Duration::from_secs(1)).await;
    // The node that leads the state bucket goes, with whatever it led.
    let leader = cluster.leader_of("KV_store").await;
    eprintln!(
        "killing n{leader}, leading KV_store; JETWAY_pubsub is led by n{}",
        cluster.leader_of("JETWAY_pubsub").await
    );
    cluster.nodes[leader].kill().await;
    let fault = Instant::now();
    recovered.store(true, Ordering::Relaxed);
    // A new leader is elected within seconds (the raft election timeout).
    tokio::time::sleep(Duration::from_secs(15)).await;
    stop.store(true, Ordering::Relaxed);
    let (publishes, writes) = (publishes.await.unwrap(), writes.await.unwrap());
    report(fault, &[("publish", &publishes), ("state write", &writes)]);
    all_delivered(&app, &publishes).await;
    all_read_back(&producer, &writes).await;
}

/// `sidecar` probing its app every second, unhealthy at the first failure.
fn health_checked(sidecar: SidecarBuilder) -> SidecarBuilder {
    sidecar
        .arg("--enable-app-health-check")
        .arg("--app-health-probe-interval")
        .arg("1")
        .arg("--app-health-threshold")
        .arg("1")
}

#[tokio::test]
async fn an_unhealthy_app_takes_no_calls_or_events_until_it_recovers() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component("pubsub", "pubsub.jetstream", &[]);
    let sick =
        TestApp::start(json!([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]))
            .await;
    let well = TestApp::start(json!([])).await;
    let sick_sidecar = health_checked(Sidecar::builder("svc"))
        .app_port(sick.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let _well_sidecar = Sidecar::builder("svc")
        .app_port(well.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let caller = Sidecar::builder("caller")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let http = crate::client();
    let calls = || async {
        for _ in 0..20 {
            let r = http
                .post(format!("{}/v1.0/invoke/svc/method/work", caller.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    calls().await;
    assert!(!sick.received("/work").is_empty() && !well.received("/work").is_empty());

    sick.reply("/healthz", 500, "");
    eventually(Duration::from_secs(10), || async {
        let r = http
            .get(format!("{}/v1.0/healthz", sick_sidecar.url()))
            .send()
            .await
            .ok()?;
        (r.status() != 204).then_some(())
    })
    .await
    .expect("the sidecar sees the app unhealthy");
    // Every call goes to the healthy replica, and events wait.
    let before = sick.received("/work").len();
    calls().await;
    assert_eq!(
        sick.received("/work").len(),
        before,
        "no call reached the unhealthy app"
    );
    let r = http
        .post(format!("{}/v1.0/publish/pubsub/orders", caller.url()))
        .header("content-type", "application/json")
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        sick.received("/orders").is_empty(),
        "no event reached the unhealthy app"
    );

    // Healthy again: the event arrives and calls reach it again.
    sick.reply("/healthz", 200, "");
    sick.wait_for("/orders", 1, Duration::from_secs(20)).await;
    eventually(Duration::from_secs(10), || async {
        calls().await;
        (sick.received("/work").len() > before).then_some(())
    })
    .await
    .expect("calls reach the app again");
}

#[tokio::test]
async fn calls_and_events_beyond_the_app_concurrency_wait_their_turn() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component("pubsub", "pubsub.jetstream", &[]);
    let app =
        TestApp::start(json!([{"pubsubname": "pubsub", "topic": "slow", "route": "/slow"}])).await;
    app.delay("/slow", Duration::from_millis(300));
    let _svc = Sidecar::builder("svc")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .arg("--app-max-concurrency")
        .arg("4")
        .start()
        .await
        .unwrap();
    let caller = Sidecar::builder("caller")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let http = crate::client();

    // 24 calls at once: all answered, never more than 4 inside the app.
    let calls = (0..24).map(|_| {
        http.post(format!("{}/v1.0/invoke/svc/method/slow", caller.url()))
            .send()
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    let most = app.take_max_in_flight();
    assert!(
        (2..=4).contains(&most),
        "{most} calls inside the app at once"
    );

    // The same for events: 24 published, all delivered, 4 at a time at most.
    let before = app.received("/slow").len();
    for i in 0..24 {
        let r = http
            .post(format!("{}/v1.0/publish/pubsub/slow", caller.url()))
            .header("content-type", "application/json")
            .body(i.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    app.wait_for("/slow", before + 24, Duration::from_secs(30))
        .await;
    let most = app.take_max_in_flight();
    assert!(
        (2..=4).contains(&most),
        "{most} events inside the app at once"
    );
}

#[tokio::test]
async fn an_unhealthy_actor_host_hands_its_actors_over_until_it_recovers() {
    let nats = NatsServer::start().await;
    let res = actor_resources();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let checked = health_checked(counter_sidecar(&nats, &res))
        // The SDK's own /healthz always answers 200.
        .arg("--app-health-check-path")
        .arg("/health");
    let a = actor_host_with(checked, "a", 600, Some(&events)).await;
    let b = actor_host(&nats, &res, "b", 600, Some(&events)).await;
    let id = served_by(&b.sidecar, "a").await;
    let app = |path: &str| {
        crate::client()
            .post(format!("http://127.0.0.1:{}{path}", a.app_port))
            .send()
    };

    app("/sick").await.unwrap();
    eventually(Duration::from_secs(30), || async {
        (whoami(&b.sidecar, &id).await.as_deref() == Some("b")).then_some(())
    })
    .await
    .expect("the healthy host takes the actor over");
    assert!(
        deactivated_on(&events, "a", &id),
        "handed over, not abandoned"
    );

    app("/well").await.unwrap();
    eventually(Duration::from_secs(30), || async {
        any_served_by(&b.sidecar, "a").await
    })
    .await
    .expect("the host takes actors again once healthy");
}

#[tokio::test]
async fn a_hung_handler_is_let_go_when_the_callers_deadline_passes() {
    let nats = NatsServer::start().await;
    let app = TestApp::start(Value::Null).await;
    app.delay("/hang", Duration::from_secs(300));
    let _svc = Sidecar::builder("svc")
        .app_port(app.port)
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let caller = Sidecar::builder("caller")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{}/v1.0/invoke/svc/method/hang", caller.url()))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(r.status(), 500, "{}", r.text().await.unwrap());
    assert!(
        (Duration::from_secs(55)..Duration::from_secs(70)).contains(&waited),
        "answered after {waited:?}, the invocation timeout is 60 s"
    );
    // The callee gave up the app call at the same deadline: nothing is
    // left inside the app.
    eventually(Duration::from_secs(5), || async {
        (app.in_flight() == 0).then_some(())
    })
    .await
    .expect("the app call is dropped at the deadline");
}

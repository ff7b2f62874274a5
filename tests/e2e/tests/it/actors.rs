//! Virtual actors: apps written with the official Python SDK's `DaprActor`
//! host a `Counter` type behind real sidecars; callers use the SDK's
//! `ActorProxy` and the HTTP actor API.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use dapr::dapr::proto::runtime::v1 as pb;
use jetway_testkit::{
    App, NatsServer, Resources, Sidecar, SidecarBuilder, eventually, free_port, python,
    workspace_root,
};
use serde_json::Value;

pub(crate) fn actor_resources() -> Resources {
    Resources::new().component(
        "actorstore",
        "state.jetstream",
        &[("actorStateStore", "true")],
    )
}

fn script(name: &str) -> String {
    workspace_root()
        .join("tests/e2e/apps")
        .join(name)
        .display()
        .to_string()
}

/// A sidecar and the actor app beside it.
pub(crate) struct ActorHost {
    pub(crate) sidecar: Sidecar,
    pub(crate) app: App,
    pub(crate) app_port: u16,
}

/// The sidecar of app id `counter` on `nats` with `res`.
pub(crate) fn counter_sidecar(nats: &NatsServer, res: &Resources) -> SidecarBuilder {
    Sidecar::builder("counter").nats(nats).resources(res)
}

/// Starts `sidecar` for an app that speaks `protocol`, then the app (`program
/// args`, told `APP_PORT` and its sidecar's `DAPR_HTTP_PORT` and
/// `DAPR_GRPC_PORT` besides `envs`), and waits until the sidecar is ready.
async fn host_app(
    sidecar: SidecarBuilder,
    protocol: &str,
    program: &Path,
    args: &[&str],
    mut envs: Vec<(&str, String)>,
) -> ActorHost {
    let app_port = free_port();
    let sidecar = sidecar
        .app_port(app_port)
        .arg("--app-protocol")
        .arg(protocol)
        .outbound_only()
        .start()
        .await
        .unwrap();
    envs.extend([
        ("APP_PORT", app_port.to_string()),
        ("DAPR_HTTP_PORT", sidecar.http_port.to_string()),
        ("DAPR_GRPC_PORT", sidecar.grpc_port.to_string()),
    ]);
    let app = App::spawn(args[0], program, args, &envs);
    sidecar
        .wait_ready(Duration::from_secs(60))
        .await
        .unwrap_or_else(|_| panic!("sidecar ready once the app listens: {}", app.output()));
    ActorHost {
        sidecar,
        app,
        app_port,
    }
}

/// The Python `DaprActor` app (`actor_app.py`) named `name`.
pub(crate) async fn actor_host(
    nats: &NatsServer,
    res: &Resources,
    name: &str,
    idle_seconds: u32,
    events: Option<&Path>,
) -> ActorHost {
    actor_host_with(counter_sidecar(nats, res), name, idle_seconds, events).await
}

/// Like [`actor_host`], with the sidecar `sidecar` builds.
pub(crate) async fn actor_host_with(
    sidecar: SidecarBuilder,
    name: &str,
    idle_seconds: u32,
    events: Option<&Path>,
) -> ActorHost {
    let mut envs = vec![
        ("HOST_NAME", name.to_owned()),
        ("IDLE_SECONDS", idle_seconds.to_string()),
    ];
    if let Some(path) = events {
        envs.push(("EVENTS_FILE", path.display().to_string()));
    }
    host_app(sidecar, "http", &python(), &[&script("actor_app.py")], envs).await
}

pub(crate) async fn call(sidecar: &Sidecar, id: &str, method: &str, body: &str) -> (u16, String) {
    let r = crate::client()
        .post(format!(
            "{}/v1.0/actors/Counter/{id}/method/{method}",
            sidecar.url()
        ))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn stats(host: &ActorHost) -> Value {
    crate::client()
        .get(format!("http://127.0.0.1:{}/stats", host.app_port))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn python_actors_keep_state_across_deactivation_and_take_turns() {
    let nats = NatsServer::start().await;
    let res = actor_resources();
    let host = actor_host(&nats, &res, "h1", 1, None).await;

    // The SDK's ActorProxy, from another process.
    let stdout = crate::run_to_end(
        tokio::process::Command::new(python())
            .arg(script("actor_client.py"))
            .args(["a-1", "3"])
            .env("DAPR_HTTP_PORT", host.sidecar.http_port.to_string()),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(crate::last_json(&stdout), serde_json::json!([1, 2, 3]));

    // Idle for a second: deactivated; the next call activates it again, with its state.
    eventually(Duration::from_secs(10), || async {
        (stats(&host).await["deactivations"]["a-1"] == 1).then_some(())
    })
    .await
    .expect("the idle actor is deactivated");
    assert_eq!(
        call(&host.sidecar, "a-1", "Increment", "10").await,
        (200, "13".into())
    );
    assert_eq!(stats(&host).await["activations"]["a-1"], 2);
    let state = crate::client()
        .get(format!(
            "{}/v1.0/actors/Counter/a-1/state/count",
            host.sidecar.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(state.status(), 200);
    assert_eq!(state.text().await.unwrap(), "13");
    let missing = crate::client()
        .get(format!(
            "{}/v1.0/actors/Counter/a-1/state/nothing",
            host.sidecar.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 204);

    // Metadata reports the actor runtime and the active actors.
    let metadata: Value = crate::client()
        .get(format!("{}/v1.0/metadata", host.sidecar.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let runtime = &metadata["actorRuntime"];
    assert_eq!(runtime["runtimeStatus"], "RUNNING", "{metadata}");
    assert_eq!(runtime["hostReady"], true);
    let counters = runtime["activeActors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "Counter")
        .expect("Counter listed");
    assert!(counters["count"].as_u64() >= Some(1), "{metadata}");

    // 50 concurrent calls to one actor: one at a time, none lost.
    let calls = (0..50).map(|_| call(&host.sidecar, "busy", "Slow", ""));
    let answers = futures::future::join_all(calls).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    assert_eq!(stats(&host).await["overlaps"], 0);

    // A method the actor does not have: the app's error reaches the caller.
    let (status, body) = call(&host.sidecar, "a-1", "Nope", "").await;
    assert_eq!(status, 500, "{body}");

    // Reentrancy: an actor calls itself through the SDK's proxy, up to its maximum depth.
    let nest = |depth: &'static str| {
        let url = format!("{}/v1.0/actors/Reentrant/r/method/Nest", host.sidecar.url());
        async move {
            let r = crate::client().post(url).body(depth).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(nest("3").await, (200, "3".to_owned()));
    let (status, body) = nest("6").await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("ERR_ACTOR_STACK_DEPTH"), "{body}");

    // A timer fires, again and again, until the idle actor is deactivated with it.
    assert_eq!(
        call(&host.sidecar, "ticker", "StartTimer", "200").await.0,
        200
    );
    eventually(Duration::from_secs(10), || async {
        (stats(&host).await["timers"]["ticker"].as_u64() >= Some(3)).then_some(())
    })
    .await
    .expect("the timer fires");
}

/// Reminder fires recorded in the events file: (host, time).
pub(crate) fn reminder_fires(events: &Path, id: &str) -> Vec<(String, f64)> {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "reminder" && e["id"] == id)
        .map(|e| {
            (
                e["host"].as_str().unwrap().to_owned(),
                e["t"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn actors_and_reminders_come_back_after_a_nats_restart() {
    let mut nats = NatsServer::start().await;
    let res = actor_resources();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let host = actor_host(&nats, &res, "h", 600, Some(&events)).await;
    assert_eq!(
        call(&host.sidecar, "n-1", "Increment", "1").await,
        (200, "1".into())
    );
    assert_eq!(
        call(&host.sidecar, "n-2", "StartReminder", "300").await.0,
        200
    );

    // kill -9 and restart nats-server; the sidecar stays up.
    nats.restart().await;
    // Past the lease time and the announcements' life: what lived in memory
    // storage (leases, host announcements) is gone by now.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let fired = reminder_fires(&events, "n-2").len();
    let answer = eventually(Duration::from_secs(30), || async {
        let (status, body) = call(&host.sidecar, "n-1", "Increment", "1").await;
        (status == 200).then_some(body)
    })
    .await
    .expect("actor calls work again after the NATS restart");
    // The state written before the crash is there (file storage survives).
    assert_eq!(answer, "2");
    eventually(Duration::from_secs(15), || async {
        (reminder_fires(&events, "n-2").len() >= fired + 2).then_some(())
    })
    .await
    .expect("the reminder fires again after the NATS restart");
}

#[tokio::test]
async fn reminders_survive_a_restart_without_a_flood() {
    let nats = NatsServer::start().await;
    let res = actor_resources();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let mut host = actor_host(&nats, &res, "before", 600, Some(&events)).await;
    assert_eq!(
        call(&host.sidecar, "r-1", "StartReminder", "300").await.0,
        200
    );
    let reminder = crate::client()
        .get(format!(
            "{}/v1.0/actors/Counter/r-1/reminders/ping",
            host.sidecar.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reminder.status(), 200);
    let reminder: Value = reminder.json().await.unwrap();
    assert_eq!(reminder["actorID"], "r-1");
    // The SDK registers its payload as base64, and gets it back as it was.
    assert_eq!(reminder["data"], "cGluZw==");
    eventually(Duration::from_secs(10), || async {
        (reminder_fires(&events, "r-1").len() >= 2).then_some(())
    })
    .await
    .expect("the reminder fires");
    let first = std::fs::read_to_string(&events).unwrap();
    assert!(
        first.contains(r#""event": "reminder", "id": "r-1", "host": "before""#),
        "{first}"
    );
    assert!(
        first.contains(r#""data": "ping""#),
        "the callback carries the data: {first}"
    );

    // kill -9 sidecar and app; ten periods go by with nothing running.
    host.sidecar.kill().await;
    host.app.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    host.app = App::spawn(
        "after",
        &python(),
        &[&script("actor_app.py")],
        &[
            ("APP_PORT", host.app_port.to_string()),
            ("DAPR_HTTP_PORT", host.sidecar.http_port.to_string()),
            ("HOST_NAME", "after".into()),
            ("EVENTS_FILE", events.display().to_string()),
        ],
    );
    host.sidecar.restart().await.expect("the sidecar restarts");
    let after = eventually(Duration::from_secs(15), || async {
        let fires: Vec<f64> = reminder_fires(&events, "r-1")
            .into_iter()
            .filter(|(h, _)| h == "after")
            .map(|(_, t)| t)
            .collect();
        (fires.len() >= 3).then_some(fires)
    })
    .await
    .expect("the reminder fires again after the restart");
    // The missed periods fire once, not ten times.
    let burst = after.iter().filter(|t| **t < after[0] + 0.25).count();
    assert!(
        burst <= 2,
        "{burst} fires within 250 ms of the restart: {after:?}"
    );
    assert!(
        reminder_fires(&events, "r-1")
            .iter()
            .all(|(h, _)| h == "before" || h == "after")
    );

    // Unregistered: it fires no more.
    assert_eq!(call(&host.sidecar, "r-1", "StopReminder", "").await.0, 200);
    let stopped = reminder_fires(&events, "r-1").len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(reminder_fires(&events, "r-1").len() <= stopped + 1);
    let gone = crate::client()
        .get(format!(
            "{}/v1.0/actors/Counter/r-1/reminders/ping",
            host.sidecar.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn actor_api_errors() {
    let nats = NatsServer::start().await;
    // No actor state store: the actor API is not available.
    let plain = Sidecar::builder("plain").nats(&nats).start().await.unwrap();
    let (status, body) = call(&plain, "x", "Increment", "1").await;
    assert_eq!(status, 500);
    assert!(body.contains("ERR_ACTOR_RUNTIME_NOT_FOUND"), "{body}");

    // A type no host serves fails at once, with Dapr's error code.
    let client = Sidecar::builder("client")
        .nats(&nats)
        .resources(&actor_resources())
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let (status, body) = call(&client, "x", "Increment", "1").await;
    assert_eq!(status, 500);
    assert!(body.contains("ERR_ACTOR_INVOKE_METHOD"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Activation intervals per actor id and host, from the apps' event files;
/// an actor still active at the end runs to `end`.
fn intervals(
    events: &Path,
    end: f64,
    killed: &HashMap<String, f64>,
) -> HashMap<String, Vec<(String, f64, f64)>> {
    let mut open: HashMap<(String, String), f64> = HashMap::new();
    let mut out: HashMap<String, Vec<(String, f64, f64)>> = HashMap::new();
    for line in std::fs::read_to_string(events).unwrap().lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let (id, host, t) = (
            e["id"].as_str().unwrap().to_owned(),
            e["host"].as_str().unwrap().to_owned(),
            e["t"].as_f64().unwrap(),
        );
        if e["event"] == "activation" {
            open.insert((id, host), t);
        } else if let Some(start) = open.remove(&(id.clone(), host.clone())) {
            out.entry(id).or_default().push((host, start, t));
        }
    }
    for ((id, host), start) in open {
        let stop = killed.get(&host).copied().unwrap_or(end);
        out.entry(id).or_default().push((host, start, stop));
    }
    out
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn two_hosts_share_actors_and_fail_over_without_double_activation() {
    let nats = NatsServer::start().await;
    let res = actor_resources();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let mut h1 = actor_host(&nats, &res, "h1", 600, Some(&events)).await;
    let caller = Sidecar::builder("caller")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let ids: Vec<String> = (0..40).map(|i| format!("actor-{i}")).collect();
    let whoami = |id: String| {
        let caller = &caller;
        async move {
            let (status, body) = call(caller, &id, "Whoami", "").await;
            assert_eq!(status, 200, "{id}: {body}");
            serde_json::from_str::<Value>(&body).unwrap()["host"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    for id in &ids {
        assert_eq!(whoami(id.clone()).await, "h1");
    }

    // A second host joins while calls keep coming: it takes a share.
    let h2 = actor_host(&nats, &res, "h2", 600, Some(&events)).await;
    let shared = eventually(Duration::from_secs(20), || async {
        let hosts = futures::future::join_all(ids.iter().cloned().map(whoami)).await;
        let on_h2 = hosts.iter().filter(|h| *h == "h2").count();
        (on_h2 > 0 && on_h2 < ids.len()).then_some(hosts)
    })
    .await
    .expect("both hosts hold actors");
    let moved: Vec<&String> = ids
        .iter()
        .zip(&shared)
        .filter(|(_, h)| *h == "h1")
        .map(|(id, _)| id)
        .collect();

    // kill -9 the first host, sidecar and app: its actors answer from h2 within seconds.
    h1.sidecar.kill().await;
    h1.app.kill().await;
    let killed_at = unix_now();
    let started = Instant::now();
    for id in &moved {
        assert_eq!(whoami((*id).clone()).await, "h2");
    }
    let failover = started.elapsed();
    assert!(
        failover < Duration::from_secs(10),
        "failover took {failover:?}"
    );

    // No actor was ever active on two hosts at once.
    let killed = HashMap::from([("h1".to_owned(), killed_at)]);
    for (id, spans) in intervals(&events, unix_now(), &killed) {
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                let overlap = a.0 != b.0 && a.1 < b.2 && b.1 < a.2;
                assert!(
                    !overlap,
                    "{id} was active on two hosts at once: {a:?} and {b:?}"
                );
            }
        }
    }
    drop(h2);
}

/// `@dapr/dapr`: a DaprServer hosting actors, called through the SDK's
/// ActorProxyBuilder over HTTP and over gRPC.
#[tokio::test]
async fn javascript_actors_with_http_and_grpc_clients() {
    let nats = NatsServer::start().await;
    let res = actor_resources();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let server = crate::grpc::js_dir().join("actors_server.mjs");
    let host = host_app(
        counter_sidecar(&nats, &res),
        "http",
        Path::new("node"),
        &[&server.display().to_string()],
        vec![("EVENTS_FILE", events.display().to_string())],
    )
    .await;
    let sidecar = &host.sidecar;
    let client = |protocol: &'static str, args: &'static [&'static str]| {
        let port = match protocol {
            "grpc" => sidecar.grpc_port,
            _ => sidecar.http_port,
        };
        async move {
            let stdout = crate::run_to_end(
                tokio::process::Command::new("node")
                    .arg(crate::grpc::js_dir().join("actors_client.mjs"))
                    .arg(protocol)
                    .args(args)
                    .env("DAPR_PORT", port.to_string()),
                Duration::from_secs(60),
            )
            .await;
            crate::last_json(&stdout)
        }
    };
    assert_eq!(client("http", &["js-1", "increment", "1"]).await, 1);
    assert_eq!(client("grpc", &["js-1", "increment", "2"]).await, 3);
    assert_eq!(client("http", &["js-1", "increment", "3"]).await, 6);
    let state = crate::client()
        .get(format!(
            "{}/v1.0/actors/JsCounter/js-1/state/count",
            sidecar.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(state.text().await.unwrap(), "6");

    // A reminder registered by the JS actor fires with its data.
    client("grpc", &["js-2", "startReminder", "300"]).await;
    let fired = eventually(Duration::from_secs(15), || async {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        let fires: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (fires.len() >= 2).then_some(fires)
    })
    .await
    .expect("the JS actor's reminder fires");
    assert_eq!(fired[0]["id"], "js-2");
    assert_eq!(fired[0]["data"], "hello from js");
}

/// The Python SDK's `ActorGrpcHost`: a gRPC app hosting actors over
/// `SubscribeActorEventsAlpha1`, its state, timers and reminders going through
/// the gRPC actor API.
#[tokio::test]
async fn python_grpc_actor_host() {
    let nats = NatsServer::start().await;
    let res = actor_resources();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let envs = vec![
        ("IDLE_SECONDS", "1".to_owned()),
        ("HOST_NAME", "grpc".to_owned()),
        ("EVENTS_FILE", events.display().to_string()),
    ];
    let host = host_app(
        counter_sidecar(&nats, &res),
        "grpc",
        &python(),
        &[&script("actor_grpc_app.py")],
        envs,
    )
    .await;
    let (sidecar, app) = (&host.sidecar, &host.app);
    // Hosting starts when the app's stream opens.
    let first = eventually(Duration::from_secs(30), || async {
        let (status, body) = call(sidecar, "g-1", "Increment", "1").await;
        (status == 200).then_some(body)
    })
    .await
    .unwrap_or_else(|_| panic!("the gRPC app hosts Counter: {}", app.output()));
    assert_eq!(first, "1");
    // A second stream that names no types (how the SDK's tests probe for
    // support) is acknowledged, and the first one goes on hosting.
    let probe = crate::grpc::run_python("actor_stream_probe.py", &[], sidecar).await;
    assert_eq!(probe, serde_json::json!({"acked": true}));
    assert_eq!(
        call(sidecar, "g-1", "Increment", "2").await,
        (200, "3".into())
    );

    let count_events = |kind: &'static str, id: &'static str| {
        let events = events.clone();
        move || {
            std::fs::read_to_string(&events)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|e| e["event"] == kind && e["id"] == id)
                .count()
        }
    };
    // Deactivated over the stream when idle; its state survives.
    let deactivations = count_events("deactivation", "g-1");
    eventually(Duration::from_secs(10), || async {
        (deactivations() >= 1).then_some(())
    })
    .await
    .expect("the idle actor is deactivated");
    assert_eq!(
        call(sidecar, "g-1", "Increment", "10").await,
        (200, "13".into())
    );

    // A timer and a reminder, registered by the actor through the gRPC API.
    assert_eq!(call(sidecar, "g-2", "StartReminder", "300").await.0, 200);
    assert_eq!(call(sidecar, "g-3", "StartTimer", "200").await.0, 200);
    let (reminders, timers) = (
        count_events("reminder", "g-2"),
        count_events("timer", "g-3"),
    );
    eventually(Duration::from_secs(10), || async {
        (reminders() >= 2 && timers() >= 2).then_some(())
    })
    .await
    .expect("the timer and the reminder fire over the stream");
    let text = std::fs::read_to_string(&events).unwrap();
    assert!(text.contains(r#""data": "ping""#), "{text}");

    // The timer and the reminder as the gRPC API reports them.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", sidecar.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let timer = get_actor_timer(channel.clone(), "g-3", "tick")
        .await
        .unwrap();
    assert_eq!(timer.callback.as_deref(), Some("on_tick"));
    assert!(timer.period.is_some_and(|p| !p.is_empty()));
    let missing = get_actor_timer(channel.clone(), "g-3", "nothing")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let mut dapr = pb::dapr_client::DaprClient::new(channel);
    let reminder = dapr
        .get_actor_reminder(pb::GetActorReminderRequest {
            actor_type: "Counter".into(),
            actor_id: "g-2".into(),
            name: "ping".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reminder.actor_id, "g-2");
    assert!(reminder.period.is_some_and(|p| !p.is_empty()));
}

/// `Dapr.GetActorTimer` (newer than the `dapr` crate's protos), called raw.
async fn get_actor_timer(
    channel: tonic::transport::Channel,
    actor_id: &str,
    name: &str,
) -> Result<TimerReply, tonic::Status> {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Request {
        #[prost(string, tag = "1")]
        actor_type: String,
        #[prost(string, tag = "2")]
        actor_id: String,
        #[prost(string, tag = "3")]
        name: String,
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let request = Request {
        actor_type: "Counter".into(),
        actor_id: actor_id.into(),
        name: name.into(),
    };
    let path = http::uri::PathAndQuery::from_static("/dapr.proto.runtime.v1.Dapr/GetActorTimer");
    let codec = tonic_prost::ProstCodec::<Request, TimerReply>::default();
    let reply = grpc
        .unary(tonic::Request::new(request), path, codec)
        .await?;
    Ok(reply.into_inner())
}

/// The fields of `GetActorTimerResponse` the test reads.
#[derive(Clone, PartialEq, prost::Message)]
struct TimerReply {
    #[prost(string, optional, tag = "4")]
    period: Option<String>,
    #[prost(string, optional, tag = "6")]
    callback: Option<String>,
}

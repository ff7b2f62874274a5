//! Jobs on JetStream message schedules: the HTTP API with daprd's answers,
//! triggers to an HTTP app with each schedule form and failure policy, one
//! replica per trigger, jobs outliving their sidecars, and the Python SDK
//! scheduling for a gRPC app.

use std::time::Duration;

use jetway_testkit::{NatsServer, Sidecar};
use serde_json::{Value, json};

use crate::app::TestApp;

const VALUE_TYPE: &str = "type.googleapis.com/google.protobuf.Value";

async fn schedule(sidecar: &Sidecar, name: &str, body: Value) -> (u16, Value) {
    let r = crate::client()
        .post(format!("{}/v1.0-alpha1/jobs/{name}", sidecar.url()))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(sidecar: &Sidecar, name: &str) -> (u16, Value) {
    let r = crate::client()
        .get(format!("{}/v1.0/jobs/{name}", sidecar.url()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn delete(sidecar: &Sidecar, name: &str) -> u16 {
    crate::client()
        .delete(format!("{}/v1.0-alpha1/jobs/{name}", sidecar.url()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn triggers(app: &TestApp, name: &str) -> usize {
    app.received(&format!("/job/{name}")).len()
}

/// Waits until the job is gone (GET answers daprd's not-found error).
async fn gone(sidecar: &Sidecar, name: &str) {
    jetway_testkit::eventually(Duration::from_secs(10), || async {
        let (status, body) = get(sidecar, name).await;
        (status == 500 && body["errorCode"] == "DAPR_SCHEDULER_GET_JOB").then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("job {name} is deleted after its last trigger"));
}

#[tokio::test]
async fn jobs_over_http_fire_as_daprd_fires_them() {
    let nats = NatsServer::start().await;
    let app = TestApp::start(Value::Null).await;
    let sidecar = Sidecar::builder("jobber")
        .nats(&nats)
        .app_port(app.port)
        .start()
        .await
        .unwrap();

    // A one-shot job: GET shows it as scheduled, the app gets its data once,
    // then it is gone.
    let once = json!({"dueTime": "1s", "data": {"n": 1}});
    assert_eq!(schedule(&sidecar, "once", once).await.0, 204);
    let (status, shown) = get(&sidecar, "once").await;
    assert_eq!(status, 200);
    assert_eq!(
        shown,
        json!({
            "name": "once",
            "dueTime": "1s",
            "data": {"@type": VALUE_TYPE, "value": {"n": 1}},
            "failurePolicy": {"constant": {"interval": "1s", "maxRetries": 3}}
        })
    );
    let got = app.wait_for("/job/once", 1, Duration::from_secs(10)).await;
    assert_eq!(got[0].method, http::Method::POST);
    assert_eq!(got[0].json(), json!({"n": 1}));
    assert_eq!(got[0].headers["content-type"], "application/json");
    gone(&sidecar, "once").await;

    // Every schedule form, bounded by repeats or a ttl.
    for (name, job) in [
        ("every", json!({"schedule": "@every 1s", "repeats": 3})),
        ("cron", json!({"schedule": "*/1 * * * * *", "repeats": 2})),
        (
            "later",
            json!({"dueTime": "1s", "schedule": "@every 1s", "repeats": 2}),
        ),
        ("brief", json!({"schedule": "@every 1s", "ttl": "3s"})),
    ] {
        assert_eq!(schedule(&sidecar, name, job).await.0, 204, "{name}");
    }
    app.wait_for("/job/every", 3, Duration::from_secs(15)).await;
    app.wait_for("/job/cron", 2, Duration::from_secs(15)).await;
    app.wait_for("/job/later", 2, Duration::from_secs(15)).await;
    for name in ["every", "cron", "later", "brief"] {
        gone(&sidecar, name).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(triggers(&app, "every"), 3, "repeats: 3");
    assert_eq!(triggers(&app, "cron"), 2, "repeats: 2");
    assert_eq!(triggers(&app, "later"), 2, "the due time's fire counts");
    let brief = triggers(&app, "brief");
    assert!((1..=4).contains(&brief), "{brief} fires in a ttl of 3s");

    // Failure policies: constant retries, then give up; drop at once. A 404
    // counts as done, as daprd counts it.
    app.reply("/job/flaky", 500, "");
    app.reply("/job/dropped", 503, "");
    app.reply("/job/missing", 404, "");
    let flaky = json!({"dueTime": "0s", "failurePolicy": {"constant": {"interval": "0.2s", "maxRetries": 2}}});
    assert_eq!(schedule(&sidecar, "flaky", flaky).await.0, 204);
    let dropped = json!({"dueTime": "0s", "failurePolicy": {"drop": {}}});
    assert_eq!(schedule(&sidecar, "dropped", dropped).await.0, 204);
    assert_eq!(
        schedule(&sidecar, "missing", json!({"dueTime": "0s"}))
            .await
            .0,
        204
    );
    app.wait_for("/job/flaky", 3, Duration::from_secs(10)).await;
    app.wait_for("/job/dropped", 1, Duration::from_secs(10))
        .await;
    app.wait_for("/job/missing", 1, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(triggers(&app, "flaky"), 3, "one attempt and two retries");
    assert_eq!(triggers(&app, "dropped"), 1);
    assert_eq!(triggers(&app, "missing"), 1);

    // daprd's validation and codes.
    let (status, body) = schedule(&sidecar, "x", json!({})).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (400, &json!("DAPR_SCHEDULER_SCHEDULE_EMPTY"))
    );
    let (status, body) = schedule(&sidecar, "x", json!({"name": "x", "dueTime": "1h"})).await;
    assert_eq!(
        (status, &body["errorCode"], &body["message"]),
        (
            400,
            &json!("DAPR_SCHEDULER_JOB_NAME"),
            &json!("Set the job name in the url only")
        )
    );
    for bad in [
        json!({"schedule": "* * * * *"}),
        json!({"schedule": "@fortnightly"}),
        json!({"dueTime": "whenever"}),
        json!({"dueTime": "1s", "ttl": "1h"}),
        json!({"schedule": "@every 1s", "repeats": 0}),
    ] {
        let (status, body) = schedule(&sidecar, "x", bad.clone()).await;
        assert_eq!(
            (status, &body["errorCode"]),
            (500, &json!("DAPR_SCHEDULER_SCHEDULE_JOB")),
            "{bad}: {body}"
        );
    }
    let (status, body) = schedule(&sidecar, "x", json!("not an object")).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (400, &json!("ERR_MALFORMED_REQUEST"))
    );
    let keep = json!({"schedule": "@every 1h", "data": "v1"});
    assert_eq!(schedule(&sidecar, "keep", keep.clone()).await.0, 204);
    let (status, body) = schedule(&sidecar, "keep", keep).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (409, &json!("DAPR_SCHEDULER_SCHEDULE_JOB"))
    );
    let replaced = json!({"schedule": "@every 2h", "data": "v2", "overwrite": true});
    assert_eq!(schedule(&sidecar, "keep", replaced).await.0, 204);
    let (_, shown) = get(&sidecar, "keep").await;
    assert_eq!(
        (&shown["schedule"], &shown["data"]["value"]),
        (&json!("@every 2h"), &json!("v2"))
    );
    assert_eq!(delete(&sidecar, "keep").await, 204);
    assert_eq!(
        delete(&sidecar, "keep").await,
        204,
        "deleting nothing is fine"
    );
    let (status, body) = get(&sidecar, "keep").await;
    assert_eq!(
        (status, &body["errorCode"]),
        (500, &json!("DAPR_SCHEDULER_GET_JOB"))
    );
}

#[tokio::test]
async fn each_trigger_reaches_one_replica_and_jobs_outlive_their_sidecars() {
    let nats = NatsServer::start().await;
    let (a, b) = (
        TestApp::start(Value::Null).await,
        TestApp::start(Value::Null).await,
    );
    let start = |app: &TestApp| {
        Sidecar::builder("ticker")
            .nats(&nats)
            .app_port(app.port)
            .start()
    };
    let (mut first, mut second) = (start(&a).await.unwrap(), start(&b).await.unwrap());
    let count = || triggers(&a, "tick") + triggers(&b, "tick");
    let tick = json!({"schedule": "@every 1s", "data": "tick"});
    assert_eq!(schedule(&first, "tick", tick).await.0, 204);
    app_fires(&count, 1).await;
    let before = count();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let fired = count() - before;
    assert!(
        (3..=7).contains(&fired),
        "{fired} triggers in 5 s of @every 1s on two replicas"
    );

    // No sidecar of the app runs: the server keeps the schedule, and the
    // periods missed meanwhile collapse into one trigger.
    first.kill().await;
    second.kill().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let before = count();
    first.restart().await.unwrap();
    let restarted = tokio::time::Instant::now();
    app_fires(&count, before + 1).await;
    tokio::time::sleep_until(restarted + Duration::from_millis(1500)).await;
    let burst = count() - before;
    assert!(
        burst <= 3,
        "{burst} triggers within 1.5 s of the restart: missed periods collapse"
    );
    app_fires(&count, count() + 2).await;
    let (status, shown) = get(&first, "tick").await;
    assert_eq!((status, &shown["schedule"]), (200, &json!("@every 1s")));
    assert_eq!(delete(&first, "tick").await, 204);
}

async fn app_fires(count: &impl Fn() -> usize, n: usize) {
    jetway_testkit::eventually(Duration::from_secs(15), || async {
        (count() >= n).then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("fewer than {n} triggers"));
}

/// The Python SDK's `schedule_job_alpha1`, `get_job_alpha1` and
/// `delete_job_alpha1`, and a `dapr.ext.grpc` app's `@app.job_event`.
#[tokio::test]
async fn python_sdk_schedules_jobs_for_a_grpc_app() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let app_port = jetway_testkit::free_port();
    let mut app = crate::grpc::grpc_app(app_port, &events);
    let sidecar = Sidecar::builder("grpc-jobs")
        .app_port(app_port)
        .arg("--app-protocol")
        .arg("grpc")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let seen = crate::grpc::run_python("jobs_client.py", &[], &sidecar).await;
    assert_eq!(
        seen,
        json!({
            "got": {
                "name": "sdk-kept", "schedule": "@every 1h", "repeats": 5, "ttl": "2h",
                "data": {"from": "sdk"}, "retries": 2, "interval": 5
            },
            "again": "ALREADY_EXISTS",
            "deleted": "INTERNAL",
            "bad": "INTERNAL"
        })
    );
    let line = jetway_testkit::eventually(Duration::from_secs(15), || async {
        std::fs::read_to_string(&events).ok().and_then(|text| {
            text.lines()
                .find(|l| l.contains("grpc-job"))
                .map(str::to_owned)
        })
    })
    .await
    .unwrap_or_else(|_| panic!("the gRPC app gets its trigger: {}", app.output()));
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({"job": "grpc-job", "data": "{\"from\": \"sdk\"}"})
    );
    app.kill().await;
}

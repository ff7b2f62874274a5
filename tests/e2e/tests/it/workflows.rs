//! Workflows with the official Python SDK's worker and client
//! (`dapr.ext.workflow`), unchanged, against Jetway sidecars.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use dapr_durabletask_proto as pb;
use jetway_testkit::{App, NatsServer, Sidecar, python, workspace_root};
use pb::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use serde_json::{Value, json};

/// Runs `scenarios` of a workflow test app (`program` with `args`: the
/// Python or JavaScript one) against `sidecar` and returns each scenario's
/// report by name.
async fn run_scenarios(
    program: &Path,
    args: &[String],
    sidecar: &Sidecar,
    scenarios: &[&str],
) -> HashMap<String, Value> {
    let stdout = crate::run_to_end(
        tokio::process::Command::new(program)
            .args(args)
            .current_dir(workspace_root().join("tests/e2e/js"))
            .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
            .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
            .env("SCENARIOS", scenarios.join(",")),
        Duration::from_secs(240),
    )
    .await;
    let reports: HashMap<String, Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v["scenario"].as_str()?.to_owned(), v)))
        .collect();
    assert!(reports.contains_key("done"), "{stdout}");
    reports
}

async fn python_scenarios(sidecar: &Sidecar, scenarios: &[&str]) -> HashMap<String, Value> {
    let script = crate::sdk::app_script("workflow_app.py");
    run_scenarios(&python(), &[script], sidecar, scenarios).await
}

#[tokio::test]
async fn python_sdk_workflows_run_to_completion() {
    let nats = NatsServer::start().await;
    let sidecar = Sidecar::builder("py-workflows")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let scenarios = [
        "chain",
        "fan_out",
        "events",
        "timer",
        "child",
        "retries",
        "failing",
        "continue_as_new",
        "terminate",
        "suspend",
        "large_payloads",
        "rerun",
        "list",
    ];
    let r = python_scenarios(&sidecar, &scenarios).await;
    let report = |name: &str| {
        let v = &r[name];
        assert_ne!(v["status"], "ERROR", "{name}: {v}");
        v
    };
    assert_eq!(report("chain")["status"], "COMPLETED");
    assert_eq!(
        report("chain")["output"],
        json!(["Hello Tokyo", "Hello Seattle", "Hello London"])
    );

    // Five activities of half a second each, run side by side.
    let fan_out = report("fan_out");
    assert_eq!(fan_out["output"], 30, "{fan_out}");
    assert!(fan_out["seconds"].as_f64().unwrap() < 2.4, "{fan_out}");

    let events = report("events");
    assert_eq!(events["output"], json!({"approved": true}), "{events}");
    assert_eq!(events["custom_status"], "waiting", "{events}");

    let timer = report("timer");
    assert_eq!(timer["output"], "timed out", "{timer}");
    assert!(timer["seconds"].as_f64().unwrap() >= 1.0, "{timer}");

    assert_eq!(
        report("child")["output"],
        json!({"child": ["Hello a", "Hello b"]})
    );
    // Two failed attempts, then the third succeeds.
    assert_eq!(report("retries")["output"], 3);
    let failing = report("failing");
    assert_eq!(failing["status"], "FAILED", "{failing}");
    assert!(
        failing["failure"]
            .as_str()
            .unwrap_or("")
            .contains("always fails"),
        "{failing}"
    );
    assert_eq!(report("continue_as_new")["output"], 3);

    let terminate = report("terminate");
    assert_eq!(terminate["status"], "TERMINATED", "{terminate}");
    assert_eq!(terminate["after_purge"], Value::Null, "{terminate}");

    let suspend = report("suspend");
    assert_eq!(suspend["paused"], "SUSPENDED", "{suspend}");
    assert_eq!(suspend["while_paused"], "SUSPENDED", "{suspend}");
    assert_eq!(
        suspend["output"],
        json!({"approved": "while paused"}),
        "{suspend}"
    );

    // Rerun from the second activity: the first is replayed, the rest run again.
    let rerun = report("rerun");
    assert_eq!(rerun["status"], "COMPLETED", "{rerun}");
    assert_eq!(
        rerun["output"],
        json!(["Hello Tokyo", "Hello Paris", "Hello London"]),
        "{rerun}"
    );
    assert_eq!(
        rerun["source_output"],
        json!(["Hello Tokyo", "Hello Seattle", "Hello London"])
    );
    assert!(rerun["instance"].as_str().unwrap().ends_with("-again"));
    assert_eq!(rerun["missing_event"], "NOT_FOUND", "{rerun}");

    // Payloads beyond NATS's max_payload go by reference, in and out.
    let large = report("large_payloads");
    assert_eq!(large["status"], "COMPLETED", "{large}");
    assert_eq!(large["output"], 2_000_000, "an activity's result");
    assert_eq!(large["big_input"], 2_000_000, "a workflow's input");
    assert_eq!(
        large["big_event"], 1_500_000,
        "an event, and the output it becomes"
    );
    // Consumed messages' chunks go; the three records' stay with their instances.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let stream = js.get_stream("JETWAY_WORKFLOWS").await.unwrap();
    let blobs = jetway_testkit::eventually(Duration::from_secs(10), || async {
        use futures::StreamExt;
        let subjects = stream.info_with_subjects("jetway.wf.py-workflows.blob.>");
        let n = subjects.await.unwrap().count().await;
        (n == 3).then_some(())
    })
    .await;
    assert!(
        blobs.is_ok(),
        "the chunks of consumed payloads stay in the stream"
    );

    // Every instance but the purged one is listed.
    let listed = report("list")["output"].as_u64().unwrap();
    assert!(listed >= 10, "{}", r["list"]);
}

/// The JavaScript SDK's workflow runtime and client (`@dapr/dapr`), unchanged.
/// Retries and listing are left out: SDK 3.18 has neither.
#[tokio::test]
async fn javascript_sdk_workflows_run_to_completion() {
    let nats = NatsServer::start().await;
    let sidecar = Sidecar::builder("js-workflows")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let scenarios = [
        "chain",
        "fan_out",
        "events",
        "timer",
        "child",
        "failing",
        "continue_as_new",
        "terminate",
        "suspend",
    ];
    let r = run_scenarios(
        Path::new("node"),
        &["workflow_app.mjs".into()],
        &sidecar,
        &scenarios,
    )
    .await;
    let report = |name: &str| {
        let v = &r[name];
        assert_ne!(v["status"], "ERROR", "{name}: {v}");
        v
    };
    assert_eq!(
        report("chain")["output"],
        json!(["Hello Tokyo", "Hello Seattle", "Hello London"])
    );
    let fan_out = report("fan_out");
    assert_eq!(fan_out["output"], 30, "{fan_out}");
    assert!(fan_out["seconds"].as_f64().unwrap() < 2.4, "{fan_out}");
    assert_eq!(report("events")["output"], json!({"approved": true}));
    assert_eq!(report("timer")["output"], "timed out");
    assert_eq!(
        report("child")["output"],
        json!({"child": ["Hello a", "Hello b"]})
    );
    assert_eq!(report("failing")["status"], "FAILED");
    assert_eq!(report("continue_as_new")["output"], 3);
    let terminate = report("terminate");
    assert_eq!(terminate["status"], "TERMINATED", "{terminate}");
    assert_eq!(terminate["after_purge"], Value::Null, "{terminate}");
    let suspend = report("suspend");
    assert_eq!(suspend["while_paused"], "SUSPENDED", "{suspend}");
    assert_eq!(
        suspend["output"],
        json!({"approved": "while paused"}),
        "{suspend}"
    );
}

type Client = TaskHubSidecarServiceClient<tonic::transport::Channel>;

async fn task_hub(sidecar: &Sidecar) -> Client {
    let url = format!("http://127.0.0.1:{}", sidecar.grpc_port);
    TaskHubSidecarServiceClient::connect(url).await.unwrap()
}

/// A Python SDK worker (tests/e2e/apps/workflow_worker.py) for `sidecar`,
/// logging its activity runs to `runs`.
fn worker(sidecar: &Sidecar, runs: &Path) -> App {
    worker_with(sidecar, runs, &[])
}

fn worker_with(sidecar: &Sidecar, runs: &Path, envs: &[(&str, &str)]) -> App {
    let script = crate::sdk::app_script("workflow_worker.py");
    let mut all = vec![
        ("DAPR_GRPC_PORT", sidecar.grpc_port.to_string()),
        ("RUNS_FILE", runs.display().to_string()),
    ];
    all.extend(envs.iter().map(|(k, v)| (*k, v.to_string())));
    App::spawn("workflow_worker.py", &python(), &[&script], &all)
}

async fn schedule(client: &mut Client, name: &str, id: &str) {
    let request = pb::CreateInstanceRequest {
        instance_id: id.into(),
        name: name.into(),
        input: Some("null".into()),
        ..Default::default()
    };
    client.start_instance(request).await.unwrap();
}

async fn completion(client: &mut Client, id: &str, timeout: Duration) -> pb::WorkflowState {
    let request = pb::GetInstanceRequest {
        instance_id: id.into(),
        get_inputs_and_outputs: true,
        ..Default::default()
    };
    let done = tokio::time::timeout(timeout, client.wait_for_instance_completion(request))
        .await
        .unwrap_or_else(|_| panic!("workflow {id} did not finish in {timeout:?}"))
        .unwrap()
        .into_inner();
    done.workflow_state.expect("the instance exists")
}

/// The (step, pid) of each activity run logged so far.
fn runs(path: &Path) -> Vec<(u64, u64)> {
    crate::sdk::read_events(path)
        .iter()
        .filter_map(|r| Some((r["step"].as_u64()?, r["pid"].as_u64()?)))
        .collect()
}

async fn steps_done(path: &Path, at_least: usize) {
    jetway_testkit::eventually(Duration::from_secs(30), || async {
        (runs(path).len() >= at_least).then_some(())
    })
    .await
    .expect("the chain makes progress");
}

/// The long chain's output, parsed.
fn chain_output(state: &pb::WorkflowState) -> Value {
    serde_json::from_str(state.output.as_deref().unwrap_or("null")).unwrap()
}

fn every_step_ran(path: &Path) {
    let ran: BTreeSet<u64> = runs(path).iter().map(|(step, _)| *step).collect();
    assert_eq!(ran, (0..8).collect::<BTreeSet<_>>(), "{:?}", runs(path));
}

#[tokio::test]
async fn workflows_survive_kill_9_of_the_sidecar_and_the_worker() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.jsonl");
    let mut sidecar = Sidecar::builder("wf-durable")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let mut app = worker(&sidecar, &log);
    let mut client = task_hub(&sidecar).await;
    schedule(&mut client, "long_chain", "chain-1").await;
    schedule(&mut client, "sleeper", "sleep-1").await;
    steps_done(&log, 3).await;

    // In the middle of the chain and of the timer, both die at once.
    sidecar.kill().await;
    app.kill().await;
    let before = runs(&log).len();
    sidecar.restart().await.unwrap();
    let _app = worker(&sidecar, &log);
    let mut client = task_hub(&sidecar).await;

    let chain = completion(&mut client, "chain-1", Duration::from_secs(90)).await;
    assert_eq!(
        chain.workflow_status,
        pb::OrchestrationStatus::Completed as i32
    );
    assert_eq!(chain_output(&chain), json!([0, 10, 20, 30, 40, 50, 60, 70]));
    every_step_ran(&log);
    assert!(
        runs(&log).len() > before,
        "the chain went on after the restart"
    );
    let sleeper = completion(&mut client, "sleep-1", Duration::from_secs(30)).await;
    assert_eq!(sleeper.output.as_deref(), Some("\"woke\""));
}

#[tokio::test]
async fn another_sidecar_of_the_app_finishes_what_a_dead_one_began() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.jsonl");
    let mut first = Sidecar::builder("wf-pair")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let second = Sidecar::builder("wf-pair")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let mut first_app = worker(&first, &log);
    let second_app = worker(&second, &log);
    let mut client = task_hub(&second).await;
    for i in 0..16 {
        schedule(&mut client, "long_chain", &format!("pair-{i}")).await;
    }
    // Placement shares the partitions, so both sidecars run turns.
    let turns = |log: &Path| -> BTreeSet<u64> {
        let events = crate::sdk::read_events(log);
        events
            .iter()
            .filter(|r| r.get("turn").is_some())
            .filter_map(|r| r["pid"].as_u64())
            .collect()
    };
    let shared = jetway_testkit::eventually(Duration::from_secs(30), || async {
        (turns(&log).len() == 2).then_some(())
    })
    .await;
    assert!(
        shared.is_ok(),
        "one sidecar ran every turn: {:?}",
        turns(&log)
    );
    steps_done(&log, 6).await;
    let dead = first_app.pid().unwrap() as u64;
    first.kill().await;
    first_app.kill().await;

    for i in 0..16 {
        let id = format!("pair-{i}");
        let done = completion(&mut client, &id, Duration::from_secs(90)).await;
        let output = chain_output(&done);
        assert_eq!(output, json!([0, 10, 20, 30, 40, 50, 60, 70]), "{id}");
    }
    let survivor = second_app.pid().unwrap() as u64;
    let pids: BTreeSet<u64> = runs(&log).iter().map(|(_, pid)| *pid).collect();
    assert!(
        pids.is_subset(&BTreeSet::from([dead, survivor])),
        "{pids:?}"
    );
    assert!(pids.contains(&survivor));
}

/// Dapr's workflow management API over HTTP (`/v1.0` and `/v1.0-beta1`) and
/// over the Dapr gRPC service, with daprd's errors.
#[tokio::test]
async fn the_management_api_over_http_and_grpc() {
    use dapr::dapr::proto::runtime::v1 as dapr_pb;
    use dapr_pb::dapr_client::DaprClient;

    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.jsonl");
    let sidecar = Sidecar::builder("wf-http")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let envs = [
        ("STEPS", "2"),
        ("STEP_SECONDS", "0.05"),
        ("SLEEP_SECONDS", "60"),
    ];
    let _app = worker_with(&sidecar, &log, &envs);
    let http = crate::client();
    let url = |path: &str| format!("{}{path}", sidecar.url());
    let status_of = |version: &'static str, id: &'static str| {
        let http = http.clone();
        let url = url(&format!("/{version}/workflows/dapr/{id}"));
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let until = |version: &'static str, id: &'static str, want: &'static str| async move {
        jetway_testkit::eventually(Duration::from_secs(30), || async {
            let (_, body) = status_of(version, id).await;
            (body["runtimeStatus"] == want).then_some(body)
        })
        .await
        .unwrap_or_else(|_| panic!("{id} never became {want}"))
    };

    let r = http
        .post(url(
            "/v1.0/workflows/dapr/long_chain/start?instanceID=http-1",
        ))
        .body("null")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"instanceID": "http-1"})
    );
    let done = until("v1.0", "http-1", "COMPLETED").await;
    assert_eq!(done["workflowName"], "long_chain");
    assert_eq!(done["properties"]["dapr.workflow.input"], "null");
    let output: Value =
        serde_json::from_str(done["properties"]["dapr.workflow.output"].as_str().unwrap()).unwrap();
    assert_eq!(output, json!([0, 10]));
    assert!(done["createdAt"].as_str().unwrap().ends_with('Z'), "{done}");

    // Pause, resume, terminate and purge, on the beta path the JS SDK uses.
    let beta = |path: &str| url(&format!("/v1.0-beta1/workflows/dapr/{path}"));
    let post = |u: String| {
        let http = http.clone();
        async move { http.post(u).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post(beta("sleeper/start?instanceID=http-2")).await, 202);
    until("v1.0-beta1", "http-2", "RUNNING").await;
    assert_eq!(post(beta("http-2/pause")).await, 202);
    until("v1.0-beta1", "http-2", "SUSPENDED").await;
    assert_eq!(post(beta("http-2/resume")).await, 202);
    until("v1.0-beta1", "http-2", "RUNNING").await;
    assert_eq!(post(beta("http-2/raiseEvent/ignored")).await, 202);
    assert_eq!(post(beta("http-2/terminate")).await, 202);
    until("v1.0-beta1", "http-2", "TERMINATED").await;
    assert_eq!(post(beta("http-2/purge")).await, 202);
    let (code, gone) = status_of("v1.0-beta1", "http-2").await;
    assert_eq!(
        (code, gone["errorCode"].as_str()),
        (500, Some("ERR_GET_WORKFLOW"))
    );

    // daprd's errors.
    let error = |u: String| {
        let http = http.clone();
        async move {
            let r = http.post(u).send().await.unwrap();
            let code = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (
                code,
                body["errorCode"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    assert_eq!(
        error(url("/v1.0/workflows/nope/long_chain/start")).await,
        (400, "ERR_WORKFLOW_COMPONENT_NOT_FOUND".into())
    );
    assert_eq!(
        error(url(
            "/v1.0/workflows/dapr/long_chain/start?instanceID=a%20b"
        ))
        .await,
        (400, "ERR_INSTANCE_ID_INVALID".into())
    );
    let long = "x".repeat(300);
    assert_eq!(
        error(url(&format!(
            "/v1.0/workflows/dapr/long_chain/start?instanceID={long}"
        )))
        .await,
        (400, "ERR_INSTANCE_ID_TOO_LONG".into())
    );
    assert_eq!(
        error(url("/v1.0/workflows/dapr/missing/raiseEvent/e")).await,
        (500, "ERR_RAISE_EVENT_WORKFLOW".into())
    );
    assert_eq!(
        error(url("/v1.0/workflows/dapr/http-1/purge")).await.0,
        202,
        "a finished workflow is purged"
    );

    // The same over the Dapr gRPC service.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", sidecar.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut dapr = DaprClient::new(channel);
    let started = dapr
        .start_workflow_beta1(dapr_pb::StartWorkflowRequest {
            instance_id: "grpc-1".into(),
            workflow_component: "dapr".into(),
            workflow_name: "long_chain".into(),
            input: b"null".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(started.instance_id, "grpc-1");
    let got = jetway_testkit::eventually(Duration::from_secs(30), || {
        let mut dapr = dapr.clone();
        async move {
            let got = dapr
                .get_workflow_beta1(dapr_pb::GetWorkflowRequest {
                    instance_id: "grpc-1".into(),
                    workflow_component: "dapr".into(),
                })
                .await
                .ok()?
                .into_inner();
            (got.runtime_status == "COMPLETED").then_some(got)
        }
    })
    .await
    .expect("the gRPC-started workflow completes");
    assert_eq!(got.workflow_name, "long_chain");
    let missing = dapr
        .terminate_workflow_beta1(dapr_pb::TerminateWorkflowRequest {
            instance_id: "missing".into(),
            workflow_component: "dapr".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Internal, "{missing:?}");

    // Consumed inbox messages and finished activities do not stay in the stream.
    use futures::StreamExt;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let stream = js.get_stream("JETWAY_WORKFLOWS").await.unwrap();
    let left = |filter: &'static str| {
        let stream = stream.clone();
        async move {
            let counts = stream.info_with_subjects(filter).await.unwrap();
            counts
                .fold(0, |sum, s| async move { sum + s.map_or(0, |(_, n)| n) })
                .await
        }
    };
    let swept = jetway_testkit::eventually(Duration::from_secs(30), || async {
        let left = left("jetway.wf.wf-http.in.>").await + left("jetway.wf.wf-http.act.>").await;
        (left == 0).then_some(())
    })
    .await;
    if swept.is_err() {
        let mut subjects = stream.info_with_subjects("jetway.wf.>").await.unwrap();
        let mut left = Vec::new();
        while let Some(Ok(s)) = subjects.next().await {
            left.push(s);
        }
        panic!("consumed workflow messages stay in the stream: {left:?}");
    }

    // Purging by filter takes the finished instances it matches; a running
    // one goes only when forced.
    let mut hub = task_hub(&sidecar).await;
    schedule(&mut hub, "sleeper", "asleep").await;
    let purge = |request| {
        let mut hub = hub.clone();
        async move { hub.purge_instances(request).await.unwrap().into_inner() }
    };
    let by_filter = |status: pb::OrchestrationStatus, force| pb::PurgeInstancesRequest {
        request: Some(pb::purge_instances_request::Request::PurgeInstanceFilter(
            pb::PurgeInstanceFilter {
                runtime_status: vec![status as i32],
                ..Default::default()
            },
        )),
        force: Some(force),
        ..Default::default()
    };
    let purged = purge(by_filter(pb::OrchestrationStatus::Completed, false)).await;
    assert_eq!(
        (purged.deleted_instance_count, purged.is_complete),
        (1, Some(true)),
        "grpc-1 is the one completed instance left"
    );
    let exists = |id: &'static str| {
        let mut hub = hub.clone();
        async move {
            let request = pb::GetInstanceRequest {
                instance_id: id.into(),
                ..Default::default()
            };
            hub.get_instance(request).await.unwrap().into_inner().exists
        }
    };
    assert!(!exists("grpc-1").await);
    let running = pb::OrchestrationStatus::Running;
    until("v1.0", "asleep", "RUNNING").await;
    assert_eq!(
        purge(by_filter(running, false))
            .await
            .deleted_instance_count,
        0
    );
    assert!(exists("asleep").await);
    assert_eq!(
        purge(by_filter(running, true)).await.deleted_instance_count,
        1
    );
    assert!(!exists("asleep").await);
}

/// Dapr's `workflow.stateRetentionPolicy`: a finished instance is purged
/// once its retention has passed, through a schedule the final turn commits.
#[tokio::test]
async fn finished_workflows_are_purged_after_their_retention() {
    let nats = NatsServer::start().await;
    let res = jetway_testkit::Resources::new().with(
        "config.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: appconfig}\n\
         spec:\n  workflow:\n    stateRetentionPolicy: {completed: 2s, anyTerminal: 1h}\n",
    );
    let sidecar = Sidecar::builder("wf-retention")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.jsonl");
    let _app = worker_with(&sidecar, &log, &[("STEPS", "1"), ("STEP_SECONDS", "0")]);
    let mut client = task_hub(&sidecar).await;
    schedule(&mut client, "long_chain", "kept-briefly").await;
    let done = completion(&mut client, "kept-briefly", Duration::from_secs(30)).await;
    assert_eq!(
        done.workflow_status,
        pb::OrchestrationStatus::Completed as i32
    );

    let gone = jetway_testkit::eventually(Duration::from_secs(20), || {
        let mut client = client.clone();
        async move {
            let request = pb::GetInstanceRequest {
                instance_id: "kept-briefly".into(),
                ..Default::default()
            };
            let found = client.get_instance(request).await.ok()?.into_inner();
            (!found.exists).then_some(())
        }
    })
    .await;
    assert!(gone.is_ok(), "the instance outlived its retention");
    let history = client
        .get_instance_history(pb::GetInstanceHistoryRequest {
            instance_id: "kept-briefly".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(history.code(), tonic::Code::NotFound);
}

/// A worker that says `WORKER_CAPABILITY_HEALTH_PING` gets pings on its
/// idle work-item stream; one that does not, gets none.
#[tokio::test]
async fn idle_workers_that_ask_get_health_pings() {
    use futures::StreamExt;
    let nats = NatsServer::start().await;
    let sidecar = Sidecar::builder("wf-pings")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let mut client = task_hub(&sidecar).await;
    let open = |capabilities: Vec<i32>| {
        let mut client = client.clone();
        async move {
            let request = pb::GetWorkItemsRequest { capabilities };
            client.get_work_items(request).await.unwrap().into_inner()
        }
    };
    let mut plain = open(vec![]).await;
    let mut pinged = open(vec![pb::WorkerCapability::HealthPing as i32]).await;
    let first = tokio::time::timeout(Duration::from_secs(15), pinged.next())
        .await
        .expect("a health ping within 15 s")
        .unwrap()
        .unwrap();
    assert!(
        matches!(first.request, Some(pb::work_item::Request::HealthPing(_))),
        "{first:?}"
    );
    let none = tokio::time::timeout(Duration::from_millis(100), plain.next()).await;
    assert!(none.is_err(), "a worker that did not ask got {none:?}");
    client.hello(()).await.unwrap();
}

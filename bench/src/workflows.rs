//! Workflow measurements: an in-process worker that speaks the durabletask
//! protocol runs workflows of five chained and of five fanned-out activities;
//! end-to-end latency unloaded, workflows per second at a bounded
//! concurrency, and the sidecar's memory across many completed workflows
//! with a retention policy on; then the same shapes with the Python SDK worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use jetway_workflows::proto as pb;
use pb::history_event::EventType;
use pb::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use pb::workflow_action::WorkflowActionType as Action;
use tonic::transport::Channel;

use super::{BenchArgs, Measure, Sidecar, http_client, percentiles};

type Client = TaskHubSidecarServiceClient<Channel>;

/// Activities per workflow.
const STEPS: i32 = 5;

/// The two shapes measured.
#[derive(Clone, Copy)]
enum Shape {
    Chain,
    FanOut,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Chain => "chain5",
            Shape::FanOut => "fanout5",
        }
    }
}

/// The worker's side of one turn: the actions not in the history yet.
fn decide(request: &pb::WorkflowRequest) -> Vec<pb::WorkflowAction> {
    let events = || request.past_events.iter().chain(&request.new_events);
    let name = events()
        .find_map(|e| match &e.event_type {
            Some(EventType::ExecutionStarted(s)) => Some(s.name.as_str()),
            _ => None,
        })
        .unwrap_or_default();
    let count = |kind: fn(&EventType) -> bool| {
        events()
            .filter(|e| e.event_type.as_ref().is_some_and(kind))
            .count() as i32
    };
    let scheduled = count(|k| matches!(k, EventType::TaskScheduled(_)));
    let completed = count(|k| matches!(k, EventType::TaskCompleted(_)));
    let task = |id: i32| pb::WorkflowAction {
        id,
        workflow_action_type: Some(Action::ScheduleTask(pb::ScheduleTaskAction {
            name: "step".into(),
            input: Some(id.to_string()),
            ..Default::default()
        })),
        ..Default::default()
    };
    if completed == STEPS {
        let done = pb::CompleteWorkflowAction {
            workflow_status: pb::OrchestrationStatus::Completed as i32,
            result: Some(completed.to_string()),
            ..Default::default()
        };
        return vec![pb::WorkflowAction {
            id: STEPS + 1,
            workflow_action_type: Some(Action::CompleteWorkflow(done)),
            ..Default::default()
        }];
    }
    match name {
        "fanout5" if scheduled == 0 => (1..=STEPS).map(task).collect(),
        "chain5" if scheduled == completed => vec![task(scheduled + 1)],
        _ => Vec::new(),
    }
}

/// Runs an in-process worker on the sidecar at `url` until the returned
/// task is aborted.
async fn start_worker(url: &str) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut client = Client::connect(url.to_owned()).await?;
    client.hello(()).await?;
    let mut items = client
        .get_work_items(pb::GetWorkItemsRequest::default())
        .await?
        .into_inner();
    Ok(tokio::spawn(async move {
        while let Some(Ok(item)) = items.next().await {
            let mut client = client.clone();
            tokio::spawn(async move {
                let token = item.completion_token;
                match item.request {
                    Some(pb::work_item::Request::WorkflowRequest(r)) => {
                        let response = pb::WorkflowResponse {
                            actions: decide(&r),
                            instance_id: r.instance_id,
                            completion_token: token,
                            ..Default::default()
                        };
                        let _ = client.complete_workflow_task(response).await;
                    }
                    Some(pb::work_item::Request::ActivityRequest(r)) => {
                        let response = pb::ActivityResponse {
                            instance_id: r
                                .workflow_instance
                                .map(|w| w.instance_id)
                                .unwrap_or_default(),
                            task_id: r.task_id,
                            result: r.input,
                            completion_token: token,
                            ..Default::default()
                        };
                        let _ = client.complete_activity_task(response).await;
                    }
                    _ => {}
                }
            });
        }
    }))
}

/// Starts one workflow of `shape` and waits for it to complete.
async fn one(client: &mut Client, shape: Shape, id: String) -> anyhow::Result<()> {
    client
        .start_instance(pb::CreateInstanceRequest {
            instance_id: id.clone(),
            name: shape.name().into(),
            input: Some("0".into()),
            ..Default::default()
        })
        .await?;
    let done = client
        .wait_for_instance_completion(pb::GetInstanceRequest {
            instance_id: id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let status = done.workflow_state.map(|s| s.workflow_status);
    if status != Some(pb::OrchestrationStatus::Completed as i32) {
        bail!("workflow {id} ended with status {status:?}");
    }
    Ok(())
}

/// Latency of `samples` sequential workflows, then the rate of `count`
/// workflows with `in_flight` at a time.
async fn measure_shape(
    client: &Client,
    shape: Shape,
    samples: usize,
    count: usize,
    in_flight: usize,
) -> anyhow::Result<Measure> {
    let run = std::process::id();
    let mut c = client.clone();
    for i in 0..20 {
        one(&mut c, shape, format!("{}-warm-{run}-{i}", shape.name())).await?;
    }
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        one(&mut c, shape, format!("{}-seq-{run}-{i}", shape.name())).await?;
        latencies.push(t.elapsed());
    }
    let (p50, p99) = percentiles(latencies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (mut c, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return anyhow::Ok(());
                    }
                    one(&mut c, shape, format!("{}-load-{run}-{i}", shape.name())).await?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let per_sec = count as f64 / started.elapsed().as_secs_f64();
    Ok(Measure { p50, p99, per_sec })
}

pub(super) async fn bench(
    args: &BenchArgs,
    nats_url: &str,
    store: &std::path::Path,
) -> anyhow::Result<()> {
    let resources = store.join("workflow-resources");
    std::fs::create_dir_all(&resources)?;
    // Retention on, so completed workflows do not pile up in the stream.
    std::fs::write(
        resources.join("config.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: bench}\nspec: {workflow: {stateRetentionPolicy: {anyTerminal: 10s}}}\n",
    )?;
    let sidecar = Sidecar::start(nats_url, "wf-bench", None, &resources, &http_client()).await?;
    let url = format!("http://127.0.0.1:{}", sidecar.grpc_port);
    let worker = start_worker(&url).await?;
    let client = Client::connect(url)
        .await
        .context("connecting to the sidecar")?;
    // The worker's partitions are owned before anything is measured.
    tokio::time::sleep(Duration::from_secs(1)).await;

    println!(
        "\n{:<32} {:>9} {:>9} {:>10}",
        "workflows (in-process worker)", "p50 µs", "p99 µs", "wf/s"
    );
    let samples = (args.requests / 10).max(50);
    let count = args.workflows;
    for shape in [Shape::Chain, Shape::FanOut] {
        let m = measure_shape(&client, shape, samples, count, args.in_flight).await?;
        println!(
            "{:<32} {:>9.0} {:>9.0} {:>10.0}",
            format!("workflows: {} ({} in flight)", shape.name(), args.in_flight),
            m.p50.as_secs_f64() * 1e6,
            m.p99.as_secs_f64() * 1e6,
            m.per_sec,
        );
    }
    let before = sidecar.rss_mb();
    let more = measure_shape(&client, Shape::Chain, 1, count, args.in_flight).await?;
    println!(
        "workflows: sidecar RSS {before:.1} MB, then {:.1} MB after {count} more chains ({:.0} wf/s)",
        sidecar.rss_mb(),
        more.per_sec
    );
    worker.abort();
    sidecar.stop().await;
    python_worker(args, nats_url, &resources).await
}

/// The same shapes with the Python SDK's worker (bench/python/), run by the
/// interpreter in `JETWAY_PYTHON` (`python3` by default); not measured, saying
/// why, when that interpreter cannot import `dapr.ext.workflow`.
async fn python_worker(
    args: &BenchArgs,
    nats_url: &str,
    resources: &std::path::Path,
) -> anyhow::Result<()> {
    let python = std::env::var("JETWAY_PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = tokio::process::Command::new(&python)
        .args(["-c", "import dapr.ext.workflow"])
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !importable {
        println!(
            "workflows: the Python SDK worker is not measured: {python} cannot import dapr.ext.workflow (set JETWAY_PYTHON)"
        );
        return Ok(());
    }
    let sidecar = Sidecar::start(nats_url, "wf-bench-py", None, resources, &http_client()).await?;
    let script = resources.join("workflow_worker.py");
    std::fs::write(&script, include_str!("../python/workflow_worker.py"))?;
    let mut worker = tokio::process::Command::new(&python)
        .arg(&script)
        .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
        .env("DAPR_HTTP_PORT", sidecar.port.to_string())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {python}"))?;
    let client = Client::connect(format!("http://127.0.0.1:{}", sidecar.grpc_port)).await?;
    // A worker in Python is slower: fewer workflows keep the run short.
    let count = args.workflows.min(1_000);
    let samples = (args.requests / 10).clamp(20, 100);
    for shape in [Shape::Chain, Shape::FanOut] {
        let m = measure_shape(&client, shape, samples, count, args.in_flight).await?;
        println!(
            "{:<32} {:>9.0} {:>9.0} {:>10.0}",
            format!("workflows: {} (Python worker)", shape.name()),
            m.p50.as_secs_f64() * 1e6,
            m.p99.as_secs_f64() * 1e6,
            m.per_sec,
        );
    }
    let _ = worker.kill().await;
    sidecar.stop().await;
    Ok(())
}

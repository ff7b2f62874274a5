//! `jetway bench`: measures Jetway against raw NATS and direct HTTP in one run.
//!
//! It starts its own nats-server, two sidecars (a caller without an app, and an
//! echo app's sidecar for each of HTTP and gRPC) and in-process echo apps, then
//! measures the same work three ways where it applies: through Jetway (over its
//! HTTP and gRPC APIs), with raw async-nats, and (for invocation) as a direct
//! HTTP or gRPC call to the app.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use futures::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jetway_api::app::grpc::{GrpcChannel, grpc_channel};
use jetway_broker::server;
use jetway_protos::common;
use jetway_protos::runtime as pb;
use pb::app_callback_client::AppCallbackClient;
use pb::app_callback_server::{AppCallback, AppCallbackServer};
use pb::dapr_client::DaprClient;
use tokio::sync::mpsc;

mod actors;
mod bindings;
mod jobs;
mod payloads;
mod workflows;

/// Settings of a run.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Sequential requests per latency measurement.
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
    /// Requests in flight for throughput.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Which measurements to run.
    #[arg(long, value_enum, default_value_t = Suite::All)]
    pub suite: Suite,
    /// Reminders registered in the actor measurements.
    #[arg(long, default_value_t = 100_000)]
    pub reminders: usize,
    /// Workflows per throughput measurement (and per memory measurement).
    #[arg(long, default_value_t = 5_000)]
    pub workflows: usize,
    /// Jobs scheduled in the jobs measurements.
    #[arg(long, default_value_t = 100_000)]
    pub jobs: usize,
}

/// Groups of measurements.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq)]
pub enum Suite {
    All,
    /// Invocation, state, pub/sub, footprint.
    Core,
    Actors,
    Workflows,
    /// Output binding calls and input binding events.
    Bindings,
    /// Job triggers with many jobs scheduled, and lock acquire/release.
    Jobs,
    /// A 16 MiB invocation beside the object store it is staged in.
    Payloads,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Latency percentiles and throughput of one way of doing the work.
struct Measure {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

/// Runs `op` sequentially for latency, then with `in_flight` workers for throughput.
async fn measure<F, Fut>(args: &BenchArgs, op: F) -> anyhow::Result<Measure>
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    for i in 0..200 {
        op(i).await?; // warm up connections and caches
    }
    let mut samples = Vec::with_capacity(args.requests);
    for i in 0..args.requests as u64 {
        let t = Instant::now();
        op(i).await?;
        samples.push(t.elapsed());
    }
    let (p50, p99) = percentiles(samples);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.in_flight as u64)
        .map(|w| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = w << 32;
                while Instant::now() < deadline {
                    op(i).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let per_sec = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    Ok(Measure { p50, p99, per_sec })
}

/// Runs `n` calls of `op`, `in_flight` at a time; returns calls per second.
pub(crate) async fn rate<F, Fut>(n: u64, in_flight: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return anyhow::Ok(());
                    }
                    op(i).await?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Counts callbacks (triggers, say), and when the first and the latest arrived.
#[derive(Default)]
pub(crate) struct Arrivals {
    count: AtomicU64,
    first: std::sync::Mutex<Option<Instant>>,
    last: std::sync::Mutex<Option<Instant>>,
}

impl Arrivals {
    pub(crate) fn record(&self) {
        let now = Instant::now();
        self.first.lock().expect("lock").get_or_insert(now);
        *self.last.lock().expect("lock") = Some(now);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until `n` arrived (failing after `deadline`, naming `what`), and
    /// returns the seconds from the first to the last.
    pub(crate) async fn all(&self, n: u64, deadline: Instant, what: &str) -> anyhow::Result<f64> {
        while self.count.load(Ordering::Relaxed) < n {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {n} {what} fired",
                    self.count.load(Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let first = self.first.lock().expect("lock").expect("arrived");
        let last = self.last.lock().expect("lock").expect("arrived");
        Ok(last.duration_since(first).as_secs_f64().max(1e-3))
    }
}

/// The p50 latency of `a` over that of `b`, from short runs of sequential
/// calls alternating between them, so both see the same moments of a shared
/// machine. The first call of each run is not timed: it would pay for work
/// the other path left behind.
async fn paired<A, FutA, B, FutB>(args: &BenchArgs, a: A, b: B) -> anyhow::Result<f64>
where
    A: Fn(u64) -> FutA,
    FutA: std::future::Future<Output = anyhow::Result<()>>,
    B: Fn(u64) -> FutB,
    FutB: std::future::Future<Output = anyhow::Result<()>>,
{
    const RUN: u64 = 20;
    let (mut times_a, mut times_b) = (Vec::new(), Vec::new());
    let mut i = 0;
    while times_a.len() < args.requests {
        for n in 0..RUN {
            let t = Instant::now();
            a(i + n).await?;
            if n > 0 {
                times_a.push(t.elapsed());
            }
        }
        for n in 0..RUN {
            let t = Instant::now();
            b(i + n).await?;
            if n > 0 {
                times_b.push(t.elapsed());
            }
        }
        i += RUN;
    }
    let (a50, _) = percentiles(times_a);
    let (b50, _) = percentiles(times_b);
    Ok(a50.as_secs_f64() / b50.as_secs_f64())
}

async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    body: Bytes,
) -> anyhow::Result<Bytes> {
    let req = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(body))?;
    let resp = client.request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("{url}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// The echo app: `/echo` returns the body; `/events` reports deliveries (it
/// subscribes only when given a channel for them).
async fn start_app(deliveries: Option<mpsc::UnboundedSender<u64>>) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let subscriptions = match deliveries {
        Some(_) => {
            serde_json::json!([{"pubsubname": "pubsub", "topic": "bench", "route": "/events"}])
        }
        None => serde_json::json!([]),
    };
    let router = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .route(
            "/dapr/subscribe",
            get(move || async move { axum::Json(subscriptions) }),
        )
        .route(
            "/events",
            post(move |body: Bytes| async move {
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if let (Some(i), Some(d)) = (event["data"]["i"].as_u64(), &deliveries) {
                    let _ = d.send(i);
                }
                StatusCode::OK
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

/// The gRPC echo app: `OnInvoke` returns the request's data.
async fn start_grpc_app() -> anyhow::Result<u16> {
    struct Echo;

    #[tonic::async_trait]
    impl AppCallback for Echo {
        async fn on_invoke(
            &self,
            request: tonic::Request<common::InvokeRequest>,
        ) -> Result<tonic::Response<common::InvokeResponse>, tonic::Status> {
            let request = request.into_inner();
            Ok(tonic::Response::new(common::InvokeResponse {
                data: request.data,
                content_type: request.content_type,
            }))
        }
        async fn list_topic_subscriptions(
            &self,
            _: tonic::Request<()>,
        ) -> Result<tonic::Response<pb::ListTopicSubscriptionsResponse>, tonic::Status> {
            Ok(tonic::Response::new(Default::default()))
        }
        async fn on_topic_event(
            &self,
            _: tonic::Request<pb::TopicEventRequest>,
        ) -> Result<tonic::Response<pb::TopicEventResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("no topics"))
        }
        async fn list_input_bindings(
            &self,
            _: tonic::Request<()>,
        ) -> Result<tonic::Response<pb::ListInputBindingsResponse>, tonic::Status> {
            Ok(tonic::Response::new(Default::default()))
        }
        async fn on_binding_event(
            &self,
            _: tonic::Request<pb::BindingEventRequest>,
        ) -> Result<tonic::Response<pb::BindingEventResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("no bindings"))
        }
        async fn on_bulk_topic_event(
            &self,
            _: tonic::Request<pb::TopicEventBulkRequest>,
        ) -> Result<tonic::Response<pb::TopicEventBulkResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("no topics"))
        }
        async fn on_job_event(
            &self,
            _: tonic::Request<pb::JobEventRequest>,
        ) -> Result<tonic::Response<pb::JobEventResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("no jobs"))
        }
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let router = tonic::service::Routes::new(AppCallbackServer::new(Echo))
        .prepare()
        .into_axum_router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

/// A gRPC client's transport and the server's origin.
fn grpc_client(port: u16) -> anyhow::Result<(GrpcChannel, http::Uri)> {
    Ok((grpc_channel(), format!("http://127.0.0.1:{port}").parse()?))
}

fn invoke_request(body: &Bytes) -> common::InvokeRequest {
    common::InvokeRequest {
        method: "echo".into(),
        data: Some(prost_types::Any {
            type_url: String::new(),
            value: body.to_vec(),
        }),
        content_type: "application/json".into(),
        http_extension: Some(common::HttpExtension {
            verb: common::http_extension::Verb::Post as i32,
            querystring: String::new(),
        }),
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Sidecar {
    child: tokio::process::Child,
    port: u16,
    grpc_port: u16,
    started_in: Duration,
}

impl Sidecar {
    /// Starts a sidecar; `app` is the app's port and protocol.
    async fn start(
        nats: &str,
        app_id: &str,
        app: Option<(u16, &str)>,
        resources: &std::path::Path,
        client: &HttpClient,
    ) -> anyhow::Result<Sidecar> {
        let (port, grpc_port) = (free_port()?, free_port()?);
        // `JETWAY_BENCH_WRAP="valgrind --tool=callgrind"` runs the sidecars under a profiler.
        let wrap = std::env::var("JETWAY_BENCH_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut cmd = match words.next() {
            Some(program) => {
                let mut c = tokio::process::Command::new(program);
                c.args(words).arg(std::env::current_exe()?);
                c
            }
            None => tokio::process::Command::new(std::env::current_exe()?),
        };
        cmd.args([
            "sidecar",
            "--app-id",
            app_id,
            "--nats-url",
            nats,
            "--log-level",
            "warn",
        ])
        .args([
            "--dapr-http-port",
            &port.to_string(),
            "--dapr-grpc-port",
            &grpc_port.to_string(),
        ])
        .arg("--resources-path")
        .arg(resources)
        // Room for the large-payload measurements.
        .args(["--max-body-size", "32Mi"])
        .kill_on_drop(true);
        if let Some((port, protocol)) = app {
            cmd.args(["--app-port", &port.to_string(), "--app-protocol", protocol]);
        }
        let t = Instant::now();
        let child = cmd.spawn()?;
        let url = format!("http://127.0.0.1:{port}/v1.0/healthz");
        loop {
            if let Ok(r) = client
                .request(Request::get(&url).body(Full::default())?)
                .await
                && r.status() == StatusCode::NO_CONTENT
            {
                break;
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!("sidecar {app_id} did not become healthy");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(Sidecar {
            child,
            port,
            grpc_port,
            started_in: t.elapsed(),
        })
    }

    /// Stops the sidecar gracefully (SIGTERM), so a wrapping profiler writes its output.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            let _ = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        }
    }

    fn rss_mb(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }
}

fn row(name: &str, m: &Measure, raw: &Measure, direct: Option<&Measure>) {
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let vs_direct = direct
        .map(|d| format!("{:>6.2}x", ratio(m.p50, d.p50)))
        .unwrap_or_else(|| "      -".into());
    println!(
        "{name:<28} {:>9.0} {:>9.0} {:>10.0} {:>7.2}x {vs_direct} {:>7.2}x",
        m.p50.as_secs_f64() * 1e6,
        m.p99.as_secs_f64() * 1e6,
        m.per_sec,
        ratio(m.p50, raw.p50),
        raw.per_sec / m.per_sec,
    );
}

fn raw_row(name: &str, m: &Measure) {
    println!(
        "{name:<28} {:>9.0} {:>9.0} {:>10.0}",
        m.p50.as_secs_f64() * 1e6,
        m.p99.as_secs_f64() * 1e6,
        m.per_sec
    );
}

fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// Runs every measurement and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let binary = server::find(None).context("the benchmark starts its own nats-server")?;
    let store = std::env::temp_dir().join(format!("jetway-bench-{}", std::process::id()));
    let opts = server::Options {
        port: None,
        store_dir: store.clone(),
        detached: false,
        log_file: None,
        pid_file: None,
        config_file: None,
    };
    let nats = server::start(&binary, &opts, Duration::from_secs(10)).await?;
    let wanted = |suite: Suite| args.suite == Suite::All || args.suite == suite;
    let mut result = Ok(());
    if wanted(Suite::Core) {
        result = bench(&args, &nats.url, &store).await;
    }
    if result.is_ok() && wanted(Suite::Actors) {
        result = actors::bench(&args, &nats.url, &store).await;
    }
    if result.is_ok() && wanted(Suite::Workflows) {
        result = workflows::bench(&args, &nats.url, &store).await;
    }
    if result.is_ok() && wanted(Suite::Bindings) {
        result = bindings::bench(&args, &nats.url, &store).await;
    }
    if result.is_ok() && wanted(Suite::Jobs) {
        result = jobs::bench(&args, &nats.url, &store).await;
    }
    if result.is_ok() && wanted(Suite::Payloads) {
        result = payloads::bench(&nats.url, &store).await;
    }
    drop(nats);
    let _ = std::fs::remove_dir_all(&store);
    result
}

async fn bench(args: &BenchArgs, nats_url: &str, store: &std::path::Path) -> anyhow::Result<()> {
    let resources = store.join("resources");
    std::fs::create_dir_all(&resources)?;
    std::fs::write(
        resources.join("components.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: statestore}\nspec: {type: state.jetstream, version: v1, metadata: [{name: bucket, value: bench}]}\n---\n\
         apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: pubsub}\nspec: {type: pubsub.jetstream, version: v1}\n",
    )?;
    let client = http_client();
    let (tx, mut deliveries) = mpsc::unbounded_channel();
    let app_port = start_app(Some(tx)).await?;
    let echo = Sidecar::start(
        nats_url,
        "echo",
        Some((app_port, "http")),
        &resources,
        &client,
    )
    .await?;
    let grpc_app_port = start_grpc_app().await?;
    let grpc_echo = Sidecar::start(
        nats_url,
        "echo-grpc",
        Some((grpc_app_port, "grpc")),
        &resources,
        &client,
    )
    .await?;
    let caller = Sidecar::start(nats_url, "caller", None, &resources, &client).await?;
    let nc = async_nats::connect(nats_url).await?;
    let js = async_nats::jetstream::new(nc.clone());
    let payload = Bytes::from_static(
        br#"{"order":{"id":42,"items":["a","b","c"],"note":"benchmark payload"}}"#,
    );

    println!(
        "\n{:<28} {:>9} {:>9} {:>10} {:>8} {:>7} {:>8}",
        "", "p50 µs", "p99 µs", "ops/s", "p50/raw", "/direct", "raw/tput"
    );

    // --- invocation ---
    let direct = {
        let (client, url, body) = (
            client.clone(),
            format!("http://127.0.0.1:{app_port}/echo"),
            payload.clone(),
        );
        measure(args, move |_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            async move { call(&client, Method::POST, &url, body).await.map(drop) }
        })
        .await?
    };
    let raw_invoke = raw_request(args, &nc, payload.clone()).await?;
    let jetway_invoke_op = {
        let (client, url, body) = (
            client.clone(),
            format!(
                "http://127.0.0.1:{}/v1.0/invoke/echo/method/echo",
                caller.port
            ),
            payload.clone(),
        );
        move |_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            async move { call(&client, Method::POST, &url, body).await.map(drop) }
        }
    };
    let jetway_invoke = measure(args, jetway_invoke_op.clone()).await?;
    raw_row("invoke: direct HTTP", &direct);
    raw_row("invoke: raw NATS request", &raw_invoke);
    row(
        "invoke: jetway HTTP",
        &jetway_invoke,
        &raw_invoke,
        Some(&direct),
    );
    let dapr = grpc_client(caller.grpc_port)?;
    let direct_grpc = {
        let ((app, origin), body) = (grpc_client(grpc_app_port)?, payload.clone());
        measure(args, move |_| {
            let mut app = AppCallbackClient::with_origin(app.clone(), origin.clone());
            let request = invoke_request(&body);
            async move { app.on_invoke(request).await.map(drop).map_err(Into::into) }
        })
        .await?
    };
    let jetway_grpc_invoke_op = {
        let (dapr, body) = (dapr.clone(), payload.clone());
        move |_| {
            let mut dapr = DaprClient::with_origin(dapr.0.clone(), dapr.1.clone());
            let request = pb::InvokeServiceRequest {
                id: "echo-grpc".into(),
                message: Some(invoke_request(&body)),
            };
            async move {
                dapr.invoke_service(request)
                    .await
                    .map(drop)
                    .map_err(Into::into)
            }
        }
    };
    let jetway_grpc_invoke = measure(args, jetway_grpc_invoke_op.clone()).await?;
    raw_row("invoke: direct gRPC", &direct_grpc);
    row(
        "invoke: jetway gRPC",
        &jetway_grpc_invoke,
        &raw_invoke,
        Some(&direct_grpc),
    );

    // --- state ---
    let kv = js
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: "bench_raw".into(),
            ..Default::default()
        })
        .await?;
    let raw_save = {
        let (kv, body) = (kv.clone(), payload.clone());
        measure(args, move |i| {
            let (kv, body) = (kv.clone(), body.clone());
            async move {
                kv.put(format!("k{}", i % 1000), body)
                    .await
                    .map(drop)
                    .map_err(Into::into)
            }
        })
        .await?
    };
    let raw_get = {
        let kv = kv.clone();
        measure(args, move |i| {
            let kv = kv.clone();
            async move {
                kv.get(format!("k{}", i % 1000))
                    .await
                    .map(drop)
                    .map_err(Into::into)
            }
        })
        .await?
    };
    let state_url = format!("http://127.0.0.1:{}/v1.0/state/statestore", caller.port);
    let jetway_save_op = {
        let (client, url) = (client.clone(), state_url.clone());
        move |i| {
            let (client, url) = (client.clone(), url.clone());
            let body = Bytes::from(format!(
                r#"[{{"key":"k{}","value":{{"order":{{"id":42,"items":["a","b","c"],"note":"benchmark payload"}}}}}}]"#,
                i % 1000
            ));
            async move { call(&client, Method::POST, &url, body).await.map(drop) }
        }
    };
    let jetway_save = measure(args, jetway_save_op.clone()).await?;
    let jetway_get_op = {
        let (client, url) = (client.clone(), state_url.clone());
        move |i| {
            let (client, url) = (client.clone(), format!("{url}/k{}", i % 1000));
            async move {
                call(&client, Method::GET, &url, Bytes::new())
                    .await
                    .map(drop)
            }
        }
    };
    let jetway_get = measure(args, jetway_get_op.clone()).await?;
    let grpc_save_op = {
        let dapr = dapr.clone();
        move |i| {
            let mut dapr = DaprClient::with_origin(dapr.0.clone(), dapr.1.clone());
            let request = pb::SaveStateRequest {
                store_name: "statestore".into(),
                states: vec![common::StateItem {
                    key: format!("k{}", i % 1000),
                    value:
                        br#"{"order":{"id":42,"items":["a","b","c"],"note":"benchmark payload"}}"#
                            .to_vec(),
                    ..Default::default()
                }],
            };
            async move { dapr.save_state(request).await.map(drop).map_err(Into::into) }
        }
    };
    let grpc_save = measure(args, grpc_save_op.clone()).await?;
    let grpc_get_op = {
        let dapr = dapr.clone();
        move |i| {
            let mut dapr = DaprClient::with_origin(dapr.0.clone(), dapr.1.clone());
            let request = pb::GetStateRequest {
                store_name: "statestore".into(),
                key: format!("k{}", i % 1000),
                ..Default::default()
            };
            async move { dapr.get_state(request).await.map(drop).map_err(Into::into) }
        }
    };
    let grpc_get = measure(args, grpc_get_op.clone()).await?;
    raw_row("state save: raw KV put", &raw_save);
    row("state save: jetway HTTP", &jetway_save, &raw_save, None);
    row("state save: jetway gRPC", &grpc_save, &raw_save, None);
    raw_row("state get: raw KV get", &raw_get);
    row("state get: jetway HTTP", &jetway_get, &raw_get, None);
    row("state get: jetway gRPC", &grpc_get, &raw_get, None);
    let invoke = paired(args, jetway_grpc_invoke_op, jetway_invoke_op).await?;
    let save = paired(args, grpc_save_op, jetway_save_op).await?;
    let get = paired(args, grpc_get_op, jetway_get_op).await?;
    println!(
        "\ngRPC / HTTP p50, alternating runs of calls: invoke {invoke:.2}x, state save {save:.2}x, get {get:.2}x (target <= 1.15x)",
    );

    // --- pub/sub: publish → delivered (and acknowledged) ---
    let raw_pubsub = raw_pubsub(args, &js, payload.clone()).await?;
    let publish_url = format!("http://127.0.0.1:{}/v1.0/publish/pubsub/bench", caller.port);
    let jetway_pubsub = {
        let mut latencies = Vec::with_capacity(args.requests);
        for i in 0..(args.requests as u64 + 200) {
            let t = Instant::now();
            call(
                &client,
                Method::POST,
                &publish_url,
                Bytes::from(format!(r#"{{"i":{i}}}"#)),
            )
            .await?;
            wait_for(&mut deliveries, i).await?;
            if i >= 200 {
                latencies.push(t.elapsed());
            }
        }
        let (p50, p99) = percentiles(latencies);
        let n = (args.seconds as usize * 10_000).max(5_000) as u64;
        let started = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let publishers: Vec<_> = (0..args.in_flight)
            .map(|_| {
                let (client, url, next) = (client.clone(), publish_url.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return anyhow::Ok(());
                        }
                        call(
                            &client,
                            Method::POST,
                            &url,
                            Bytes::from(format!(r#"{{"i":{}}}"#, 1_000_000_000 + i)),
                        )
                        .await?;
                    }
                })
            })
            .collect();
        let mut received = 0;
        while received < n {
            match tokio::time::timeout(Duration::from_secs(30), deliveries.recv()).await {
                Ok(Some(i)) if i >= 1_000_000_000 => received += 1,
                Ok(Some(_)) => {}
                _ => bail!("pub/sub throughput: only {received} of {n} delivered"),
            }
        }
        for p in publishers {
            p.await??;
        }
        Measure {
            p50,
            p99,
            per_sec: n as f64 / started.elapsed().as_secs_f64(),
        }
    };
    raw_row("pub/sub: raw JetStream", &raw_pubsub);
    row("pub/sub: jetway → app", &jetway_pubsub, &raw_pubsub, None);

    // --- footprint: fresh sidecars, so RSS reflects 1,000 req/s and not the peaks above ---
    caller.stop().await;
    echo.stop().await;
    grpc_echo.stop().await;
    let quiet_app = start_app(None).await?;
    let echo = Sidecar::start(
        nats_url,
        "echo-rss",
        Some((quiet_app, "http")),
        &resources,
        &client,
    )
    .await?;
    let caller = Sidecar::start(nats_url, "caller-rss", None, &resources, &client).await?;
    let url = format!(
        "http://127.0.0.1:{}/v1.0/invoke/echo-rss/method/echo",
        caller.port
    );
    let rss = paced_load(
        &client,
        &url,
        payload,
        1000,
        Duration::from_secs(3),
        &[&caller, &echo],
    )
    .await?;
    caller.stop().await;
    echo.stop().await;
    let mut starts = Vec::new();
    for i in 0..5 {
        let s = Sidecar::start(nats_url, &format!("start-{i}"), None, &resources, &client).await?;
        starts.push(s.started_in);
        s.stop().await;
    }
    starts.sort();
    println!(
        "\nsidecar RSS at 1,000 req/s: caller {:.1} MB, callee {:.1} MB",
        rss[0], rss[1]
    );
    println!(
        "sidecar start to healthy (NATS up), median of 5: {:.1} ms",
        starts[2].as_secs_f64() * 1e3
    );
    Ok(())
}

/// Raw NATS request-reply to an echoing subscriber, on one connection.
async fn raw_request(
    args: &BenchArgs,
    nc: &async_nats::Client,
    payload: Bytes,
) -> anyhow::Result<Measure> {
    let subject = nc.new_inbox();
    let mut sub = nc.queue_subscribe(subject.clone(), "echo".into()).await?;
    let responder = nc.clone();
    let echo = tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            if let Some(reply) = m.reply {
                let _ = responder.publish(reply, m.payload).await;
            }
        }
    });
    let nc = nc.clone();
    let measured = measure(args, move |_| {
        let (nc, subject, body) = (nc.clone(), subject.clone(), payload.clone());
        async move {
            nc.request(subject, body)
                .await
                .map(drop)
                .map_err(Into::into)
        }
    })
    .await;
    echo.abort();
    measured
}

async fn wait_for(deliveries: &mut mpsc::UnboundedReceiver<u64>, i: u64) -> anyhow::Result<()> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), deliveries.recv()).await {
            Ok(Some(got)) if got == i => return Ok(()),
            Ok(Some(_)) => {}
            _ => bail!("event {i} was not delivered"),
        }
    }
}

/// Raw JetStream: publish (awaiting the ack) and a durable pull consumer acking each message.
async fn raw_pubsub(
    args: &BenchArgs,
    js: &async_nats::jetstream::Context,
    payload: Bytes,
) -> anyhow::Result<Measure> {
    use async_nats::jetstream::{consumer, stream};
    let s = js
        .create_stream(stream::Config {
            name: "BENCH_RAW".into(),
            subjects: vec!["bench.raw".into()],
            ..Default::default()
        })
        .await?;
    let c = s
        .create_consumer(consumer::pull::Config {
            durable_name: Some("raw".into()),
            max_ack_pending: 1024,
            ..Default::default()
        })
        .await?;
    let mut messages = c.messages().await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Errors here are missed heartbeats under load; the stream carries on.
        while let Some(m) = messages.next().await {
            if let Ok(m) = m {
                let _ = m.ack().await;
                let _ = tx.send(());
            }
        }
    });
    let mut latencies = Vec::with_capacity(args.requests);
    for i in 0..args.requests + 200 {
        let t = Instant::now();
        js.publish("bench.raw", payload.clone()).await?.await?;
        rx.recv().await.context("raw consumer stopped")?;
        if i >= 200 {
            latencies.push(t.elapsed());
        }
    }
    let (p50, p99) = percentiles(latencies);
    let n = (args.seconds as usize * 10_000).max(5_000);
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let publishers: Vec<_> = (0..args.in_flight)
        .map(|_| {
            let (js, payload, next) = (js.clone(), payload.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n as u64 {
                    js.publish("bench.raw", payload.clone()).await?.await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await?
            .context("raw consumer stopped")?;
    }
    for p in publishers {
        p.await??;
    }
    Ok(Measure {
        p50,
        p99,
        per_sec: n as f64 / started.elapsed().as_secs_f64(),
    })
}

/// Sends `rate` requests per second for `time`, then reads the sidecars' RSS.
async fn paced_load(
    client: &HttpClient,
    url: &str,
    body: Bytes,
    rate: u64,
    time: Duration,
    sidecars: &[&Sidecar],
) -> anyhow::Result<Vec<f64>> {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    let end = Instant::now() + time;
    let mut inflight = Vec::new();
    while Instant::now() < end {
        tick.tick().await;
        let (client, url, body) = (client.clone(), url.to_owned(), body.clone());
        inflight.push(tokio::spawn(async move {
            call(&client, Method::POST, &url, body).await
        }));
    }
    for f in inflight {
        f.await??;
    }
    Ok(sidecars.iter().map(|s| s.rss_mb()).collect())
}

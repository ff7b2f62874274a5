//! A running Jetway node: connection, components, API servers, app channel,
//! invocation server and subscriptions, and their orderly shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jetway_api::app::{AppChannel, AppHealth, HttpActors};
use jetway_api::metrics::Metrics;
use jetway_api::node::{ActiveSubscription, Node, Readiness, SubscriptionKind, route};
use jetway_api::settings::Settings;
use jetway_blocks::actors::{Actors, AppConfig};
use jetway_blocks::bindings::Bindings;
use jetway_blocks::invoke::{Invoker, Serving};
use jetway_blocks::pubsub::Subscription;
use jetway_blocks::pubsub::subscriber::{self, CompiledRule};
use jetway_broker::{Broker, ConnectOptions, Credentials};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{components, embedded, resources};

/// Why a node could not start; `Config` errors get their own exit code.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Nats(String),
    #[error("{0}")]
    Io(String),
}

/// Loads resources, connects, builds components and binds the API port, in that
/// order: bad configuration stops the node before it binds anything.
pub async fn start(settings: Settings, shutdown: CancellationToken) -> Result<Running, StartError> {
    let started = Instant::now();
    let scope = resources::Scope {
        app_id: &settings.app_id,
        namespace: settings.namespace.as_deref(),
        env_keys: &settings.env_keys,
    };
    let loaded = resources::load(&settings.resources_paths, &scope)
        .map_err(|e| StartError::Config(e.to_string()))?;
    components::validate(&loaded.components).map_err(|e| StartError::Config(e.to_string()))?;
    let mut declarative = Vec::new();
    for s in loaded.subscriptions {
        if !loaded.components.iter().any(|c| c.name == s.pubsub) {
            tracing::warn!(subscription = %s.name, pubsub = %s.pubsub, "Subscription names an unknown pub/sub component; ignored.");
            continue;
        }
        for r in &s.rules {
            CompiledRule::compile(r).map_err(|e| {
                StartError::Config(format!(
                    "Subscription '{}': field 'spec.routes.rules': {e}",
                    s.name
                ))
            })?;
        }
        declarative.push(s);
    }

    let (url, credentials, embedded) = match &settings.nats_url {
        Some(u) => (u.clone(), settings.nats_credentials.clone(), None),
        None => {
            let e = embedded::ensure()
                .await
                .map_err(|e| StartError::Nats(e.to_string()))?;
            (e.url.clone(), Credentials::Token(e.token.clone()), Some(e))
        }
    };
    let opts = ConnectOptions {
        url: url.clone(),
        name: format!("jetway {}", settings.app_id),
        credentials,
        tls_ca: settings.nats_tls_ca.clone(),
        tls_client: None,
        max_body: settings.max_body,
    };
    let not_embedded = |e: &embedded::Embedded, why: &str| {
        StartError::Nats(format!(
            "the NATS server at {url} {why}: it is not Jetway's embedded server (whose token is in {}); stop it, or give --nats-url",
            e.credentials.display()
        ))
    };
    let broker = match Broker::connect(&opts, Duration::from_secs(10)).await {
        Ok(b) => b,
        Err(e) => {
            return Err(match &embedded {
                Some(emb) => not_embedded(emb, &format!("refuses Jetway's token ({e})")),
                None => StartError::Nats(format!("cannot connect to NATS at {url}: {e}")),
            });
        }
    };
    if let Some(emb) = &embedded
        && !broker.auth_required()
    {
        return Err(not_embedded(emb, "requires no authentication"));
    }
    let version = broker.server_version();
    match jetway_broker::server::Version::parse(&version) {
        Some(v) if v >= jetway_broker::server::MIN_VERSION => {}
        _ => {
            return Err(StartError::Nats(format!(
                "the NATS server at {url} is v{version}; Jetway needs nats-server {} or newer (atomic batches, per-message TTL)",
                jetway_broker::server::MIN_VERSION
            )));
        }
    }
    // The Configuration in `--config` wins over one among the resources.
    let mut workflow_retention = loaded.workflow_retention;
    let mut secret_scopes = loaded.secret_scopes;
    if let Some(config) = &settings.config {
        // Read for what it must not silently drop (access control, mTLS).
        let config = resources::load(std::slice::from_ref(config), &scope)
            .map_err(|e| StartError::Config(e.to_string()))?;
        workflow_retention = config.workflow_retention.or(workflow_retention);
        secret_scopes.extend(config.secret_scopes);
    }
    let ctx = components::Context {
        broker: &broker,
        nats_url: &url,
        app_id: &settings.app_id,
        namespace: settings.namespace.as_deref(),
    };
    let mut registry = components::build(&loaded.components, &ctx)
        .await
        .map_err(|e| match e.unreachable {
            true => StartError::Nats(e.to_string()),
            false => StartError::Config(e.to_string()),
        })?;

    let app = settings.app_port.map(|port| {
        AppChannel::new(
            settings.app_protocol,
            &settings.app_channel_address,
            port,
            settings.app_token.as_deref(),
            settings.max_body,
        )
    });
    let actor_stores: Vec<_> = registry.state.values().filter(|s| s.actor_store).collect();
    if actor_stores.len() > 1 {
        let names: Vec<&str> = actor_stores.iter().map(|s| s.name.as_str()).collect();
        return Err(StartError::Config(format!(
            "state stores {} are all marked actorStateStore: only one may be",
            names.join(", ")
        )));
    }
    let actors = actor_stores.first().map(|store| {
        Arc::new(Actors::new(
            broker.clone(),
            store.store.clone(),
            settings.app_id.clone(),
            settings.invoke_timeout,
        ))
    });
    let invoker = Arc::new(Invoker::new(
        broker.clone(),
        settings.app_id.clone(),
        app.clone()
            .map(|a| Arc::new(a) as Arc<dyn jetway_core::App>),
        settings.invoke_timeout,
    ));
    let workflows = jetway_workflows::Engine::start(
        &broker,
        jetway_workflows::Config {
            app_id: settings.app_id.clone(),
            replicas: 1,
            retention: workflow_retention.unwrap_or_default(),
        },
    )
    .await
    .map_err(|e| StartError::Nats(format!("cannot open the workflow stream: {e}")))?;
    let jobs = jetway_blocks::jobs::Jobs::open(&broker, &settings.app_id)
        .await
        .map_err(|e| StartError::Nats(format!("cannot open the jobs bucket: {e}")))?;
    let bindings = Arc::new(Bindings::new(
        broker.clone(),
        settings.app_id.clone(),
        std::mem::take(&mut registry.bindings),
        settings.invoke_timeout,
    ));
    let node = Arc::new(Node {
        broker,
        registry,
        secret_scopes,
        app,
        invoker,
        bindings,
        config_subscriptions: Default::default(),
        actors,
        actor_streams: Arc::default(),
        workflows,
        jobs: Arc::new(jobs),
        readiness: Readiness::default(),
        subscriptions: RwLock::new(Vec::new()),
        extended: RwLock::new(BTreeMap::new()),
        metrics: Arc::new(Metrics::default()),
        shutdown,
        settings,
    });

    let mut listeners = Vec::new();
    for (api, port) in [
        ("HTTP", node.settings.http_port),
        ("gRPC", node.settings.grpc_port),
    ] {
        for ip in &node.settings.listen_addresses {
            let addr = std::net::SocketAddr::new(*ip, port);
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Io(format!("cannot bind the {api} API on {addr}: {e}")))?;
            listeners.push((api, l));
        }
    }
    let tasks = TaskTracker::new();
    let work = CancellationToken::new();
    for (api, listener) in listeners {
        let stop = node.shutdown.clone();
        let limits = jetway_api::serve::Limits::default();
        if api == "gRPC" {
            tasks.spawn(jetway_api::grpc::serve(
                listener,
                node.clone(),
                limits,
                stop,
            ));
            continue;
        }
        let router = jetway_api::http::router(node.clone());
        tasks.spawn(jetway_api::serve::serve(
            listener,
            router,
            jetway_api::serve::Protocol::Auto,
            limits,
            stop,
        ));
    }
    if let Some(port) = node.settings.metrics_port {
        let ip = node
            .settings
            .listen_addresses
            .first()
            .copied()
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let addr = std::net::SocketAddr::new(ip, port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            StartError::Io(format!("cannot bind the metrics endpoint on {addr}: {e}"))
        })?;
        let metrics = node.metrics.clone();
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || async move { metrics.render() }),
        );
        let stop = node.shutdown.clone();
        tasks.spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
    }
    let (bindings, stop, shutdown) = (node.bindings.clone(), work.clone(), node.shutdown.clone());
    tasks.spawn(async move {
        if let Err(error) = bindings.serve(stop).await {
            tracing::error!(%error, "Serving output bindings failed.");
            shutdown.cancel();
        }
    });
    let pubsubs: std::collections::HashMap<_, _> = node
        .registry
        .pubsub
        .iter()
        .map(|(name, c)| (name.clone(), c.pubsub.clone()))
        .collect();
    for outbox in node
        .registry
        .state
        .values()
        .filter_map(|s| s.outbox.clone())
    {
        tasks.spawn(outbox.relay(pubsubs.clone(), work.clone()));
    }
    node.readiness.set_outbound_ready();
    tracing::info!(app_id = %node.settings.app_id, http_port = node.settings.http_port, grpc_port = node.settings.grpc_port, nats = %url, elapsed_ms = started.elapsed().as_millis() as u64, "Jetway sidecar is up (outbound ready).");

    tasks.spawn(connect_app(node.clone(), declarative, work.clone()));
    Ok(Running { node, tasks, work })
}

/// A started node.
pub struct Running {
    pub node: Arc<Node>,
    tasks: TaskTracker,
    /// Stops subscriptions and the invocation server.
    work: CancellationToken,
}

impl Running {
    /// Waits for the shutdown signal, then stops in order: no new deliveries or
    /// calls, in-flight work drained within the grace period, NATS flushed.
    pub async fn wait(self) {
        self.node.shutdown.cancelled().await;
        tracing::info!("Shutting down.");
        self.node.readiness.set_ready(false);
        self.work.cancel();
        self.tasks.close();
        if tokio::time::timeout(self.node.settings.graceful_shutdown, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("Grace period elapsed with work still in flight.");
        }
        let _ = self.node.broker.flush().await;
    }
}

/// Waits for the app, then serves it: invocations, subscriptions, actors.
/// With health checks, an app that turns unhealthy stops being served (it
/// leaves the invocation queue group, its subscriptions pause, its actor
/// partitions move to other hosts) until it is healthy again.
async fn connect_app(node: Arc<Node>, declarative: Vec<Subscription>, work: CancellationToken) {
    let Some(app) = node.app.clone() else {
        node.readiness.set_ready(true);
        return;
    };
    tracing::info!(port = app.port(), "Waiting for the app to listen.");
    loop {
        if work.is_cancelled() {
            return;
        }
        if app.is_listening().await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = node.settings.app_health.clone();
    loop {
        if let Some(health) = &health
            && !health_becomes(&app, health, true, &work).await
        {
            return;
        }
        let serving = work.child_token();
        let served = TaskTracker::new();
        serve_app(&node, &app, &declarative, &serving, &served).await;
        served.close();
        node.readiness.set_ready(true);
        tracing::info!("App connected; sidecar ready.");
        let unhealthy = match &health {
            Some(health) => health_becomes(&app, health, false, &work).await,
            None => {
                work.cancelled().await;
                false
            }
        };
        if unhealthy {
            tracing::warn!(
                "The app is unhealthy: it takes no calls, events or actors until it is healthy again."
            );
            node.readiness.set_ready(false);
        }
        serving.cancel();
        served.wait().await;
        if !unhealthy {
            return;
        }
    }
}

/// Probes the app until it is `healthy` (after `threshold` failures in a
/// row, for unhealthy); false if `work` ends first.
async fn health_becomes(
    app: &AppChannel,
    health: &AppHealth,
    healthy: bool,
    work: &CancellationToken,
) -> bool {
    let mut failures = 0;
    loop {
        if app.is_healthy(health).await {
            failures = 0;
            if healthy {
                return true;
            }
        } else {
            failures += 1;
            if !healthy && failures >= health.threshold {
                return true;
            }
        }
        tokio::select! {
            _ = work.cancelled() => return false,
            _ = tokio::time::sleep(health.interval) => {}
        }
    }
}

/// Starts serving the app until `stop`: the invocation queue group, its
/// subscriptions and its actor types, as tasks of `tasks`.
async fn serve_app(
    node: &Arc<Node>,
    app: &AppChannel,
    declarative: &[Subscription],
    stop: &CancellationToken,
    tasks: &TaskTracker,
) {
    let serving = Serving {
        max_concurrency: node.settings.app_concurrency(),
        grace: node.settings.graceful_shutdown,
    };
    let invoker = node.invoker.clone();
    let counter = node.metrics.clone();
    let shutdown = node.shutdown.clone();
    let serve_stop = stop.clone();
    tasks.spawn(async move {
        if let Err(error) = invoker.serve(serving, counter, serve_stop).await {
            tracing::error!(%error, "Serving invocations failed.");
            shutdown.cancel();
        }
    });
    let programmatic = app.subscriptions(&node.settings.app_id).await;
    let mut active = Vec::new();
    for spec in declarative.iter().cloned() {
        active.push(ActiveSubscription {
            spec,
            kind: SubscriptionKind::Declarative,
        });
    }
    for spec in programmatic {
        if !node.registry.pubsub.contains_key(&spec.pubsub) {
            tracing::warn!(pubsub = %spec.pubsub, topic = %spec.topic, "The app subscribes to an unknown pub/sub component; ignored.");
            continue;
        }
        if active
            .iter()
            .any(|a| a.spec.pubsub == spec.pubsub && a.spec.topic == spec.topic)
        {
            tracing::warn!(pubsub = %spec.pubsub, topic = %spec.topic, "A declarative subscription already covers this topic; the app's is ignored.");
            continue;
        }
        active.push(ActiveSubscription {
            spec,
            kind: SubscriptionKind::Programmatic,
        });
    }
    for a in &active {
        match route(node, &a.spec) {
            Ok(route) => {
                let target = Arc::new(app.clone());
                tasks.spawn(subscriber::run(Arc::new(route), target, stop.clone()));
            }
            Err(error) => tracing::error!(%error, topic = %a.spec.topic, "Subscription refused."),
        }
    }
    *node.subscriptions.write().expect("subscriptions lock") = active;
    let inputs = node
        .bindings
        .start_inputs(Arc::new(app.clone()), tasks, stop.clone())
        .await;
    match inputs {
        Ok(names) if names.is_empty() => {}
        Ok(names) => tracing::info!(bindings = ?names, "Input bindings started."),
        Err(error) => tracing::error!(%error, "Input bindings could not start."),
    }
    tasks.spawn(node.jobs.clone().run(
        Arc::new(app.clone()),
        node.settings.app_concurrency(),
        stop.clone(),
    ));
    host_actors(node, app, stop, tasks).await;
}

/// Hosts the actor types the app's `GET /dapr/config` lists.
async fn host_actors(
    node: &Arc<Node>,
    app: &AppChannel,
    work: &CancellationToken,
    tasks: &TaskTracker,
) {
    let AppChannel::Http(http) = app else {
        return;
    };
    let Some(body) = http.actor_config(&node.settings.app_id).await else {
        return;
    };
    let config = match AppConfig::parse(&body) {
        Ok(c) if c.types.is_empty() => return,
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "The app's /dapr/config cannot be used; it hosts no actors.");
            return;
        }
    };
    if node.actors.is_none() {
        tracing::error!(types = ?config.types.keys().collect::<Vec<_>>(), "The app hosts actors but no state store is marked actorStateStore: \"true\"; it hosts none.");
        return;
    }
    let actors = node.actors.as_ref().expect("checked above");
    let app = Arc::new(HttpActors(app.clone()));
    match actors.start_hosting(app, config).await {
        Ok(host) => {
            let (node, stop) = (node.clone(), work.clone());
            tasks.spawn(async move {
                let actors = node.actors.as_ref().expect("checked above");
                actors.run_host(host, stop).await;
            });
        }
        Err(error) => tracing::error!(%error, "Hosting actors failed."),
    }
}

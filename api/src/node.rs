//! The state a running node shares with its API handlers and app channel:
//! settings, NATS, the built components, the blocks' runtimes, the app, and
//! what the metadata API reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jetway_blocks::Registry;
use jetway_blocks::actors::Actors;
use jetway_blocks::invoke::Invoker;
use jetway_blocks::pubsub::Subscription;
use jetway_blocks::pubsub::subscriber::Route;
use jetway_broker::Broker;
use tokio_util::sync::CancellationToken;

use crate::app::AppChannel;
use crate::app::actor_stream::Streams;
use crate::metrics::Metrics;
use crate::settings::Settings;

/// Kinds of subscription, as metadata reports them.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionKind {
    Declarative,
    Programmatic,
    /// Opened by the app over the gRPC API's streaming subscription.
    Streaming,
}

/// A subscription as reported by the metadata API.
#[derive(Clone, Debug)]
pub struct ActiveSubscription {
    pub spec: Subscription,
    pub kind: SubscriptionKind,
}

/// Shared state of a running node. Cheap to share behind an `Arc`.
pub struct Node {
    pub settings: Settings,
    pub broker: Broker,
    pub registry: Registry,
    /// Which secrets the app may read, by store (`secrets.scopes`).
    pub secret_scopes: BTreeMap<String, jetway_blocks::secrets::Scope>,
    pub app: Option<AppChannel>,
    pub invoker: Arc<Invoker>,
    /// Open configuration subscriptions, by id.
    pub config_subscriptions: jetway_blocks::configuration::Subscriptions,
    /// Output bindings (here or on other nodes) and this node's inputs.
    pub bindings: Arc<jetway_blocks::bindings::Bindings>,
    /// The actor runtime, when a state store is marked `actorStateStore`.
    pub actors: Option<Arc<Actors>>,
    /// Actor streams of a gRPC app (`SubscribeActorEventsAlpha1`).
    pub actor_streams: Arc<Streams>,
    /// The app's workflows.
    pub workflows: Arc<jetway_workflows::Engine>,
    /// The app's jobs.
    pub jobs: Arc<jetway_blocks::jobs::Jobs>,
    pub readiness: Readiness,
    pub subscriptions: RwLock<Vec<ActiveSubscription>>,
    pub extended: RwLock<BTreeMap<String, String>>,
    pub metrics: Arc<Metrics>,
    /// Fires when the node should stop (signal or `/v1.0/shutdown`).
    pub shutdown: CancellationToken,
}

/// Whether the node serves (`/v1.0/healthz`) and reaches out
/// (`/v1.0/healthz/outbound`).
#[derive(Default)]
pub struct Readiness {
    ready: AtomicBool,
    outbound: AtomicBool,
}

impl Readiness {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn set_outbound_ready(&self) {
        self.outbound.store(true, Ordering::Release);
    }
}

impl Node {
    pub fn is_ready(&self) -> bool {
        self.readiness.ready.load(Ordering::Acquire)
    }

    /// Outbound ready once started, while the NATS connection is up.
    pub fn is_outbound_ready(&self) -> bool {
        self.readiness.outbound.load(Ordering::Acquire) && self.broker.is_connected()
    }

    /// Stops the node after the current request has been answered.
    pub fn stop_soon(&self) {
        let token = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            token.cancel();
        });
    }
}

/// How `spec` runs on this node.
pub fn route(node: &Node, spec: &Subscription) -> Result<Route, String> {
    let component = node
        .registry
        .pubsub
        .get(&spec.pubsub)
        .ok_or_else(|| format!("unknown pub/sub '{}'", spec.pubsub))?;
    Route::new(
        component,
        spec,
        node.settings.app_concurrency(),
        node.metrics.clone(),
    )
}

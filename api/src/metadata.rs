//! What the metadata API reports, gathered once for both transports.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::node::{Node, SubscriptionKind};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub id: String,
    pub runtime_version: &'static str,
    pub enabled_features: Vec<String>,
    pub components: Vec<Component>,
    pub subscriptions: Vec<Subscription>,
    pub extended: BTreeMap<String, String>,
    /// Active actors by type (daprd's older field, kept by SDKs).
    pub actors: Vec<ActiveActors>,
    pub actor_runtime: ActorRuntime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_connection_properties: Option<AppConnection>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorRuntime {
    /// `DISABLED` without an actor state store, else `RUNNING`.
    pub runtime_status: &'static str,
    pub active_actors: Vec<ActiveActors>,
    /// Whether this node hosts actor types of its app.
    pub host_ready: bool,
    pub placement: String,
}

#[derive(Clone, Serialize)]
pub struct ActiveActors {
    #[serde(rename = "type")]
    pub kind: String,
    pub count: usize,
}

#[derive(Serialize)]
pub struct Component {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: &'static str,
    pub capabilities: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(rename = "pubsubname")]
    pub pubsub: String,
    pub topic: String,
    pub metadata: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
    pub dead_letter_topic: String,
    #[serde(rename = "type")]
    pub kind: SubscriptionKind,
}

#[derive(Serialize)]
pub struct Rule {
    #[serde(rename = "match")]
    pub matches: String,
    pub path: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppConnection {
    pub port: u16,
    pub protocol: String,
    pub channel_address: String,
    pub max_concurrency: usize,
}

pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn snapshot(node: &Node) -> Snapshot {
    let components = node
        .registry
        .listed
        .iter()
        .map(|(name, kind, caps)| Component {
            name: name.clone(),
            kind: kind.clone(),
            version: "v1",
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
        })
        .collect();
    let subscriptions = node
        .subscriptions
        .read()
        .expect("subscriptions lock")
        .iter()
        .map(|s| Subscription {
            pubsub: s.spec.pubsub.clone(),
            topic: s.spec.topic.clone(),
            metadata: s.spec.metadata.clone(),
            rules: s
                .spec
                .rules
                .iter()
                .map(|r| Rule {
                    matches: r.matches.clone(),
                    path: r.path.clone(),
                })
                .collect(),
            dead_letter_topic: s.spec.dead_letter_topic.clone().unwrap_or_default(),
            kind: s.kind,
        })
        .collect();
    let mut extended = node.extended.read().expect("extended lock").clone();
    extended.insert("daprRuntimeVersion".into(), RUNTIME_VERSION.into());
    extended.insert("natsServerVersion".into(), node.broker.server_version());
    let host = node.actors.as_ref().and_then(|a| a.host());
    let active: Vec<ActiveActors> = host
        .as_ref()
        .map(|h| h.active_counts())
        .unwrap_or_default()
        .into_iter()
        .map(|(kind, count)| ActiveActors { kind, count })
        .collect();
    let actor_runtime = ActorRuntime {
        runtime_status: if node.actors.is_some() {
            "RUNNING"
        } else {
            "DISABLED"
        },
        active_actors: active.clone(),
        host_ready: host.is_some(),
        placement: match node.actors {
            Some(_) => "placement: NATS (partition leases)".into(),
            None => String::new(),
        },
    };
    Snapshot {
        id: node.settings.app_id.clone(),
        runtime_version: RUNTIME_VERSION,
        enabled_features: Vec::new(),
        components,
        subscriptions,
        extended,
        actors: active,
        actor_runtime,
        app_connection_properties: node.app.as_ref().map(|app| AppConnection {
            port: app.port(),
            protocol: node.settings.app_protocol.name().to_owned(),
            channel_address: app.address().to_owned(),
            max_concurrency: node.settings.app_max_concurrency.unwrap_or(0),
        }),
    }
}

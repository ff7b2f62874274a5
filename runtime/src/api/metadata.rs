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
    pub actor_runtime: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_connection_properties: Option<AppConnection>,
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
    Snapshot {
        id: node.settings.app_id.clone(),
        runtime_version: RUNTIME_VERSION,
        enabled_features: Vec::new(),
        components,
        subscriptions,
        extended,
        actor_runtime: serde_json::json!({ "runtimeStatus": "DISABLED" }),
        app_connection_properties: node.app.as_ref().map(|app| AppConnection {
            port: app.port(),
            protocol: node.settings.app_protocol.name().to_owned(),
            channel_address: app.address().to_owned(),
            max_concurrency: node.settings.app_max_concurrency.unwrap_or(0),
        }),
    }
}

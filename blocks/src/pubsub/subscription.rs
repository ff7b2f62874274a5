//! Subscriptions as Dapr declares them: in YAML (`kind: Subscription`), from
//! the app (`/dapr/subscribe`, `ListTopicSubscriptions`) or over a stream.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A declarative subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub name: String,
    pub pubsub: String,
    pub topic: String,
    /// Rules in order; the default route (or v1 `route`) comes last as a rule
    /// with no `match`.
    pub rules: Vec<Rule>,
    pub metadata: BTreeMap<String, String>,
    pub dead_letter_topic: Option<String>,
    pub scopes: Vec<String>,
    /// Deliver in batches (`bulkSubscribe`).
    pub bulk: Option<Bulk>,
}

/// A bulk subscription's batch limits.
#[derive(Clone, Debug, PartialEq)]
pub struct Bulk {
    pub max_messages: usize,
    pub max_await: std::time::Duration,
}

impl Bulk {
    /// Reads `bulkSubscribe`'s fields; `None` unless enabled. Zero or negative
    /// limits take Dapr's defaults (100 messages, 1 s).
    pub fn new(enabled: bool, max_messages: i64, max_await_ms: i64) -> Option<Bulk> {
        enabled.then(|| Bulk {
            max_messages: if max_messages > 0 {
                max_messages as usize
            } else {
                100
            },
            max_await: std::time::Duration::from_millis(if max_await_ms > 0 {
                max_await_ms as u64
            } else {
                1000
            }),
        })
    }
}

/// `bulkSubscribe` as YAML and `/dapr/subscribe` spell it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkSpec {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub max_messages_count: i64,
    #[serde(default)]
    pub max_await_duration_ms: i64,
}

impl BulkSpec {
    pub fn bulk(&self) -> Option<Bulk> {
        Bulk::new(
            self.enabled,
            self.max_messages_count,
            self.max_await_duration_ms,
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// A CEL expression; empty matches everything.
    pub matches: String,
    pub path: String,
}

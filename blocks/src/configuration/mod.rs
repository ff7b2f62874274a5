//! The configuration building block: the store trait, the JetStream store
//! (`configuration.jetstream`: one KV key per item, version = revision), and
//! the node's open subscriptions (each a KV watch, ended by its id).

mod jetstream;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

pub use jetstream::JetStreamConfiguration;

/// One configuration item.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Item {
    pub value: String,
    pub version: String,
    pub metadata: BTreeMap<String, String>,
}

/// Items by key.
pub type Items = BTreeMap<String, Item>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Backend(String),
}

/// A configuration store.
///
/// Every implementation guarantees: `get` of no keys is every item; a key
/// that does not exist is left out; `subscribe` reports every change of the
/// keys (all keys when none are named) after it returns, in order, a deleted
/// key as an item with an empty value.
#[async_trait::async_trait]
pub trait ConfigurationStore: Send + Sync {
    async fn get(&self, keys: &[String]) -> Result<Items, Error>;

    async fn subscribe(&self, keys: Vec<String>) -> Result<BoxStream<'static, Items>, Error>;
}

pub struct ConfigurationComponent {
    pub name: String,
    pub store: Arc<dyn ConfigurationStore>,
}

/// How many subscriptions a node keeps open at once.
pub const MAX_SUBSCRIPTIONS: usize = 1024;

/// The node's open subscriptions, by id.
#[derive(Default)]
pub struct Subscriptions(Mutex<HashMap<String, CancellationToken>>);

impl Subscriptions {
    /// A new subscription's id and the token that ends it, or `None` when
    /// the node has as many as it keeps.
    pub fn open(&self) -> Option<(String, CancellationToken)> {
        let mut open = self.0.lock().expect("subscriptions lock");
        open.retain(|_, t| !t.is_cancelled());
        if open.len() >= MAX_SUBSCRIPTIONS {
            return None;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let token = CancellationToken::new();
        open.insert(id.clone(), token.clone());
        Some((id, token))
    }

    /// Ends subscription `id`; false when there is none.
    pub fn close(&self, id: &str) -> bool {
        match self.0.lock().expect("subscriptions lock").remove(id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

//! The components a node built, by block and name: what the API edge and the
//! blocks' runtimes look components up in.

use std::collections::HashMap;
use std::sync::Arc;

use crate::pubsub::PubSub;
use crate::secrets::SecretStore;
use crate::state::Store;

/// A state store and how this app's keys are prefixed in it.
pub struct StateComponent {
    pub name: String,
    pub kind: String,
    pub store: Arc<dyn Store>,
    /// Resolved key prefix (without `||`).
    pub prefix: Option<String>,
    pub actor_store: bool,
}

/// A pub/sub broker and the delivery settings from its metadata.
pub struct PubSubComponent {
    pub name: String,
    pub kind: String,
    pub pubsub: Arc<dyn PubSub>,
    /// Consumer group: `consumerID`, else the app id.
    pub group: String,
    pub metadata: jetway_core::Metadata,
}

/// The running components, by name.
#[derive(Default)]
pub struct Registry {
    pub state: HashMap<String, StateComponent>,
    pub pubsub: HashMap<String, PubSubComponent>,
    pub secrets: HashMap<String, Arc<dyn SecretStore>>,
    /// (name, type, features) of every component, in load order, for metadata.
    pub listed: Vec<(String, String, &'static [&'static str])>,
}

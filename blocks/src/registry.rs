//! The components a node built, by block and name: what the API edge and the
//! blocks' runtimes look components up in.

use std::collections::HashMap;
use std::sync::Arc;

use crate::bindings::BindingComponent;
use crate::configuration::ConfigurationComponent;
use crate::lock::LockComponent;
pub use crate::pubsub::PubSubComponent;
use crate::secrets::SecretStore;
pub use crate::state::StateComponent;

/// The running components, by name.
#[derive(Default)]
pub struct Registry {
    pub state: HashMap<String, StateComponent>,
    pub pubsub: HashMap<String, PubSubComponent>,
    pub secrets: HashMap<String, Arc<dyn SecretStore>>,
    pub bindings: Vec<BindingComponent>,
    pub locks: HashMap<String, LockComponent>,
    pub configuration: HashMap<String, ConfigurationComponent>,
    /// (name, type, features) of every component, in load order, for metadata.
    pub listed: Vec<(String, String, &'static [&'static str])>,
}

//! The secrets building block: the store trait every secret store component
//! implements, and the stores. Other components read `secretKeyRef` metadata
//! through them, which is why secret stores are built first.

mod local_file;

use std::collections::BTreeMap;

pub use local_file::LocalFileStore;

/// A secret: its keys and values.
pub type Secret = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Backend(String),
}

/// A secret store.
///
/// Every implementation guarantees: `get` of a secret that does not exist is
/// `Ok(None)`, never an error; the same name reads the same secret until the
/// store's source changes.
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &str) -> Result<Option<Secret>, Error>;
}

//! The distributed lock building block: the store trait, and the JetStream
//! store (`lock.jetstream`). A lock is a key written only if absent, with a
//! per-message TTL as its lease, holding its owner; only the owner removes
//! it, by a delete conditioned on the revision it read.

mod jetstream;

use std::time::Duration;

pub use jetstream::JetStreamLocks;

/// The answer to an unlock, numbered as Dapr numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlockStatus {
    Success = 0,
    LockDoesNotExist = 1,
    LockBelongsToOthers = 2,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Backend(String),
}

/// A lock store.
///
/// Every implementation guarantees: while a lock is held and its expiry has
/// not passed, `try_lock` of the same key by anyone answers false; only the
/// owner's `unlock` removes it; an expired lock is free.
#[async_trait::async_trait]
pub trait LockStore: Send + Sync {
    async fn try_lock(&self, key: &str, owner: &str, expiry: Duration) -> Result<bool, Error>;

    async fn unlock(&self, key: &str, owner: &str) -> Result<UnlockStatus, Error>;
}

/// A lock store with this app's key prefix (`keyPrefix`).
pub struct LockComponent {
    pub name: String,
    pub store: std::sync::Arc<dyn LockStore>,
    pub prefix: Option<String>,
}

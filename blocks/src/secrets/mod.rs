//! The secrets building block: the store trait every secret store component
//! implements, the stores, and the scoping a Configuration applies to what
//! apps may read. Other components read `secretKeyRef` metadata through the
//! stores, which is why secret stores are built first.

mod jetstream;
mod local_env;
mod local_file;

use std::collections::BTreeMap;

pub use jetstream::{JetStreamSecrets, SealKey};
pub use local_env::LocalEnvStore;
pub use local_file::LocalFileStore;

/// A secret: its keys and values.
pub type Secret = BTreeMap<String, String>;

/// Every secret of a store, by name.
pub type Secrets = BTreeMap<String, Secret>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store cannot hand out this name (for example a variable the
    /// environment store keeps to itself).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Backend(String),
}

/// A secret store.
///
/// Every implementation guarantees: `get` of a secret that does not exist is
/// `Ok(None)`, never an error; the same name reads the same secret until the
/// store's source changes; `bulk` holds exactly the secrets `get` finds
/// among the names `wanted` accepts, and reads no other.
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &str) -> Result<Option<Secret>, Error>;

    async fn bulk(&self, wanted: &Wanted) -> Result<Secrets, Error>;
}

/// Which names a bulk read is for.
pub type Wanted = dyn Fn(&str) -> bool + Send + Sync;

/// Which secrets of one store the app may read: a Configuration's
/// `secrets.scopes` entry, applied as daprd applies it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    pub default_deny: bool,
    pub allowed: Vec<String>,
    pub denied: Vec<String>,
}

impl Scope {
    /// A non-empty allow list decides alone; else a denied name is refused
    /// and the rest follow the default access.
    pub fn allows(&self, name: &str) -> bool {
        if !self.allowed.is_empty() {
            return self.allowed.iter().any(|a| a == name);
        }
        !self.default_deny && !self.denied.iter().any(|d| d == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scopes_follow_daprd() {
        let open = Scope::default();
        assert!(open.allows("any"));
        let denied = Scope {
            denied: names(&["db"]),
            ..Scope::default()
        };
        assert!(!denied.allows("db") && denied.allows("api"));
        let closed = Scope {
            default_deny: true,
            ..Scope::default()
        };
        assert!(!closed.allows("db"));
        // The allow list wins over the default and the deny list.
        let listed = Scope {
            default_deny: true,
            allowed: names(&["db"]),
            denied: names(&["db"]),
        };
        assert!(listed.allows("db") && !listed.allows("api"));
    }
}

//! The distributed lock API shared by HTTP and gRPC (alpha), with daprd's
//! validation and codes.

use std::time::Duration;

use super::{Error, ErrorCode};
use crate::node::Node;
use jetway_blocks::lock::{LockComponent, UnlockStatus};

fn store<'a>(node: &'a Node, name: &str) -> Result<&'a LockComponent, Error> {
    if node.registry.locks.is_empty() {
        return Err(Error::new(
            ErrorCode::LockStoreNotConfigured,
            "lock store is not configured",
        ));
    }
    node.registry.locks.get(name).ok_or_else(|| {
        Error::new(
            ErrorCode::LockStoreNotFound,
            format!("lock store {name} not found"),
        )
    })
}

/// The lock's key: the app's prefix and the resource.
fn key(store: &LockComponent, resource: &str, owner: &str) -> Result<String, Error> {
    let name = &store.name;
    if resource.is_empty() {
        return Err(Error::malformed(format!(
            "ResourceId is empty in lock store {name}"
        )));
    }
    if owner.is_empty() {
        return Err(Error::malformed(format!(
            "LockOwner is empty in lock store {name}"
        )));
    }
    jetway_blocks::state::stored_key(store.prefix.as_deref(), resource)
        .map_err(|e| Error::malformed(format!("{e} in lock store {name}")))
}

pub(crate) async fn try_lock(
    node: &Node,
    name: &str,
    resource: &str,
    owner: &str,
    expiry_in_seconds: i64,
) -> Result<bool, Error> {
    let store = store(node, name)?;
    let key = key(store, resource, owner)?;
    if expiry_in_seconds <= 0 {
        return Err(Error::malformed(format!(
            "ExpiryInSeconds is not positive in lock store {name}"
        )));
    }
    let expiry = Duration::from_secs(expiry_in_seconds.unsigned_abs());
    store
        .store
        .try_lock(&key, owner, expiry)
        .await
        .map_err(|e| {
            Error::new(
                ErrorCode::TryLock,
                format!("failed to try acquiring lock: {e}"),
            )
        })
}

pub(crate) async fn unlock(
    node: &Node,
    name: &str,
    resource: &str,
    owner: &str,
) -> Result<UnlockStatus, Error> {
    let store = store(node, name)?;
    let key = key(store, resource, owner)?;
    store
        .store
        .unlock(&key, owner)
        .await
        .map_err(|e| Error::new(ErrorCode::Unlock, format!("failed to release lock: {e}")))
}

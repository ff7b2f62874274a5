//! The secrets API shared by HTTP and gRPC: a store looked up by name, its
//! secrets read within the Configuration's `secrets.scopes`, daprd's codes.

use std::sync::Arc;

use super::{Error, ErrorCode};
use crate::node::Node;
use jetway_blocks::secrets::{Scope, Secret, SecretStore, Secrets};

fn store<'a>(node: &'a Node, name: &str) -> Result<(&'a Arc<dyn SecretStore>, Scope), Error> {
    if node.registry.secrets.is_empty() {
        return Err(Error::new(
            ErrorCode::SecretStoresNotConfigured,
            "secret store is not configured",
        ));
    }
    let store = node.registry.secrets.get(name).ok_or_else(|| {
        Error::new(
            ErrorCode::SecretStoreNotFound,
            format!("failed finding secret store with key {name}"),
        )
    })?;
    let scope = node.secret_scopes.get(name).cloned().unwrap_or_default();
    Ok((store, scope))
}

/// The secret `key` of store `name`.
pub(crate) async fn get(node: &Node, name: &str, key: &str) -> Result<Secret, Error> {
    let (store, scope) = store(node, name)?;
    if !scope.allows(key) {
        return Err(Error::new(
            ErrorCode::SecretPermissionDenied,
            format!("access denied by policy to get \"{key}\" from \"{name}\""),
        ));
    }
    let failed = |why: String| {
        Error::new(
            ErrorCode::SecretGet,
            format!("failed getting secret with key {key} from secret store {name}: {why}"),
        )
    };
    store
        .get(key)
        .await
        .map_err(|e| failed(e.to_string()))?
        .ok_or_else(|| failed(format!("secret {key} not found")))
}

/// Every secret of store `name` the app may read.
pub(crate) async fn bulk(node: &Node, name: &str) -> Result<Secrets, Error> {
    let (store, scope) = store(node, name)?;
    store
        .bulk(&move |key| scope.allows(key))
        .await
        .map_err(|e| {
            Error::new(
                ErrorCode::SecretGet,
                format!("failed getting secrets from secret store {name}: {e}"),
            )
        })
}

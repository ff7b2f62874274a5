//! The configuration API shared by HTTP and gRPC: reads, and subscriptions
//! that end when unsubscribed (or when the node stops).

use futures::StreamExt;
use futures::stream::BoxStream;

use super::{Error, ErrorCode};
use crate::node::Node;
use jetway_blocks::configuration::{ConfigurationComponent, Items};

fn store<'a>(node: &'a Node, name: &str) -> Result<&'a ConfigurationComponent, Error> {
    if node.registry.configuration.is_empty() {
        return Err(Error::new(
            ErrorCode::ConfigurationStoreNotConfigured,
            "configuration store is not configured",
        ));
    }
    node.registry.configuration.get(name).ok_or_else(|| {
        Error::new(
            ErrorCode::ConfigurationStoreNotFound,
            format!("configuration store {name} not found"),
        )
    })
}

pub(crate) async fn get(node: &Node, name: &str, keys: &[String]) -> Result<Items, Error> {
    store(node, name)?.store.get(keys).await.map_err(|e| {
        Error::new(
            ErrorCode::ConfigurationGet,
            format!("failed to get {keys:?} from Configuration store {name}: {e}"),
        )
    })
}

/// A new subscription's id and its updates, which end when it is
/// unsubscribed or the node stops.
pub(crate) async fn subscribe(
    node: &Node,
    name: &str,
    keys: Vec<String>,
) -> Result<(String, BoxStream<'static, Items>), Error> {
    let store = store(node, name)?;
    let failed = |why: String| {
        Error::new(
            ErrorCode::ConfigurationSubscribe,
            format!("failed to subscribe {keys:?} from Configuration store {name}: {why}"),
        )
    };
    let updates = store
        .store
        .subscribe(keys.clone())
        .await
        .map_err(|e| failed(e.to_string()))?;
    let (id, token) = node
        .config_subscriptions
        .open()
        .ok_or_else(|| failed("too many open subscriptions".into()))?;
    let stop = node.shutdown.clone();
    let ended = async move {
        tokio::select! {
            _ = token.cancelled() => {}
            _ = stop.cancelled() => {}
        }
    };
    Ok((id, updates.take_until(Box::pin(ended)).boxed()))
}

pub(crate) fn unsubscribe(node: &Node, id: &str) -> Result<(), Error> {
    if node.config_subscriptions.close(id) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::ConfigurationUnsubscribe,
            format!("failed to unsubscribe subscription {id}: no such subscription"),
        ))
    }
}

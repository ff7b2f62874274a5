//! The actor API, shared by HTTP and gRPC: method calls, and actor state in the
//! store marked `actorStateStore`.

use bytes::Bytes;

use super::{Error, ErrorCode};
use crate::actors::{ActorCall, Actors};
use crate::app::AppResponse;
use crate::components::StateComponent;
use crate::node::Node;
use crate::state::{self, DeleteRequest, Operation, SetRequest};

/// One operation of an actor state transaction.
pub enum ActorOp {
    Upsert {
        key: String,
        value: Bytes,
        ttl_seconds: Option<String>,
    },
    Delete {
        key: String,
    },
}

impl ActorOp {
    /// Reads Dapr's operation names (`upsert`, `delete`), the same over both APIs.
    pub fn new(
        kind: &str,
        key: String,
        value: Bytes,
        ttl_seconds: Option<String>,
    ) -> Result<ActorOp, Error> {
        match kind {
            "upsert" => Ok(ActorOp::Upsert {
                key,
                value,
                ttl_seconds,
            }),
            "delete" => Ok(ActorOp::Delete { key }),
            other => Err(Error::new(
                ErrorCode::StateOperationNotSupported,
                format!("operation type {other} not supported"),
            )),
        }
    }
}

fn not_configured() -> Error {
    Error::new(
        ErrorCode::ActorRuntimeNotFound,
        "the actor runtime is not configured: it needs a state store with metadata actorStateStore: \"true\"",
    )
}

/// The node's actor runtime.
pub fn runtime(node: &Node) -> Result<&Actors, Error> {
    node.actors.as_ref().ok_or_else(not_configured)
}

fn store(node: &Node) -> Result<&StateComponent, Error> {
    node.registry
        .state
        .values()
        .find(|s| s.actor_store)
        .ok_or_else(not_configured)
}

/// daprd's actor state key: `<app id>||<type>||<id>||<key>`.
fn state_key(node: &Node, actor_type: &str, actor_id: &str, key: &str) -> Result<String, Error> {
    if actor_type.is_empty() || actor_id.is_empty() {
        return Err(Error::new(
            ErrorCode::ActorInstanceMissing,
            "actor type and id must not be empty",
        ));
    }
    if key.is_empty() {
        return Err(Error::malformed("an actor state key must not be empty"));
    }
    Ok(format!(
        "{}||{actor_type}||{actor_id}||{key}",
        node.settings.app_id
    ))
}

pub async fn invoke(node: &Node, call: ActorCall) -> Result<AppResponse, Error> {
    runtime(node)?.invoke(call).await
}

/// The stored bytes of one key of an actor's state.
pub async fn get_state(
    node: &Node,
    actor_type: &str,
    actor_id: &str,
    key: &str,
) -> Result<Option<Bytes>, Error> {
    runtime(node)?;
    let store = store(node)?;
    let key = state_key(node, actor_type, actor_id, key)?;
    let item = store.store.get(&key).await.map_err(|e| {
        Error::new(
            ErrorCode::ActorStateGet,
            format!("error getting actor state: {e}"),
        )
    })?;
    Ok(item.map(|i| i.value))
}

/// Applies all `ops` to an actor's state, or none.
pub async fn transact_state(
    node: &Node,
    actor_type: &str,
    actor_id: &str,
    ops: Vec<ActorOp>,
) -> Result<(), Error> {
    runtime(node)?;
    let store = store(node)?;
    let mut operations = Vec::with_capacity(ops.len());
    for op in ops {
        operations.push(match op {
            ActorOp::Upsert {
                key,
                value,
                ttl_seconds,
            } => Operation::Upsert(SetRequest {
                key: state_key(node, actor_type, actor_id, &key)?,
                value,
                etag: None,
                first_write: false,
                ttl: state::parse_ttl(ttl_seconds.as_deref())
                    .map_err(|e| Error::malformed(e.to_string()))?,
            }),
            ActorOp::Delete { key } => Operation::Delete(DeleteRequest {
                key: state_key(node, actor_type, actor_id, &key)?,
                etag: None,
            }),
        });
    }
    store.store.transact(operations).await.map_err(|e| {
        Error::new(
            ErrorCode::ActorStateTransactionSave,
            format!("error saving actor transaction state: {e}"),
        )
    })
}

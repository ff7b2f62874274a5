//! Actor state, kept in the store marked `actorStateStore` under daprd's key
//! scheme, so a store can move between daprd and Jetway.

use bytes::Bytes;
use jetway_core::Context;

use super::{ActorError, Actors};
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
    ) -> Result<ActorOp, ActorError> {
        match kind {
            "upsert" => Ok(ActorOp::Upsert {
                key,
                value,
                ttl_seconds,
            }),
            "delete" => Ok(ActorOp::Delete { key }),
            other => Err(ActorError::UnsupportedOperation(other.to_owned())),
        }
    }
}

impl Actors {
    /// daprd's actor state key: `<app id>||<type>||<id>||<key>`.
    fn state_key(&self, actor_type: &str, actor_id: &str, key: &str) -> Result<String, ActorError> {
        if actor_type.is_empty() || actor_id.is_empty() {
            return Err(ActorError::MissingInstance);
        }
        if key.is_empty() {
            return Err(ActorError::Invalid(
                "an actor state key must not be empty".into(),
            ));
        }
        Ok(format!("{}||{actor_type}||{actor_id}||{key}", self.app_id))
    }

    /// The stored bytes of one key of an actor's state.
    pub async fn get_state(
        &self,
        ctx: &Context,
        actor_type: &str,
        actor_id: &str,
        key: &str,
    ) -> Result<Option<Bytes>, ActorError> {
        let key = self.state_key(actor_type, actor_id, key)?;
        let item = self
            .store
            .get(ctx, &key)
            .await
            .map_err(|e| ActorError::StateGet(e.to_string()))?;
        Ok(item.map(|i| i.value))
    }

    /// Applies all `ops` to an actor's state, or none: only on the host that
    /// serves the actor, fenced by its claim on the actor's partition.
    pub async fn transact_state(
        &self,
        ctx: &Context,
        actor_type: &str,
        actor_id: &str,
        ops: Vec<ActorOp>,
    ) -> Result<(), ActorError> {
        let mut operations = Vec::with_capacity(ops.len());
        for op in ops {
            operations.push(match op {
                ActorOp::Upsert {
                    key,
                    value,
                    ttl_seconds,
                } => Operation::Upsert(SetRequest {
                    key: self.state_key(actor_type, actor_id, &key)?,
                    value,
                    etag: None,
                    first_write: false,
                    ttl: state::parse_ttl(ttl_seconds.as_deref())
                        .map_err(|e| ActorError::Invalid(e.to_string()))?,
                }),
                ActorOp::Delete { key } => Operation::Delete(DeleteRequest {
                    key: self.state_key(actor_type, actor_id, &key)?,
                    etag: None,
                }),
            });
        }
        let fence = self
            .host()
            .and_then(|host| host.fence_of(actor_type, actor_id))
            .ok_or_else(|| {
                ActorError::StateTransaction(format!(
                    "actor {actor_type}/{actor_id} is not active on this host"
                ))
            })?;
        self.store
            .transact_fenced(ctx, operations, &fence)
            .await
            .map_err(|e| ActorError::StateTransaction(e.to_string()))
    }
}

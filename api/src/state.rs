//! The state API shared by HTTP and gRPC: requests in transport-neutral form,
//! validated and applied to a store, with Dapr's error codes.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::join_all;

use super::{Error, ErrorCode};
use crate::node::Node;
use jetway_blocks::pubsub::cloudevent;
use jetway_blocks::registry::StateComponent;
use jetway_blocks::state::{self, DeleteRequest, Item, Operation, SetRequest};
use jetway_core::Context;

/// One item to save, as either transport delivers it.
pub struct SaveItem {
    pub key: String,
    pub value: Bytes,
    pub etag: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// `first-write` concurrency.
    pub first_write: bool,
}

/// One operation of a transaction.
pub enum TxOp {
    Upsert(SaveItem),
    Delete { key: String, etag: Option<String> },
}

impl TxOp {
    /// Reads Dapr's operation names (`upsert`, `delete`).
    pub fn new(kind: &str, item: SaveItem) -> Result<TxOp, Error> {
        match kind {
            "upsert" => Ok(TxOp::Upsert(item)),
            "delete" => Ok(TxOp::Delete {
                key: item.key,
                etag: item.etag,
            }),
            other => Err(Error::new(
                ErrorCode::StateOperationNotSupported,
                format!("operation type {other} not supported"),
            )),
        }
    }
}

/// The store named `name`.
pub fn store<'a>(node: &'a Node, name: &str) -> Result<&'a StateComponent, Error> {
    if node.registry.state.is_empty() {
        return Err(Error::new(
            ErrorCode::StateStoreNotConfigured,
            format!("state store {name} is not configured"),
        ));
    }
    node.registry.state.get(name).ok_or_else(|| {
        Error::new(
            ErrorCode::StateStoreNotFound,
            format!("state store {name} is not found"),
        )
    })
}

/// What a store was asked to do, for its error's code.
#[derive(Clone, Copy, Debug)]
enum Op {
    Get,
    Save,
    Delete,
    Transaction,
}

/// Maps a store error; daprd's messages say what failed first.
fn store_error(e: state::Error, op: Op, what: String) -> Error {
    use ErrorCode as C;
    use state::Error as E;
    let code = match (op, &e) {
        // A transaction fails as a whole, whatever the cause.
        (Op::Transaction, _) => C::StateTransaction,
        (_, E::Invalid(_) | E::IllegalKey(_)) => return Error::malformed(e.to_string()),
        (Op::Save, E::EtagMismatch(_)) => C::StateSaveEtagMismatch,
        (Op::Save, E::InvalidEtag(_)) => C::StateSaveInvalidEtag,
        (Op::Save, E::Backend(_) | E::Fenced(_)) => C::StateSave,
        (Op::Delete, E::EtagMismatch(_)) => C::StateDeleteEtagMismatch,
        (Op::Delete, E::InvalidEtag(_)) => C::StateDeleteInvalidEtag,
        (Op::Delete, E::Backend(_) | E::Fenced(_)) => C::StateDelete,
        (Op::Get, _) => C::StateGet,
    };
    Error::new(code, format!("{what}: {e}"))
}

/// The key as `store` holds it; a key with `||` is daprd's illegal key,
/// with the key and the store named in the error's details.
fn stored_key(store: &StateComponent, key: &str) -> Result<String, Error> {
    state::stored_key(store.prefix.as_deref(), key).map_err(|e| match e {
        state::Error::IllegalKey(_) => {
            let message = e.to_string();
            Error(
                jetway_core::Error::new(ErrorCode::StateIllegalKey, message.clone())
                    .field(key, message)
                    .about("state", &store.name),
            )
        }
        other => Error::malformed(other.to_string()),
    })
}

fn set_request(
    store: &StateComponent,
    item: SaveItem,
    extra: &BTreeMap<String, String>,
) -> Result<SetRequest, Error> {
    if item.key.is_empty() {
        return Err(Error::malformed("a state item must have a key"));
    }
    let ttl = item
        .metadata
        .get("ttlInSeconds")
        .or_else(|| extra.get("ttlInSeconds"));
    let ttl =
        state::parse_ttl(ttl.map(String::as_str)).map_err(|e| Error::malformed(e.to_string()))?;
    Ok(SetRequest {
        key: stored_key(store, &item.key)?,
        value: item.value,
        etag: item.etag.filter(|e| !e.is_empty()),
        first_write: item.first_write,
        ttl,
    })
}

/// Saves `items`; `extra` is request-level metadata under each item's own.
pub async fn save(
    node: &Node,
    ctx: &Context,
    name: &str,
    items: Vec<SaveItem>,
    extra: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let store = store(node, name)?;
    let requests = items
        .into_iter()
        .map(|i| set_request(store, i, extra))
        .collect::<Result<Vec<_>, _>>()?;
    // Items are written concurrently, unless a key repeats: then in order, so
    // the last item for a key wins.
    let mut keys: Vec<&str> = requests.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    let saved = if keys.windows(2).any(|w| w[0] == w[1]) {
        let mut saved = Vec::new();
        for r in requests {
            saved.push(store.store.set(ctx, r).await);
        }
        saved
    } else {
        join_all(requests.into_iter().map(|r| store.store.set(ctx, r))).await
    };
    saved.into_iter().try_for_each(|r| {
        r.map_err(|e| {
            store_error(
                e,
                Op::Save,
                format!("failed saving state in state store {name}"),
            )
        })
    })
}

pub async fn get(node: &Node, ctx: &Context, name: &str, key: &str) -> Result<Option<Item>, Error> {
    let store = store(node, name)?;
    let stored = stored_key(store, key)?;
    store.store.get(ctx, &stored).await.map_err(|e| {
        store_error(
            e,
            Op::Get,
            format!("fail to get {key} from state store {name}"),
        )
    })
}

pub async fn delete(
    node: &Node,
    ctx: &Context,
    name: &str,
    key: &str,
    etag: Option<String>,
) -> Result<(), Error> {
    let store = store(node, name)?;
    let request = DeleteRequest {
        key: stored_key(store, key)?,
        etag: etag.filter(|e| !e.is_empty()),
    };
    store.store.delete(ctx, request).await.map_err(|e| {
        store_error(
            e,
            Op::Delete,
            format!("failed deleting state with key {key}"),
        )
    })
}

/// The most keys one bulk get may ask for.
pub const MAX_BULK_KEYS: usize = 10_000;

/// Reads `keys` with at most `parallelism` reads in flight (0: the cap, 100);
/// each distinct key has its own result, in the order first asked.
pub async fn bulk_get(
    node: &Node,
    ctx: &Context,
    name: &str,
    keys: Vec<String>,
    parallelism: usize,
) -> Result<Vec<(String, Result<Option<Item>, String>)>, Error> {
    let store = store(node, name)?;
    if keys.len() > MAX_BULK_KEYS {
        return Err(Error::malformed(format!(
            "a bulk get asks for at most {MAX_BULK_KEYS} keys, got {}",
            keys.len()
        )));
    }
    let mut seen = HashSet::with_capacity(keys.len());
    let keys: Vec<String> = keys
        .into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect();
    let lookups: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let (backend, stored) = (store.store.clone(), stored_key(store, &key));
            async move {
                let result = match stored {
                    Ok(stored) => backend.get(ctx, &stored).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.0.message),
                };
                (key, result)
            }
        })
        .collect();
    let parallelism = if parallelism == 0 {
        100
    } else {
        parallelism.min(100)
    };
    Ok(futures::stream::iter(lookups)
        .buffered(parallelism)
        .collect()
        .await)
}

/// Applies `ops` all together or not at all.
pub async fn transact(
    node: &Node,
    ctx: &Context,
    name: &str,
    ops: Vec<TxOp>,
    metadata: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let store = store(node, name)?;
    if let Some(max) = store.store.max_transaction_ops()
        && ops.len() > max
    {
        return Err(Error::new(
            ErrorCode::StateTooManyTransactions,
            format!(
                "the transaction contains {} operations, which is more than what the state store supports: {max}",
                ops.len()
            ),
        )
        .about("state", name)
        .with_metadata("currentOpsTransaction", ops.len().to_string())
        .with_metadata("maxOpsPerTransaction", max.to_string()));
    }
    let (ops, projections) = match &store.outbox {
        Some(_) => split_projections(ops),
        None => (ops, Vec::new()),
    };
    let mut events = Vec::new();
    let mut requests = Vec::with_capacity(ops.len());
    for op in ops {
        requests.push(match op {
            TxOp::Upsert(item) => {
                if let Some(outbox) = &store.outbox {
                    let shown = projections.iter().rev().find(|p| p.key == item.key);
                    let key = stored_key(store, &item.key)?;
                    events.push(outbox_event(
                        node,
                        outbox,
                        shown.unwrap_or(&item),
                        &item,
                        key,
                    ));
                }
                Operation::Upsert(set_request(store, item, metadata)?)
            }
            TxOp::Delete { key, etag } => {
                if key.is_empty() {
                    return Err(Error::malformed("a state item must have a key"));
                }
                Operation::Delete(DeleteRequest {
                    key: stored_key(store, &key)?,
                    etag: etag.filter(|e| !e.is_empty()),
                })
            }
        });
    }
    let committed = match &store.outbox {
        Some(outbox) => outbox.transact(ctx, requests, events).await,
        None => store.store.transact(ctx, requests).await,
    };
    committed.map_err(|e| {
        store_error(
            e,
            Op::Transaction,
            "error while executing state transaction".into(),
        )
    })
}

/// Takes out the upserts marked `outbox.projection`: never saved, they are
/// what the event of the upsert of the same key publishes.
fn split_projections(ops: Vec<TxOp>) -> (Vec<TxOp>, Vec<SaveItem>) {
    let mut kept = Vec::with_capacity(ops.len());
    let mut projections = Vec::new();
    for op in ops {
        match op {
            TxOp::Upsert(item)
                if item
                    .metadata
                    .get("outbox.projection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")) =>
            {
                projections.push(item)
            }
            other => kept.push(other),
        }
    }
    (kept, projections)
}

/// The CloudEvent an upsert publishes through the outbox: `shown` (the
/// upsert, or its projection) as data, the upsert's metadata as overrides
/// (`type`, `source`, `subject`, or their `cloudevent.` forms).
fn outbox_event(
    node: &Node,
    outbox: &state::Outbox,
    shown: &SaveItem,
    upsert: &SaveItem,
    key: String,
) -> state::OutboxEvent {
    let id = format!("outbox-{}", uuid::Uuid::new_v4());
    let mut overrides = BTreeMap::new();
    for (k, v) in &upsert.metadata {
        let name = k.strip_prefix("cloudevent.").unwrap_or(k);
        if matches!(name, "type" | "source" | "subject") {
            overrides.insert(name.to_owned(), v.clone());
        }
    }
    overrides.insert("id".to_owned(), id.clone());
    let content_type =
        shown
            .metadata
            .get("contentType")
            .map(String::as_str)
            .or(
                serde_json::from_slice::<serde::de::IgnoredAny>(&shown.value)
                    .is_ok()
                    .then_some("application/json"),
            );
    let (event, _) = cloudevent::wrap(&cloudevent::Publish {
        app_id: &node.settings.app_id,
        pubsub: &outbox.settings.pubsub,
        topic: &outbox.settings.topic,
        data: &shown.value,
        content_type,
        overrides: &overrides,
        traceparent: None,
        tracestate: None,
        expiration: None,
    });
    state::OutboxEvent { id, key, event }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of store error, for every operation, as daprd answers it.
    #[test]
    fn store_errors_map_to_daprd_s_codes() {
        use ErrorCode as C;
        use state::Error as E;
        let kinds = || {
            [
                E::EtagMismatch("stale".into()),
                E::InvalidEtag("x".into()),
                E::IllegalKey("a||b".into()),
                E::Invalid("bad".into()),
                E::Backend("down".into()),
            ]
        };
        let expected = [
            (
                Op::Get,
                [
                    C::StateGet,
                    C::StateGet,
                    C::MalformedRequest,
                    C::MalformedRequest,
                    C::StateGet,
                ],
            ),
            (
                Op::Save,
                [
                    C::StateSaveEtagMismatch,
                    C::StateSaveInvalidEtag,
                    C::MalformedRequest,
                    C::MalformedRequest,
                    C::StateSave,
                ],
            ),
            (
                Op::Delete,
                [
                    C::StateDeleteEtagMismatch,
                    C::StateDeleteInvalidEtag,
                    C::MalformedRequest,
                    C::MalformedRequest,
                    C::StateDelete,
                ],
            ),
            (Op::Transaction, [C::StateTransaction; 5]),
        ];
        for (op, codes) in expected {
            for (kind, code) in kinds().into_iter().zip(codes) {
                let shown = format!("{kind:?}");
                assert_eq!(store_error(kind, op, "what".into()).code(), code, "{shown}");
            }
        }
    }

    #[test]
    fn an_illegal_key_names_the_key_and_the_store() {
        let store = StateComponent {
            name: "statestore".into(),
            kind: "state.in-memory".into(),
            store: std::sync::Arc::new(state::MemoryStore::default()),
            prefix: Some("app".into()),
            actor_store: false,
            outbox: None,
        };
        assert_eq!(stored_key(&store, "k").unwrap(), "app||k");
        let e = stored_key(&store, "a||b").unwrap_err().0;
        assert_eq!(e.code, ErrorCode::StateIllegalKey);
        let details = e.details.unwrap();
        assert_eq!(details.violations[0].field, "a||b");
        assert_eq!(details.violations[0].description, e.message);
        let resource = details.resource.unwrap();
        assert_eq!(
            (resource.kind, resource.name.as_str()),
            ("state", "statestore")
        );
        assert_eq!(
            stored_key(&store, "").unwrap_err().code(),
            ErrorCode::MalformedRequest
        );
    }
}

//! The state building block: the store trait every state component implements,
//! Dapr's key prefixing, and the store components.

mod jetstream;
mod memory;
mod outbox;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use jetway_core::Context;

pub use jetstream::JetStreamStore;
pub use memory::MemoryStore;
pub use outbox::{Outbox, OutboxEvent, OutboxSettings};

/// Dapr's feature names a store advertises in metadata.
pub const FEATURES: &[&str] = &["ETAG", "TRANSACTIONAL", "TTL"];

/// A stored value with its ETag.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub value: Bytes,
    pub etag: String,
    pub expires_at: Option<SystemTime>,
}

/// A write of one key.
#[derive(Clone, Debug)]
pub struct SetRequest {
    pub key: String,
    pub value: Bytes,
    pub etag: Option<String>,
    /// `first-write` concurrency: without an ETag, only create.
    pub first_write: bool,
    /// Lifetime; `None` keeps the key until it is deleted.
    pub ttl: Option<Duration>,
}

/// A delete of one key.
#[derive(Clone, Debug)]
pub struct DeleteRequest {
    pub key: String,
    pub etag: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Operation {
    Upsert(SetRequest),
    Delete(DeleteRequest),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ETag (or first-write) precondition failed.
    #[error("possible etag mismatch. error from state store: {0}")]
    EtagMismatch(String),
    /// The ETag is not one this store produces.
    #[error("invalid etag value: {0}")]
    InvalidEtag(String),
    /// A key with `||`, the separator of Dapr's key prefixes.
    #[error("input key/keyPrefix '{0}' can't contain '||'")]
    IllegalKey(String),
    /// A fenced write whose fence was claimed by another writer since.
    #[error("fence {0} was claimed by another writer")]
    Fenced(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Backend(String),
}

/// A writer's claim on a fence: its writes apply only while no one claimed
/// the fence after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fence {
    pub name: String,
    pub token: u64,
}

/// A state store and how this app's keys are prefixed in it.
pub struct StateComponent {
    pub name: String,
    pub kind: String,
    pub store: Arc<dyn Store>,
    /// Resolved key prefix (without `||`).
    pub prefix: Option<String>,
    pub actor_store: bool,
    /// Transactions' upserts publish events (Dapr's outbox metadata).
    pub outbox: Option<Arc<Outbox>>,
}

/// A state store.
///
/// Every implementation guarantees: an ETag changes on every write of a key; a
/// write or delete that carries an ETag applies only if it is the key's current
/// ETag (else `EtagMismatch`); `first_write` without an ETag applies only if the
/// key holds no value; an expired key reads as absent; `transact` applies all
/// operations or none; an operation gives up at the context's deadline; a
/// fenced transaction applies only while its fence holds the token claimed
/// last (else `Fenced`), and fences are not keys.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    async fn get(&self, ctx: &Context, key: &str) -> Result<Option<Item>, Error>;
    async fn set(&self, ctx: &Context, req: SetRequest) -> Result<(), Error>;
    async fn delete(&self, ctx: &Context, req: DeleteRequest) -> Result<(), Error>;
    async fn transact(&self, ctx: &Context, ops: Vec<Operation>) -> Result<(), Error>;
    /// Claims the fence `name` for `holder`; writes fenced by earlier claims
    /// fail from now on.
    async fn claim_fence(&self, ctx: &Context, name: &str, holder: &str) -> Result<Fence, Error>;
    /// Like `transact`, for unconditional operations, only while `fence` is
    /// the fence's latest claim.
    async fn transact_fenced(
        &self,
        ctx: &Context,
        ops: Vec<Operation>,
        fence: &Fence,
    ) -> Result<(), Error>;
    /// The most operations one transaction may hold, if there is a limit.
    fn max_transaction_ops(&self) -> Option<usize> {
        None
    }
}

/// How a component prefixes keys (`keyPrefix` metadata).
#[derive(Clone, Debug, PartialEq)]
pub enum KeyPrefix {
    /// `<appId>||key` (the default).
    AppId,
    /// `<component>||key`.
    Name,
    /// `<namespace>.<appId>||key`, or as `AppId` when no namespace is set.
    Namespace,
    /// The key as given.
    None,
    /// `<literal>||key`.
    Literal(String),
}

impl KeyPrefix {
    pub fn parse(value: Option<&str>) -> KeyPrefix {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("appid") => KeyPrefix::AppId,
            Some("name") => KeyPrefix::Name,
            Some("namespace") => KeyPrefix::Namespace,
            Some("none") => KeyPrefix::None,
            Some(_) => KeyPrefix::Literal(value.unwrap_or_default().to_owned()),
        }
    }

    /// The prefix text (without the `||` separator), if any.
    pub fn resolve(
        &self,
        app_id: &str,
        component: &str,
        namespace: Option<&str>,
    ) -> Option<String> {
        match self {
            KeyPrefix::AppId if app_id.is_empty() => None,
            KeyPrefix::AppId => Some(app_id.to_owned()),
            KeyPrefix::Name => Some(component.to_owned()),
            KeyPrefix::Namespace => match namespace {
                Some(ns) if !app_id.is_empty() => Some(format!("{ns}.{app_id}")),
                _ if app_id.is_empty() => None,
                _ => Some(app_id.to_owned()),
            },
            KeyPrefix::None => None,
            KeyPrefix::Literal(p) => Some(p.clone()),
        }
    }
}

/// Joins a resolved prefix and a caller's key; a key containing `||` is refused.
pub fn stored_key(prefix: Option<&str>, key: &str) -> Result<String, Error> {
    if key.is_empty() {
        return Err(Error::Invalid("key is empty".into()));
    }
    if key.contains("||") {
        return Err(Error::IllegalKey(key.to_owned()));
    }
    Ok(match prefix {
        Some(p) => format!("{p}||{key}"),
        None => key.to_owned(),
    })
}

/// Parses `ttlInSeconds` metadata: `-1` (or absent) keeps the key forever.
pub fn parse_ttl(value: Option<&str>) -> Result<Option<Duration>, Error> {
    let Some(v) = value else { return Ok(None) };
    let secs: i64 = v
        .trim()
        .parse()
        .map_err(|_| Error::Invalid(format!("ttlInSeconds '{v}' is not an integer")))?;
    match secs {
        -1 => Ok(None),
        s if s <= 0 => Err(Error::Invalid(format!(
            "ttlInSeconds must be -1 or a positive integer, got {s}"
        ))),
        s => Ok(Some(Duration::from_secs(s as u64))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_prefixes() {
        let p =
            |v: Option<&str>, ns: Option<&str>| KeyPrefix::parse(v).resolve("orders", "store", ns);
        assert_eq!(p(None, None).as_deref(), Some("orders"));
        assert_eq!(p(Some("AppID"), None).as_deref(), Some("orders"));
        assert_eq!(p(Some("name"), None).as_deref(), Some("store"));
        assert_eq!(
            p(Some("namespace"), Some("prod")).as_deref(),
            Some("prod.orders")
        );
        assert_eq!(p(Some("namespace"), None).as_deref(), Some("orders"));
        assert_eq!(p(Some("none"), None), None);
        assert_eq!(p(Some("shared"), None).as_deref(), Some("shared"));
        assert_eq!(KeyPrefix::AppId.resolve("", "store", None), None);
    }

    #[test]
    fn stored_keys() {
        assert_eq!(stored_key(Some("app"), "k").unwrap(), "app||k");
        assert_eq!(stored_key(None, "k").unwrap(), "k");
        assert!(stored_key(Some("app"), "a||b").is_err());
        assert!(stored_key(None, "").is_err());
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl(None).unwrap(), None);
        assert_eq!(parse_ttl(Some("-1")).unwrap(), None);
        assert_eq!(
            parse_ttl(Some("30")).unwrap(),
            Some(Duration::from_secs(30))
        );
        assert!(parse_ttl(Some("0")).is_err());
        assert!(parse_ttl(Some("soon")).is_err());
    }
}

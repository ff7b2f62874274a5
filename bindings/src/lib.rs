//! Dapr's binding components: output bindings the app calls with an
//! operation, and input bindings that feed it events. Each connector reads its
//! Dapr metadata, speaks to its service through a maintained client crate,
//! and knows nothing of the rest of Jetway: the node decides where events go
//! and who may call.

pub mod cron;
pub mod http;
pub mod jetstream;
pub mod localstorage;
mod metadata;
pub mod mqtt;
pub mod mysql;
pub mod postgres;
pub mod rabbitmq;
pub mod redis;
mod sql;

pub use metadata::Metadata;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

/// A call of an output binding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    pub operation: String,
    pub data: Bytes,
    pub metadata: BTreeMap<String, String>,
}

/// What an output binding answered: its data (none is no content) and
/// response metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Response {
    pub data: Option<Bytes>,
    pub metadata: BTreeMap<String, String>,
}

/// One event of an input binding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub data: Bytes,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad component metadata: the field and what is wrong with it.
    #[error("{message}")]
    Config { field: String, message: String },
    /// The request itself is wrong (missing metadata, bad data).
    #[error("{0}")]
    BadRequest(String),
    /// The service failed or could not be reached.
    #[error("{0}")]
    Backend(String),
}

impl Error {
    pub fn config(field: &str, message: impl Into<String>) -> Error {
        Error::Config {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn backend(e: impl std::fmt::Display) -> Error {
        Error::Backend(e.to_string())
    }
}

/// An output binding.
///
/// Every implementation guarantees: `invoke` is only called with one of
/// `operations()` (the caller checks); a call that fails is an error, never a
/// success with partial data; no call waits longer than the connector's own
/// timeout. No response data (`None`) is daprd's nil response (HTTP 204).
#[async_trait::async_trait]
pub trait Output: Send + Sync {
    fn operations(&self) -> &'static [&'static str];

    async fn invoke(&self, request: Request) -> Result<Response, Error>;
}

/// Why the app did not take an event.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Where an input binding's events go (the app, through the node).
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// Delivers one event; `Ok` carries the app's answer.
    async fn handle(&self, event: Event) -> Result<Bytes, Refused>;
}

/// An input binding.
///
/// Every implementation guarantees: `run` returns only once `stop` fires,
/// reconnecting with a bounded backoff whenever its service fails, so it
/// resumes by itself after the service restarts; an event the handler refused
/// is treated as the component's type documents (retried, nacked or dropped
/// with a log line), never silently acknowledged.
#[async_trait::async_trait]
pub trait Input: Send + Sync {
    async fn run(&self, handler: Arc<dyn Handler>, stop: CancellationToken);
}

/// Waits `delay` unless `stop` fires first; false when it did.
pub(crate) async fn pause(stop: &CancellationToken, delay: std::time::Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// The reconnect delays of an input binding: doubling up to a bound.
pub(crate) struct Backoff(std::time::Duration);

impl Backoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(200);
    const MAX: std::time::Duration = std::time::Duration::from_secs(5);

    pub(crate) fn new() -> Backoff {
        Backoff(Backoff::FIRST)
    }

    /// The next delay.
    pub(crate) fn next(&mut self) -> std::time::Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Backoff::MAX);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.0 = Backoff::FIRST;
    }
}

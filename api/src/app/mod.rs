//! The app channel: how the sidecar calls its app, over HTTP or gRPC
//! (`--app-protocol`), with the same meaning either way.

pub mod actor_stream;
mod actors;
mod bindings;
pub mod grpc;
mod http;
mod jobs;

use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderMap, Method};
use bytes::Bytes;

pub use self::actors::HttpActors;
pub use self::grpc::GrpcApp;
pub use self::http::HttpApp;
use jetway_blocks::pubsub::Subscription;
use jetway_blocks::pubsub::subscriber::{Batch, Event, Outcome, Target};

/// The header (and gRPC metadata key) that carries API tokens.
pub const API_TOKEN_HEADER: &str = "dapr-api-token";

/// Whether a request's `dapr-api-token` is `token`, compared in constant
/// time so the answer's timing does not tell how much of a guess was right.
pub fn token_matches(headers: &HeaderMap, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    headers
        .get(API_TOKEN_HEADER)
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())))
}

use jetway_core::{App, AppRequest, Context};
pub use jetway_core::{AppError, AppResponse};

/// App health probing (`--enable-app-health-check`).
#[derive(Clone, Debug)]
pub struct AppHealth {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub threshold: u32,
}

/// The protocols an app may speak.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Protocol {
    Http,
    Grpc,
}

impl Protocol {
    pub fn parse(name: &str) -> Option<Protocol> {
        match name {
            "http" => Some(Protocol::Http),
            "grpc" => Some(Protocol::Grpc),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        }
    }
}

/// A client for the app, cheap to clone.
#[derive(Clone)]
pub enum AppChannel {
    Http(Arc<HttpApp>),
    Grpc(GrpcApp),
}

impl AppChannel {
    /// A channel to the app; `max_body` bounds what it reads back (16 MiB at
    /// least).
    pub fn new(
        protocol: Protocol,
        address: &str,
        port: u16,
        token: Option<&str>,
        max_body: usize,
    ) -> AppChannel {
        match protocol {
            Protocol::Http => {
                AppChannel::Http(Arc::new(HttpApp::new(address, port, token, max_body)))
            }
            Protocol::Grpc => AppChannel::Grpc(GrpcApp::new(address, port, token, max_body)),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            AppChannel::Http(a) => a.port(),
            AppChannel::Grpc(a) => a.port(),
        }
    }

    pub fn address(&self) -> &str {
        match self {
            AppChannel::Http(a) => a.address(),
            AppChannel::Grpc(a) => a.address(),
        }
    }

    /// Invokes a method: `path_and_query` starts with `/`.
    pub async fn call(
        &self,
        verb: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<AppResponse, AppError> {
        match self {
            AppChannel::Http(a) => a.call(verb, path_and_query, headers, body).await,
            AppChannel::Grpc(a) => a.invoke(verb, path_and_query, headers, body).await,
        }
    }

    /// The app's programmatic subscriptions.
    pub async fn subscriptions(&self, app_id: &str) -> Vec<Subscription> {
        match self {
            AppChannel::Http(a) => a.subscriptions(app_id).await,
            AppChannel::Grpc(a) => a.subscriptions().await,
        }
    }

    /// Whether the app accepts TCP connections right now.
    pub async fn is_listening(&self) -> bool {
        // The address is a URI host: `[::1]:port` parses, a bare `::1` would not.
        let connect = tokio::net::TcpStream::connect(format!("{}:{}", self.address(), self.port()));
        matches!(
            tokio::time::timeout(Duration::from_millis(500), connect).await,
            Ok(Ok(_))
        )
    }

    /// Probes the app's health: its health path over HTTP, its health check
    /// service over gRPC.
    pub async fn is_healthy(&self, health: &AppHealth) -> bool {
        let probe = async {
            match self {
                AppChannel::Http(a) => a.is_healthy(&health.path).await,
                AppChannel::Grpc(a) => a.is_healthy().await,
            }
        };
        tokio::time::timeout(health.timeout, probe)
            .await
            .unwrap_or(false)
    }
}

#[async_trait::async_trait]
impl App for AppChannel {
    /// Calls the app, giving up at the context's deadline.
    async fn call(&self, ctx: &Context, request: AppRequest) -> Result<AppResponse, AppError> {
        let call = AppChannel::call(
            self,
            request.verb,
            &request.path_and_query,
            request.headers,
            request.body,
        );
        let Some(deadline) = ctx.deadline else {
            return call.await;
        };
        let timeout = deadline.saturating_duration_since(std::time::Instant::now());
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(AppError::Timeout(timeout)))
    }
}

#[async_trait::async_trait]
impl Target for AppChannel {
    async fn deliver(&self, event: &Event<'_>) -> Outcome {
        match self {
            AppChannel::Http(a) => a.deliver(event).await,
            AppChannel::Grpc(a) => a.deliver(event).await,
        }
    }

    async fn deliver_batch(&self, batch: &Batch<'_>) -> Vec<Outcome> {
        match self {
            AppChannel::Http(a) => a.deliver_batch(batch).await,
            AppChannel::Grpc(a) => a.deliver_batch(batch).await,
        }
    }
}

/// What a URL path segment escapes: all but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one URL path segment.
pub(crate) fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

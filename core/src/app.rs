//! The app port: how a block calls the app beside its sidecar, in HTTP terms
//! whatever protocol the app speaks. The API edge implements it for HTTP and
//! gRPC apps.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use crate::Context;

/// A call to the app: verb, path (with query, starting with `/`), headers, body.
#[derive(Clone, Debug)]
pub struct AppRequest {
    pub verb: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The app's answer to a call.
#[derive(Clone, Debug)]
pub struct AppResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The protobuf type of `body` when a gRPC app answered with a typed
    /// `google.protobuf.Any`; carried back so a gRPC caller gets it whole.
    pub type_url: Option<String>,
}

impl AppResponse {
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> AppResponse {
        AppResponse {
            status,
            headers,
            body,
            type_url: None,
        }
    }
}

/// Why a call did not get the app's answer.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No connection could be made, or it broke before the answer.
    #[error("the app is unreachable: {0}")]
    Unreachable(String),
    #[error("the app did not answer within {0:?}")]
    Timeout(Duration),
    /// The request could not be sent, or the answer could not be read.
    #[error("calling the app: {0}")]
    Protocol(String),
}

/// The app beside the sidecar.
#[async_trait::async_trait]
pub trait App: Send + Sync {
    async fn call(&self, ctx: &Context, request: AppRequest) -> Result<AppResponse, AppError>;
}

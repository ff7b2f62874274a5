//! The app port: what the sidecar gets back when it calls its app, in HTTP
//! terms whatever protocol the app speaks.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

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

//! Jetway's API edge: the Dapr API the app talks to, and the app channel the
//! sidecar calls the app through. Transports (HTTP, gRPC) translate requests
//! into calls on the building blocks; each block's errors map to Dapr's codes
//! once (`actors`, `bindings`, `configuration`, `invoke`, `lock`, `pubsub`, `secrets`, `state`), and become Dapr's error
//! bodies or gRPC statuses here.

pub mod actors;
pub mod app;
mod bindings;
mod configuration;
pub mod grpc;
pub mod http;
mod invoke;
mod jobs;
mod lock;
pub mod metadata;
pub mod metrics;
pub mod node;
pub mod pubsub;
mod secrets;
pub mod serve;
pub mod settings;
pub mod state;
mod streaming;
mod workflows;

use ::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jetway_core::GrpcCode;
pub use jetway_core::{ErrorCode, FieldViolation};
use tonic::Code;

/// A Dapr API error on its way to a transport: Dapr's HTTP error body, or a
/// gRPC status with daprd's code and details.
#[derive(Debug)]
pub struct Error(pub jetway_core::Error);

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error(jetway_core::Error::new(code, message))
    }

    pub fn malformed(message: impl Into<String>) -> Error {
        Error(jetway_core::Error::malformed(message))
    }

    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// The same error, about component `name` of `kind` (`ResourceInfo`).
    pub fn about(self, kind: &'static str, name: &str) -> Error {
        Error(self.0.about(kind, name))
    }

    /// The same error with `ErrorInfo` metadata.
    pub fn with_metadata(self, key: &str, value: impl Into<String>) -> Error {
        Error(self.0.with_metadata(key, value))
    }
}

impl From<jetway_core::Error> for Error {
    fn from(e: jetway_core::Error) -> Error {
        Error(e)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

const DOMAIN: &str = "dapr.io";

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let e = self.0;
        let given = e.details.map(|d| *d).unwrap_or_default();
        let mut body = serde_json::json!({ "errorCode": e.code.code(), "message": e.message });
        // daprd's rich errors list their details, as google.rpc types, in the body too.
        if e.code.is_rich() {
            let mut details = Vec::new();
            if !given.violations.is_empty() {
                let violations: Vec<_> = given
                    .violations
                    .iter()
                    .map(|v| serde_json::json!({"field": v.field, "description": v.description}))
                    .collect();
                details.push(serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "field_violations": violations,
                }));
            }
            if let Some(r) = &given.resource {
                details.push(serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.ResourceInfo",
                    "resource_type": r.kind,
                    "resource_name": r.name,
                    "owner": r.owner,
                    "description": r.description,
                }));
            }
            let metadata = (!given.metadata.is_empty()).then_some(&given.metadata);
            details.push(serde_json::json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": e.code.reason(),
                "domain": DOMAIN,
                "metadata": metadata,
            }));
            body["details"] = details.into();
        }
        (e.code.http_status(), axum::Json(body)).into_response()
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> tonic::Status {
        use tonic_types::{BadRequest, ErrorDetail, ErrorInfo, ResourceInfo, StatusExt};
        let e = e.0;
        let given = e.details.map(|d| *d).unwrap_or_default();
        let mut details: Vec<ErrorDetail> = Vec::new();
        if !given.violations.is_empty() {
            let violations: Vec<_> = given
                .violations
                .into_iter()
                .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                .collect();
            details.push(BadRequest::new(violations).into());
        }
        if let Some(r) = given.resource {
            details.push(ResourceInfo::new(r.kind, r.name, r.owner, r.description).into());
        }
        let metadata: std::collections::HashMap<_, _> = given.metadata.into_iter().collect();
        details.push(ErrorInfo::new(e.code.reason(), DOMAIN, metadata).into());
        tonic::Status::with_error_details_vec(grpc(e.code.grpc()), e.message, details)
    }
}

/// tonic's name for a gRPC code.
pub fn grpc(code: GrpcCode) -> Code {
    Code::from_i32(code as i32)
}

/// The gRPC code for an API error's HTTP status.
pub fn grpc_code(status: StatusCode) -> Code {
    match status.as_u16() {
        200..=299 => Code::Ok,
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        412 => Code::FailedPrecondition,
        413 | 429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Internal,
    }
}

/// The HTTP status for a gRPC code (daprd's mapping for HTTP callers of gRPC apps).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

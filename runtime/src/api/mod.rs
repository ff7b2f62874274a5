//! The Dapr API the app talks to. Transports (HTTP, gRPC) translate requests
//! and call the building blocks' shared handlers; errors become Dapr's error
//! bodies or gRPC statuses in one place.

pub mod actor_stream;
pub mod actors;
pub mod grpc;
pub mod http;
pub mod metadata;
pub mod protos;
pub mod pubsub;
pub mod serve;
pub mod state;
mod streaming;

use ::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tonic::Code;

/// A Dapr API error: `errorCode`, message, and the status each transport sends.
#[derive(Debug)]
pub struct Error {
    pub status: StatusCode,
    pub grpc: Code,
    pub code: &'static str,
    pub message: String,
}

impl Error {
    /// An error whose gRPC code follows from its HTTP status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Error {
        Error {
            status,
            grpc: grpc_code(status),
            code,
            message: message.into(),
        }
    }

    /// The same error with a gRPC code daprd picks independently of HTTP's.
    pub fn with_grpc(mut self, grpc: Code) -> Error {
        self.grpc = grpc;
        self
    }

    /// A 500 with `code`.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
    }

    pub fn malformed(message: impl Into<String>) -> Error {
        Error::new(StatusCode::BAD_REQUEST, "ERR_MALFORMED_REQUEST", message)
    }

    /// The `google.rpc.ErrorInfo` reason daprd sends: its newer `DAPR_` names
    /// where it has them, else the error code.
    fn reason(&self) -> &'static str {
        match self.code {
            "ERR_STATE_STORE_NOT_CONFIGURED" => "DAPR_STATE_NOT_CONFIGURED",
            "ERR_STATE_STORE_NOT_FOUND" => "DAPR_STATE_NOT_FOUND",
            "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS" => "DAPR_STATE_TOO_MANY_TRANSACTIONS",
            "ERR_PUBSUB_NOT_CONFIGURED" => "DAPR_PUBSUB_NOT_CONFIGURED",
            "ERR_PUBSUB_EMPTY" => "DAPR_PUBSUB_NAME_EMPTY",
            "ERR_PUBSUB_NOT_FOUND" => "DAPR_PUBSUB_NOT_FOUND",
            "ERR_TOPIC_NAME_EMPTY" => "DAPR_PUBSUB_TOPIC_NAME_EMPTY",
            "ERR_PUBSUB_PUBLISH_MESSAGE" => "DAPR_PUBSUB_PUBLISH_MESSAGE",
            "ERR_PUBSUB_EVENTS_SER" => "DAPR_PUBSUB_MARSHAL_EVENTS",
            "ERR_PUBSUB_REQUEST_METADATA" => "DAPR_PUBSUB_METADATA_DESERIALIZATION",
            code => code,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "errorCode": self.code, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> tonic::Status {
        use tonic_types::{ErrorDetails, StatusExt};
        let details =
            ErrorDetails::with_error_info(e.reason(), "dapr.io", std::collections::HashMap::new());
        tonic::Status::with_error_details(e.grpc, e.message, details)
    }
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

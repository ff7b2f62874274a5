//! The Dapr API the app talks to. Transports translate requests and call the
//! building blocks; errors become Dapr's error bodies in one place.

pub mod http;

use ::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A Dapr API error: `errorCode`, HTTP status and message.
#[derive(Debug)]
pub struct Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Error {
        Error {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn malformed(message: impl Into<String>) -> Error {
        Error::new(StatusCode::BAD_REQUEST, "ERR_MALFORMED_REQUEST", message)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "errorCode": self.code, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Maps a state store error for an operation whose generic code is `code`.
pub fn state_error(e: crate::state::Error, code: &'static str) -> Error {
    use crate::state::Error as E;
    match e {
        E::EtagMismatch(_) if code == "ERR_STATE_TRANSACTION" => {
            Error::new(StatusCode::INTERNAL_SERVER_ERROR, code, e.to_string())
        }
        E::EtagMismatch(_) => Error::new(StatusCode::CONFLICT, code, e.to_string()),
        E::InvalidEtag(_) => Error::new(StatusCode::BAD_REQUEST, code, e.to_string()),
        E::Invalid(m) if code == "ERR_STATE_TRANSACTION" => {
            Error::new(StatusCode::INTERNAL_SERVER_ERROR, code, m)
        }
        E::Invalid(m) => Error::malformed(m),
        E::Backend(m) => Error::new(StatusCode::INTERNAL_SERVER_ERROR, code, m),
    }
}

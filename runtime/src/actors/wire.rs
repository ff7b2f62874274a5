//! Actor calls and their results as NATS messages.
//!
//! The call's type, id and method travel percent-encoded in headers (ids may
//! hold any character), next to the caller's own headers; the result carries
//! the app's status, an error, or word that the partition has moved.

use bytes::Bytes;
use http::StatusCode;
use jetway_broker::{self as broker, HeaderMap};

use super::{ActorCall, CallError};
use crate::api::{Error, ErrorCode};
use crate::app::AppResponse;
use crate::app::grpc::{percent_decode, percent_encode};
use crate::invoke;

const TYPE: &str = "Jetway-Actor-Type";
const ID: &str = "Jetway-Actor-Id";
const METHOD: &str = "Jetway-Actor-Method";
const MOVED: &str = "Jetway-Actor-Moved";
const ERROR_CODE: &str = "Jetway-Error-Code";

pub(super) fn encode_call(call: &ActorCall) -> HeaderMap {
    let mut headers = HeaderMap::new();
    invoke::copy_to_nats(&call.headers, &mut headers);
    headers.insert(TYPE, percent_encode(&call.actor_type).as_str());
    headers.insert(ID, percent_encode(&call.actor_id).as_str());
    headers.insert(METHOD, percent_encode(&call.method).as_str());
    headers
}

pub(super) fn decode_call(msg: broker::Message) -> Result<ActorCall, Error> {
    let headers = msg.headers.unwrap_or_default();
    let field = |name: &str| {
        headers
            .get(name)
            .map(|v| percent_decode(v.as_str()))
            .ok_or_else(|| Error::malformed(format!("an actor call without {name}")))
    };
    Ok(ActorCall {
        actor_type: field(TYPE)?,
        actor_id: field(ID)?,
        method: field(METHOD)?,
        headers: invoke::http_headers(&headers),
        body: msg.payload,
    })
}

pub(super) fn encode_result(result: Result<AppResponse, CallError>) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    match result {
        Ok(answer) => {
            headers.insert(invoke::STATUS, answer.status.as_str());
            invoke::copy_to_nats(&answer.headers, &mut headers);
            (headers, answer.body)
        }
        Err(CallError::Moved) => {
            headers.insert(MOVED, "1");
            (headers, Bytes::new())
        }
        Err(CallError::Failed(e)) => {
            headers.insert(
                invoke::FAILURE,
                e.0.message.replace(['\r', '\n'], " ").as_str(),
            );
            headers.insert(ERROR_CODE, e.code().code());
            (headers, Bytes::new())
        }
    }
}

pub(super) fn decode_result(msg: broker::Message) -> Result<AppResponse, CallError> {
    let headers = msg.headers.unwrap_or_default();
    if headers.get(MOVED).is_some() {
        return Err(CallError::Moved);
    }
    if let Some(message) = headers.get(invoke::FAILURE) {
        let error = match headers.get(ERROR_CODE).map(|c| c.as_str()) {
            Some("ERR_ACTOR_STACK_DEPTH") => {
                Error::new(ErrorCode::ActorStackDepth, message.as_str())
            }
            _ => Error::new(ErrorCode::ActorInvokeMethod, message.as_str()),
        };
        return Err(CallError::Failed(error));
    }
    let status = headers
        .get(invoke::STATUS)
        .and_then(|s| s.as_str().parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    Ok(AppResponse::new(
        status,
        invoke::http_headers(&headers),
        msg.payload,
    ))
}

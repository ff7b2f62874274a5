//! Actor calls and their results as NATS messages.
//!
//! The call's type, id and method travel percent-encoded in headers (ids may
//! hold any character), next to the caller's own headers; the result carries
//! the app's status, an error, or word that the partition has moved.

use bytes::Bytes;
use jetway_broker::codec::{from_header_text, header_text};
use jetway_broker::{self as broker, HeaderMap};
use jetway_core::AppResponse;

use super::{ActorCall, ActorError, CallError};
use crate::invoke::wire as invoke;

const TYPE: &str = "Jetway-Actor-Type";
const ID: &str = "Jetway-Actor-Id";
const METHOD: &str = "Jetway-Actor-Method";
const MOVED: &str = "Jetway-Actor-Moved";
const ERROR_CODE: &str = "Jetway-Error-Code";
/// The one failure kind a caller tells apart from others.
const STACK_DEPTH: &str = "ERR_ACTOR_STACK_DEPTH";

pub(super) fn encode_call(call: &ActorCall) -> HeaderMap {
    let mut headers = HeaderMap::new();
    invoke::copy_to_nats(&call.headers, &mut headers);
    headers.insert(TYPE, header_text(&call.actor_type).as_ref());
    headers.insert(ID, header_text(&call.actor_id).as_ref());
    headers.insert(METHOD, header_text(&call.method).as_ref());
    headers
}

pub(super) fn decode_call(msg: broker::Message) -> Result<ActorCall, ActorError> {
    let headers = msg.headers.unwrap_or_default();
    let field = |name: &str| {
        headers
            .get(name)
            .map(|v| from_header_text(v.as_str()).into_owned())
            .ok_or_else(|| ActorError::Invalid(format!("an actor call without {name}")))
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
            headers.insert(invoke::FAILURE, invoke::one_line(&e.to_string()).as_str());
            if let ActorError::StackDepth = e {
                headers.insert(ERROR_CODE, STACK_DEPTH);
            }
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
            Some(STACK_DEPTH) => ActorError::StackDepth,
            _ => ActorError::Invoke(message.to_string()),
        };
        return Err(CallError::Failed(error));
    }
    Ok(AppResponse::new(
        invoke::status(&headers),
        invoke::http_headers(&headers),
        msg.payload,
    ))
}

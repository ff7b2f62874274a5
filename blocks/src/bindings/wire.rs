//! Output binding calls as NATS messages: the operation, the caller, its
//! deadline and the metadata travel in `Jetway-` headers, the data as the
//! payload; the reply says whether it failed and carries the response.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jetway_broker::codec::{from_header_text, header_text};
use jetway_broker::{self as broker, HeaderMap};

use super::{Error, Request, Response};

const OPERATION: &str = "Jetway-Operation";
const CALLER: &str = "Jetway-Caller";
const DEADLINE: &str = "Jetway-Deadline-Ms";
/// Request or response metadata, as a JSON object.
const METADATA: &str = "Jetway-Metadata";
/// The reply has no data (not even empty data).
const NO_DATA: &str = "Jetway-No-Data";
const FAILURE: &str = "Jetway-Error";
/// `denied` when the serving node refused the caller.
const FAILURE_KIND: &str = "Jetway-Error-Kind";

fn put_metadata(headers: &mut HeaderMap, metadata: &BTreeMap<String, String>) {
    if !metadata.is_empty() {
        let json = serde_json::to_string(metadata).expect("a map of strings is JSON");
        headers.insert(METADATA, header_text(&json).as_ref());
    }
}

fn metadata(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .get(METADATA)
        .and_then(|v| serde_json::from_str(&from_header_text(v.as_str())).ok())
        .unwrap_or_default()
}

pub(super) fn request_headers(request: &Request, caller: &str, timeout: Duration) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(OPERATION, header_text(&request.operation).as_ref());
    headers.insert(CALLER, header_text(caller).as_ref());
    headers.insert(DEADLINE, timeout.as_millis().to_string().as_str());
    put_metadata(&mut headers, &request.metadata);
    headers
}

/// The caller, its request and how long it waits (from `received`).
pub(super) fn request(msg: broker::Message, received: Instant) -> (String, Request, Duration) {
    let headers = msg.headers.unwrap_or_default();
    let text = |n: &str| {
        headers
            .get(n)
            .map(|v| from_header_text(v.as_str()).into_owned())
            .unwrap_or_default()
    };
    let waits = headers
        .get(DEADLINE)
        .and_then(|v| v.as_str().parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(crate::invoke::DEFAULT_TIMEOUT);
    let left = waits.saturating_sub(received.elapsed());
    let request = Request {
        operation: text(OPERATION),
        data: msg.payload,
        metadata: metadata(&headers),
    };
    (text(CALLER), request, left)
}

pub(super) fn reply(answer: Result<Response, Error>) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    match answer {
        Ok(r) => {
            put_metadata(&mut headers, &r.metadata);
            match r.data {
                Some(data) => (headers, data),
                None => {
                    headers.insert(NO_DATA, "1");
                    (headers, Bytes::new())
                }
            }
        }
        Err(e) => {
            let message = match e {
                Error::Denied { .. } => {
                    headers.insert(FAILURE_KIND, "denied");
                    String::new()
                }
                Error::Failed { message, .. } => message,
                Error::NotFound(_) => e.to_string(),
            };
            headers.insert(FAILURE, header_text(&message).as_ref());
            (headers, Bytes::new())
        }
    }
}

pub(super) fn response(
    name: &str,
    caller: &str,
    reply: broker::Message,
) -> Result<Response, Error> {
    let headers = reply.headers.unwrap_or_default();
    if let Some(failure) = headers.get(FAILURE) {
        let message = from_header_text(failure.as_str()).into_owned();
        return Err(match headers.get(FAILURE_KIND).map(|k| k.as_str()) {
            Some("denied") => Error::Denied {
                name: name.to_owned(),
                caller: caller.to_owned(),
            },
            _ => Error::Failed {
                name: name.to_owned(),
                message,
            },
        });
    }
    Ok(Response {
        data: headers.get(NO_DATA).is_none().then_some(reply.payload),
        metadata: metadata(&headers),
    })
}

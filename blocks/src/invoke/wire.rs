//! HTTP calls and answers as NATS messages: the verb, path and status travel
//! in `Jetway-` headers next to the caller's own headers, minus hop-by-hop
//! ones. Actor calls use the same helpers.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use jetway_broker as broker;

pub(crate) const VERB: &str = "Jetway-Verb";
pub(crate) const PATH: &str = "Jetway-Path";
pub(crate) const CALLER: &str = "Jetway-Caller";
/// How many milliseconds the caller still waits.
pub(crate) const DEADLINE: &str = "Jetway-Deadline-Ms";
pub(crate) const STATUS: &str = "Jetway-Status";
pub(crate) const FAILURE: &str = "Jetway-Error";
/// Carries a gRPC app's protobuf type of the body back to the caller.
pub(crate) const TYPE_URL: &str = "Jetway-Type-Url";

/// Headers that never cross a hop.
fn is_hop_header(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            | "dapr-api-token"
            | "dapr-app-id"
    )
}

/// Copies HTTP headers into NATS headers, minus hop-by-hop and Dapr routing ones.
pub(crate) fn copy_to_nats(from: &HeaderMap, to: &mut broker::HeaderMap) {
    for (name, value) in from {
        if !is_hop_header(name.as_str())
            && let Ok(v) = value.to_str()
        {
            to.append(name.as_str(), v);
        }
    }
}

/// The HTTP headers carried by a NATS message, without Jetway's own.
pub(crate) fn http_headers(nats: &broker::HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, values) in nats.iter() {
        let name: &str = name.as_ref();
        if name.starts_with("Jetway-") {
            continue;
        }
        let Ok(name) = HeaderName::try_from(name) else {
            continue;
        };
        for v in values {
            if let Ok(v) = HeaderValue::from_str(v.as_str()) {
                headers.append(name.clone(), v);
            }
        }
    }
    headers
}

/// The app's status carried by an answer; 200 when absent.
pub(crate) fn status(nats: &broker::HeaderMap) -> StatusCode {
    nats.get(STATUS)
        .and_then(|s| s.as_str().parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK)
}

/// A message for a header value: NATS headers hold no line breaks.
pub(crate) fn one_line(message: &str) -> String {
    message.replace(['\r', '\n'], " ")
}

pub(crate) fn strip_hop(mut headers: HeaderMap) -> HeaderMap {
    let hop: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_header(n.as_str()))
        .cloned()
        .collect();
    for n in hop {
        headers.remove(n);
    }
    headers
}

/// The headers an app sees: the hop's own removed, caller and callee named.
pub(crate) fn callee_headers(headers: HeaderMap, caller: &str, callee: &str) -> HeaderMap {
    let mut headers = strip_hop(headers);
    if let Ok(v) = HeaderValue::from_str(caller) {
        headers.insert("dapr-caller-app-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(callee) {
        headers.insert("dapr-callee-app-id", v);
    }
    headers
}

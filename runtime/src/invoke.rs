//! Service invocation over NATS request-reply.
//!
//! Each sidecar with an app serves `jetway.invoke.<app id>` in the queue group of
//! its app id, so replicas share calls. The HTTP verb, path and query travel in
//! headers next to the caller's headers; the reply carries the app's status.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use jetway_broker::{self as broker, naming};
use tokio_util::sync::CancellationToken;

use crate::api::{Error, ErrorCode};
use crate::app::AppResponse;
use crate::node::Node;

const VERB: &str = "Jetway-Verb";
const PATH: &str = "Jetway-Path";
const CALLER: &str = "Jetway-Caller";
pub(crate) const STATUS: &str = "Jetway-Status";
pub(crate) const FAILURE: &str = "Jetway-Error";

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

/// A call to an app: verb, path (with query) after `/method/`, headers, body.
pub struct Call {
    pub verb: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Carries a gRPC app's protobuf type of the body back to the caller.
const TYPE_URL: &str = "Jetway-Type-Url";

/// Invokes `target`: through NATS, or straight to the local app when it is our own id.
pub async fn invoke(node: &Node, target: &str, call: Call) -> Result<AppResponse, Error> {
    if target == node.settings.app_id
        && let Some(app) = &node.app
    {
        let headers = callee_headers(call.headers, &node.settings.app_id, target);
        let r = app
            .call(call.verb, &call.path_and_query, headers, call.body)
            .await
            .map_err(|e| Error::new(ErrorCode::DirectInvoke, e.to_string()))?;
        return Ok(AppResponse {
            headers: strip_hop(r.headers),
            ..r
        });
    }
    let mut headers = broker::HeaderMap::new();
    copy_to_nats(&call.headers, &mut headers);
    headers.insert(VERB, call.verb.as_str());
    headers.insert(PATH, call.path_and_query.as_str());
    headers.insert(CALLER, node.settings.app_id.as_str());
    let reply = node
        .broker
        .request(naming::invoke_subject(target), headers, call.body, node.settings.invoke_timeout)
        .await
        .map_err(|e| match e {
            broker::Error::NoResponders => Error::new(
                ErrorCode::DirectInvokeNoTarget,
                format!("failed to invoke, id: {target}, err: app id {target} is not found (no running sidecar serves it)"),
            ),
            broker::Error::PayloadTooLarge(m) => {
                Error::new(ErrorCode::DirectInvokeTooLarge, format!("failed to invoke, id: {target}, err: request too large: {m}"))
            }
            other => Error::new(ErrorCode::DirectInvoke, format!("failed to invoke, id: {target}, err: {other}")),
        })?;
    let nats_headers = reply.headers.unwrap_or_default();
    if let Some(failure) = nats_headers.get(FAILURE) {
        return Err(Error::new(
            ErrorCode::DirectInvoke,
            format!("failed to invoke, id: {target}, err: {failure}"),
        ));
    }
    let status = nats_headers
        .get(STATUS)
        .and_then(|s| s.as_str().parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    Ok(AppResponse {
        status,
        headers: http_headers(&nats_headers),
        body: reply.payload,
        type_url: nats_headers.get(TYPE_URL).map(|t| t.as_str().to_owned()),
    })
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

fn strip_hop(mut headers: HeaderMap) -> HeaderMap {
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

fn callee_headers(headers: HeaderMap, caller: &str, callee: &str) -> HeaderMap {
    let mut headers = strip_hop(headers);
    if let Ok(v) = HeaderValue::from_str(caller) {
        headers.insert("dapr-caller-app-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(callee) {
        headers.insert("dapr-callee-app-id", v);
    }
    headers
}

/// Serves invocations of this node's app until `cancel` fires.
pub async fn serve(node: Arc<Node>, cancel: CancellationToken) -> Result<(), broker::Error> {
    let app_id = node.settings.app_id.clone();
    let mut requests = node
        .broker
        .serve(
            naming::invoke_subject(&app_id),
            naming::invoke_queue_group(&app_id),
        )
        .await?;
    let limit = node
        .settings
        .app_max_concurrency
        .map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
    let tasks = tokio_util::task::TaskTracker::new();
    loop {
        let msg = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            m = requests.next() => match m { Some(m) => m, None => break },
        };
        let permit = match &limit {
            Some(l) => l.clone().acquire_owned().await.ok(),
            None => None,
        };
        let node = node.clone();
        tasks.spawn(async move {
            answer(&node, msg).await;
            drop(permit);
        });
    }
    // Stop taking new calls, then let the ones in flight finish.
    let _ = requests.unsubscribe().await;
    tasks.close();
    let _ = tokio::time::timeout(node.settings.graceful_shutdown, tasks.wait()).await;
    Ok(())
}

async fn answer(node: &Node, msg: broker::Message) {
    let Some(reply) = msg.reply.clone() else {
        return;
    };
    node.metrics.invocation_served();
    let nats_headers = msg.headers.unwrap_or_default();
    let header = |n: &str| nats_headers.get(n).map(|v| v.as_str().to_owned());
    let verb = header(VERB)
        .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
        .unwrap_or(Method::POST);
    let path = header(PATH).unwrap_or_else(|| "/".into());
    let caller = header(CALLER).unwrap_or_default();
    let headers = callee_headers(http_headers(&nats_headers), &caller, &node.settings.app_id);
    let mut out = broker::HeaderMap::new();
    let body = match &node.app {
        None => {
            out.insert(FAILURE, "the target sidecar has no app channel");
            Bytes::new()
        }
        Some(app) => match app.call(verb, &path, headers, msg.payload).await {
            Ok(r) => {
                out.insert(STATUS, r.status.as_str());
                if let Some(t) = &r.type_url {
                    out.insert(TYPE_URL, t.as_str());
                }
                copy_to_nats(&r.headers, &mut out);
                r.body
            }
            Err(e) => {
                out.insert(FAILURE, e.to_string().replace(['\r', '\n'], " ").as_str());
                Bytes::new()
            }
        },
    };
    if let Err(error) = node.broker.reply(reply.clone(), out, body).await {
        tracing::warn!(%error, "Replying to an invocation failed.");
        if let broker::Error::PayloadTooLarge(m) = error {
            let mut out = broker::HeaderMap::new();
            out.insert(FAILURE, format!("response too large: {m}").as_str());
            let _ = node.broker.reply(reply, out, Bytes::new()).await;
        }
    }
}

/// How long a caller waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

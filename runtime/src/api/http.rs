//! Dapr's HTTP API (v1.0 and the alpha paths built so far). Handlers translate
//! requests and call the building blocks.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures::StreamExt;
use futures::future::join_all;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Error, state_error};
use crate::app::API_TOKEN_HEADER;
use crate::components::{PubSubComponent, StateComponent};
use crate::invoke::{self, Call};
use crate::node::{Node, SubscriptionKind};
use crate::pubsub::{Message, cloudevent};
use crate::state::{self, DeleteRequest, Operation, SetRequest};

type AppState = State<Arc<Node>>;
type Params = Query<BTreeMap<String, String>>;

/// Largest request body accepted (daprd's default `--max-body-size`).
pub const MAX_BODY: usize = 4 << 20;

pub fn router(node: Arc<Node>) -> Router {
    let state_routes = Router::new()
        .route("/v1.0/state/{store}", post(save_state).put(save_state))
        .route(
            "/v1.0/state/{store}/bulk",
            post(bulk_get_state).put(bulk_get_state),
        )
        .route(
            "/v1.0/state/{store}/transaction",
            post(transact_state).put(transact_state),
        )
        .route(
            "/v1.0/state/{store}/{key}",
            get(get_state).delete(delete_state),
        );
    let pubsub_routes = Router::new()
        .route(
            "/v1.0/publish/{pubsub}/{*topic}",
            post(publish).put(publish),
        )
        .route(
            "/v1.0-alpha1/publish/bulk/{pubsub}/{*topic}",
            post(bulk_publish).put(bulk_publish),
        )
        .route(
            "/v1.0/publish/bulk/{pubsub}/{*topic}",
            post(bulk_publish).put(bulk_publish),
        );
    Router::new()
        .route("/v1.0/healthz", get(healthz))
        .route("/v1.0/healthz/outbound", get(healthz_outbound))
        .route("/v1.0/metadata", get(metadata))
        .route("/v1.0/metadata/{key}", axum::routing::put(set_metadata))
        .route("/v1.0/shutdown", post(shutdown))
        .route("/v1.0/invoke/{app_id}/method/{*method}", any(invoke_method))
        .merge(state_routes)
        .merge(pubsub_routes)
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(node.clone(), check_token))
        .layer(middleware::from_fn_with_state(node.clone(), count))
        .with_state(node)
}

/// Enforces `DAPR_API_TOKEN` on everything but the health endpoints.
async fn check_token(State(node): AppState, request: Request, next: Next) -> Response {
    if let Some(token) = &node.settings.api_token {
        let exempt = request.method() == Method::GET
            && matches!(
                request.uri().path(),
                "/v1.0/healthz" | "/v1.0/healthz/outbound"
            );
        let given = request
            .headers()
            .get(API_TOKEN_HEADER)
            .map(HeaderValue::as_bytes);
        if !exempt && given != Some(token.as_bytes()) {
            return (StatusCode::UNAUTHORIZED, "invalid api token").into_response();
        }
    }
    next.run(request).await
}

/// Counts requests by API and status for `/metrics`.
async fn count(State(node): AppState, request: Request, next: Next) -> Response {
    let api = crate::metrics::api_of(request.uri().path());
    let response = next.run(request).await;
    node.metrics.http_request(api, response.status().as_u16());
    response
}

// === health, metadata, shutdown ===

async fn healthz(State(node): AppState, Query(q): Params) -> Result<StatusCode, Error> {
    if let Some(id) = q.get("appid")
        && id != &node.settings.app_id
    {
        return Err(Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_HEALTH_APPID_NOT_MATCH",
            "dapr app-id does not match",
        ));
    }
    if node.is_ready() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_HEALTH_NOT_READY",
            "dapr is not ready",
        ))
    }
}

async fn healthz_outbound(State(node): AppState) -> Result<StatusCode, Error> {
    if node.is_outbound_ready() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_OUTBOUND_HEALTH_NOT_READY",
            "dapr outbound is not ready",
        ))
    }
}

async fn metadata(State(node): AppState) -> Response {
    let components: Vec<_> = node
        .registry
        .listed
        .iter()
        .map(|(name, kind, caps)| serde_json::json!({ "name": name, "type": kind, "version": "v1", "capabilities": caps }))
        .collect();
    let subscriptions: Vec<_> = node
        .subscriptions
        .read()
        .expect("subscriptions lock")
        .iter()
        .map(|s| {
            let rules: Vec<_> = s.spec.rules.iter().map(|r| serde_json::json!({ "match": r.matches, "path": r.path })).collect();
            serde_json::json!({
                "pubsubname": s.spec.pubsub,
                "topic": s.spec.topic,
                "metadata": s.spec.metadata,
                "rules": rules,
                "deadLetterTopic": s.spec.dead_letter_topic.clone().unwrap_or_default(),
                "type": match s.kind { SubscriptionKind::Declarative => "DECLARATIVE", SubscriptionKind::Programmatic => "PROGRAMMATIC" },
            })
        })
        .collect();
    let mut extended = node.extended.read().expect("extended lock").clone();
    extended.insert(
        "daprRuntimeVersion".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    extended.insert("natsServerVersion".into(), node.broker.server_version());
    let mut body = serde_json::json!({
        "id": node.settings.app_id,
        "runtimeVersion": env!("CARGO_PKG_VERSION"),
        "enabledFeatures": [],
        "components": components,
        "subscriptions": subscriptions,
        "extended": extended,
        "actorRuntime": { "runtimeStatus": "DISABLED" },
    });
    if let Some(app) = &node.app {
        body["appConnectionProperties"] = serde_json::json!({
            "port": app.port(),
            "protocol": node.settings.app_protocol,
            "channelAddress": app.address(),
            "maxConcurrency": node.settings.app_max_concurrency.unwrap_or(0),
        });
    }
    axum::Json(body).into_response()
}

async fn set_metadata(State(node): AppState, Path(key): Path<String>, body: Bytes) -> StatusCode {
    let value = String::from_utf8_lossy(&body).into_owned();
    node.extended
        .write()
        .expect("extended lock")
        .insert(key, value);
    StatusCode::NO_CONTENT
}

async fn shutdown(State(node): AppState) -> StatusCode {
    // Answer first, then stop.
    let token = node.shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        token.cancel();
    });
    StatusCode::NO_CONTENT
}

// === service invocation ===

async fn invoke_method(
    State(node): AppState,
    Path((app_id, method)): Path<(String, String)>,
    verb: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    forward(&node, &app_id, &method, verb, &uri, headers, body).await
}

/// Unmatched paths are invocations when they carry `dapr-app-id`.
async fn fallback(
    State(node): AppState,
    verb: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let Some(app_id) = headers
        .get("dapr-app-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return Err(Error::new(
            StatusCode::NOT_FOUND,
            "ERR_DIRECT_INVOKE",
            "failed getting app id either from the URL path or the header dapr-app-id",
        ));
    };
    let method = uri.path().trim_start_matches('/').to_owned();
    forward(&node, &app_id, &method, verb, &uri, headers, body).await
}

async fn forward(
    node: &Node,
    app_id: &str,
    method: &str,
    verb: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let path_and_query = match uri.query() {
        Some(q) => format!("/{method}?{q}"),
        None => format!("/{method}"),
    };
    let answer = invoke::invoke(
        node,
        app_id,
        Call {
            verb,
            path_and_query,
            headers,
            body,
        },
    )
    .await?;
    let mut response = (answer.status, answer.body).into_response();
    *response.headers_mut() = answer.headers;
    Ok(response)
}

// === state ===

fn state_store<'a>(node: &'a Node, name: &str) -> Result<&'a StateComponent, Error> {
    if node.registry.state.is_empty() {
        return Err(Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_STATE_STORE_NOT_CONFIGURED",
            "state store is not configured",
        ));
    }
    node.registry.state.get(name).ok_or_else(|| {
        Error::new(
            StatusCode::BAD_REQUEST,
            "ERR_STATE_STORE_NOT_FOUND",
            format!("state store {name} is not found"),
        )
    })
}

/// `metadata.<key>=<value>` query parameters, prefix stripped.
fn query_metadata(q: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    q.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata.")
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect()
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::malformed(format!("failed deserializing HTTP body: {e}")))
}

#[derive(Deserialize)]
struct StateItem {
    key: Option<String>,
    value: Option<Box<RawValue>>,
    etag: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    options: StateOptions,
}

#[derive(Default, Deserialize)]
struct StateOptions {
    #[serde(default)]
    concurrency: String,
}

fn set_request(
    store: &StateComponent,
    item: StateItem,
    extra: &BTreeMap<String, String>,
) -> Result<SetRequest, Error> {
    let key = item
        .key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Error::malformed("a state item must have a key"))?;
    let mut metadata = item.metadata;
    for (k, v) in extra {
        metadata.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let ttl = state::parse_ttl(metadata.get("ttlInSeconds").map(String::as_str))
        .map_err(|e| Error::malformed(e.to_string()))?;
    Ok(SetRequest {
        key: state::stored_key(store.prefix.as_deref(), &key)
            .map_err(|e| Error::malformed(e.to_string()))?,
        value: item
            .value
            .map(|v| Bytes::copy_from_slice(v.get().as_bytes()))
            .unwrap_or_default(),
        etag: item.etag.filter(|e| !e.is_empty()),
        first_write: item.options.concurrency == "first-write",
        ttl,
    })
}

async fn save_state(
    State(node): AppState,
    Path(name): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let store = state_store(&node, &name)?;
    let items: Vec<StateItem> = json_body(&body)?;
    let extra = query_metadata(&q);
    let requests = items
        .into_iter()
        .map(|i| set_request(store, i, &extra))
        .collect::<Result<Vec<_>, _>>()?;
    // Items are written concurrently, unless a key repeats: then in order, so
    // the last item for a key wins.
    let mut keys: Vec<&str> = requests.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    let repeats = keys.windows(2).any(|w| w[0] == w[1]);
    if repeats {
        for r in requests {
            store
                .store
                .set(r)
                .await
                .map_err(|e| state_error(e, "ERR_STATE_SAVE"))?;
        }
    } else {
        for result in join_all(requests.into_iter().map(|r| store.store.set(r))).await {
            result.map_err(|e| state_error(e, "ERR_STATE_SAVE"))?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn get_state(
    State(node): AppState,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, Error> {
    let store = state_store(&node, &name)?;
    let stored = state::stored_key(store.prefix.as_deref(), &key)
        .map_err(|e| Error::malformed(e.to_string()))?;
    let item = store
        .store
        .get(&stored)
        .await
        .map_err(|e| state_error(e, "ERR_STATE_GET"))?;
    let Some(item) = item else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut response = (StatusCode::OK, item.value).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&item.etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(at) = item.expires_at {
        let at: chrono::DateTime<chrono::Utc> = at.into();
        if let Ok(v) = HeaderValue::from_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        {
            h.insert("metadata.ttlExpireTime", v);
        }
    }
    Ok(response)
}

async fn delete_state(
    State(node): AppState,
    Path((name, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Error> {
    let store = state_store(&node, &name)?;
    let key = state::stored_key(store.prefix.as_deref(), &key)
        .map_err(|e| Error::malformed(e.to_string()))?;
    let etag = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|e| e.trim_matches('"').to_owned());
    store
        .store
        .delete(DeleteRequest { key, etag })
        .await
        .map_err(|e| state_error(e, "ERR_STATE_DELETE"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct BulkGet {
    #[serde(default)]
    keys: Vec<String>,
    /// Reads in flight at once (default and cap: 100).
    #[serde(default)]
    parallelism: usize,
}

async fn bulk_get_state(
    State(node): AppState,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let store = state_store(&node, &name)?;
    let req: BulkGet = json_body(&body)?;
    let lookups: Vec<_> = req
        .keys
        .iter()
        .map(|key| {
            let (backend, stored) = (
                store.store.clone(),
                state::stored_key(store.prefix.as_deref(), key),
            );
            async move {
                let stored = stored.map_err(|e| e.to_string())?;
                backend.get(&stored).await.map_err(|e| e.to_string())
            }
        })
        .collect();
    let parallelism = if req.parallelism == 0 {
        100
    } else {
        req.parallelism.min(100)
    };
    let results: Vec<_> = futures::stream::iter(lookups)
        .buffered(parallelism)
        .collect()
        .await;
    let items: Vec<serde_json::Value> = results
        .into_iter()
        .zip(&req.keys)
        .map(|(result, key)| match result {
            Ok(None) => serde_json::json!({ "key": key }),
            Ok(Some(item)) => {
                let data = match serde_json::from_slice::<serde_json::Value>(&item.value) {
                    Ok(v) => v,
                    Err(_) => {
                        serde_json::Value::String(String::from_utf8_lossy(&item.value).into_owned())
                    }
                };
                serde_json::json!({ "key": key, "data": data, "etag": item.etag })
            }
            Err(error) => serde_json::json!({ "key": key, "error": error }),
        })
        .collect();
    Ok(axum::Json(items).into_response())
}

#[derive(Deserialize)]
struct Transaction {
    #[serde(default)]
    operations: Vec<TransactionOp>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct TransactionOp {
    operation: String,
    request: StateItem,
}

async fn transact_state(
    State(node): AppState,
    Path(name): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let store = state_store(&node, &name)?;
    let tx: Transaction = json_body(&body)?;
    let mut extra = query_metadata(&q);
    extra.extend(tx.metadata);
    let mut ops = Vec::with_capacity(tx.operations.len());
    for op in tx.operations {
        ops.push(match op.operation.as_str() {
            "upsert" => Operation::Upsert(set_request(store, op.request, &extra)?),
            "delete" => {
                let key = op
                    .request
                    .key
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| Error::malformed("a state item must have a key"))?;
                let key = state::stored_key(store.prefix.as_deref(), &key)
                    .map_err(|e| Error::malformed(e.to_string()))?;
                Operation::Delete(DeleteRequest {
                    key,
                    etag: op.request.etag.filter(|e| !e.is_empty()),
                })
            }
            other => {
                return Err(Error::new(
                    StatusCode::BAD_REQUEST,
                    "ERR_NOT_SUPPORTED_STATE_OPERATION",
                    format!("operation type {other} not supported"),
                ));
            }
        });
    }
    store
        .store
        .transact(ops)
        .await
        .map_err(|e| state_error(e, "ERR_STATE_TRANSACTION"))?;
    Ok(StatusCode::NO_CONTENT)
}

// === pub/sub ===

fn pubsub<'a>(node: &'a Node, name: &str) -> Result<&'a PubSubComponent, Error> {
    if node.registry.pubsub.is_empty() {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            "ERR_PUBSUB_NOT_CONFIGURED",
            "no pubsub is configured",
        ));
    }
    node.registry.pubsub.get(name).ok_or_else(|| {
        Error::new(
            StatusCode::NOT_FOUND,
            "ERR_PUBSUB_NOT_FOUND",
            format!("pubsub {name} not found"),
        )
    })
}

fn publish_error(e: crate::pubsub::Error, pubsub: &str, topic: &str) -> Error {
    Error::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ERR_PUBSUB_PUBLISH_MESSAGE",
        format!("error when publishing to topic {topic} in pubsub {pubsub}: {e}"),
    )
}

/// Builds the message Dapr stores for one publish.
fn message(
    node: &Node,
    pubsub: &str,
    topic: &str,
    data: &[u8],
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
    traceparent: Option<&str>,
) -> Result<Message, Error> {
    let ttl = match metadata.get("ttlInSeconds") {
        Some(v) => Some(
            v.parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    Error::new(
                        StatusCode::BAD_REQUEST,
                        "ERR_PUBSUB_REQUEST_METADATA",
                        format!("invalid ttlInSeconds '{v}'"),
                    )
                })?,
        ),
        None => None,
    };
    if metadata
        .get("rawPayload")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(Message {
            data: Bytes::copy_from_slice(data),
            id: None,
            ttl,
        });
    }
    let overrides: BTreeMap<String, String> = metadata
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("cloudevent.")
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect();
    let expiration =
        ttl.map(|t| (chrono::Utc::now() + t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let publish = cloudevent::Publish {
        app_id: &node.settings.app_id,
        pubsub,
        topic,
        data,
        content_type,
        overrides: &overrides,
        traceparent,
        tracestate: None,
        expiration,
    };
    let is_cloudevent =
        content_type.is_some_and(|c| cloudevent::essence(c) == cloudevent::CONTENT_TYPE);
    let (data, id) = if is_cloudevent {
        cloudevent::complete(&publish).map_err(|m| {
            Error::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ERR_PUBSUB_CLOUD_EVENTS_SER",
                m,
            )
        })?
    } else {
        let (data, id) = cloudevent::wrap(&publish);
        (data, Some(id))
    };
    Ok(Message { data, id, ttl })
}

fn topic_of(topic: &str) -> Result<&str, Error> {
    let topic = topic.trim_matches('/');
    if topic.is_empty() {
        return Err(Error::new(
            StatusCode::NOT_FOUND,
            "ERR_TOPIC_NAME_EMPTY",
            "topic is empty",
        ));
    }
    Ok(topic)
}

async fn publish(
    State(node): AppState,
    Path((name, topic)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let component = pubsub(&node, &name)?;
    let topic = topic_of(&topic)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    let msg = message(
        &node,
        &name,
        topic,
        &body,
        content_type,
        &query_metadata(&q),
        traceparent,
    )?;
    component
        .pubsub
        .publish(topic, msg)
        .await
        .map_err(|e| publish_error(e, &name, topic))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkEntry {
    entry_id: String,
    event: Box<RawValue>,
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

async fn bulk_publish(
    State(node): AppState,
    Path((name, topic)): Path<(String, String)>,
    Query(q): Params,
    body: Bytes,
) -> Result<Response, Error> {
    let component = pubsub(&node, &name)?;
    let topic = topic_of(&topic)?;
    let entries: Vec<BulkEntry> = json_body(&body)?;
    let request_metadata = query_metadata(&q);
    let mut messages = Vec::with_capacity(entries.len());
    for e in &entries {
        if e.entry_id.is_empty() || entries.iter().filter(|o| o.entry_id == e.entry_id).count() > 1
        {
            return Err(Error::new(
                StatusCode::BAD_REQUEST,
                "ERR_PUBSUB_EVENTS_SER",
                "every entry needs a unique entryId",
            ));
        }
        // A JSON string event carries text or a CloudEvent as text; other JSON is the data itself.
        let raw = e.event.get();
        let data: Vec<u8> = match serde_json::from_str::<String>(raw) {
            Ok(s) if !cloudevent::is_json(&e.content_type) => s.into_bytes(),
            _ => raw.as_bytes().to_vec(),
        };
        let mut metadata = request_metadata.clone();
        metadata.extend(e.metadata.clone());
        let ct = Some(e.content_type.as_str()).filter(|c| !c.is_empty());
        messages.push(message(&node, &name, topic, &data, ct, &metadata, None)?);
    }
    let results = join_all(
        messages
            .into_iter()
            .map(|m| component.pubsub.publish(topic, m)),
    )
    .await;
    let failed: Vec<_> = results
        .iter()
        .zip(&entries)
        .filter_map(|(r, e)| {
            r.as_ref()
                .err()
                .map(|err| serde_json::json!({ "entryId": e.entry_id, "error": err.to_string() }))
        })
        .collect();
    if failed.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let body =
        serde_json::json!({ "failedEntries": failed, "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE" });
    Ok((StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response())
}

//! Dapr's HTTP API (v1.0 and the alpha paths built so far). Handlers translate
//! requests and call the building blocks.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use jetway_core::{AppRequest, Context};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Error, ErrorCode, actors, bindings, configuration, jobs, lock, pubsub, secrets, state,
    workflows,
};
use crate::app::token_matches;
use crate::node::Node;
use jetway_blocks::actors::{ActorCall, ActorOp};
use jetway_blocks::pubsub::cloudevent;

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
    let actor_routes = Router::new()
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/method/{*method}",
            any(invoke_actor),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/state",
            post(transact_actor_state).put(transact_actor_state),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/state/{key}",
            get(get_actor_state),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/reminders/{name}",
            post(register_reminder)
                .put(register_reminder)
                .get(get_reminder)
                .delete(delete_reminder),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/timers/{name}",
            post(register_timer)
                .put(register_timer)
                .delete(delete_timer),
        );
    // daprd serves the same workflow routes under three versions.
    let workflow_routes =
        ["/v1.0", "/v1.0-beta1", "/v1.0-alpha1"]
            .iter()
            .fold(Router::new(), |routes, version| {
                let at = |path: &str| format!("{version}/workflows/{{component}}/{{id}}{path}");
                routes
                    .route(&at(""), get(get_workflow))
                    .route(&at("/start"), post(start_workflow))
                    .route(&at("/terminate"), post(terminate_workflow))
                    .route(&at("/pause"), post(pause_workflow))
                    .route(&at("/resume"), post(resume_workflow))
                    .route(&at("/purge"), post(purge_workflow))
                    .route(&at("/raiseEvent/{event}"), post(raise_workflow_event))
            });
    // daprd serves the configuration API under the stable and the alpha path.
    let configuration_routes =
        ["/v1.0", "/v1.0-alpha1"]
            .iter()
            .fold(Router::new(), |routes, version| {
                let at = |path: &str| format!("{version}/configuration/{{store}}{path}");
                routes
                    .route(&at(""), get(get_configuration))
                    .route(&at("/subscribe"), get(subscribe_configuration))
                    .route(&at("/{id}/unsubscribe"), get(unsubscribe_configuration))
            });
    // daprd 1.18 serves the jobs API under the stable and the alpha path.
    let job_routes = ["/v1.0", "/v1.0-alpha1"]
        .iter()
        .fold(Router::new(), |routes, version| {
            routes.route(
                &format!("{version}/jobs/{{name}}"),
                post(schedule_job).get(get_job).delete(delete_job),
            )
        });
    let router = Router::new()
        .route("/v1.0/healthz", get(healthz))
        .route("/v1.0/healthz/outbound", get(healthz_outbound))
        .route("/v1.0/metadata", get(metadata))
        .route("/v1.0/metadata/{key}", axum::routing::put(set_metadata))
        .route("/v1.0/shutdown", post(shutdown))
        .route("/v1.0/invoke/{app_id}/method/{*method}", any(invoke_method))
        .route(
            "/v1.0/bindings/{name}",
            post(invoke_binding).put(invoke_binding),
        )
        .route("/v1.0-alpha1/lock/{store}", post(try_lock))
        .route("/v1.0-alpha1/unlock/{store}", post(unlock))
        .route("/v1.0/secrets/{store}/bulk", get(bulk_secrets))
        .route("/v1.0/secrets/{store}/{key}", get(get_secret))
        .merge(state_routes)
        .merge(configuration_routes)
        .merge(job_routes)
        .merge(pubsub_routes)
        .merge(actor_routes)
        .merge(workflow_routes)
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(node.settings.max_body));
    // Layers cost on every request: only those the settings ask for.
    let router = match node.settings.api_token {
        Some(_) => router.layer(middleware::from_fn_with_state(node.clone(), check_token)),
        None => router,
    };
    let router = match node.settings.metrics_port {
        Some(_) => router.layer(middleware::from_fn_with_state(node.clone(), count)),
        None => router,
    };
    router.with_state(node)
}

/// Enforces `DAPR_API_TOKEN` on everything but the health endpoints.
async fn check_token(State(node): AppState, request: Request, next: Next) -> Response {
    if let Some(token) = &node.settings.api_token {
        let exempt = request.method() == Method::GET
            && matches!(
                request.uri().path(),
                "/v1.0/healthz" | "/v1.0/healthz/outbound"
            );
        if !exempt && !token_matches(request.headers(), token) {
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
            ErrorCode::HealthAppIdNotMatch,
            "dapr app-id does not match",
        ));
    }
    if node.is_ready() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(ErrorCode::HealthNotReady, "dapr is not ready"))
    }
}

async fn healthz_outbound(State(node): AppState) -> Result<StatusCode, Error> {
    if node.is_outbound_ready() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(
            ErrorCode::OutboundHealthNotReady,
            "dapr outbound is not ready",
        ))
    }
}

async fn metadata(State(node): AppState) -> Response {
    axum::Json(super::metadata::snapshot(&node)).into_response()
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
    node.stop_soon();
    StatusCode::NO_CONTENT
}

/// The request's [`Context`], read from its headers.
struct Ctx(Context);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Ctx, Self::Rejection> {
        Ok(Ctx(Context::from_headers(&parts.headers)))
    }
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
            ErrorCode::DirectInvokeNoAppId,
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
    let ctx = Context::from_headers(&headers);
    let request = AppRequest {
        verb,
        path_and_query,
        headers,
        body,
    };
    let answer = node.invoker.invoke(&ctx, app_id, request).await?;
    let mut response = (answer.status, answer.body).into_response();
    *response.headers_mut() = answer.headers;
    // A gRPC app's typed protobuf answer is protobuf to an HTTP caller, as in daprd.
    if answer.type_url.is_some() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
    }
    Ok(response)
}

// === bindings ===

#[derive(Deserialize)]
struct BindingCall {
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    operation: String,
}

/// `POST|PUT /v1.0/bindings/{name}`: `data` goes to the component as the
/// JSON it is (a string with its quotes, none as `null`), as daprd sends it.
async fn invoke_binding(
    State(node): AppState,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let call: BindingCall = json_body(&body)?;
    let data = match &call.data {
        Some(raw) => Bytes::from(raw.get().to_owned()),
        None => Bytes::from_static(b"null"),
    };
    let request = jetway_blocks::bindings::Request {
        operation: call.operation,
        data,
        metadata: call.metadata,
    };
    let answer = bindings::invoke(&node, &ctx, &name, request).await?;
    let mut response = match answer.data {
        Some(data) => ([(header::CONTENT_TYPE, "application/json")], data).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    for (k, v) in &answer.metadata {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(format!("metadata.{k}")),
            HeaderValue::from_str(v),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

// === configuration ===

/// The `key` parameters of a query (none is every key).
fn keys(query: &[(String, String)]) -> Vec<String> {
    query
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .collect()
}

async fn get_configuration(
    State(node): AppState,
    Path(store): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let items = configuration::get(&node, &store, &keys(&query)).await?;
    Ok(axum::Json(items).into_response())
}

/// Answers the subscription's id at once; each change is then posted to the
/// app at `/configuration/<store>/<key>`, as daprd posts it.
async fn subscribe_configuration(
    State(node): AppState,
    Path(store): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let Some(app) = node.app.clone() else {
        return Err(Error::new(
            ErrorCode::ConfigurationSubscribe,
            "failed to subscribe: the sidecar has no app to send updates to",
        ));
    };
    let (id, mut updates) = configuration::subscribe(&node, &store, keys(&query)).await?;
    let subscription = id.clone();
    tokio::spawn(async move {
        while let Some(items) = futures::StreamExt::next(&mut updates).await {
            for (key, item) in items {
                let body = serde_json::json!({"id": subscription, "items": {&key: item}});
                let mut headers = HeaderMap::new();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                let path = format!("/configuration/{store}/{key}");
                let sent = app
                    .call(Method::POST, &path, headers, body.to_string().into())
                    .await;
                if !matches!(&sent, Ok(r) if r.status.is_success()) {
                    tracing::warn!(%store, %key, "The app did not take a configuration update.");
                }
            }
        }
    });
    Ok(axum::Json(serde_json::json!({ "id": id })).into_response())
}

async fn unsubscribe_configuration(
    State(node): AppState,
    Path((_store, id)): Path<(String, String)>,
) -> Response {
    match configuration::unsubscribe(&node, &id) {
        Ok(()) => axum::Json(serde_json::json!({ "ok": true })).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({ "ok": false, "message": e.to_string() })),
        )
            .into_response(),
    }
}

// === locks ===

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LockCall {
    #[serde(default)]
    resource_id: String,
    #[serde(default)]
    lock_owner: String,
    #[serde(default)]
    expiry_in_seconds: i64,
}

async fn try_lock(
    State(node): AppState,
    Path(store): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let call: LockCall = json_body(&body)?;
    let success = lock::try_lock(
        &node,
        &store,
        &call.resource_id,
        &call.lock_owner,
        call.expiry_in_seconds,
    )
    .await?;
    Ok(axum::Json(serde_json::json!({ "success": success })).into_response())
}

async fn unlock(
    State(node): AppState,
    Path(store): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let call: LockCall = json_body(&body)?;
    let status = lock::unlock(&node, &store, &call.resource_id, &call.lock_owner).await?;
    Ok(axum::Json(serde_json::json!({ "status": status as i32 })).into_response())
}

// === jobs ===

async fn schedule_job(
    State(node): AppState,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let (job, overwrite) = jobs::from_json(&name, &body)?;
    jobs::schedule(&node, job, overwrite).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_job(State(node): AppState, Path(name): Path<String>) -> Result<Response, Error> {
    let job = jobs::get(&node, &name).await?;
    Ok(axum::Json(jobs::to_json(job)).into_response())
}

async fn delete_job(State(node): AppState, Path(name): Path<String>) -> Result<StatusCode, Error> {
    jobs::delete(&node, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// === secrets ===

/// `GET /v1.0/secrets/{store}/{key}` (request `metadata.*` is for stores that
/// read it; none of Jetway's do).
async fn get_secret(
    State(node): AppState,
    Path((store, key)): Path<(String, String)>,
) -> Result<Response, Error> {
    Ok(axum::Json(secrets::get(&node, &store, &key).await?).into_response())
}

async fn bulk_secrets(State(node): AppState, Path(store): Path<String>) -> Result<Response, Error> {
    Ok(axum::Json(secrets::bulk(&node, &store).await?).into_response())
}

// === actors ===

async fn invoke_actor(
    State(node): AppState,
    Path((actor_type, actor_id, method)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let ctx = Context::from_headers(&headers);
    let call = ActorCall {
        actor_type,
        actor_id,
        method,
        headers,
        body,
    };
    let answer = actors::runtime(&node)?.invoke(&ctx, call).await?;
    let mut response = (answer.status, answer.body).into_response();
    *response.headers_mut() = answer.headers;
    Ok(response)
}

async fn get_actor_state(
    State(node): AppState,
    Ctx(ctx): Ctx,
    Path((actor_type, actor_id, key)): Path<(String, String, String)>,
) -> Result<Response, Error> {
    Ok(
        match actors::runtime(&node)?
            .get_state(&ctx, &actor_type, &actor_id, &key)
            .await?
        {
            Some(value) => ([(header::CONTENT_TYPE, "application/json")], value).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

#[derive(Deserialize)]
struct ActorOperation {
    operation: String,
    request: ActorOperationRequest,
}

#[derive(Deserialize)]
struct ActorOperationRequest {
    key: String,
    value: Option<Box<RawValue>>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

async fn transact_actor_state(
    State(node): AppState,
    Ctx(ctx): Ctx,
    Path((actor_type, actor_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let operations: Vec<ActorOperation> = json_body(&body)?;
    let ops = operations
        .into_iter()
        .map(|o| {
            let value = o.request.value.map(|v| Bytes::from(v.get().to_owned()));
            let ttl = o
                .request
                .metadata
                .and_then(|mut m| m.remove("ttlInSeconds"));
            ActorOp::new(&o.operation, o.request.key, value.unwrap_or_default(), ttl)
        })
        .collect::<Result<Vec<_>, _>>()?;
    actors::runtime(&node)?
        .transact_state(&ctx, &actor_type, &actor_id, ops)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A reminder or timer registration; fields other SDKs add are ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Registration {
    due_time: Option<String>,
    period: Option<String>,
    ttl: Option<String>,
    data: Option<Box<RawValue>>,
    callback: Option<String>,
    overwrite: Option<bool>,
}

type ActorItem = Path<(String, String, String)>;

fn registration(body: &[u8]) -> Result<Registration, Error> {
    if body.is_empty() {
        return Ok(Registration::default());
    }
    json_body(body)
}

async fn register_reminder(
    State(node): AppState,
    Path((actor_type, actor_id, name)): ActorItem,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let r = registration(&body)?;
    let spec = jetway_blocks::actors::ReminderSpec {
        due_time: r.due_time.unwrap_or_default(),
        period: r.period.unwrap_or_default(),
        ttl: r.ttl.unwrap_or_default(),
        data: r.data,
        overwrite: r.overwrite.unwrap_or(true),
    };
    actors::runtime(&node)?
        .register_reminder(&actor_type, &actor_id, &name, spec)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// === workflows ===

type WorkflowItem = Path<(String, String)>;

/// `POST .../workflows/{component}/{name}/start[?instanceID=]`: the body is
/// the input, verbatim.
async fn start_workflow(
    State(node): AppState,
    Path((component, name)): WorkflowItem,
    Query(q): Params,
    body: Bytes,
) -> Result<Response, Error> {
    let id = q.get("instanceID").map_or("", String::as_str);
    let options = Default::default();
    let id = workflows::start(&node.workflows, &component, &name, id, &body, &options).await?;
    let body = serde_json::json!({ "instanceID": id });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

async fn get_workflow(
    State(node): AppState,
    Path((component, id)): WorkflowItem,
) -> Result<Response, Error> {
    let workflow = workflows::get(&node.workflows, &component, &id).await?;
    Ok(axum::Json(workflow.to_json()).into_response())
}

async fn change_workflow(
    node: &Node,
    (component, id): (String, String),
    change: workflows::Change<'_>,
) -> Result<StatusCode, Error> {
    workflows::change(&node.workflows, &component, &id, change).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn terminate_workflow(
    State(node): AppState,
    Path(item): WorkflowItem,
) -> Result<StatusCode, Error> {
    change_workflow(&node, item, workflows::Change::Terminate).await
}

async fn pause_workflow(
    State(node): AppState,
    Path(item): WorkflowItem,
) -> Result<StatusCode, Error> {
    change_workflow(&node, item, workflows::Change::Pause).await
}

async fn resume_workflow(
    State(node): AppState,
    Path(item): WorkflowItem,
) -> Result<StatusCode, Error> {
    change_workflow(&node, item, workflows::Change::Resume).await
}

async fn raise_workflow_event(
    State(node): AppState,
    Path((component, id, event)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let change = workflows::Change::Raise {
        event: &event,
        data: &body,
    };
    change_workflow(&node, (component, id), change).await
}

async fn purge_workflow(
    State(node): AppState,
    Path((component, id)): WorkflowItem,
) -> Result<StatusCode, Error> {
    workflows::purge(&node.workflows, &component, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn get_reminder(
    State(node): AppState,
    Path((actor_type, actor_id, name)): ActorItem,
) -> Result<Response, Error> {
    let info = actors::runtime(&node)?
        .get_reminder(&actor_type, &actor_id, &name)
        .await?;
    Ok(axum::Json(info).into_response())
}

async fn delete_reminder(
    State(node): AppState,
    Path((actor_type, actor_id, name)): ActorItem,
) -> Result<StatusCode, Error> {
    actors::runtime(&node)?
        .delete_reminder(&actor_type, &actor_id, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn register_timer(
    State(node): AppState,
    Path((actor_type, actor_id, name)): ActorItem,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let r = registration(&body)?;
    let spec = jetway_blocks::actors::TimerSpec {
        due_time: r.due_time.unwrap_or_default(),
        period: r.period.unwrap_or_default(),
        ttl: r.ttl.unwrap_or_default(),
        callback: r.callback.unwrap_or_default(),
        data: r.data,
    };
    actors::runtime(&node)?.register_timer(&actor_type, &actor_id, &name, spec)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_timer(
    State(node): AppState,
    Path((actor_type, actor_id, name)): ActorItem,
) -> Result<StatusCode, Error> {
    actors::runtime(&node)?.delete_timer(&actor_type, &actor_id, &name)?;
    Ok(StatusCode::NO_CONTENT)
}

// === state ===

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
    #[serde(default)]
    key: String,
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

impl From<StateItem> for state::SaveItem {
    /// The value is stored as the JSON text the app sent.
    fn from(item: StateItem) -> state::SaveItem {
        state::SaveItem {
            key: item.key,
            value: item
                .value
                .map(|v| Bytes::copy_from_slice(v.get().as_bytes()))
                .unwrap_or_default(),
            etag: item.etag,
            metadata: item.metadata,
            first_write: item.options.concurrency == "first-write",
        }
    }
}

async fn save_state(
    State(node): AppState,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let items: Vec<StateItem> = json_body(&body)?;
    let items = items.into_iter().map(Into::into).collect();
    state::save(&node, &ctx, &name, items, &query_metadata(&q)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_state(
    State(node): AppState,
    Ctx(ctx): Ctx,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, Error> {
    let Some(item) = state::get(&node, &ctx, &name, &key).await? else {
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
    let etag = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|e| e.trim_matches('"').to_owned());
    let ctx = Context::from_headers(&headers);
    state::delete(&node, &ctx, &name, &key, etag).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct BulkGet {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    parallelism: usize,
}

async fn bulk_get_state(
    State(node): AppState,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let req: BulkGet = json_body(&body)?;
    let results = state::bulk_get(&node, &ctx, &name, req.keys, req.parallelism).await?;
    let items: Vec<serde_json::Value> = results
        .into_iter()
        .map(|(key, result)| match result {
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
    /// The JavaScript SDK sends `null`.
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct TransactionOp {
    operation: String,
    request: StateItem,
}

async fn transact_state(
    State(node): AppState,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let tx: Transaction = json_body(&body)?;
    let mut metadata = query_metadata(&q);
    metadata.extend(tx.metadata.unwrap_or_default());
    let ops = tx
        .operations
        .into_iter()
        .map(|op| state::TxOp::new(&op.operation, op.request.into()))
        .collect::<Result<Vec<_>, _>>()?;
    state::transact(&node, &ctx, &name, ops, &metadata).await?;
    Ok(StatusCode::NO_CONTENT)
}

// === pub/sub ===

async fn publish(
    State(node): AppState,
    Path((name, topic)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let header = |n| headers.get(n).and_then(|v: &HeaderValue| v.to_str().ok());
    let publish = pubsub::Publish {
        pubsub: &name,
        topic: &topic,
        data: &body,
        content_type: header(header::CONTENT_TYPE.as_str()),
        metadata: &query_metadata(&q),
    };
    pubsub::publish(&node, &Context::from_headers(&headers), publish).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkEntry {
    #[serde(alias = "entryID")]
    entry_id: String,
    event: Box<RawValue>,
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

async fn bulk_publish(
    State(node): AppState,
    Ctx(ctx): Ctx,
    Path((name, topic)): Path<(String, String)>,
    Query(q): Params,
    body: Bytes,
) -> Result<Response, Error> {
    let entries: Vec<BulkEntry> = json_body(&body)?;
    let entries: Vec<_> = entries
        .into_iter()
        .map(|e| {
            // A JSON string event carries text or a CloudEvent as text; other JSON is the data itself.
            let raw = e.event.get();
            let data = match serde_json::from_str::<String>(raw) {
                Ok(s) if !cloudevent::is_json(&e.content_type) => s.into_bytes(),
                _ => raw.as_bytes().to_vec(),
            };
            pubsub::BulkEntry {
                entry_id: e.entry_id,
                data: data.into(),
                content_type: Some(e.content_type),
                metadata: e.metadata,
            }
        })
        .collect();
    let failed =
        pubsub::bulk_publish(&node, &ctx, &name, &topic, &entries, &query_metadata(&q)).await?;
    if failed.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let failed: Vec<_> = failed
        .into_iter()
        .map(|(id, error)| serde_json::json!({ "entryId": id, "error": error }))
        .collect();
    let body =
        serde_json::json!({ "failedEntries": failed, "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE" });
    Ok((StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response())
}

//! Dapr's gRPC API (`dapr.proto.runtime.v1.Dapr`). Handlers translate messages
//! and call the same building-block code as the HTTP API; rpcs not built yet
//! answer UNIMPLEMENTED with a message.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jetway_core::{AppRequest, Context};
use jetway_protos::dapr_service::{
    self,
    dapr_server::{Dapr, DaprServer},
};
use jetway_protos::task_hub::task_hub_sidecar_service_server::TaskHubSidecarServiceServer;
use jetway_protos::{Empty, actors as protos, common, runtime as pb};
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::{
    Error, ErrorCode, actors, bindings, configuration, jobs, lock, metadata, pubsub, secrets,
    state, workflows,
};
use crate::app::AppResponse;
use crate::app::token_matches;
use crate::node::Node;
use jetway_blocks::actors::{ActorCall, ActorOp, ReminderSpec, TimerSpec};

type Reply<T> = Result<tonic::Response<T>, Status>;

/// A configuration subscription's messages.
type ConfigurationUpdates =
    futures::stream::BoxStream<'static, Result<pb::SubscribeConfigurationResponse, Status>>;

fn config_items(
    items: jetway_blocks::configuration::Items,
) -> std::collections::HashMap<String, common::ConfigurationItem> {
    items
        .into_iter()
        .map(|(key, item)| {
            let item = common::ConfigurationItem {
                value: item.value,
                version: item.version,
                metadata: item.metadata.into_iter().collect(),
            };
            (key, item)
        })
        .collect()
}

/// The gRPC API as an axum router: the rpcs built so far, and UNIMPLEMENTED
/// with a message for every other.
fn router(api: Arc<Api>) -> axum::Router {
    let node = api.node.clone();
    let max_body = node.settings.max_body;
    let service = DaprServer::from_arc(api)
        .max_decoding_message_size(max_body)
        .max_encoding_message_size(usize::MAX);
    let mut router = axum::Router::new();
    for path in dapr_service::SERVED {
        router = router.route_service(path, service.clone());
    }
    let task_hub = TaskHubSidecarServiceServer::new(super::workflows::task_hub::TaskHub {
        engine: node.workflows.clone(),
    })
    .max_decoding_message_size(max_body)
    .max_encoding_message_size(usize::MAX);
    router = router.route_service("/TaskHubSidecarService/{*rpc}", task_hub);
    router = router.fallback(|| async {
        Status::unimplemented("this rpc is not implemented by Jetway yet")
            .into_http::<axum::body::Body>()
    });
    match node.settings.api_token {
        Some(_) => router.layer(middleware::from_fn_with_state(node, check_token)),
        None => router,
    }
}

/// Serves the gRPC API on `listener` (HTTP/2 only) until `stop` is
/// cancelled, then lets open calls finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Arc<Node>,
    limits: super::serve::Limits,
    stop: CancellationToken,
) {
    let api = Arc::new(Api { node: node.clone() });
    let service = GrpcService {
        api: api.clone(),
        router: router(api),
        // With a token to check, every call takes the router's check.
        direct: node.settings.api_token.is_none(),
    };
    super::serve::serve(
        listener,
        service,
        super::serve::Protocol::Http2,
        limits,
        stop,
    )
    .await;
}

/// The gRPC API's service. The hottest unary rpcs are answered directly
/// (one message in, one out); every other call, and every call when a token
/// must be checked, goes through tonic's service and its streaming codec.
#[derive(Clone)]
struct GrpcService {
    api: Arc<Api>,
    router: axum::Router,
    direct: bool,
}

type ServiceFuture = futures::future::BoxFuture<'static, Result<Response, Infallible>>;

impl tower_service::Service<http::Request<Incoming>> for GrpcService {
    type Response = Response;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Incoming>) -> ServiceFuture {
        let api = self.api.clone();
        match request
            .uri()
            .path()
            .strip_prefix("/dapr.proto.runtime.v1.Dapr/")
        {
            Some("GetState") if self.direct => {
                unary(request, move |r| async move { api.get_state(r).await })
            }
            Some("SaveState") if self.direct => {
                unary(request, move |r| async move { api.save_state(r).await })
            }
            Some("PublishEvent") if self.direct => {
                unary(request, move |r| async move { api.publish_event(r).await })
            }
            Some("InvokeService") if self.direct => {
                unary(request, move |r| async move { api.invoke_service(r).await })
            }
            _ => Box::pin(tower_service::Service::call(&mut self.router, request)),
        }
    }
}

/// Named once: parsing a header name from a string on every call costs more
/// than encoding the trailer.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// A unary rpc: reads the one length-prefixed message, calls `handle`, and
/// answers with one message and `grpc-status: 0`, or with the error status.
fn unary<M, R, F, Fut>(request: http::Request<Incoming>, handle: F) -> ServiceFuture
where
    M: prost::Message + Default + Send + 'static,
    R: prost::Message + Send + 'static,
    F: FnOnce(tonic::Request<M>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Reply<R>> + Send,
{
    Box::pin(async move {
        let (parts, body) = request.into_parts();
        let message = match read_message::<M, _>(body).await {
            Ok(m) => m,
            Err(status) => return Ok(status.into_http()),
        };
        let request = tonic::Request::from_parts(
            MetadataMap::from_headers(parts.headers),
            parts.extensions,
            message,
        );
        let (metadata, message, _) = match handle(request).await {
            Ok(response) => response.into_parts(),
            Err(status) => return Ok(status.into_http()),
        };
        let len = message.encoded_len();
        let mut data = BytesMut::with_capacity(5 + len);
        data.put_u8(0);
        data.put_u32(len as u32);
        message.encode(&mut data).expect("the buffer has room");
        let mut trailers = HeaderMap::new();
        trailers.insert(GRPC_STATUS, HeaderValue::from_static("0"));
        let body = Full::new(data.freeze()).with_trailers(std::future::ready(Some(Ok(trailers))));
        let mut response = Response::new(axum::body::Body::new(body));
        let headers = response.headers_mut();
        *headers = metadata.into_headers();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        Ok(response)
    })
}

/// Reads a request's single, uncompressed, length-prefixed message.
async fn read_message<M, B>(body: B) -> Result<M, Status>
where
    M: prost::Message + Default,
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bytes = http_body_util::Limited::new(body, super::http::MAX_BODY + 5)
        .collect()
        .await
        .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
            Ok(_) => Status::resource_exhausted("the message is larger than 4 MiB"),
            Err(e) => Status::cancelled(e.to_string()),
        })?
        .to_bytes();
    match bytes.split_first_chunk::<5>() {
        Some(([0, len @ ..], message)) if u32::from_be_bytes(*len) as usize == message.len() => {
            M::decode(message)
                .map_err(|e| Status::internal(format!("cannot decode the message: {e}")))
        }
        Some(([1, ..], _)) => Err(Status::unimplemented(
            "compressed messages are not supported",
        )),
        _ => Err(Status::internal("the request is not one gRPC message")),
    }
}

/// Enforces `DAPR_API_TOKEN` on every rpc.
async fn check_token(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    if let Some(token) = &node.settings.api_token
        && !token_matches(request.headers(), token)
    {
        let reason = "authentication error: api token mismatch";
        let info = [
            ("http.code".to_owned(), "401".to_owned()),
            ("http.error_message".to_owned(), reason.to_owned()),
        ];
        let details = ErrorDetails::with_error_info("Unauthorized", "dapr.io", info);
        let status = Status::with_error_details(Code::Unauthenticated, "Unauthorized", details);
        return status.into_http();
    }
    next.run(request).await
}

pub struct Api {
    node: Arc<Node>,
}

fn to_btree(m: std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter().collect()
}

/// The W3C `traceparent` of a call: its own header, or `grpc-trace-bin`.
/// The request's [`Context`]: its W3C trace context, or the binary one.
fn context(metadata: &MetadataMap) -> Context {
    let tracestate = metadata.get("tracestate").and_then(|v| v.to_str().ok());
    Context {
        traceparent: traceparent(metadata),
        tracestate: tracestate.filter(|t| !t.is_empty()).map(str::to_owned),
        ..Context::default()
    }
}

fn traceparent(metadata: &MetadataMap) -> Option<String> {
    if let Some(t) = metadata.get("traceparent").and_then(|v| v.to_str().ok()) {
        return Some(t.to_owned());
    }
    let bin = metadata.get_bin("grpc-trace-bin")?.to_bytes().ok()?;
    traceparent_from_binary(&bin)
}

/// Reads the OpenCensus binary trace context: version 0, then fields 0 (trace
/// id, 16 bytes), 1 (span id, 8 bytes) and 2 (options, 1 byte).
fn traceparent_from_binary(b: &[u8]) -> Option<String> {
    let hex = |s: &[u8]| s.iter().map(|x| format!("{x:02x}")).collect::<String>();
    match b {
        [0, 0, rest @ ..] if rest.len() >= 26 && rest[16] == 1 => {
            let flags = if rest.len() >= 27 && rest[25] == 2 {
                rest[26]
            } else {
                0
            };
            Some(format!(
                "00-{}-{}-{flags:02x}",
                hex(&rest[..16]),
                hex(&rest[17..25])
            ))
        }
        _ => None,
    }
}

/// gRPC request metadata as the headers of an invocation.
fn invocation_headers(metadata: MetadataMap) -> HeaderMap {
    let traceparent = traceparent(&metadata).and_then(|t| HeaderValue::from_str(&t).ok());
    let mut headers = crate::app::grpc::from_metadata(metadata);
    if let Some(t) = traceparent {
        headers.insert("traceparent", t);
    }
    headers
}

fn verb(extension: Option<&common::HttpExtension>) -> Method {
    use common::http_extension::Verb;
    match extension.map(|e| e.verb()).unwrap_or(Verb::None) {
        Verb::Get => Method::GET,
        Verb::Head => Method::HEAD,
        Verb::Put => Method::PUT,
        Verb::Delete => Method::DELETE,
        Verb::Connect => Method::CONNECT,
        Verb::Options => Method::OPTIONS,
        Verb::Trace => Method::TRACE,
        Verb::Patch => Method::PATCH,
        // A gRPC caller that names no verb reaches an HTTP app with POST.
        Verb::None | Verb::Post => Method::POST,
    }
}

/// The app's answer for a gRPC caller: a gRPC app's status as it was, an HTTP
/// app's error status as the matching gRPC code (with `dapr-http-status`).
fn invoke_reply(answer: AppResponse) -> Reply<common::InvokeResponse> {
    let grpc_status = answer
        .headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok()?.parse::<i32>().ok());
    let content_type = answer
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut reply_metadata = crate::app::grpc::to_metadata(&answer.headers);
    let failure = match grpc_status {
        Some(code) if code != 0 => {
            let message = answer
                .headers
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .map(|m| {
                    percent_encoding::percent_decode_str(m)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .unwrap_or_default();
            Some(Status::new(Code::from_i32(code), message))
        }
        Some(_) => None,
        None if !answer.status.is_success() && !answer.status.is_redirection() => {
            reply_metadata.insert(
                "dapr-http-status",
                answer.status.as_str().parse().expect("digits are ASCII"),
            );
            Some(http_app_error(answer.status, &answer.body))
        }
        None => None,
    };
    if let Some(mut status) = failure {
        *status.metadata_mut() = reply_metadata;
        return Err(status);
    }
    let mut response = tonic::Response::new(common::InvokeResponse {
        data: Some(prost_types::Any {
            type_url: answer.type_url.unwrap_or_default(),
            value: answer.body.into(),
        }),
        content_type,
    });
    *response.metadata_mut() = reply_metadata;
    Ok(response)
}

/// An HTTP app's error status for a gRPC caller, as daprd words it: the status
/// text, and the code and the start of the body in an `ErrorInfo`.
fn http_app_error(status: StatusCode, body: &[u8]) -> Status {
    let code = match status.as_u16() {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 => Code::Cancelled,
        409 => Code::AlreadyExists,
        429 => Code::ResourceExhausted,
        400 => Code::Internal,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Unknown,
    };
    let text = status.canonical_reason().unwrap_or("Unknown");
    let body: String = String::from_utf8_lossy(body).chars().take(63).collect();
    let info = [
        ("http.code".to_owned(), status.as_str().to_owned()),
        ("http.error_message".to_owned(), body),
    ];
    Status::with_error_details(
        code,
        text,
        ErrorDetails::with_error_info(text, "dapr.io", info),
    )
}

fn save_item(item: common::StateItem) -> state::SaveItem {
    use common::state_options::StateConcurrency;
    state::SaveItem {
        key: item.key,
        value: item.value.into(),
        etag: item.etag.map(|e| e.value),
        metadata: to_btree(item.metadata),
        first_write: item
            .options
            .is_some_and(|o| o.concurrency() == StateConcurrency::ConcurrencyFirstWrite),
    }
}

fn ttl_metadata(item: &jetway_blocks::state::Item) -> std::collections::HashMap<String, String> {
    item.expires_at
        .map(|at| {
            let at: chrono::DateTime<chrono::Utc> = at.into();
            let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            [("ttlExpireTime".to_owned(), at)].into()
        })
        .unwrap_or_default()
}

#[tonic::async_trait]
impl Dapr for Api {
    async fn invoke_service(
        &self,
        request: tonic::Request<pb::InvokeServiceRequest>,
    ) -> Reply<common::InvokeResponse> {
        let (metadata, _, req) = request.into_parts();
        let headers = invocation_headers(metadata);
        let Some(message) = req.message else {
            return Err(Status::invalid_argument(
                "the invocation carries no message",
            ));
        };
        let mut path_and_query = format!("/{}", message.method);
        if let Some(q) = message
            .http_extension
            .as_ref()
            .map(|e| e.querystring.as_str())
            .filter(|q| !q.is_empty())
        {
            path_and_query = format!("{path_and_query}?{}", q.trim_start_matches('?'));
        }
        let mut headers = headers;
        if let Ok(ct) = HeaderValue::from_str(&message.content_type)
            && !message.content_type.is_empty()
        {
            headers.insert(http::header::CONTENT_TYPE, ct);
        }
        let ctx = Context::from_headers(&headers);
        let call = AppRequest {
            verb: verb(message.http_extension.as_ref()),
            path_and_query,
            headers,
            body: message
                .data
                .map(|d| Bytes::from(d.value))
                .unwrap_or_default(),
        };
        let answer = self
            .node
            .invoker
            .invoke(&ctx, &req.id, call)
            .await
            .map_err(Error::from)?;
        invoke_reply(answer)
    }

    async fn get_state(
        &self,
        request: tonic::Request<pb::GetStateRequest>,
    ) -> Reply<pb::GetStateResponse> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let item = state::get(&self.node, &ctx, &req.store_name, &req.key).await?;
        Ok(tonic::Response::new(match item {
            None => pb::GetStateResponse::default(),
            Some(item) => pb::GetStateResponse {
                metadata: ttl_metadata(&item),
                data: item.value.into(),
                etag: item.etag,
            },
        }))
    }

    async fn get_bulk_state(
        &self,
        request: tonic::Request<pb::GetBulkStateRequest>,
    ) -> Reply<pb::GetBulkStateResponse> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let parallelism = req.parallelism.max(0) as usize;
        let results =
            state::bulk_get(&self.node, &ctx, &req.store_name, req.keys, parallelism).await?;
        let items = results
            .into_iter()
            .map(|(key, result)| match result {
                Ok(None) => pb::BulkStateItem {
                    key,
                    ..Default::default()
                },
                Ok(Some(item)) => pb::BulkStateItem {
                    key,
                    metadata: ttl_metadata(&item),
                    data: item.value.into(),
                    etag: item.etag,
                    error: String::new(),
                },
                Err(error) => pb::BulkStateItem {
                    key,
                    error,
                    ..Default::default()
                },
            })
            .collect();
        Ok(tonic::Response::new(pb::GetBulkStateResponse { items }))
    }

    async fn save_state(&self, request: tonic::Request<pb::SaveStateRequest>) -> Reply<Empty> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let items = req.states.into_iter().map(save_item).collect();
        state::save(&self.node, &ctx, &req.store_name, items, &BTreeMap::new()).await?;
        Ok(tonic::Response::new(()))
    }

    async fn delete_state(&self, request: tonic::Request<pb::DeleteStateRequest>) -> Reply<Empty> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let etag = req.etag.map(|e| e.value);
        state::delete(&self.node, &ctx, &req.store_name, &req.key, etag).await?;
        Ok(tonic::Response::new(()))
    }

    async fn delete_bulk_state(
        &self,
        request: tonic::Request<pb::DeleteBulkStateRequest>,
    ) -> Reply<Empty> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let ctx = &ctx;
        let deletes = req.states.into_iter().map(|item| {
            let etag = item.etag.map(|e| e.value);
            let (node, store) = (&self.node, &req.store_name);
            async move { state::delete(node, ctx, store, &item.key, etag).await }
        });
        futures::future::try_join_all(deletes).await?;
        Ok(tonic::Response::new(()))
    }

    async fn execute_state_transaction(
        &self,
        request: tonic::Request<pb::ExecuteStateTransactionRequest>,
    ) -> Reply<Empty> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let ops =
            req.operations
                .into_iter()
                .map(|op| {
                    let item = op.request.map(save_item).ok_or_else(|| {
                        Error::malformed("a transaction operation has no request")
                    })?;
                    state::TxOp::new(&op.operation_type, item)
                })
                .collect::<Result<Vec<_>, _>>()?;
        state::transact(
            &self.node,
            &ctx,
            &req.store_name,
            ops,
            &to_btree(req.metadata),
        )
        .await?;
        Ok(tonic::Response::new(()))
    }

    async fn publish_event(
        &self,
        request: tonic::Request<pb::PublishEventRequest>,
    ) -> Reply<Empty> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let publish = pubsub::Publish {
            pubsub: &req.pubsub_name,
            topic: &req.topic,
            data: &req.data,
            content_type: Some(req.data_content_type.as_str()).filter(|c| !c.is_empty()),
            metadata: &to_btree(req.metadata),
        };
        pubsub::publish(&self.node, &ctx, publish).await?;
        Ok(tonic::Response::new(()))
    }

    async fn bulk_publish_event(
        &self,
        request: tonic::Request<pb::BulkPublishRequest>,
    ) -> Reply<pb::BulkPublishResponse> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let entries: Vec<_> = req
            .entries
            .into_iter()
            .map(|e| pubsub::BulkEntry {
                entry_id: e.entry_id,
                data: e.event.into(),
                content_type: Some(e.content_type),
                metadata: to_btree(e.metadata),
            })
            .collect();
        let metadata = to_btree(req.metadata);
        let failed = pubsub::bulk_publish(
            &self.node,
            &ctx,
            &req.pubsub_name,
            &req.topic,
            &entries,
            &metadata,
        )
        .await?;
        // daprd fails the whole rpc when an entry fails (gRPC drops the body).
        if let Some((_, error)) = failed.first() {
            return Err(Error::new(
                ErrorCode::PubsubPublishMessage,
                format!(
                    "error when publishing to topic {} in pubsub {}: {error}",
                    req.topic, req.pubsub_name
                ),
            )
            .into());
        }
        Ok(tonic::Response::new(pb::BulkPublishResponse::default()))
    }

    async fn bulk_publish_event_alpha1(
        &self,
        request: tonic::Request<pb::BulkPublishRequest>,
    ) -> Reply<pb::BulkPublishResponse> {
        self.bulk_publish_event(request).await
    }

    type SubscribeTopicEventsAlpha1Stream = super::streaming::Events;

    async fn subscribe_topic_events_alpha1(
        &self,
        request: tonic::Request<tonic::Streaming<pb::SubscribeTopicEventsRequestAlpha1>>,
    ) -> Reply<Self::SubscribeTopicEventsAlpha1Stream> {
        let events = super::streaming::open(self.node.clone(), request.into_inner()).await?;
        Ok(tonic::Response::new(events))
    }

    type SubscribeActorEventsAlpha1Stream = crate::app::actor_stream::Events;

    async fn subscribe_actor_events_alpha1(
        &self,
        request: tonic::Request<tonic::Streaming<protos::SubscribeActorEventsRequestAlpha1>>,
    ) -> Reply<Self::SubscribeActorEventsAlpha1Stream> {
        let node = &self.node;
        let events = crate::app::actor_stream::open(
            node.actor_streams.clone(),
            actors::runtime(node)?.clone(),
            node.settings.invoke_timeout,
            node.shutdown.clone(),
            request.into_inner(),
        )
        .await?;
        Ok(tonic::Response::new(events))
    }

    async fn get_configuration(
        &self,
        request: tonic::Request<pb::GetConfigurationRequest>,
    ) -> Reply<pb::GetConfigurationResponse> {
        let r = request.into_inner();
        let items = configuration::get(&self.node, &r.store_name, &r.keys).await?;
        Ok(tonic::Response::new(pb::GetConfigurationResponse {
            items: config_items(items),
        }))
    }

    async fn get_configuration_alpha1(
        &self,
        request: tonic::Request<pb::GetConfigurationRequest>,
    ) -> Reply<pb::GetConfigurationResponse> {
        self.get_configuration(request).await
    }

    type SubscribeConfigurationStream = ConfigurationUpdates;

    /// The first message carries the subscription's id; each change follows.
    async fn subscribe_configuration(
        &self,
        request: tonic::Request<pb::SubscribeConfigurationRequest>,
    ) -> Reply<ConfigurationUpdates> {
        let r = request.into_inner();
        let (id, updates) = configuration::subscribe(&self.node, &r.store_name, r.keys).await?;
        let first = pb::SubscribeConfigurationResponse {
            id: id.clone(),
            items: Default::default(),
        };
        let updates = updates.map(move |items| {
            Ok(pb::SubscribeConfigurationResponse {
                id: id.clone(),
                items: config_items(items),
            })
        });
        Ok(tonic::Response::new(
            futures::stream::once(async { Ok(first) })
                .chain(updates)
                .boxed(),
        ))
    }

    type SubscribeConfigurationAlpha1Stream = ConfigurationUpdates;

    async fn subscribe_configuration_alpha1(
        &self,
        request: tonic::Request<pb::SubscribeConfigurationRequest>,
    ) -> Reply<ConfigurationUpdates> {
        self.subscribe_configuration(request).await
    }

    async fn unsubscribe_configuration(
        &self,
        request: tonic::Request<pb::UnsubscribeConfigurationRequest>,
    ) -> Reply<pb::UnsubscribeConfigurationResponse> {
        let r = request.into_inner();
        let answer = match configuration::unsubscribe(&self.node, &r.id) {
            Ok(()) => pb::UnsubscribeConfigurationResponse {
                ok: true,
                message: String::new(),
            },
            Err(e) => pb::UnsubscribeConfigurationResponse {
                ok: false,
                message: e.to_string(),
            },
        };
        Ok(tonic::Response::new(answer))
    }

    async fn unsubscribe_configuration_alpha1(
        &self,
        request: tonic::Request<pb::UnsubscribeConfigurationRequest>,
    ) -> Reply<pb::UnsubscribeConfigurationResponse> {
        self.unsubscribe_configuration(request).await
    }

    async fn schedule_job(
        &self,
        request: tonic::Request<pb::ScheduleJobRequest>,
    ) -> Reply<pb::ScheduleJobResponse> {
        let r = request.into_inner();
        let Some(job) = r.job else {
            return Err(Error::new(ErrorCode::JobEmpty, "Job is empty").into());
        };
        jobs::schedule(&self.node, jobs::from_proto(job)?, r.overwrite).await?;
        Ok(tonic::Response::new(pb::ScheduleJobResponse {}))
    }

    async fn schedule_job_alpha1(
        &self,
        request: tonic::Request<pb::ScheduleJobRequest>,
    ) -> Reply<pb::ScheduleJobResponse> {
        self.schedule_job(request).await
    }

    async fn get_job(
        &self,
        request: tonic::Request<pb::GetJobRequest>,
    ) -> Reply<pb::GetJobResponse> {
        let job = jobs::get(&self.node, &request.into_inner().name).await?;
        Ok(tonic::Response::new(pb::GetJobResponse {
            job: Some(jobs::to_proto(job)),
        }))
    }

    async fn get_job_alpha1(
        &self,
        request: tonic::Request<pb::GetJobRequest>,
    ) -> Reply<pb::GetJobResponse> {
        self.get_job(request).await
    }

    async fn delete_job(
        &self,
        request: tonic::Request<pb::DeleteJobRequest>,
    ) -> Reply<pb::DeleteJobResponse> {
        jobs::delete(&self.node, &request.into_inner().name).await?;
        Ok(tonic::Response::new(pb::DeleteJobResponse {}))
    }

    async fn delete_job_alpha1(
        &self,
        request: tonic::Request<pb::DeleteJobRequest>,
    ) -> Reply<pb::DeleteJobResponse> {
        self.delete_job(request).await
    }

    async fn delete_jobs_by_prefix(
        &self,
        request: tonic::Request<pb::DeleteJobsByPrefixRequest>,
    ) -> Reply<pb::DeleteJobsByPrefixResponse> {
        let prefix = request.into_inner().name_prefix.unwrap_or_default();
        jobs::delete_prefix(&self.node, &prefix).await?;
        Ok(tonic::Response::new(pb::DeleteJobsByPrefixResponse {}))
    }

    async fn delete_jobs_by_prefix_alpha1(
        &self,
        request: tonic::Request<pb::DeleteJobsByPrefixRequestAlpha1>,
    ) -> Reply<pb::DeleteJobsByPrefixResponseAlpha1> {
        let prefix = request.into_inner().name_prefix.unwrap_or_default();
        jobs::delete_prefix(&self.node, &prefix).await?;
        Ok(tonic::Response::new(
            pb::DeleteJobsByPrefixResponseAlpha1 {},
        ))
    }

    async fn list_jobs(
        &self,
        _request: tonic::Request<pb::ListJobsRequest>,
    ) -> Reply<pb::ListJobsResponse> {
        let jobs = jobs::list(&self.node).await?;
        Ok(tonic::Response::new(pb::ListJobsResponse {
            jobs: jobs.into_iter().map(jobs::to_proto).collect(),
        }))
    }

    async fn list_jobs_alpha1(
        &self,
        _request: tonic::Request<pb::ListJobsRequestAlpha1>,
    ) -> Reply<pb::ListJobsResponseAlpha1> {
        let jobs = jobs::list(&self.node).await?;
        Ok(tonic::Response::new(pb::ListJobsResponseAlpha1 {
            jobs: jobs.into_iter().map(jobs::to_proto).collect(),
        }))
    }

    async fn try_lock_alpha1(
        &self,
        request: tonic::Request<pb::TryLockRequest>,
    ) -> Reply<pb::TryLockResponse> {
        let r = request.into_inner();
        let success = lock::try_lock(
            &self.node,
            &r.store_name,
            &r.resource_id,
            &r.lock_owner,
            r.expiry_in_seconds.into(),
        )
        .await?;
        Ok(tonic::Response::new(pb::TryLockResponse { success }))
    }

    async fn unlock_alpha1(
        &self,
        request: tonic::Request<pb::UnlockRequest>,
    ) -> Reply<pb::UnlockResponse> {
        let r = request.into_inner();
        let status = lock::unlock(&self.node, &r.store_name, &r.resource_id, &r.lock_owner).await?;
        Ok(tonic::Response::new(pb::UnlockResponse {
            status: status as i32,
        }))
    }

    async fn invoke_binding(
        &self,
        request: tonic::Request<pb::InvokeBindingRequest>,
    ) -> Reply<pb::InvokeBindingResponse> {
        let ctx = context(request.metadata());
        let r = request.into_inner();
        let call = jetway_blocks::bindings::Request {
            operation: r.operation,
            data: r.data.into(),
            metadata: r.metadata.into_iter().collect(),
        };
        let answer = bindings::invoke(&self.node, &ctx, &r.name, call).await?;
        Ok(tonic::Response::new(pb::InvokeBindingResponse {
            data: answer.data.map(Vec::from).unwrap_or_default(),
            metadata: answer.metadata.into_iter().collect(),
        }))
    }

    async fn get_secret(
        &self,
        request: tonic::Request<pb::GetSecretRequest>,
    ) -> Reply<pb::GetSecretResponse> {
        let r = request.into_inner();
        let data = secrets::get(&self.node, &r.store_name, &r.key).await?;
        Ok(tonic::Response::new(pb::GetSecretResponse {
            data: data.into_iter().collect(),
        }))
    }

    async fn get_bulk_secret(
        &self,
        request: tonic::Request<pb::GetBulkSecretRequest>,
    ) -> Reply<pb::GetBulkSecretResponse> {
        let r = request.into_inner();
        let all = secrets::bulk(&self.node, &r.store_name).await?;
        let data = all
            .into_iter()
            .map(|(name, secret)| {
                let secrets = secret.into_iter().collect();
                (name, pb::SecretResponse { secrets })
            })
            .collect();
        Ok(tonic::Response::new(pb::GetBulkSecretResponse { data }))
    }

    async fn get_metadata(
        &self,
        _request: tonic::Request<pb::GetMetadataRequest>,
    ) -> Reply<pb::GetMetadataResponse> {
        let m = metadata::snapshot(&self.node);
        let registered_components = m
            .components
            .into_iter()
            .map(|c| pb::RegisteredComponents {
                name: c.name,
                r#type: c.kind,
                version: c.version.into(),
                capabilities: c.capabilities,
            })
            .collect();
        let subscriptions = m
            .subscriptions
            .into_iter()
            .map(|s| pb::PubsubSubscription {
                pubsub_name: s.pubsub,
                topic: s.topic,
                metadata: s.metadata.into_iter().collect(),
                rules: Some(pb::PubsubSubscriptionRules {
                    rules: s
                        .rules
                        .into_iter()
                        .map(|r| pb::PubsubSubscriptionRule {
                            r#match: r.matches,
                            path: r.path,
                        })
                        .collect(),
                }),
                dead_letter_topic: s.dead_letter_topic,
                r#type: match s.kind {
                    crate::node::SubscriptionKind::Declarative => {
                        pb::PubsubSubscriptionType::Declarative
                    }
                    crate::node::SubscriptionKind::Programmatic => {
                        pb::PubsubSubscriptionType::Programmatic
                    }
                    crate::node::SubscriptionKind::Streaming => {
                        pb::PubsubSubscriptionType::Streaming
                    }
                } as i32,
            })
            .collect();
        Ok(tonic::Response::new(pb::GetMetadataResponse {
            id: m.id,
            runtime_version: m.runtime_version.into(),
            enabled_features: m.enabled_features,
            registered_components,
            subscriptions,
            extended_metadata: m.extended.into_iter().collect(),
            app_connection_properties: m.app_connection_properties.map(|a| {
                pb::AppConnectionProperties {
                    port: a.port.into(),
                    protocol: a.protocol,
                    channel_address: a.channel_address,
                    max_concurrency: a.max_concurrency.try_into().unwrap_or(i32::MAX),
                    health: None,
                }
            }),
            actor_runtime: Some(pb::ActorRuntime {
                runtime_status: match m.actor_runtime.runtime_status {
                    "RUNNING" => pb::actor_runtime::ActorRuntimeStatus::Running,
                    _ => pb::actor_runtime::ActorRuntimeStatus::Disabled,
                } as i32,
                active_actors: m
                    .actor_runtime
                    .active_actors
                    .into_iter()
                    .map(|a| pb::ActiveActorsCount {
                        r#type: a.kind,
                        count: a.count.try_into().unwrap_or(i32::MAX),
                    })
                    .collect(),
                host_ready: m.actor_runtime.host_ready,
                placement: m.actor_runtime.placement,
            }),
            ..Default::default()
        }))
    }

    async fn set_metadata(&self, request: tonic::Request<pb::SetMetadataRequest>) -> Reply<Empty> {
        let req = request.into_inner();
        self.node
            .extended
            .write()
            .expect("extended lock")
            .insert(req.key, req.value);
        Ok(tonic::Response::new(()))
    }

    async fn shutdown(&self, _request: tonic::Request<pb::ShutdownRequest>) -> Reply<Empty> {
        self.node.stop_soon();
        Ok(tonic::Response::new(()))
    }

    async fn invoke_actor(
        &self,
        request: tonic::Request<pb::InvokeActorRequest>,
    ) -> Reply<pb::InvokeActorResponse> {
        let (metadata, _, req) = request.into_parts();
        let mut headers = invocation_headers(metadata);
        for (name, value) in &req.metadata {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        // Actor payloads are JSON unless the caller says otherwise, as in daprd.
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let ctx = Context::from_headers(&headers);
        let call = ActorCall {
            actor_type: req.actor_type,
            actor_id: req.actor_id,
            method: req.method,
            headers,
            body: req.data.into(),
        };
        let answer = actors::runtime(&self.node)?
            .invoke(&ctx, call)
            .await
            .map_err(Error::from)?;
        if !answer.status.is_success() {
            return Err(Status::internal(format!(
                "error invoke actor method: error from actor service: ({}) {}",
                answer.status.as_u16(),
                String::from_utf8_lossy(&answer.body)
            )));
        }
        Ok(tonic::Response::new(pb::InvokeActorResponse {
            data: answer.body.into(),
        }))
    }

    async fn get_actor_state(
        &self,
        request: tonic::Request<pb::GetActorStateRequest>,
    ) -> Reply<pb::GetActorStateResponse> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let data = actors::runtime(&self.node)?
            .get_state(&ctx, &req.actor_type, &req.actor_id, &req.key)
            .await
            .map_err(Error::from)?;
        Ok(tonic::Response::new(pb::GetActorStateResponse {
            data: data.map(Vec::from).unwrap_or_default(),
            metadata: Default::default(),
        }))
    }

    async fn execute_actor_state_transaction(
        &self,
        request: tonic::Request<pb::ExecuteActorStateTransactionRequest>,
    ) -> Reply<Empty> {
        let ctx = context(request.metadata());
        let req = request.into_inner();
        let ops = req
            .operations
            .into_iter()
            .map(|mut op| {
                let value = op.value.map(|v| Bytes::from(v.value)).unwrap_or_default();
                let ttl = op.metadata.remove("ttlInSeconds");
                ActorOp::new(&op.operation_type, op.key, value, ttl)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::from)?;
        actors::runtime(&self.node)?
            .transact_state(&ctx, &req.actor_type, &req.actor_id, ops)
            .await
            .map_err(Error::from)?;
        Ok(tonic::Response::new(()))
    }

    async fn register_actor_timer(
        &self,
        request: tonic::Request<pb::RegisterActorTimerRequest>,
    ) -> Reply<Empty> {
        let req = request.into_inner();
        let spec = TimerSpec {
            due_time: req.due_time,
            period: req.period,
            ttl: req.ttl,
            callback: req.callback,
            data: json_data(req.data),
        };
        actors::runtime(&self.node)?
            .register_timer(&req.actor_type, &req.actor_id, &req.name, spec)
            .map_err(Error::from)?;
        Ok(tonic::Response::new(()))
    }

    async fn unregister_actor_timer(
        &self,
        request: tonic::Request<pb::UnregisterActorTimerRequest>,
    ) -> Reply<Empty> {
        let req = request.into_inner();
        actors::runtime(&self.node)?
            .delete_timer(&req.actor_type, &req.actor_id, &req.name)
            .map_err(Error::from)?;
        Ok(tonic::Response::new(()))
    }

    async fn register_actor_reminder(
        &self,
        request: tonic::Request<pb::RegisterActorReminderRequest>,
    ) -> Reply<Empty> {
        let req = request.into_inner();
        let spec = ReminderSpec {
            due_time: req.due_time,
            period: req.period,
            ttl: req.ttl,
            data: json_data(req.data),
            overwrite: req.overwrite.unwrap_or(true),
        };
        actors::runtime(&self.node)?
            .register_reminder(&req.actor_type, &req.actor_id, &req.name, spec)
            .await
            .map_err(Error::from)?;
        Ok(tonic::Response::new(()))
    }

    async fn unregister_actor_reminder(
        &self,
        request: tonic::Request<pb::UnregisterActorReminderRequest>,
    ) -> Reply<Empty> {
        let req = request.into_inner();
        actors::runtime(&self.node)?
            .delete_reminder(&req.actor_type, &req.actor_id, &req.name)
            .await
            .map_err(Error::from)?;
        Ok(tonic::Response::new(()))
    }

    async fn get_actor_timer(
        &self,
        request: tonic::Request<protos::GetActorTimerRequest>,
    ) -> Reply<protos::GetActorTimerResponse> {
        let req = request.into_inner();
        let timer = actors::runtime(&self.node)?
            .get_timer(&req.actor_type, &req.actor_id, &req.name)
            .map_err(Error::from)?;
        let text = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        Ok(tonic::Response::new(protos::GetActorTimerResponse {
            actor_type: req.actor_type,
            actor_id: req.actor_id,
            due_time: text(&timer.due_time),
            period: text(&timer.period),
            ttl: text(&timer.ttl),
            callback: text(&timer.callback),
            data: timer.data.as_ref().map(|d| prost_types::Any {
                type_url: String::new(),
                value: d.get().as_bytes().to_vec(),
            }),
        }))
    }

    async fn start_workflow_alpha1(
        &self,
        request: tonic::Request<pb::StartWorkflowRequest>,
    ) -> Reply<pb::StartWorkflowResponse> {
        self.start_workflow_beta1(request).await
    }

    async fn get_workflow_alpha1(
        &self,
        request: tonic::Request<pb::GetWorkflowRequest>,
    ) -> Reply<pb::GetWorkflowResponse> {
        self.get_workflow_beta1(request).await
    }

    async fn purge_workflow_alpha1(
        &self,
        request: tonic::Request<pb::PurgeWorkflowRequest>,
    ) -> Reply<Empty> {
        self.purge_workflow_beta1(request).await
    }

    async fn terminate_workflow_alpha1(
        &self,
        request: tonic::Request<pb::TerminateWorkflowRequest>,
    ) -> Reply<Empty> {
        self.terminate_workflow_beta1(request).await
    }

    async fn pause_workflow_alpha1(
        &self,
        request: tonic::Request<pb::PauseWorkflowRequest>,
    ) -> Reply<Empty> {
        self.pause_workflow_beta1(request).await
    }

    async fn resume_workflow_alpha1(
        &self,
        request: tonic::Request<pb::ResumeWorkflowRequest>,
    ) -> Reply<Empty> {
        self.resume_workflow_beta1(request).await
    }

    async fn raise_event_workflow_alpha1(
        &self,
        request: tonic::Request<pb::RaiseEventWorkflowRequest>,
    ) -> Reply<Empty> {
        self.raise_event_workflow_beta1(request).await
    }

    async fn start_workflow_beta1(
        &self,
        request: tonic::Request<pb::StartWorkflowRequest>,
    ) -> Reply<pb::StartWorkflowResponse> {
        let r = request.into_inner();
        let engine = &self.node.workflows;
        let instance_id = workflows::start(
            engine,
            &r.workflow_component,
            &r.workflow_name,
            &r.instance_id,
            &r.input,
            &r.options,
        )
        .await?;
        Ok(tonic::Response::new(pb::StartWorkflowResponse {
            instance_id,
        }))
    }

    async fn get_workflow_beta1(
        &self,
        request: tonic::Request<pb::GetWorkflowRequest>,
    ) -> Reply<pb::GetWorkflowResponse> {
        let r = request.into_inner();
        let w = workflows::get(&self.node.workflows, &r.workflow_component, &r.instance_id).await?;
        Ok(tonic::Response::new(pb::GetWorkflowResponse {
            instance_id: w.instance_id,
            workflow_name: w.workflow_name,
            created_at: w.created_at,
            last_updated_at: w.last_updated_at,
            runtime_status: w.runtime_status,
            properties: w.properties,
        }))
    }

    async fn purge_workflow_beta1(
        &self,
        request: tonic::Request<pb::PurgeWorkflowRequest>,
    ) -> Reply<Empty> {
        let r = request.into_inner();
        workflows::purge(&self.node.workflows, &r.workflow_component, &r.instance_id).await?;
        Ok(tonic::Response::new(()))
    }

    async fn terminate_workflow_beta1(
        &self,
        request: tonic::Request<pb::TerminateWorkflowRequest>,
    ) -> Reply<Empty> {
        let r = request.into_inner();
        self.change_workflow(
            &r.workflow_component,
            &r.instance_id,
            workflows::Change::Terminate,
        )
        .await
    }

    async fn pause_workflow_beta1(
        &self,
        request: tonic::Request<pb::PauseWorkflowRequest>,
    ) -> Reply<Empty> {
        let r = request.into_inner();
        self.change_workflow(
            &r.workflow_component,
            &r.instance_id,
            workflows::Change::Pause,
        )
        .await
    }

    async fn resume_workflow_beta1(
        &self,
        request: tonic::Request<pb::ResumeWorkflowRequest>,
    ) -> Reply<Empty> {
        let r = request.into_inner();
        self.change_workflow(
            &r.workflow_component,
            &r.instance_id,
            workflows::Change::Resume,
        )
        .await
    }

    async fn raise_event_workflow_beta1(
        &self,
        request: tonic::Request<pb::RaiseEventWorkflowRequest>,
    ) -> Reply<Empty> {
        let r = request.into_inner();
        let change = workflows::Change::Raise {
            event: &r.event_name,
            data: &r.event_data,
        };
        self.change_workflow(&r.workflow_component, &r.instance_id, change)
            .await
    }

    async fn get_actor_reminder(
        &self,
        request: tonic::Request<pb::GetActorReminderRequest>,
    ) -> Reply<pb::GetActorReminderResponse> {
        let req = request.into_inner();
        let info = actors::runtime(&self.node)?
            .get_reminder(&req.actor_type, &req.actor_id, &req.name)
            .await
            .map_err(Error::from)?;
        let text = |s: String| Some(s).filter(|s| !s.is_empty());
        Ok(tonic::Response::new(pb::GetActorReminderResponse {
            actor_type: info.actor_type,
            actor_id: info.actor_id,
            due_time: text(info.due_time),
            period: text(info.period),
            data: info.data.map(|d| prost_types::Any {
                type_url: String::new(),
                value: d.get().as_bytes().to_vec(),
            }),
            ttl: text(info.ttl),
        }))
    }
}

impl Api {
    async fn change_workflow(
        &self,
        component: &str,
        id: &str,
        change: workflows::Change<'_>,
    ) -> Reply<Empty> {
        workflows::change(&self.node.workflows, component, id, change).await?;
        Ok(tonic::Response::new(()))
    }
}

/// Timer and reminder data given as bytes, kept as the JSON the HTTP API
/// would have received: the bytes themselves when they are JSON, else a JSON
/// string of their base64 form.
fn json_data(bytes: Vec<u8>) -> Option<Box<serde_json::value::RawValue>> {
    if bytes.is_empty() {
        return None;
    }
    serde_json::from_slice(&bytes).ok().or_else(|| {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        serde_json::value::to_raw_value(&text).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_trace_context() {
        let mut b = vec![0, 0];
        b.extend(1..=16u8);
        b.push(1);
        b.extend(17..=24u8);
        b.extend([2, 1]);
        assert_eq!(
            traceparent_from_binary(&b).as_deref(),
            Some("00-0102030405060708090a0b0c0d0e0f10-1112131415161718-01")
        );
        assert_eq!(traceparent_from_binary(&[1, 2, 3]), None);
    }

    #[tokio::test]
    async fn a_request_message_is_read_whole_and_within_the_limit() {
        use prost::Message;
        let request = pb::GetStateRequest {
            store_name: "statestore".into(),
            key: "k".into(),
            ..Default::default()
        };
        let mut framed = vec![0];
        framed.extend((request.encoded_len() as u32).to_be_bytes());
        framed.extend(request.encode_to_vec());
        let read: pb::GetStateRequest = read_message(Full::new(Bytes::from(framed.clone())))
            .await
            .unwrap();
        assert_eq!(read, request);

        framed[0] = 1;
        let compressed = read_message::<pb::GetStateRequest, _>(Full::new(Bytes::from(framed)));
        assert_eq!(
            compressed.await.unwrap_err().code(),
            tonic::Code::Unimplemented
        );

        // A body that would never end is cut off at the limit, not buffered.
        let endless = http_body_util::StreamBody::new(futures::stream::repeat_with(|| {
            Ok::<_, Infallible>(http_body::Frame::data(Bytes::from(vec![0; 1 << 16])))
        }));
        let huge = read_message::<pb::GetStateRequest, _>(endless).await;
        assert_eq!(huge.unwrap_err().code(), tonic::Code::ResourceExhausted);
    }
}

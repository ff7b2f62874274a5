//! The gRPC app channel: `AppCallback`, `AppCallbackHealthCheck`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use jetway_protos::common;
use jetway_protos::runtime as pb;
use pb::app_callback_alpha_client::AppCallbackAlphaClient;
use pb::app_callback_client::AppCallbackClient;
use pb::app_callback_health_check_client::AppCallbackHealthCheckClient;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::value::RawValue;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::{Code, Status};

use super::{API_TOKEN_HEADER, AppError, AppResponse};
use jetway_blocks::pubsub::cloudevent;
use jetway_blocks::pubsub::subscriber::{Batch, Event, Outcome};
use jetway_blocks::pubsub::{Bulk, Rule, Subscription};

/// How long opening a connection to a gRPC server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type SendRequest = hyper::client::conn::http2::SendRequest<tonic::body::Body>;

/// An HTTP/2 client for gRPC services (hyper): one connection per server
/// address, opened on first use and reopened once closed, which carries every
/// call to that address. Keepalive pings find a peer that went away.
#[derive(Clone, Default)]
pub struct GrpcChannel {
    connections: Arc<Mutex<HashMap<String, SendRequest>>>,
}

pub fn grpc_channel() -> GrpcChannel {
    GrpcChannel::default()
}

impl GrpcChannel {
    async fn connect(&self, address: String) -> Result<SendRequest, Status> {
        let unavailable = |e: &dyn std::fmt::Display| {
            Status::unavailable(format!("cannot connect to {address}: {e}"))
        };
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&address))
            .await
            .map_err(|e| unavailable(&e))?
            .map_err(|e| unavailable(&e))?;
        // Small requests go out at once.
        let _ = tcp.set_nodelay(true);
        let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| unavailable(&e))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "gRPC connection ended.");
            }
        });
        self.connections
            .lock()
            .expect("not poisoned")
            .insert(address, send.clone());
        Ok(send)
    }
}

impl tower_service::Service<http::Request<tonic::body::Body>> for GrpcChannel {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = Status;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Status>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Status>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let address = request.uri().authority().map_or("", |a| a.as_str());
        let open = self
            .connections
            .lock()
            .expect("not poisoned")
            .get(address)
            .filter(|c| !c.is_closed())
            .cloned();
        // The address is copied only when a connection must be opened.
        let open = open.ok_or_else(|| address.to_owned());
        let channel = self.clone();
        Box::pin(async move {
            let mut send = match open {
                Ok(send) => send,
                Err(address) => channel.connect(address).await?,
            };
            send.send_request(request)
                .await
                .map_err(|e| Status::unavailable(e.to_string()))
        })
    }
}

/// The largest message read from a gRPC app unless the node's body limit is
/// larger (tonic's default is 4 MiB).
const MIN_APP_MESSAGE: usize = 16 << 20;

/// A gRPC client for the app, cheap to clone.
#[derive(Clone)]
pub struct GrpcApp {
    channel: GrpcChannel,
    origin: http::Uri,
    address: String,
    port: u16,
    /// `APP_API_TOKEN`, sent on every call.
    token: Option<AsciiMetadataValue>,
    /// The largest message read from the app.
    max_body: usize,
}

impl GrpcApp {
    pub fn new(address: &str, port: u16, token: Option<&str>, max_body: usize) -> GrpcApp {
        let origin = format!("http://{address}:{port}")
            .parse()
            .expect("settings checked the address is a URI host");
        GrpcApp {
            channel: grpc_channel(),
            origin,
            address: address.to_owned(),
            port,
            token: token.and_then(|t| t.parse().ok()),
            max_body: max_body.max(MIN_APP_MESSAGE),
        }
    }

    /// An `AppCallback` client that reads messages up to the node's limit.
    fn callback(&self) -> AppCallbackClient<GrpcChannel> {
        AppCallbackClient::with_origin(self.channel.clone(), self.origin.clone())
            .max_decoding_message_size(self.max_body)
            .max_encoding_message_size(usize::MAX)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    fn request<T>(&self, message: T, metadata: MetadataMap) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = metadata;
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert(API_TOKEN_HEADER, token.clone());
        }
        request
    }

    /// Calls `OnInvoke`. The answer is put in HTTP terms: an error status
    /// becomes the matching HTTP status with the gRPC status as JSON, and
    /// `grpc-status`/`grpc-message` headers so a gRPC caller gets it unchanged.
    pub async fn invoke(
        &self,
        verb: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<AppResponse, AppError> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let message = common::InvokeRequest {
            method: path.trim_start_matches('/').to_owned(),
            data: Some(prost_types::Any {
                type_url: String::new(),
                value: body.into(),
            }),
            content_type,
            http_extension: Some(common::HttpExtension {
                verb: verb_of(&verb) as i32,
                querystring: query.to_owned(),
            }),
        };
        let request = self.request(message, to_metadata(&headers));
        let mut client = self.callback();
        match client.on_invoke(request).await {
            Ok(response) => {
                let (metadata, response, _) = response.into_parts();
                let mut headers = from_metadata(metadata);
                if let Ok(v) = HeaderValue::from_str(&response.content_type)
                    && !response.content_type.is_empty()
                {
                    headers.insert(http::header::CONTENT_TYPE, v);
                }
                let data = response.data.unwrap_or_default();
                Ok(AppResponse {
                    status: StatusCode::OK,
                    headers,
                    body: data.value.into(),
                    type_url: Some(data.type_url).filter(|t| !t.is_empty()),
                })
            }
            Err(status) => Ok(failed_invocation(&status)),
        }
    }

    /// Calls `OnTopicEvent` and reads the app's status.
    pub async fn deliver(&self, event: &Event<'_>) -> Outcome {
        let message = match topic_event(event) {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(%error, topic = %event.topic, "Event is not a JSON CloudEvent; not delivered.");
                return Outcome::Retry;
            }
        };
        let mut metadata = MetadataMap::new();
        if let Some(t) = event.traceparent.and_then(|t| t.parse().ok()) {
            metadata.insert("traceparent", t);
        }
        let mut client = self.callback();
        match client.on_topic_event(self.request(message, metadata)).await {
            Ok(r) => outcome(r.into_inner().status, event.topic),
            // An app that takes no topic events cannot take this one: daprd acks.
            Err(s) if s.code() == Code::Unimplemented => {
                tracing::warn!(topic = %event.topic, "The app does not implement OnTopicEvent; event dropped.");
                Outcome::Ack
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), topic = %event.topic, "Delivery to the app failed; will retry.");
                Outcome::Retry
            }
        }
    }

    /// Calls `OnBulkTopicEvent`, or `AppCallbackAlpha.OnBulkTopicEventAlpha1`
    /// for apps that only have that, and reads the per-entry statuses; an
    /// entry the app leaves out is retried.
    pub async fn deliver_batch(&self, batch: &Batch<'_>) -> Vec<Outcome> {
        use pb::topic_event_bulk_request_entry::Event as BulkEvent;
        let entries = batch
            .entries
            .iter()
            .filter_map(|(id, data)| {
                let e = topic_event(&batch.event(data)).ok()?;
                Some(pb::TopicEventBulkRequestEntry {
                    entry_id: id.clone(),
                    content_type: cloudevent::CONTENT_TYPE.into(),
                    metadata: Default::default(),
                    event: Some(BulkEvent::CloudEvent(pb::TopicEventCeRequest {
                        id: e.id,
                        source: e.source,
                        r#type: e.r#type,
                        spec_version: e.spec_version,
                        data_content_type: e.data_content_type,
                        data: e.data,
                        extensions: e.extensions,
                    })),
                })
            })
            .collect();
        let request = pb::TopicEventBulkRequest {
            id: uuid::Uuid::new_v4().to_string(),
            entries,
            metadata: Default::default(),
            topic: batch.topic.to_owned(),
            pubsub_name: batch.pubsub.to_owned(),
            r#type: "com.dapr.event.sent.bulk".into(),
            path: batch.path.to_owned(),
        };
        let mut client = self.callback();
        let mut answer = client
            .on_bulk_topic_event(self.request(request.clone(), MetadataMap::new()))
            .await;
        if matches!(&answer, Err(s) if s.code() == Code::Unimplemented) {
            let mut alpha =
                AppCallbackAlphaClient::with_origin(self.channel.clone(), self.origin.clone());
            // Deprecated in the protos, and still what the JavaScript SDK serves.
            #[allow(deprecated)]
            let alpha_answer = alpha
                .on_bulk_topic_event_alpha1(self.request(request, MetadataMap::new()))
                .await;
            answer = alpha_answer;
        }
        let statuses = match answer {
            Ok(r) => r.into_inner().statuses,
            Err(s) if s.code() == Code::Unimplemented => {
                tracing::warn!(topic = %batch.topic, "The app does not implement bulk topic events; events dropped.");
                return vec![Outcome::Ack; batch.entries.len()];
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), topic = %batch.topic, "Bulk delivery to the app failed; will retry.");
                return vec![Outcome::Retry; batch.entries.len()];
            }
        };
        batch
            .entries
            .iter()
            .map(
                |(id, _)| match statuses.iter().find(|s| &s.entry_id == id) {
                    Some(s) => outcome(s.status, batch.topic),
                    None => Outcome::Retry,
                },
            )
            .collect()
    }

    /// Asks `ListTopicSubscriptions`, retrying briefly while the app starts.
    pub async fn subscriptions(&self) -> Vec<Subscription> {
        let mut client = self.callback();
        for attempt in 0..5 {
            match client
                .list_topic_subscriptions(self.request((), MetadataMap::new()))
                .await
            {
                Ok(r) => {
                    return r
                        .into_inner()
                        .subscriptions
                        .into_iter()
                        .map(subscription)
                        .collect();
                }
                Err(s) if s.code() == Code::Unimplemented => return Vec::new(),
                Err(status) => {
                    tracing::debug!(%status, attempt, "ListTopicSubscriptions failed; retrying.");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        tracing::warn!("ListTopicSubscriptions kept failing; no programmatic subscriptions.");
        Vec::new()
    }

    /// The input bindings the app takes (`ListInputBindings`).
    pub async fn input_bindings(&self) -> Vec<String> {
        let mut client = self.callback();
        match client
            .list_input_bindings(self.request((), MetadataMap::new()))
            .await
        {
            Ok(r) => r.into_inner().bindings,
            Err(status) => {
                tracing::debug!(%status, "ListInputBindings failed; no input bindings.");
                Vec::new()
            }
        }
    }

    /// Calls `OnBindingEvent`; the app's data, or why it failed.
    pub async fn binding_event(
        &self,
        name: &str,
        event: jetway_blocks::bindings::Event,
    ) -> Result<Bytes, jetway_blocks::bindings::Refused> {
        let message = pb::BindingEventRequest {
            name: name.to_owned(),
            data: event.data.into(),
            metadata: event.metadata.into_iter().collect(),
        };
        let mut client = self.callback();
        match client
            .on_binding_event(self.request(message, MetadataMap::new()))
            .await
        {
            Ok(r) => Ok(r.into_inner().data.into()),
            Err(status) => Err(jetway_blocks::bindings::Refused(format!(
                "the app answered {:?}: {}",
                status.code(),
                status.message()
            ))),
        }
    }

    /// Calls `OnJobEvent`, or `OnJobEventAlpha1` when the app serves only that
    /// (daprd's callbacks for job triggers); `NotFound` counts as taken, as
    /// daprd counts it.
    pub async fn job_event(
        &self,
        name: &str,
        data: &jetway_blocks::jobs::Data,
    ) -> Result<(), String> {
        let message = pb::JobEventRequest {
            name: name.to_owned(),
            data: Some(prost_types::Any {
                type_url: data.type_url.clone(),
                value: data.value.to_vec(),
            }),
            method: format!("job/{name}"),
            content_type: data.type_url.clone(),
            http_extension: Some(common::HttpExtension {
                verb: common::http_extension::Verb::Post.into(),
                querystring: String::new(),
            }),
        };
        let mut client = self.callback();
        let mut answer = client
            .on_job_event(self.request(message.clone(), MetadataMap::new()))
            .await
            .map(drop);
        if answer
            .as_ref()
            .is_err_and(|s| s.code() == tonic::Code::Unimplemented)
        {
            // Apps built before the stable callback serve only the alpha one.
            let mut alpha =
                AppCallbackAlphaClient::with_origin(self.channel.clone(), self.origin.clone());
            #[allow(deprecated)]
            let called = alpha.on_job_event_alpha1(self.request(message, MetadataMap::new()));
            answer = called.await.map(drop);
        }
        match answer {
            Ok(()) => Ok(()),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(()),
            Err(status) => Err(format!(
                "the app answered {:?}: {}",
                status.code(),
                status.message()
            )),
        }
    }

    /// Healthy when `AppCallbackHealthCheck.HealthCheck` succeeds.
    pub async fn is_healthy(&self) -> bool {
        let mut client =
            AppCallbackHealthCheckClient::with_origin(self.channel.clone(), self.origin.clone());
        client
            .health_check(self.request((), MetadataMap::new()))
            .await
            .is_ok()
    }
}

fn verb_of(verb: &Method) -> common::http_extension::Verb {
    use common::http_extension::Verb;
    match *verb {
        Method::GET => Verb::Get,
        Method::HEAD => Verb::Head,
        Method::POST => Verb::Post,
        Method::PUT => Verb::Put,
        Method::DELETE => Verb::Delete,
        Method::CONNECT => Verb::Connect,
        Method::OPTIONS => Verb::Options,
        Method::TRACE => Verb::Trace,
        Method::PATCH => Verb::Patch,
        _ => Verb::None,
    }
}

/// A gRPC app's error, as an HTTP answer.
fn failed_invocation(status: &Status) -> AppResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("grpc-status", HeaderValue::from(status.code() as i32));
    if let Ok(m) = HeaderValue::from_str(&percent_encode(status.message())) {
        headers.insert("grpc-message", m);
    }
    let body = serde_json::json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": [],
    });
    AppResponse::new(
        crate::http_status(status.code()),
        headers,
        body.to_string().into(),
    )
}

fn outcome(status: i32, topic: &str) -> Outcome {
    use pb::topic_event_response::TopicEventResponseStatus as S;
    match S::try_from(status) {
        Ok(S::Success) => Outcome::Ack,
        Ok(S::Retry) => Outcome::Retry,
        Ok(S::Drop) => Outcome::from_status("DROP", topic),
        Err(_) => Outcome::from_status("unknown", topic),
    }
}

fn subscription(s: pb::TopicSubscription) -> Subscription {
    let routes = s.routes.unwrap_or_default();
    let mut rules: Vec<Rule> = routes
        .rules
        .into_iter()
        .map(|r| Rule {
            matches: r.r#match,
            path: r.path,
        })
        .collect();
    // Without a default route, events reach the app with an empty path.
    rules.push(Rule {
        matches: String::new(),
        path: routes.default,
    });
    Subscription {
        name: format!("{}/{}", s.pubsub_name, s.topic),
        pubsub: s.pubsub_name,
        topic: s.topic,
        rules,
        metadata: s.metadata.into_iter().collect(),
        dead_letter_topic: Some(s.dead_letter_topic).filter(|t| !t.is_empty()),
        scopes: Vec::new(),
        bulk: s.bulk_subscribe.and_then(|b| {
            Bulk::new(
                b.enabled,
                b.max_messages_count.into(),
                b.max_await_duration_ms.into(),
            )
        }),
    }
}

/// HTTP headers as gRPC metadata, without the ones HTTP/2 or gRPC own.
pub fn to_metadata(headers: &HeaderMap) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    for (name, value) in headers {
        if is_transport_header(name.as_str()) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            AsciiMetadataKey::from_bytes(name.as_str().as_bytes()),
            AsciiMetadataValue::try_from(value.as_bytes()),
        ) {
            metadata.append(k, v);
        }
    }
    metadata
}

/// gRPC metadata as HTTP headers: text values, without what belongs to HTTP/2
/// or gRPC itself (`content-type: application/grpc`, `grpc-*`, `te`).
pub fn from_metadata(metadata: MetadataMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in metadata.into_headers() {
        if let Some(name) = name
            && !is_transport_header(name.as_str())
            && name != http::header::USER_AGENT
        {
            headers.append(name, value);
        }
    }
    headers
}

/// Headers that belong to one HTTP/2 or gRPC hop, never to the call.
fn is_transport_header(name: &str) -> bool {
    name.ends_with("-bin")
        || name.starts_with("grpc-")
        || matches!(
            name,
            "content-type" | "content-length" | "host" | "connection" | "te" | "keep-alive"
        )
}

/// The `TopicEventRequest` for a CloudEvent: its attributes as fields, `data`
/// as bytes (text for text, JSON for JSON, decoded `data_base64`), and the
/// other attributes as extensions.
pub fn topic_event(event: &Event<'_>) -> Result<pb::TopicEventRequest, String> {
    let mut fields: HashMap<String, Box<RawValue>> =
        serde_json::from_slice(&event.data).map_err(|e| e.to_string())?;
    let mut text = |name: &str| -> String {
        fields
            .remove(name)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
            .unwrap_or_default()
    };
    let mut request = pb::TopicEventRequest {
        id: text("id"),
        source: text("source"),
        r#type: text("type"),
        spec_version: text("specversion"),
        data_content_type: text("datacontenttype"),
        topic: event.topic.to_owned(),
        pubsub_name: event.pubsub.to_owned(),
        path: event.path.to_owned(),
        ..Default::default()
    };
    let base64 = text("data_base64");
    request.data = match fields.remove("data") {
        _ if !base64.is_empty() => base64::engine::general_purpose::STANDARD
            .decode(base64)
            .map_err(|e| format!("data_base64: {e}"))?,
        None => Vec::new(),
        Some(raw) => match serde_json::from_str::<String>(raw.get()) {
            Ok(s) if !cloudevent::is_json(&request.data_content_type) => s.into_bytes(),
            _ => raw.get().as_bytes().to_vec(),
        },
    };
    let extensions = fields
        .into_iter()
        .filter_map(|(k, v)| Some((k, to_prost(serde_json::from_str(v.get()).ok()?))))
        .collect();
    request.extensions = Some(prost_types::Struct { fields: extensions });
    Ok(request)
}

/// The type of the `Any` that carries a `google.protobuf.Value`.
pub(crate) const VALUE_TYPE: &str = "type.googleapis.com/google.protobuf.Value";

pub(crate) fn to_prost(v: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    use serde_json::Value as J;
    let kind = match v {
        J::Null => Kind::NullValue(0),
        J::Bool(b) => Kind::BoolValue(b),
        J::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        J::String(s) => Kind::StringValue(s),
        J::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(to_prost).collect(),
        }),
        J::Object(o) => Kind::StructValue(prost_types::Struct {
            fields: o.into_iter().map(|(k, v)| (k, to_prost(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A `google.protobuf.Value` as JSON.
pub(crate) fn from_prost(v: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    use serde_json::Value as J;
    match v.kind {
        None | Some(Kind::NullValue(_)) => J::Null,
        Some(Kind::BoolValue(b)) => J::Bool(b),
        // Whole numbers print as integers, as protojson prints them.
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => {
            J::from(n as i64)
        }
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n).map_or(J::Null, J::Number),
        Some(Kind::StringValue(s)) => J::String(s),
        Some(Kind::ListValue(l)) => J::Array(l.values.into_iter().map(from_prost).collect()),
        Some(Kind::StructValue(s)) => J::Object(
            s.fields
                .into_iter()
                .map(|(k, v)| (k, from_prost(v)))
                .collect(),
        ),
    }
}

/// What a `grpc-message` value escapes, as the gRPC wire spec asks: controls
/// and `%` (every byte beyond ASCII is escaped as well).
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// Percent-encodes a `grpc-message` value.
pub fn percent_encode(message: &str) -> String {
    utf8_percent_encode(message, GRPC_MESSAGE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_round_trip() {
        let m = "bad: 100% «wrong»\nline";
        let encoded = percent_encode(m);
        assert_eq!(encoded, "bad: 100%25 %C2%ABwrong%C2%BB%0Aline");
        assert_eq!(
            percent_encoding::percent_decode_str(&encoded).decode_utf8_lossy(),
            m
        );
    }

    #[test]
    fn cloudevents_become_topic_events() {
        let event = |data: &str| Event {
            pubsub: "ps",
            topic: "orders",
            path: "/o",
            data: Bytes::from(data.to_owned()),
            traceparent: None,
        };
        let json = topic_event(&event(
            r#"{"id":"1","type":"t","specversion":"1.0","datacontenttype":"application/json","data":{"n": 1.50},"traceid":"x","topic":"orders"}"#,
        ))
        .unwrap();
        assert_eq!(json.data, br#"{"n": 1.50}"#);
        assert_eq!(json.path, "/o");
        assert_eq!(json.r#type, "t");
        assert!(json.extensions.unwrap().fields.contains_key("traceid"));
        let text = topic_event(&event(r#"{"datacontenttype":"text/plain","data":"hi"}"#)).unwrap();
        assert_eq!(text.data, b"hi");
        let bin = topic_event(&event(r#"{"data_base64":"AAE="}"#)).unwrap();
        assert_eq!(bin.data, [0, 1]);
    }
}

//! The HTTP app channel.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::value::RawValue;

use super::{API_TOKEN_HEADER, AppError, AppResponse};
use jetway_blocks::pubsub::Subscription;
use jetway_blocks::pubsub::cloudevent;
use jetway_blocks::pubsub::subscriber::{Batch, Event, Outcome};
use jetway_blocks::pubsub::subscriptions;

/// The largest response body read from the app unless the node's body limit
/// is larger; a larger one fails the call instead of growing the sidecar.
const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;
/// How long connecting to the app may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for the app, pooled and cheap to clone.
#[derive(Clone)]
pub struct HttpApp {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    address: String,
    port: u16,
    /// `APP_API_TOKEN`, sent on every call.
    token: Option<HeaderValue>,
    /// The largest response body read.
    max_response: usize,
}

impl HttpApp {
    pub fn new(address: &str, port: u16, token: Option<&str>, max_body: usize) -> HttpApp {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        HttpApp {
            client,
            base: format!("http://{address}:{port}"),
            address: address.to_owned(),
            port,
            token: token.and_then(|t| HeaderValue::from_str(t).ok()),
            max_response: max_body.max(MAX_RESPONSE_BODY),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends a request to `path_and_query` (which starts with `/`).
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<AppResponse, AppError> {
        let uri = format!("{}{}", self.base, path_and_query);
        if let Some(token) = &self.token {
            headers.insert(API_TOKEN_HEADER, token.clone());
        }
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| AppError::Protocol(e.to_string()))?;
        *request.headers_mut() = headers;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| match e.is_connect() {
                true => AppError::Unreachable(format!("{e:?}")),
                false => AppError::Protocol(format!("{e:?}")),
            })?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, self.max_response)
            .collect()
            .await
            .map_err(|e| match e.is::<http_body_util::LengthLimitError>() {
                true => AppError::Protocol(format!(
                    "the app's response is larger than {} MiB",
                    self.max_response >> 20
                )),
                false => AppError::Unreachable(e.to_string()),
            })?
            .to_bytes();
        Ok(AppResponse::new(parts.status, parts.headers, body))
    }

    /// Healthy on a 2xx from `path`.
    pub async fn is_healthy(&self, path: &str) -> bool {
        let probe = self.call(Method::GET, path, HeaderMap::new(), Bytes::new());
        matches!(probe.await, Ok(r) if r.status.is_success())
    }

    /// Posts the event to the route's path and reads the app's answer.
    pub async fn deliver(&self, event: &Event<'_>) -> Outcome {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(cloudevent::CONTENT_TYPE),
        );
        if let Ok(v) = HeaderValue::from_str(event.pubsub) {
            headers.insert("pubsubname", v);
        }
        if let Some(v) = event
            .traceparent
            .filter(|t| !t.is_empty())
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            headers.insert("traceparent", v);
        }
        let path = if event.path.starts_with('/') {
            event.path.to_owned()
        } else {
            format!("/{}", event.path)
        };
        match self
            .call(Method::POST, &path, headers, event.data.clone())
            .await
        {
            Ok(r) => outcome(r.status, &r.body, event.topic),
            Err(error) => {
                tracing::warn!(%error, topic = %event.topic, "Delivery to the app failed; will retry.");
                Outcome::Retry
            }
        }
    }

    /// Posts a batch as Dapr's bulk message and reads the per-entry statuses;
    /// an entry the app leaves out is retried.
    pub async fn deliver_batch(&self, batch: &Batch<'_>) -> Vec<Outcome> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Entry<'a> {
            entry_id: &'a str,
            event: Box<RawValue>,
            content_type: &'static str,
            metadata: serde_json::Map<String, serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            statuses: Vec<EntryStatus>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct EntryStatus {
            entry_id: String,
            #[serde(default)]
            status: String,
        }
        let entries: Vec<Entry> = batch
            .entries
            .iter()
            .filter_map(|(id, event)| {
                let event = RawValue::from_string(String::from_utf8(event.to_vec()).ok()?).ok()?;
                Some(Entry {
                    entry_id: id,
                    event,
                    content_type: cloudevent::CONTENT_TYPE,
                    metadata: Default::default(),
                })
            })
            .collect();
        let body = serde_json::json!({
            "entries": entries,
            "id": uuid::Uuid::new_v4().to_string(),
            "metadata": { "pubsubName": batch.pubsub },
            "topic": batch.topic,
            "pubsubname": batch.pubsub,
            "type": "com.dapr.event.sent.bulk",
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/cloudevents-batch+json"),
        );
        let path = format!("/{}", batch.path.trim_start_matches('/'));
        let all = |outcome| vec![outcome; batch.entries.len()];
        let response = match self
            .call(Method::POST, &path, headers, body.to_string().into())
            .await
        {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, topic = %batch.topic, "Bulk delivery to the app failed; will retry.");
                return all(Outcome::Retry);
            }
        };
        if !response.status.is_success() {
            return all(outcome(response.status, b"", batch.topic));
        }
        let statuses = serde_json::from_slice::<Answer>(&response.body)
            .map(|a| a.statuses)
            .unwrap_or_default();
        batch
            .entries
            .iter()
            .map(
                |(id, _)| match statuses.iter().find(|s| &s.entry_id == id) {
                    Some(s) => Outcome::from_status(&s.status, batch.topic),
                    None => Outcome::Retry,
                },
            )
            .collect()
    }

    /// Asks `GET /dapr/subscribe`, retrying briefly while the app starts.
    pub async fn subscriptions(&self, app_id: &str) -> Vec<Subscription> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(app_id) {
            headers.insert("dapr-app-id", v);
        }
        for attempt in 0..5 {
            let answer = self
                .call(
                    Method::GET,
                    "/dapr/subscribe",
                    headers.clone(),
                    Bytes::new(),
                )
                .await;
            match answer {
                Ok(r) if r.status.is_success() => {
                    return subscriptions::parse(&r.body).unwrap_or_else(|error| {
                        tracing::error!(%error, "The app's /dapr/subscribe answer is not a subscription list; no programmatic subscriptions.");
                        Vec::new()
                    });
                }
                Ok(r) => {
                    if r.status != StatusCode::NOT_FOUND {
                        tracing::warn!(status = %r.status, "GET /dapr/subscribe failed; no programmatic subscriptions.");
                    }
                    return Vec::new();
                }
                Err(error) => {
                    tracing::debug!(%error, attempt, "GET /dapr/subscribe failed; retrying.");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Vec::new()
    }

    /// The app's actor configuration (`GET /dapr/config`); `None` when it hosts
    /// no actors (any answer but 200 means none, as in daprd).
    pub async fn actor_config(&self, app_id: &str) -> Option<Bytes> {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(app_id) {
            headers.insert("dapr-app-id", v);
        }
        for attempt in 0..5 {
            match self
                .call(Method::GET, "/dapr/config", headers.clone(), Bytes::new())
                .await
            {
                Ok(r) if r.status == StatusCode::OK => return Some(r.body),
                Ok(_) => return None,
                Err(error) => {
                    tracing::debug!(%error, attempt, "GET /dapr/config failed; retrying.");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        None
    }
}

#[derive(serde::Deserialize)]
struct AppStatus {
    #[serde(default)]
    status: String,
}

/// Dapr's reading of the app's reply to a delivery.
fn outcome(status: StatusCode, body: &[u8], topic: &str) -> Outcome {
    if status == StatusCode::NOT_FOUND {
        tracing::warn!(topic, "The app answered 404 to a delivery; dropped.");
        return Outcome::Drop;
    }
    if !status.is_success() {
        return Outcome::Retry;
    }
    match serde_json::from_slice::<AppStatus>(body) {
        Err(_) => Outcome::Ack,
        Ok(s) => Outcome::from_status(&s.status, topic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_answers() {
        let ok = StatusCode::OK;
        assert_eq!(outcome(ok, b"", "t"), Outcome::Ack);
        assert_eq!(outcome(ok, b"plain text", "t"), Outcome::Ack);
        assert_eq!(outcome(ok, br#"{"status":"SUCCESS"}"#, "t"), Outcome::Ack);
        assert_eq!(outcome(ok, br#"{"other":1}"#, "t"), Outcome::Ack);
        assert_eq!(outcome(ok, br#"{"status":"RETRY"}"#, "t"), Outcome::Retry);
        assert_eq!(outcome(ok, br#"{"status":"DROP"}"#, "t"), Outcome::Drop);
        assert_eq!(outcome(ok, br#"{"status":"MAYBE"}"#, "t"), Outcome::Retry);
        assert_eq!(outcome(StatusCode::NOT_FOUND, b"", "t"), Outcome::Drop);
        assert_eq!(
            outcome(StatusCode::INTERNAL_SERVER_ERROR, b"", "t"),
            Outcome::Retry
        );
    }
}

//! The app channel: how the sidecar calls its app over HTTP.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The header that carries API tokens.
pub const API_TOKEN_HEADER: &str = "dapr-api-token";

/// An HTTP client for the app, pooled and cheap to clone.
#[derive(Clone)]
pub struct AppChannel {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    address: String,
    port: u16,
    /// `APP_API_TOKEN`, sent on every call.
    token: Option<HeaderValue>,
}

/// The app's answer.
pub struct AppResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
#[error("calling the app: {0}")]
pub struct Error(String);

impl AppChannel {
    pub fn new(address: &str, port: u16, token: Option<&str>) -> AppChannel {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        AppChannel {
            client,
            base: format!("http://{address}:{port}"),
            address: address.to_owned(),
            port,
            token: token.and_then(|t| HeaderValue::from_str(t).ok()),
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
    ) -> Result<AppResponse, Error> {
        let uri = format!("{}{}", self.base, path_and_query);
        if let Some(token) = &self.token {
            headers.insert(API_TOKEN_HEADER, token.clone());
        }
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| Error(e.to_string()))?;
        *request.headers_mut() = headers;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| Error(format!("{e:?}")))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| Error(e.to_string()))?
            .to_bytes();
        Ok(AppResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Whether the app accepts TCP connections right now.
    pub async fn is_listening(&self) -> bool {
        let connect = tokio::net::TcpStream::connect((self.address.as_str(), self.port));
        matches!(
            tokio::time::timeout(Duration::from_millis(500), connect).await,
            Ok(Ok(_))
        )
    }

    /// Probes the app's health path: healthy on a 2xx within `timeout`.
    pub async fn is_healthy(&self, path: &str, timeout: Duration) -> bool {
        let probe = self.call(Method::GET, path, HeaderMap::new(), Bytes::new());
        matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(r)) if r.status.is_success())
    }
}

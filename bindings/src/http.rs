//! `bindings.http`: calls an HTTP endpoint (`url`, with the request's `path`
//! appended). The operation is the method (`create` is POST); metadata names
//! that start with a capital letter are sent as headers; the answer's status
//! and headers come back as response metadata.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::{Error, Metadata, Output, Request, Response};

pub const KEYS: &[&str] = &[
    "url",
    "responseTimeout",
    "maxResponseBodySize",
    "errorIfNot2XX",
    "securityToken",
    "securityTokenHeader",
    "MTLSRootCA",
];

/// The largest answer read by default (daprd's 100 MiB).
const MAX_BODY: u64 = 100 << 20;
/// Lowercase metadata sent on as headers: the trace context.
const FORWARDED: &[&str] = &["traceparent", "tracestate", "baggage"];

pub struct Http {
    client: reqwest::Client,
    url: String,
    max_body: u64,
    error_if_not_2xx: bool,
    token: Option<(HeaderName, HeaderValue)>,
}

impl Http {
    pub fn new(metadata: &Metadata) -> Result<Http, Error> {
        let url = metadata.required("url")?;
        reqwest::Url::parse(url).map_err(|e| Error::config("url", format!("'{url}': {e}")))?;
        let mut client = reqwest::Client::builder().connect_timeout(Duration::from_secs(15));
        if let Some(timeout) = metadata.duration("responseTimeout")? {
            client = client.timeout(timeout);
        }
        if let Some(pem) = metadata.get("MTLSRootCA") {
            let pem = std::fs::read(pem).unwrap_or_else(|_| pem.as_bytes().to_vec());
            let ca = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| Error::config("MTLSRootCA", format!("not a PEM certificate: {e}")))?;
            client = client.add_root_certificate(ca);
        }
        let token = match (
            metadata.get("securityTokenHeader"),
            metadata.get("securityToken"),
        ) {
            (Some(name), Some(value)) => Some((
                HeaderName::try_from(name)
                    .map_err(|e| Error::config("securityTokenHeader", e.to_string()))?,
                HeaderValue::try_from(value)
                    .map_err(|e| Error::config("securityToken", e.to_string()))?,
            )),
            _ => None,
        };
        Ok(Http {
            client: client
                .build()
                .map_err(|e| Error::config("url", e.to_string()))?,
            url: url.trim_end_matches('/').to_owned(),
            max_body: metadata.parse("maxResponseBodySize", MAX_BODY)?,
            error_if_not_2xx: metadata.flag("errorIfNot2XX", true)?,
            token,
        })
    }

    fn headers(&self, request: &Request, body: bool) -> Result<HeaderMap, Error> {
        let mut headers = HeaderMap::new();
        if body {
            headers.insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        headers.insert(
            "accept",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Some((name, value)) = &self.token {
            headers.insert(name.clone(), value.clone());
        }
        for (k, v) in &request.metadata {
            let capital = k.starts_with(|c: char| c.is_ascii_uppercase());
            if capital || FORWARDED.contains(&k.as_str()) {
                let name = HeaderName::try_from(k.as_str())
                    .map_err(|_| Error::BadRequest(format!("'{k}' is not a header name")))?;
                let value = HeaderValue::try_from(v.as_str()).map_err(|_| {
                    Error::BadRequest(format!("the value of {k} is not a header value"))
                })?;
                headers.insert(name, value);
            }
        }
        Ok(headers)
    }
}

#[async_trait::async_trait]
impl Output for Http {
    fn operations(&self) -> &'static [&'static str] {
        &[
            "create", "get", "head", "post", "put", "patch", "delete", "options", "trace",
        ]
    }

    async fn invoke(&self, request: Request) -> Result<Response, Error> {
        let method = match request.operation.as_str() {
            "create" => reqwest::Method::POST,
            op => reqwest::Method::from_bytes(op.to_ascii_uppercase().as_bytes())
                .map_err(|_| Error::BadRequest(format!("'{op}' is not an HTTP method")))?,
        };
        let url = match request.metadata.get("path") {
            Some(path) => format!("{}/{}", self.url, path.trim_start_matches('/')),
            None => self.url.clone(),
        };
        let body = matches!(
            method,
            reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
        );
        let mut call = self
            .client
            .request(method, &url)
            .headers(self.headers(&request, body)?);
        if body {
            call = call.body(request.data.clone());
        }
        let answer = call
            .send()
            .await
            .map_err(|e| Error::Backend(format!("{url}: {e}")))?;
        let status = answer.status();
        let mut metadata = BTreeMap::from([
            ("statusCode".to_owned(), status.as_u16().to_string()),
            ("status".to_owned(), status.to_string()),
        ]);
        for name in answer.headers().keys() {
            let values: Vec<&str> = answer
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            metadata.insert(name.to_string(), values.join(", "));
        }
        let error_if_not_2xx = match request.metadata.get("errorIfNot2XX") {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => self.error_if_not_2xx,
        };
        if error_if_not_2xx && !status.is_success() {
            return Err(Error::Backend(format!(
                "received status code {}",
                status.as_u16()
            )));
        }
        let mut data = Vec::new();
        let mut chunks = answer.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| Error::Backend(format!("{url}: {e}")))?;
            if (data.len() + chunk.len()) as u64 > self.max_body {
                // Never a silently cut answer.
                return Err(Error::Backend(format!(
                    "the response of {url} is larger than maxResponseBodySize ({} bytes)",
                    self.max_body
                )));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Response {
            data: Some(Bytes::from(data)),
            metadata,
        })
    }
}

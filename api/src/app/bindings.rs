//! Input binding events to the app: daprd's `OPTIONS` probe and
//! `POST /<route>` to an HTTP app, `ListInputBindings` and `OnBindingEvent`
//! to a gRPC app.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use jetway_blocks::bindings::{BindingApp, Event, Refused};

use super::AppChannel;

/// How long the app may take to say whether it takes a binding
/// (daprd's `--app-binding-options-timeout`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the app may take over one event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// An event's metadata as request headers (those that make valid ones).
fn event_headers(event: &Event) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in &event.metadata {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
        {
            headers.insert(name, value);
        }
    }
    headers
}

#[async_trait::async_trait]
impl BindingApp for AppChannel {
    async fn wants(&self, name: &str, route: &str) -> bool {
        let probe = async {
            match self {
                // daprd counts 405 as "takes it": the app routes POST only.
                AppChannel::Http(a) => a
                    .call(Method::OPTIONS, route, HeaderMap::new(), Bytes::new())
                    .await
                    .is_ok_and(|r| r.status.is_success() || r.status == 405),
                AppChannel::Grpc(a) => a.input_bindings().await.iter().any(|b| b == name),
            }
        };
        tokio::time::timeout(PROBE_TIMEOUT, probe)
            .await
            .unwrap_or(false)
    }

    async fn deliver(&self, name: &str, route: &str, event: Event) -> Result<Bytes, Refused> {
        let call = async {
            match self {
                AppChannel::Http(a) => {
                    let headers = event_headers(&event);
                    let r = a
                        .call(Method::POST, route, headers, event.data)
                        .await
                        .map_err(|e| Refused(e.to_string()))?;
                    if r.status.is_success() {
                        Ok(r.body)
                    } else {
                        Err(Refused(format!("the app answered {}", r.status)))
                    }
                }
                AppChannel::Grpc(a) => a.binding_event(name, event).await,
            }
        };
        tokio::time::timeout(EVENT_TIMEOUT, call)
            .await
            .unwrap_or_else(|_| {
                Err(Refused(format!(
                    "the app did not answer within {EVENT_TIMEOUT:?}"
                )))
            })
    }
}

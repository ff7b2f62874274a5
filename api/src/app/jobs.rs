//! Job triggers to the app: `POST /job/<name>` to an HTTP app,
//! `OnJobEventAlpha1` to a gRPC app, as daprd sends them.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, header};
use jetway_blocks::jobs::{Data, JobApp};

use super::AppChannel;
use super::grpc::{VALUE_TYPE, from_prost};

/// How long the app may take over one trigger.
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(60);

#[async_trait::async_trait]
impl JobApp for AppChannel {
    async fn trigger(&self, name: &str, data: &Data) -> Result<(), String> {
        let call = async {
            match self {
                AppChannel::Http(a) => {
                    let mut headers = HeaderMap::new();
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    let path = format!("/job/{}", super::path_segment(name));
                    let body = trigger_body(data);
                    let r = a
                        .call(Method::POST, &path, headers, body)
                        .await
                        .map_err(|e| e.to_string())?;
                    // daprd takes 404 as done: the app has no handler to retry.
                    match r.status.is_success() || r.status == http::StatusCode::NOT_FOUND {
                        true => Ok(()),
                        false => Err(format!("the app answered {}", r.status)),
                    }
                }
                AppChannel::Grpc(a) => a.job_event(name, data).await,
            }
        };
        tokio::time::timeout(TRIGGER_TIMEOUT, call)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {TRIGGER_TIMEOUT:?}")))
    }
}

/// The body an HTTP app gets for a trigger: JSON data as JSON, anything else
/// as its bytes, as daprd sends them.
pub(crate) fn trigger_body(data: &Data) -> bytes::Bytes {
    use prost::Message;
    if data.type_url == VALUE_TYPE
        && let Ok(v) = prost_types::Value::decode(data.value.as_ref())
    {
        return serde_json::to_vec(&from_prost(v))
            .unwrap_or_default()
            .into();
    }
    // What Go's bytes.TrimSpace trims (vertical tab included).
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = data
        .value
        .iter()
        .position(|b| !space(b))
        .unwrap_or(data.value.len());
    let end = data
        .value
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |e| e + 1);
    data.value.slice(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_bodies_as_daprd_sends_them() {
        let json = Data {
            type_url: VALUE_TYPE.into(),
            value: prost::Message::encode_to_vec(&crate::app::grpc::to_prost(
                serde_json::json!({"v": "x"}),
            ))
            .into(),
        };
        assert_eq!(trigger_body(&json), r#"{"v":"x"}"#);
        let string = Data {
            type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
            value: bytes::Bytes::from_static(b"\n\x0bhello world"),
        };
        assert_eq!(trigger_body(&string), "hello world");
        let raw = Data {
            type_url: String::new(),
            value: bytes::Bytes::from_static(br#"{"a":1}"#),
        };
        assert_eq!(trigger_body(&raw), r#"{"a":1}"#);
    }
}

//! CloudEvents 1.0 envelopes as Dapr builds them (structured JSON mode).
//!
//! The envelope is written with serde directly: JSON data is embedded as the
//! publisher's exact bytes (validated, never re-parsed into numbers).

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub const CONTENT_TYPE: &str = "application/cloudevents+json";
const DEFAULT_TYPE: &str = "com.dapr.event.sent";

/// What the publisher sent and where it goes.
pub struct Publish<'a> {
    pub app_id: &'a str,
    pub pubsub: &'a str,
    pub topic: &'a str,
    pub data: &'a [u8],
    /// The request's content type; `text/plain` when absent.
    pub content_type: Option<&'a str>,
    /// `metadata.cloudevent.*` overrides (`id`, `source`, `type`, `subject`, `traceparent`, ...).
    pub overrides: &'a BTreeMap<String, String>,
    pub traceparent: Option<&'a str>,
    pub tracestate: Option<&'a str>,
    /// RFC 3339 expiry, for `ttlInSeconds`.
    pub expiration: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    datacontenttype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    time: String,
    topic: &'a str,
    pubsubname: &'a str,
    traceid: &'a str,
    traceparent: &'a str,
    tracestate: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Data<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_base64: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Data<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

/// A content type without parameters, lower-cased (`Application/JSON; charset=x` → `application/json`).
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a content type carries JSON (`application/json`, `*+json`).
pub fn is_json(content_type: &str) -> bool {
    let essence = essence(content_type);
    essence == "application/json" || essence.ends_with("+json") || essence == "text/json"
}

fn is_text(content_type: &str) -> bool {
    let essence = essence(content_type);
    essence.starts_with("text/") || essence == "application/xml" || essence.ends_with("+xml")
}

/// Wraps a payload in Dapr's envelope. Returns the JSON and the event id.
pub fn wrap(p: &Publish<'_>) -> (Bytes, String) {
    let content_type = p
        .content_type
        .filter(|c| !c.is_empty())
        .unwrap_or("text/plain");
    let id = p
        .overrides
        .get("id")
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let traceparent = p
        .overrides
        .get("traceparent")
        .map(String::as_str)
        .or(p.traceparent)
        .unwrap_or("");
    let (data, data_base64) = if is_json(content_type) {
        match serde_json::from_slice::<&RawValue>(p.data) {
            Ok(raw) => (Some(Data::Json(raw)), None),
            Err(_) => match std::str::from_utf8(p.data) {
                Ok(text) => (Some(Data::Text(text)), None),
                Err(_) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(p.data)),
                ),
            },
        }
    } else if is_text(content_type) {
        match std::str::from_utf8(p.data) {
            Ok(text) => (Some(Data::Text(text)), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(p.data)),
            ),
        }
    } else {
        (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(p.data)),
        )
    };
    let envelope =
        Envelope {
            specversion: "1.0",
            id: &id,
            source: p.overrides.get("source").map(String::as_str).unwrap_or(
                if p.app_id.is_empty() {
                    "Dapr"
                } else {
                    p.app_id
                },
            ),
            kind: p
                .overrides
                .get("type")
                .map(String::as_str)
                .unwrap_or(DEFAULT_TYPE),
            datacontenttype: content_type,
            subject: p.overrides.get("subject").map(String::as_str),
            time: now_rfc3339(),
            topic: p.topic,
            pubsubname: p.pubsub,
            traceid: traceparent,
            traceparent,
            tracestate: p
                .overrides
                .get("tracestate")
                .map(String::as_str)
                .or(p.tracestate)
                .unwrap_or(""),
            expiration: p.expiration.as_deref(),
            data,
            data_base64,
        };
    let json = serde_json::to_vec(&envelope).expect("an envelope always serializes");
    (Bytes::from(json), id)
}

/// Completes a CloudEvent the publisher built itself (`application/cloudevents+json`):
/// fields are kept, `topic` and `pubsubname` are set, missing required ones filled.
/// Returns the JSON and the event id, if it has one.
pub fn complete(p: &Publish<'_>) -> Result<(Bytes, Option<String>), String> {
    let mut event: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(p.data)
        .map_err(|e| format!("the body is not a CloudEvent JSON object: {e}"))?;
    let set_default = |event: &mut serde_json::Map<String, serde_json::Value>, k: &str, v: &str| {
        event
            .entry(k)
            .or_insert_with(|| serde_json::Value::String(v.to_owned()));
    };
    set_default(&mut event, "specversion", "1.0");
    set_default(&mut event, "source", "Dapr");
    set_default(&mut event, "type", DEFAULT_TYPE);
    set_default(&mut event, "time", &now_rfc3339());
    if !event.contains_key("traceid") {
        let tp = p.traceparent.unwrap_or("");
        event.insert("traceid".into(), tp.into());
        event.insert("traceparent".into(), tp.into());
    }
    set_default(&mut event, "tracestate", p.tracestate.unwrap_or(""));
    if let Some(exp) = &p.expiration {
        set_default(&mut event, "expiration", exp);
    }
    event.insert("topic".into(), p.topic.into());
    event.insert("pubsubname".into(), p.pubsub.into());
    let id = event.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    Ok((
        Bytes::from(serde_json::to_vec(&event).expect("serializes")),
        id,
    ))
}

/// The few fields the subscriber side needs before delivering.
#[derive(Deserialize)]
pub struct Head<'a> {
    #[serde(borrow)]
    pub id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    pub expiration: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    pub traceparent: Option<std::borrow::Cow<'a, str>>,
}

/// Reads the head of a stored event; `None` if it is not a JSON object.
pub fn head(event: &[u8]) -> Option<Head<'_>> {
    serde_json::from_slice(event).ok()
}

/// Whether an event's `expiration` has passed.
pub fn expired(expiration: Option<&str>) -> bool {
    expiration
        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
        .is_some_and(|at| at < chrono::Utc::now())
}

/// Wraps bytes that arrived for a `rawPayload` subscription.
pub fn wrap_raw(pubsub: &str, topic: &str, data: &[u8]) -> Bytes {
    let event = serde_json::json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "specversion": "1.0",
        "datacontenttype": "application/octet-stream",
        "source": "Dapr",
        "type": DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "data_base64": base64::engine::general_purpose::STANDARD.encode(data),
    });
    Bytes::from(serde_json::to_vec(&event).expect("serializes"))
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish<'a>(
        data: &'a [u8],
        ct: Option<&'a str>,
        overrides: &'a BTreeMap<String, String>,
    ) -> Publish<'a> {
        Publish {
            app_id: "orders",
            pubsub: "pubsub",
            topic: "new",
            data,
            content_type: ct,
            overrides,
            traceparent: None,
            tracestate: None,
            expiration: None,
        }
    }

    fn parse(b: &Bytes) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn json_data_is_embedded_exactly() {
        let none = BTreeMap::new();
        let (json, id) = wrap(&publish(
            br#"{"n": 12345678901234567890, "x": 1.50}"#,
            Some("application/json"),
            &none,
        ));
        let text = std::str::from_utf8(&json).unwrap();
        assert!(
            text.contains(r#""data":{"n": 12345678901234567890, "x": 1.50}"#),
            "{text}"
        );
        let v = parse(&json);
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["source"], "orders");
        assert_eq!(v["type"], "com.dapr.event.sent");
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["topic"], "new");
        assert_eq!(v["pubsubname"], "pubsub");
    }

    #[test]
    fn text_binary_and_defaults() {
        let none = BTreeMap::new();
        let v = parse(&wrap(&publish(b"hello", None, &none)).0);
        assert_eq!(
            (v["datacontenttype"].as_str(), v["data"].as_str()),
            (Some("text/plain"), Some("hello"))
        );
        let v = parse(
            &wrap(&publish(
                &[0, 159, 146, 150],
                Some("application/octet-stream"),
                &none,
            ))
            .0,
        );
        assert_eq!(v["data_base64"], "AJ+Slg==");
        assert!(v.get("data").is_none());
    }

    #[test]
    fn overrides_apply() {
        let o: BTreeMap<String, String> = [("id", "fixed"), ("type", "t"), ("subject", "s")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let (json, id) = wrap(&publish(b"1", Some("application/json"), &o));
        let v = parse(&json);
        assert_eq!(
            (id.as_str(), v["type"].as_str(), v["subject"].as_str()),
            ("fixed", Some("t"), Some("s"))
        );
    }

    #[test]
    fn publisher_cloudevents_pass_through() {
        let none = BTreeMap::new();
        let body = br#"{"id":"e1","source":"me","type":"custom","specversion":"1.0","data":{"a":1},"topic":"wrong","ext":"kept"}"#;
        let (json, id) = complete(&publish(body, Some(CONTENT_TYPE), &none)).unwrap();
        let v = parse(&json);
        assert_eq!(id.as_deref(), Some("e1"));
        assert_eq!(
            (v["source"].as_str(), v["ext"].as_str(), v["topic"].as_str()),
            (Some("me"), Some("kept"), Some("new"))
        );
        assert!(complete(&publish(b"[1]", Some(CONTENT_TYPE), &none)).is_err());
    }

    #[test]
    fn heads_and_expiry() {
        let h = head(br#"{"id":"x","expiration":"2000-01-01T00:00:00Z","data":[1,2]}"#).unwrap();
        assert_eq!(h.id.as_deref(), Some("x"));
        assert!(expired(h.expiration.as_deref()));
        assert!(!expired(Some("2999-01-01T00:00:00Z")));
        assert!(!expired(None));
        assert!(head(b"not json").is_none());
    }
}

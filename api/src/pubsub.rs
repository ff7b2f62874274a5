//! The publish API shared by HTTP and gRPC: builds the CloudEvent Dapr stores
//! for each publish and hands it to the component.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;

use super::{Error, ErrorCode};
use crate::node::Node;
use jetway_blocks::pubsub::{self, Message, cloudevent};
use jetway_blocks::registry::PubSubComponent;
use jetway_core::Context;

/// One publish, as either transport delivers it.
pub struct Publish<'a> {
    pub pubsub: &'a str,
    pub topic: &'a str,
    pub data: &'a [u8],
    pub content_type: Option<&'a str>,
    pub metadata: &'a BTreeMap<String, String>,
}

/// One entry of a bulk publish.
pub struct BulkEntry {
    pub entry_id: String,
    pub data: Bytes,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// The component named `name`.
pub fn component<'a>(node: &'a Node, name: &str) -> Result<&'a PubSubComponent, Error> {
    if node.registry.pubsub.is_empty() {
        return Err(Error::new(
            ErrorCode::PubsubNotConfigured,
            format!("pubsub {name} is not configured"),
        ));
    }
    if name.is_empty() {
        return Err(Error::new(ErrorCode::PubsubEmpty, "pubsub name is empty").about("pubsub", ""));
    }
    node.registry.pubsub.get(name).ok_or_else(|| {
        Error::new(
            ErrorCode::PubsubNotFound,
            format!("pubsub {name} is not found"),
        )
    })
}

/// The topic without surrounding slashes; empty is an error.
pub fn topic<'a>(pubsub: &str, topic: &'a str) -> Result<&'a str, Error> {
    let topic = topic.trim_matches('/');
    if topic.is_empty() {
        return Err(Error::new(
            ErrorCode::TopicNameEmpty,
            format!("topic is empty in pubsub {pubsub}"),
        )
        .about("pubsub", pubsub));
    }
    Ok(topic)
}

/// Publishes one event and returns once it is stored.
pub async fn publish(node: &Node, ctx: &Context, p: Publish<'_>) -> Result<(), Error> {
    let component = component(node, p.pubsub)?;
    let topic = topic(p.pubsub, p.topic)?;
    let msg = message(node, ctx, &p)?;
    component
        .pubsub
        .publish(ctx, topic, msg)
        .await
        .map_err(|e| publish_error(e, p.pubsub, topic))
}

/// A broker's failure to store an event, as daprd reports it whatever its kind.
fn publish_error(e: pubsub::Error, pubsub: &str, topic: &str) -> Error {
    let code = match e {
        pubsub::Error::Invalid(_) | pubsub::Error::Backend(_) => ErrorCode::PubsubPublishMessage,
    };
    Error::new(
        code,
        format!("error when publishing to topic {topic} in pubsub {pubsub}: {e}"),
    )
    .about("pubsub", pubsub)
    .with_metadata("topic", topic)
    .with_metadata("error", e.to_string())
}

/// The most entries one bulk publish may hold.
pub const MAX_BULK_ENTRIES: usize = 10_000;

/// Publishes every entry; returns the entries that failed, with their errors.
pub async fn bulk_publish(
    node: &Node,
    ctx: &Context,
    pubsub: &str,
    topic_name: &str,
    entries: &[BulkEntry],
    request_metadata: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, Error> {
    let component = component(node, pubsub)?;
    let topic = topic(pubsub, topic_name)?;
    let mut messages = Vec::with_capacity(entries.len());
    if entries.len() > MAX_BULK_ENTRIES {
        return Err(Error::malformed(format!(
            "a bulk publish holds at most {MAX_BULK_ENTRIES} entries, got {}",
            entries.len()
        ))
        .about("pubsub", pubsub));
    }
    let mut ids = HashSet::with_capacity(entries.len());
    for e in entries {
        if e.entry_id.is_empty() || !ids.insert(e.entry_id.as_str()) {
            return Err(Error::new(
                ErrorCode::PubsubEventsSer,
                format!(
                    "error marshaling events to bytes for topic {topic} pubsub {pubsub}. error: entryId is duplicated or not present for entry"
                ),
            )
            .about("pubsub", pubsub));
        }
        let mut metadata = request_metadata.clone();
        metadata.extend(e.metadata.clone());
        messages.push(message(
            node,
            ctx,
            &Publish {
                pubsub,
                topic,
                data: &e.data,
                content_type: e.content_type.as_deref().filter(|c| !c.is_empty()),
                metadata: &metadata,
            },
        )?);
    }
    let results = join_all(
        messages
            .into_iter()
            .map(|m| component.pubsub.publish(ctx, topic, m)),
    )
    .await;
    Ok(results
        .into_iter()
        .zip(entries)
        .filter_map(|(r, e)| r.err().map(|err| (e.entry_id.clone(), err.to_string())))
        .collect())
}

/// Builds the message Dapr stores for one publish.
fn message(node: &Node, ctx: &Context, p: &Publish<'_>) -> Result<Message, Error> {
    let ttl = match p.metadata.get("ttlInSeconds") {
        Some(v) => Some(
            v.parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::PubsubRequestMetadata,
                        format!("invalid ttlInSeconds '{v}'"),
                    )
                    .about("pubsub", p.pubsub)
                })?,
        ),
        None => None,
    };
    if p.metadata
        .get("rawPayload")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(Message {
            data: Bytes::copy_from_slice(p.data),
            id: None,
            ttl,
        });
    }
    let overrides: BTreeMap<String, String> = p
        .metadata
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
        pubsub: p.pubsub,
        topic: p.topic.trim_matches('/'),
        data: p.data,
        content_type: p.content_type,
        overrides: &overrides,
        traceparent: ctx.traceparent.as_deref(),
        tracestate: ctx.tracestate.as_deref(),
        expiration,
    };
    let is_cloudevent = p
        .content_type
        .is_some_and(|c| cloudevent::essence(c) == cloudevent::CONTENT_TYPE);
    let (data, id) = if is_cloudevent {
        cloudevent::complete(&publish).map_err(|m| {
            Error::new(ErrorCode::PubsubCloudEventsSer, m.clone())
                .about("pubsub", p.pubsub)
                .with_metadata("appID", node.settings.app_id.as_str())
                .with_metadata("error", m)
        })?
    } else {
        let (data, id) = cloudevent::wrap(&publish);
        (data, Some(id))
    };
    Ok(Message { data, id, ttl })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_broker_error_kind_has_daprd_code() {
        for kind in [
            pubsub::Error::Invalid("bad subject".into()),
            pubsub::Error::Backend("no stream".into()),
        ] {
            let e = publish_error(kind, "orders-ps", "orders");
            assert_eq!(e.code().code(), "ERR_PUBSUB_PUBLISH_MESSAGE");
            assert_eq!(e.code().http_status().as_u16(), 500);
            let details = e.0.details.as_deref().expect("details");
            assert_eq!(
                details.resource.as_ref().map(|r| r.name.as_str()),
                Some("orders-ps")
            );
            assert!(
                details
                    .metadata
                    .iter()
                    .any(|(k, v)| k == "topic" && v == "orders")
            );
        }
    }
}

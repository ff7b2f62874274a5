//! `pubsub.jetstream`: a stream per component (`streamName`, else one named
//! after the component) over `<subjectPrefix>.<topic>` subjects, and a
//! durable consumer per (app id, topic).

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use jetway_broker::naming;
use jetway_broker::stream::{DeliverPolicy, StreamConfig};

use super::nats::{self, Storage};
use super::{Builder, Built, Error, Factory};
use crate::resources::Component;
use jetway_blocks::pubsub::{JetStreamOptions, JetStreamPubSub};

pub(super) const FACTORY: Factory = Factory {
    kind: "pubsub.jetstream",
    keys: &[nats::KEYS, super::PUBSUB_KEYS],
    construct: |c, b| build(c, b).boxed(),
};

async fn build(c: &Component, b: &Builder<'_>) -> Result<Built, Error> {
    let storage = Storage::parse(c)?;
    let options = options(c).map_err(|(field, message)| Error::new(c, Some(field), message))?;
    let broker = nats::connection(c, b).await?;
    let stream_name = match c.metadata.value("streamName") {
        Some(n) => n.to_owned(),
        None => format!("JETWAY_{}", naming::resource_name(&c.name)),
    };
    let subjects = if options.subject_prefix.is_empty() {
        vec![">".into()]
    } else {
        vec![format!("{}.>", options.subject_prefix)]
    };
    let stream = broker
        .stream(StreamConfig {
            name: stream_name,
            subjects,
            replicas: storage.replicas,
            memory: storage.memory,
        })
        .await
        .map_err(|e| Error::new(c, Some("streamName"), e.to_string()))?;
    super::pubsub(c, b, Arc::new(JetStreamPubSub::new(stream, options)))
}

/// The stream's and consumers' settings; an error names the metadata key.
fn options(c: &Component) -> Result<JetStreamOptions, (&'static str, String)> {
    let meta = |k: &str| c.metadata.value(k);
    let number = |key: &'static str, default: i64| -> Result<i64, (&'static str, String)> {
        meta(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| (key, format!("'{v}' is not a number")))
            })
            .unwrap_or(Ok(default))
    };
    let deliver_policy = match meta("deliverPolicy").unwrap_or("all") {
        "all" => DeliverPolicy::All,
        "last" => DeliverPolicy::Last,
        "new" => DeliverPolicy::New,
        "sequence" => DeliverPolicy::ByStartSequence {
            start_sequence: number("startSequence", 1)? as u64,
        },
        "time" => {
            let secs = number("startTime", 0)?;
            let at = time::OffsetDateTime::from_unix_timestamp(secs)
                .map_err(|e| ("startTime", e.to_string()))?;
            DeliverPolicy::ByStartTime { start_time: at }
        }
        other => {
            return Err((
                "deliverPolicy",
                format!("'{other}' is not one of all, last, new, sequence, time"),
            ));
        }
    };
    let ack_wait = match meta("ackWait") {
        Some(v) => jetway_core::duration::parse(v).map_err(|e| ("ackWait", e))?,
        None => Duration::from_secs(30),
    };
    jetway_blocks::pubsub::subscriber::backoff_from(&c.metadata).map_err(|e| ("backOff", e))?;
    let subject_prefix = match c.metadata.get("subjectPrefix") {
        Some(p) => p.to_owned(),
        None => naming::pubsub_subject_prefix(&c.name),
    };
    Ok(JetStreamOptions {
        subject_prefix,
        deliver_policy,
        max_deliver: number("maxDeliver", -1)?,
        max_ack_pending: number("maxAckPending", 1024)?,
        ack_wait,
        durable_name: meta("durableName").map(str::to_owned),
    })
}

//! `pubsub.jetstream`: a stream per component (`streamName`, else one named
//! after the component) over `<subjectPrefix>.<topic>` subjects, and a
//! durable consumer per (app id, topic).
//!
//! A stream Jetway names itself keeps messages for [`DEFAULT_MAX_AGE`]
//! unless `maxAge` says otherwise; `maxBytes` and `maxMsgs` bound it further.
//! A stream named by `streamName` keeps its own limits except those the
//! metadata names.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use jetway_broker::naming;
use jetway_broker::stream::{DeliverPolicy, Limits, StreamConfig};

use super::nats::{self, Storage};
use super::{Builder, Built, Error, Factory};
use crate::resources::Component;
use jetway_blocks::pubsub::{JetStreamOptions, JetStreamPubSub};

/// How long a stream Jetway names itself keeps a message by default.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

pub(super) const FACTORY: Factory = Factory {
    kind: "pubsub.jetstream",
    keys: &[
        nats::KEYS,
        super::PUBSUB_KEYS,
        &["maxAge", "maxBytes", "maxMsgs"],
    ],
    construct: |c, b| build(c, b).boxed(),
};

async fn build(c: &Component, b: &Builder<'_>) -> Result<Built, Error> {
    let storage = Storage::parse(c)?;
    let options = options(c).map_err(|(field, message)| Error::new(c, Some(field), message))?;
    let broker = nats::connection(c, b).await?;
    let named = c.metadata.value("streamName");
    let stream_name = match named {
        Some(n) => n.to_owned(),
        None => format!("JETWAY_{}", naming::resource_name(&c.name)),
    };
    let mut limits = limits(c).map_err(|(field, message)| Error::new(c, Some(field), message))?;
    if named.is_none() {
        limits.max_age = limits.max_age.or(Some(DEFAULT_MAX_AGE));
    }
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
            limits,
        })
        .await
        .map_err(|e| Error::new(c, Some("streamName"), e.to_string()))?;
    super::pubsub(c, b, Arc::new(JetStreamPubSub::new(stream, options)))
}

/// The limits the metadata names (`0` or `-1`: none); an error names the key.
fn limits(c: &Component) -> Result<Limits, (&'static str, String)> {
    let number = |key: &'static str| {
        c.metadata
            .value(key)
            .map(|v| {
                v.parse::<i64>()
                    .map(|n| if n <= 0 { -1 } else { n })
                    .map_err(|_| (key, format!("'{v}' is not a number")))
            })
            .transpose()
    };
    let max_age = c
        .metadata
        .value("maxAge")
        .map(|v| match v {
            "0" | "-1" => Ok(Duration::ZERO),
            _ => jetway_core::duration::parse(v).map_err(|e| ("maxAge", e)),
        })
        .transpose()?;
    Ok(Limits {
        max_age,
        max_bytes: number("maxBytes")?,
        max_msgs: number("maxMsgs")?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn component(metadata: &[(&str, &str)]) -> Component {
        Component {
            name: "ps".into(),
            kind: "pubsub.jetstream".into(),
            version: "v1".into(),
            metadata: metadata.iter().copied().collect(),
            scopes: vec![],
            ignore_errors: false,
            secret_refs: vec![],
            secret_store: None,
            file: "ps.yaml".into(),
        }
    }

    #[test]
    fn limits_are_read_from_metadata() {
        assert_eq!(limits(&component(&[])).unwrap(), Limits::default());
        let named = limits(&component(&[
            ("maxAge", "1h"),
            ("maxBytes", "1048576"),
            ("maxMsgs", "0"),
        ]))
        .unwrap();
        assert_eq!(
            named,
            Limits {
                max_age: Some(Duration::from_secs(3600)),
                max_bytes: Some(1 << 20),
                max_msgs: Some(-1),
            }
        );
        let none = limits(&component(&[("maxAge", "0")])).unwrap();
        assert_eq!(none.max_age, Some(Duration::ZERO));
        assert_eq!(
            limits(&component(&[("maxMsgs", "lots")])).unwrap_err().0,
            "maxMsgs"
        );
        assert_eq!(
            limits(&component(&[("maxAge", "soon")])).unwrap_err().0,
            "maxAge"
        );
    }
}

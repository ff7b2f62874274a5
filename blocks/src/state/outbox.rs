//! Dapr's transactional outbox on a JetStream KV store: a transaction's
//! state writes and the events it publishes commit in one atomic batch of the
//! bucket's stream (the events as outbox messages beside the keys), so there
//! is never a state change without its event or an event without its state
//! change. A relay on every node that loads the store then publishes each
//! outbox message to its pub/sub topic, with the event id as the
//! de-duplication id (a relay that dies between publish and removal sends a
//! copy the stream drops), and removes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use jetway_broker::kv::{Bucket, Outgoing};
use jetway_core::Context;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::{Error, Operation};
use crate::pubsub::{Message, PubSub};
use crate::within;

/// How long a relayed message may stay unacknowledged before another relay
/// takes it (the relay that pulled it may have died).
const ACK_WAIT: Duration = Duration::from_secs(5);
/// Pause before a message whose publish failed is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// A store's outbox metadata (`outboxPublishPubsub`, `outboxPublishTopic`,
/// `outboxDiscardWhenMissingState`).
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxSettings {
    pub pubsub: String,
    pub topic: String,
    /// Drop an event whose key no longer holds a value when it is relayed.
    pub discard_when_missing_state: bool,
}

/// One event a transaction publishes.
pub struct OutboxEvent {
    /// The CloudEvent's id, also the de-duplication id.
    pub id: String,
    /// The key (as stored) whose upsert it announces.
    pub key: String,
    /// The CloudEvent, ready to publish.
    pub event: Bytes,
}

/// An outbox message as stored.
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    id: String,
    pubsub: String,
    topic: String,
    key: String,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// The outbox of one state store.
pub struct Outbox {
    bucket: Bucket,
    pub settings: OutboxSettings,
    /// The relay's durable consumer.
    consumer: String,
}

impl Outbox {
    pub fn new(bucket: Bucket, settings: OutboxSettings) -> Outbox {
        let consumer = format!("outbox_{}", bucket.name());
        Outbox {
            bucket,
            settings,
            consumer,
        }
    }

    /// Applies `ops` and stores `events`, all or none.
    pub async fn transact(
        &self,
        ctx: &Context,
        ops: Vec<Operation>,
        events: Vec<OutboxEvent>,
    ) -> Result<(), Error> {
        let mut outgoing = Vec::with_capacity(events.len());
        for e in events {
            let event = std::str::from_utf8(&e.event)
                .ok()
                .and_then(|text| serde_json::from_str::<&RawValue>(text).ok())
                .ok_or_else(|| Error::Invalid("an outbox event is not JSON".into()))?;
            let record = Record {
                id: e.id.clone(),
                pubsub: self.settings.pubsub.clone(),
                topic: self.settings.topic.clone(),
                key: e.key,
                event,
            };
            outgoing.push(Outgoing {
                id: e.id,
                payload: serde_json::to_vec(&record)
                    .expect("records serialize")
                    .into(),
            });
        }
        let writes = super::jetstream::writes(ops)?;
        within(ctx, self.bucket.write_atomic_with_outbox(writes, outgoing))
            .await
            .map_err(super::jetstream::error)
    }

    /// Publishes the outbox's messages with this node's pub/sub components
    /// until `stop`.
    pub async fn relay(
        self: Arc<Self>,
        pubsubs: HashMap<String, Arc<dyn PubSub>>,
        stop: CancellationToken,
    ) {
        while !stop.is_cancelled() {
            let messages = match self.bucket.outbox_consumer(&self.consumer, ACK_WAIT).await {
                Ok(consumer) => consumer.messages().await,
                Err(e) => Err(e),
            };
            let mut messages = match messages {
                Ok(m) => m,
                Err(error) => {
                    tracing::error!(%error, bucket = self.bucket.name(), "Reading the outbox failed; retrying.");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(RETRY) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    biased;
                    _ = stop.cancelled() => None,
                    m = messages.next() => m,
                };
                match next {
                    Some(Ok(delivery)) => self.pass_on(&pubsubs, delivery).await,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "An outbox message could not be read.");
                    }
                    None => break,
                }
            }
        }
    }

    async fn pass_on(
        &self,
        pubsubs: &HashMap<String, Arc<dyn PubSub>>,
        delivery: jetway_broker::stream::Delivery,
    ) {
        let Ok(record) = serde_json::from_slice::<Record>(delivery.payload()) else {
            tracing::warn!(
                subject = delivery.subject(),
                "An unreadable outbox message was dropped."
            );
            let _ = delivery.term().await;
            return;
        };
        match self.publish(pubsubs, &record).await {
            Ok(()) => {
                if let Err(error) = self.bucket.remove_outbox(&record.id).await {
                    tracing::warn!(%error, id = %record.id, "A relayed outbox message could not be removed; it may be sent again (and dropped as a duplicate).");
                }
                let _ = delivery.ack().await;
            }
            Err(why) => {
                tracing::warn!(id = %record.id, %why, "An outbox event could not be published yet.");
                let _ = delivery.nak(RETRY).await;
            }
        }
    }

    /// Publishes one outbox message (or drops it, when its state is gone and
    /// the settings say so).
    async fn publish(
        &self,
        pubsubs: &HashMap<String, Arc<dyn PubSub>>,
        record: &Record<'_>,
    ) -> Result<(), String> {
        if self.settings.discard_when_missing_state
            && self
                .bucket
                .get(&record.key)
                .await
                .map_err(|e| e.to_string())?
                .is_none()
        {
            tracing::info!(id = %record.id, "The outbox event's state is gone; it is dropped.");
            return Ok(());
        }
        let pubsub = pubsubs
            .get(&record.pubsub)
            .ok_or_else(|| format!("no pub/sub component {}", record.pubsub))?;
        let message = Message {
            data: Bytes::copy_from_slice(record.event.get().as_bytes()),
            id: Some(record.id.clone()),
            ttl: None,
        };
        pubsub
            .publish(&Context::default(), &record.topic, message)
            .await
            .map_err(|e| e.to_string())
    }
}

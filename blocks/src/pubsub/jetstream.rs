//! `pubsub.jetstream`: a JetStream stream per component, a subject per topic and
//! one durable pull consumer per (consumer group, topic).

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use jetway_broker::stream::{ConsumerConfig, DeliverPolicy, Delivery, Stream};
use jetway_broker::{HeaderMap, naming};
use jetway_core::Context;

use super::{Error, Incoming, Message, PubSub, Settle};
use crate::within;

/// Consumer settings from the component's metadata.
#[derive(Clone, Debug)]
pub struct JetStreamOptions {
    /// Subjects are `<prefix>.<topic>`; an empty prefix uses the topic itself.
    pub subject_prefix: String,
    pub deliver_policy: DeliverPolicy,
    /// Server-side delivery limit; -1 for none.
    pub max_deliver: i64,
    pub max_ack_pending: i64,
    pub ack_wait: Duration,
    /// A fixed durable name instead of `<group>_<topic>`.
    pub durable_name: Option<String>,
}

pub struct JetStreamPubSub {
    stream: Stream,
    options: JetStreamOptions,
}

impl JetStreamPubSub {
    pub fn new(stream: Stream, options: JetStreamOptions) -> JetStreamPubSub {
        JetStreamPubSub { stream, options }
    }

    fn subject(&self, topic: &str) -> String {
        if self.options.subject_prefix.is_empty() {
            topic.to_owned()
        } else {
            naming::topic_subject(&self.options.subject_prefix, topic)
        }
    }
}

struct Settlement(Delivery);

#[async_trait::async_trait]
impl Settle for Settlement {
    async fn ack(&self) {
        if let Err(error) = self.0.ack().await {
            tracing::warn!(%error, "Acknowledgement failed; the message will be redelivered.");
        }
    }

    async fn in_progress(&self) {
        if let Err(error) = self.0.in_progress().await {
            tracing::debug!(%error, "Progress report failed.");
        }
    }

    async fn retry(&self, delay: Duration) {
        if let Err(error) = self.0.nak(delay).await {
            tracing::warn!(%error, "Negative acknowledgement failed; the message will be redelivered after the ack wait.");
        }
    }
}

#[async_trait::async_trait]
impl PubSub for JetStreamPubSub {
    fn features(&self) -> &'static [&'static str] {
        &["MESSAGE_TTL"]
    }

    fn ack_wait(&self) -> Option<Duration> {
        Some(self.options.ack_wait)
    }

    async fn publish(&self, ctx: &Context, topic: &str, msg: Message) -> Result<(), Error> {
        // JetStream drops duplicates per stream, and a stream holds every
        // topic of the component: scope the id to its topic (length-prefixed,
        // so no two (topic, id) pairs share one).
        let dedup_id = msg.id.map(|id| format!("{}:{topic}:{id}", topic.len()));
        let publish = self.stream.publish(
            self.subject(topic),
            HeaderMap::new(),
            msg.data,
            dedup_id.as_deref(),
            msg.ttl,
        );
        within(ctx, publish)
            .await
            .map(drop)
            .map_err(|e| Error::Backend(e.to_string()))
    }

    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        forget_after: Option<Duration>,
    ) -> Result<BoxStream<'static, Incoming>, Error> {
        let name = self
            .options
            .durable_name
            .clone()
            .unwrap_or_else(|| naming::consumer_name(group, topic));
        let consumer = self
            .stream
            .consumer(ConsumerConfig {
                name,
                filter_subject: self.subject(topic),
                deliver_policy: self.options.deliver_policy,
                max_deliver: self.options.max_deliver,
                max_ack_pending: self.options.max_ack_pending,
                ack_wait: self.options.ack_wait,
                inactive_threshold: forget_after,
                pinned: None,
            })
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        Ok(messages
            .filter_map(|m| async move {
                match m {
                    Ok(d) => Some(Incoming {
                        data: d.payload().clone(),
                        delivered: d.delivered().max(1) as u32,
                        settle: Box::new(Settlement(d)),
                    }),
                    Err(error) => {
                        // Heartbeat gaps and reconnects surface here; the consumer resumes by itself.
                        tracing::debug!(%error, "Consumer hiccup.");
                        None
                    }
                }
            })
            .boxed())
    }
}

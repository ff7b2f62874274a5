//! `bindings.rabbitmq`: output publishes to `queueName` through the default
//! exchange and answers once the broker confirmed it; input consumes the
//! queue with manual acks. A message the app refuses is requeued (after
//! `retryDelay`, so a failing app is not spun in a loop), as daprd requeues
//! it; the queue's TTL (`ttlInSeconds`) and a dead-letter exchange set on the
//! broker decide what becomes of messages nobody takes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

use super::{Backoff, Error, Event, Handler, Input, Metadata, Output, Request, Response, pause};

pub const KEYS: &[&str] = &[
    "host",
    "queueName",
    "durable",
    "deleteWhenUnused",
    "exclusive",
    "ttlInSeconds",
    "prefetchCount",
    "maxPriority",
    "contentType",
    "reconnectWaitInSeconds",
    "retryDelay",
];

/// How long a publish waits for the broker's confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RabbitMq {
    uri: String,
    queue: String,
    declare: QueueDeclareOptions,
    arguments: FieldTable,
    prefetch: u16,
    content_type: Option<String>,
    reconnect_wait: Duration,
    retry_delay: Duration,
    /// The output's channel, opened again after it broke.
    channel: tokio::sync::Mutex<Option<Channel>>,
}

impl RabbitMq {
    pub fn new(metadata: &Metadata) -> Result<RabbitMq, Error> {
        let uri = metadata.required("host")?.to_owned();
        if !uri.starts_with("amqp://") {
            return Err(Error::config(
                "host",
                "an amqp:// URI (TLS is not supported yet)",
            ));
        }
        let mut arguments = FieldTable::default();
        if let Some(ttl) = metadata.duration("ttlInSeconds")? {
            arguments.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(ttl.as_millis() as i64),
            );
        }
        if let Some(max) = metadata.get("maxPriority") {
            let max: u8 = max
                .parse()
                .map_err(|_| Error::config("maxPriority", format!("'{max}' is not 1 to 255")))?;
            arguments.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(max));
        }
        Ok(RabbitMq {
            uri,
            queue: metadata.required("queueName")?.to_owned(),
            declare: QueueDeclareOptions {
                durable: metadata.flag("durable", false)?,
                auto_delete: metadata.flag("deleteWhenUnused", false)?,
                exclusive: metadata.flag("exclusive", false)?,
                ..QueueDeclareOptions::default()
            },
            arguments,
            prefetch: metadata.parse("prefetchCount", 0)?,
            content_type: metadata.get("contentType").map(str::to_owned),
            reconnect_wait: metadata
                .duration("reconnectWaitInSeconds")?
                .unwrap_or(Duration::from_secs(5)),
            retry_delay: metadata
                .duration("retryDelay")?
                .unwrap_or(Duration::from_secs(1)),
            channel: tokio::sync::Mutex::default(),
        })
    }

    /// A channel on a new connection, with the queue declared.
    async fn open(&self) -> Result<Channel, lapin::Error> {
        let connection = Connection::connect(&self.uri, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .queue_declare(
                self.queue.as_str().into(),
                self.declare,
                self.arguments.clone(),
            )
            .await?;
        Ok(channel)
    }

    async fn output_channel(&self) -> Result<Channel, Error> {
        let mut slot = self.channel.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(c.clone());
        }
        let channel = self
            .open()
            .await
            .map_err(|e| Error::Backend(format!("channel/connection is not open: {e}")))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(Error::backend)?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    async fn consume(
        &self,
        handler: &Arc<dyn Handler>,
        stop: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), lapin::Error> {
        let channel = self.open().await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions { global: true })
            .await?;
        let mut deliveries = channel
            .basic_consume(
                self.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        backoff.reset();
        loop {
            let delivery = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                d = deliveries.next() => match d {
                    Some(d) => d?,
                    None => return Ok(()),
                },
            };
            let metadata: BTreeMap<String, String> = delivery
                .properties
                .headers()
                .iter()
                .flat_map(|h| h.inner().iter())
                .filter_map(|(k, v)| match v {
                    AMQPValue::LongString(s) => Some((k.to_string(), s.to_string())),
                    AMQPValue::ShortString(s) => Some((k.to_string(), s.to_string())),
                    _ => None,
                })
                .collect();
            let event = Event {
                data: delivery.data.clone().into(),
                metadata,
            };
            match handler.handle(event).await {
                Ok(_) => delivery.ack(BasicAckOptions::default()).await?,
                Err(refused) => {
                    tracing::warn!(queue = %self.queue, error = %refused, "The app did not take a binding event; it is requeued.");
                    pause(stop, self.retry_delay).await;
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await?
                }
            };
        }
    }
}

fn short(s: &str) -> ShortString {
    s.into()
}

#[async_trait::async_trait]
impl Output for RabbitMq {
    fn operations(&self) -> &'static [&'static str] {
        &["create"]
    }

    async fn invoke(&self, request: Request) -> Result<Response, Error> {
        let meta = |k: &str| {
            request
                .metadata
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let content_type = meta("contentType")
            .or(self.content_type.as_deref())
            .unwrap_or("text/plain");
        let mut headers = FieldTable::default();
        for (k, v) in &request.metadata {
            headers.insert(k.as_str().into(), AMQPValue::LongString(v.as_str().into()));
        }
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(short(content_type))
            .with_headers(headers);
        if let Some(ttl) = meta("ttl").or(meta("ttlInSeconds")) {
            let ttl = super::metadata::parse_duration(ttl).map_err(|_| {
                Error::BadRequest(format!(
                    "failed to get TTL: ttl value must be a valid integer: actual is '{ttl}'"
                ))
            })?;
            properties = properties.with_expiration(short(&ttl.as_millis().to_string()));
        }
        if let Some(p) = meta("priority") {
            let p: u8 = p.parse().map_err(|_| {
                Error::BadRequest(format!(
                    "priority value must be a valid integer: actual is '{p}'"
                ))
            })?;
            properties = properties.with_priority(p);
        }
        if let Some(id) = meta("messageID") {
            properties = properties.with_message_id(short(id));
        }
        if let Some(id) = meta("correlationID") {
            properties = properties.with_correlation_id(short(id));
        }
        if let Some(kind) = meta("type") {
            properties = properties.with_type(short(kind));
        }
        let channel = self.output_channel().await?;
        let publish = async {
            channel
                .basic_publish(
                    "".into(),
                    self.queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &request.data,
                    properties,
                )
                .await?
                .await
        };
        let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, publish)
            .await
            .map_err(|_| {
                Error::Backend(
                    "failed to publish message: no confirm from the broker in time".into(),
                )
            })?;
        match confirmation {
            Ok(c) if c.is_nack() => Err(Error::Backend(
                "failed to publish message: the broker refused it".into(),
            )),
            Ok(_) => Ok(Response::default()),
            Err(e) => {
                self.channel.lock().await.take();
                Err(Error::Backend(format!("failed to publish message: {e}")))
            }
        }
    }
}

#[async_trait::async_trait]
impl Input for RabbitMq {
    async fn run(&self, handler: Arc<dyn Handler>, stop: CancellationToken) {
        let mut backoff = Backoff::new();
        while !stop.is_cancelled() {
            if let Err(e) = self.consume(&handler, &stop, &mut backoff).await {
                tracing::warn!(queue = %self.queue, error = %e, "RabbitMQ input binding failed; reconnecting.");
                if !pause(
                    &stop,
                    backoff
                        .next()
                        .max(self.reconnect_wait.min(Duration::from_secs(1))),
                )
                .await
                {
                    return;
                }
            }
        }
    }
}

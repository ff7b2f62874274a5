//! `bindings.jetstream`: NATS-native. Output publishes to any subject through
//! JetStream and answers once the stream has stored it; input is a durable
//! pull consumer on any stream, acked only after the app took the event.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Backoff, Error, Event, Handler, Input, Metadata, Output, Request, Response, pause};

/// The metadata names it reads.
pub const KEYS: &[&str] = &[
    "subject",
    "streamName",
    "durableName",
    "filterSubject",
    "deliverPolicy",
    "ackWait",
    "maxDeliver",
    "retryDelay",
];

/// How long a publish waits for the stream's ack.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes to `subject` (or the request's `subject` metadata).
pub struct Publisher {
    js: jetstream::Context,
    subject: Option<String>,
}

impl Publisher {
    pub fn new(client: async_nats::Client, metadata: &Metadata) -> Publisher {
        Publisher {
            js: jetstream::new(client),
            subject: metadata.get("subject").map(str::to_owned),
        }
    }
}

#[async_trait::async_trait]
impl Output for Publisher {
    fn operations(&self) -> &'static [&'static str] {
        &["create"]
    }

    async fn invoke(&self, request: Request) -> Result<Response, Error> {
        let subject = request
            .metadata
            .get("subject")
            .or(self.subject.as_ref())
            .ok_or_else(|| Error::BadRequest("no subject: set metadata 'subject'".into()))?;
        let mut headers = async_nats::HeaderMap::new();
        if let Some(id) = request.metadata.get("msgId") {
            headers.insert("Nats-Msg-Id", id.as_str());
        }
        let ack = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            self.js
                .publish_with_headers(subject.clone(), headers, request.data)
                .await?
                .await
        })
        .await
        .map_err(|_| Error::Backend(format!("no ack from JetStream for {subject} in time")))?
        .map_err(|e| Error::Backend(format!("publishing to {subject}: {e}")))?;
        Ok(Response {
            data: None,
            metadata: BTreeMap::from([
                ("stream".into(), ack.stream),
                ("sequence".into(), ack.sequence.to_string()),
                ("duplicate".into(), ack.duplicate.to_string()),
            ]),
        })
    }
}

/// A durable consumer on `streamName`.
pub struct Consumer {
    js: jetstream::Context,
    stream: String,
    config: consumer::pull::Config,
    retry_delay: Duration,
}

impl Consumer {
    /// `durable` names the consumer unless `durableName` does.
    pub fn new(
        client: async_nats::Client,
        metadata: &Metadata,
        durable: &str,
    ) -> Result<Consumer, Error> {
        let stream = metadata.required("streamName")?.to_owned();
        let deliver_policy = match metadata.get("deliverPolicy").unwrap_or("all") {
            "all" => consumer::DeliverPolicy::All,
            "new" => consumer::DeliverPolicy::New,
            "last" => consumer::DeliverPolicy::Last,
            other => {
                return Err(Error::config(
                    "deliverPolicy",
                    format!("'{other}' is not all, new or last"),
                ));
            }
        };
        let name = metadata.get("durableName").unwrap_or(durable).to_owned();
        let config = consumer::pull::Config {
            durable_name: Some(name),
            filter_subject: metadata.get("filterSubject").unwrap_or_default().to_owned(),
            deliver_policy,
            ack_wait: metadata
                .duration("ackWait")?
                .unwrap_or(Duration::from_secs(30)),
            max_deliver: metadata.parse("maxDeliver", -1i64)?,
            ..Default::default()
        };
        Ok(Consumer {
            js: jetstream::new(client),
            stream,
            config,
            retry_delay: metadata
                .duration("retryDelay")?
                .unwrap_or(Duration::from_secs(1)),
        })
    }

    /// Pulls and delivers until the consumer fails or `stop` fires.
    async fn consume(
        &self,
        handler: &Arc<dyn Handler>,
        stop: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), String> {
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| format!("stream {}: {e}", self.stream))?;
        let consumer = create_or_update(&stream, &self.config).await?;
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        backoff.reset();
        loop {
            let message = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                m = messages.next() => m,
            };
            let message = match message {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the consumer's message stream ended".into()),
            };
            let mut metadata =
                BTreeMap::from([("subject".to_owned(), message.subject.to_string())]);
            if let Ok(info) = message.info() {
                metadata.insert("sequence".into(), info.stream_sequence.to_string());
                metadata.insert("delivered".into(), info.delivered.to_string());
            }
            for (name, values) in message.headers.iter().flat_map(|h| h.iter()) {
                if let Some(v) = values.first() {
                    metadata.insert(name.to_string(), v.to_string());
                }
            }
            let event = Event {
                data: message.payload.clone(),
                metadata,
            };
            let ack = match handler.handle(event).await {
                Ok(_) => message.ack().await,
                Err(refused) => {
                    tracing::warn!(stream = %self.stream, error = %refused, "The app did not take a binding event; it is redelivered.");
                    message
                        .ack_with(jetstream::AckKind::Nak(Some(self.retry_delay)))
                        .await
                }
            };
            if let Err(e) = ack {
                // The event comes again after ackWait: nothing is lost.
                tracing::warn!(stream = %self.stream, error = %e, "Acknowledging a binding event failed.");
            }
        }
    }
}

async fn create_or_update(
    stream: &stream::Stream,
    config: &consumer::pull::Config,
) -> Result<consumer::PullConsumer, String> {
    let name = config.durable_name.clone().unwrap_or_default();
    stream
        .get_or_create_consumer(&name, config.clone())
        .await
        .map_err(|e| format!("consumer {name}: {e}"))
}

#[async_trait::async_trait]
impl Input for Consumer {
    async fn run(&self, handler: Arc<dyn Handler>, stop: CancellationToken) {
        let mut backoff = Backoff::new();
        while !stop.is_cancelled() {
            if let Err(e) = self.consume(&handler, &stop, &mut backoff).await {
                tracing::warn!(stream = %self.stream, error = %e, "JetStream input binding failed; retrying.");
                if !pause(&stop, backoff.next()).await {
                    return;
                }
            }
        }
    }
}

//! JetStream streams for pub/sub: idempotent provisioning, publish with
//! de-duplication ids and TTLs, and durable pull consumers.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer, stream};
use bytes::Bytes;
use futures::StreamExt;

use crate::codec::header_text;
use crate::connection::Broker;
use crate::error::{Error, Result};
use crate::naming::{check_subject, is_valid_resource_name};

pub use async_nats::jetstream::consumer::DeliverPolicy;

const MSG_ID: &str = "Nats-Msg-Id";
const MESSAGE_TTL: &str = "Nats-TTL";
const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";

const SCHEDULE: &str = "Nats-Schedule";
const SCHEDULE_TARGET: &str = "Nats-Schedule-Target";
/// The priority group of pinned consumers.
const PINNED_GROUP: &str = "owner";
/// Messages of one subject [`Stream::subject_messages`] reads at most.
pub const MAX_SUBJECT_MESSAGES: usize = 100_000;

/// One message of [`Stream::publish_atomic`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outgoing {
    pub subject: String,
    pub payload: Bytes,
    /// Stored only if the subject's last sequence is this one (0: the subject
    /// holds nothing yet).
    pub expect_last: Option<u64>,
    /// Held by the stream as a message schedule, and published then.
    pub schedule: Option<Schedule>,
}

/// When and where the stream publishes a scheduled message (nats-server
/// 2.12+ message schedules): once, at `at`, to `target` (a subject of the
/// same stream). A time already past fires at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub at: std::time::SystemTime,
    pub target: String,
}

/// Settings of a stream.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    pub name: String,
    /// Subjects to capture when the stream does not exist yet and is created.
    pub subjects: Vec<String>,
    pub replicas: usize,
    pub memory: bool,
    pub limits: Limits,
}

/// How much a stream keeps; the oldest messages go first. `None` leaves the
/// stream as it is (no limit when Jetway creates it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<i64>,
    pub max_msgs: Option<i64>,
}

impl Limits {
    /// Whether `config` already keeps what these limits say.
    fn hold_in(&self, config: &stream::Config) -> bool {
        self.max_age.is_none_or(|a| a == config.max_age)
            && self.max_bytes.is_none_or(|b| b == config.max_bytes)
            && self.max_msgs.is_none_or(|m| m == config.max_messages)
    }

    fn apply(&self, config: &mut stream::Config) {
        if let Some(a) = self.max_age {
            config.max_age = a;
        }
        if let Some(b) = self.max_bytes {
            config.max_bytes = b;
        }
        if let Some(m) = self.max_msgs {
            config.max_messages = m;
        }
    }
}

/// A stream. Cheap to clone.
///
/// A stream that disappears (lost by a server, or deleted) is provisioned
/// again by the next publish or consumer that finds it gone.
#[derive(Clone)]
pub struct Stream {
    broker: Broker,
    config: StreamConfig,
    inner: stream::Stream,
    /// Whether the stream accepts `Nats-TTL` per message.
    ttl: bool,
}

/// Settings of a durable consumer.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    pub name: String,
    pub filter_subject: String,
    pub deliver_policy: DeliverPolicy,
    /// Deliveries before the server gives up on a message; -1 for no limit.
    pub max_deliver: i64,
    /// Messages in flight (delivered, not acknowledged) at most.
    pub max_ack_pending: i64,
    /// Redelivery after this long without an acknowledgement.
    pub ack_wait: Duration,
    /// The server deletes the consumer after this long with no one pulling;
    /// `None` keeps it until it is deleted.
    pub inactive_threshold: Option<Duration>,
    /// Deliver to one puller at a time (a pinned client), moving on to
    /// another after the pinned one has not pulled for this long.
    pub pinned: Option<Duration>,
}

impl Broker {
    /// Opens (creating or updating as needed) a stream.
    pub async fn stream(&self, config: StreamConfig) -> Result<Stream> {
        Stream::open(self, config).await
    }
}

impl Stream {
    pub(crate) async fn open(broker: &Broker, config: StreamConfig) -> Result<Stream> {
        if !is_valid_resource_name(&config.name) {
            return Err(Error::Invalid(format!(
                "'{}' is not a valid stream name (use A-Z a-z 0-9 - _)",
                config.name
            )));
        }
        let inner = provision(broker, &config).await?;
        Ok(Stream {
            broker: broker.clone(),
            ttl: inner.cached_info().config.allow_message_ttl,
            config,
            inner,
        })
    }

    async fn provision(&self) -> Result<()> {
        tracing::info!(stream = %self.config.name, "Provisioning the stream again.");
        provision(&self.broker, &self.config).await.map(drop)
    }

    pub fn name(&self) -> &str {
        &self.inner.cached_info().config.name
    }

    /// Publishes and waits for the stream's acknowledgement.
    ///
    /// `msg_id` lets the server drop a duplicate published within its
    /// de-duplication window. `ttl` is honoured when the stream allows per-message
    /// TTLs (returns whether it was applied).
    pub async fn publish(
        &self,
        subject: String,
        mut headers: HeaderMap,
        payload: Bytes,
        msg_id: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        check_subject(&subject)?;
        if let Some(id) = msg_id {
            headers.insert(MSG_ID, header_text(id).as_ref());
        }
        let ttl_applied = match ttl {
            Some(ttl) if self.ttl => {
                headers.insert(MESSAGE_TTL, ttl.as_secs().max(1).to_string().as_str());
                true
            }
            _ => false,
        };
        let publish = || async {
            self.broker
                .jetstream()
                .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                .await
                .map_err(publish_error)?
                .await
                .map_err(publish_error)
        };
        let ack = match publish().await {
            Err(Error::NoStream(_)) => {
                self.provision().await?;
                publish().await
            }
            other => other,
        }?;
        if ack.duplicate {
            tracing::debug!(stream = %self.config.name, subject, "A duplicate was not stored again.");
        }
        Ok(ttl_applied)
    }

    /// Publishes `messages` (on any subjects of the stream) all or none, as
    /// one atomic batch, and returns the stream sequence of the last; a failed
    /// expectation fails them all with `WrongRevision`.
    pub async fn publish_atomic(&self, messages: Vec<Outgoing>) -> Result<u64> {
        if messages.is_empty() {
            return Ok(0);
        }
        let mut batch = Vec::with_capacity(messages.len());
        for m in messages {
            check_subject(&m.subject)?;
            let mut headers = HeaderMap::new();
            if let Some(seq) = m.expect_last {
                headers.insert(EXPECTED_LAST_SUBJECT_SEQUENCE, seq.to_string().as_str());
            }
            if let Some(schedule) = m.schedule {
                check_subject(&schedule.target)?;
                headers.insert(SCHEDULE, at_pattern(schedule.at).as_str());
                headers.insert(SCHEDULE_TARGET, schedule.target.as_str());
            }
            batch.push(crate::batch::Message {
                subject: m.subject,
                headers,
                payload: m.payload,
            });
        }
        match crate::batch::publish(&self.broker, batch.clone()).await {
            Err(Error::NoStream(_)) => {
                self.provision().await?;
                crate::batch::publish(&self.broker, batch).await
            }
            other => other,
        }
    }

    /// The sequence of the last message on `subject` (0 when it holds none),
    /// read from the stream's leader.
    pub async fn last_sequence(&self, subject: &str) -> Result<u64> {
        match self.inner.get_last_raw_message_by_subject(subject).await {
            Ok(m) => Ok(m.sequence),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(e) => Err(Error::nats("reading a subject's last message", e)),
        }
    }

    /// The messages on `subject` from sequence `from` on, in order, as
    /// (sequence, payload), read from the stream's leader; more than
    /// [`MAX_SUBJECT_MESSAGES`] is an error.
    pub async fn subject_messages(&self, subject: &str, from: u64) -> Result<Vec<(u64, Bytes)>> {
        let mut messages = Vec::new();
        let mut next = from.max(1);
        loop {
            let got = self
                .inner
                .raw_message_builder()
                .sequence(next)
                .next_by_subject(subject)
                .send()
                .await;
            match got {
                Ok(m) => {
                    if messages.len() == MAX_SUBJECT_MESSAGES {
                        return Err(Error::Invalid(format!(
                            "{subject} holds more than {MAX_SUBJECT_MESSAGES} messages"
                        )));
                    }
                    next = m.sequence + 1;
                    messages.push((m.sequence, m.payload));
                }
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {
                    return Ok(messages);
                }
                Err(e) => return Err(Error::nats("reading a subject's messages", e)),
            }
        }
    }

    /// Removes the messages on `subject` (which may hold wildcards), or only
    /// those below sequence `below`.
    pub async fn purge(&self, subject: &str, below: Option<u64>) -> Result<()> {
        let purge = self.inner.purge().filter(subject);
        match below {
            Some(seq) => purge.sequence(seq).await,
            None => purge.await,
        }
        .map(drop)
        .map_err(|e| Error::nats("purging a subject", e))
    }

    /// Creates the durable consumer, or binds to it when it already exists.
    pub async fn consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        match durable(&self.inner, config.clone()).await {
            Ok(c) => Ok(c),
            // The stream may be gone.
            Err(_) => {
                self.provision().await?;
                durable(&self.inner, config).await
            }
        }
    }
}

/// The schedule pattern that fires once, at `at`.
pub(crate) fn at_pattern(at: std::time::SystemTime) -> String {
    let at = chrono::DateTime::<chrono::Utc>::from(at)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!("@at {at}")
}

/// Creates the durable consumer on `stream`, or binds to it (applying
/// changed limits, keeping its position) when it already exists.
pub(crate) async fn durable(stream: &stream::Stream, config: ConsumerConfig) -> Result<Consumer> {
    let mut wanted = consumer::pull::Config {
        durable_name: Some(config.name.clone()),
        filter_subject: config.filter_subject,
        deliver_policy: config.deliver_policy,
        ack_policy: consumer::AckPolicy::Explicit,
        max_deliver: config.max_deliver,
        max_ack_pending: config.max_ack_pending,
        ack_wait: config.ack_wait,
        inactive_threshold: config.inactive_threshold.unwrap_or_default(),
        ..Default::default()
    };
    if let Some(timeout) = config.pinned {
        wanted.priority_policy = consumer::PriorityPolicy::PinnedClient;
        wanted.priority_groups = vec![PINNED_GROUP.to_owned()];
        wanted.priority_timeout = timeout;
    }
    let inner = match stream
        .get_consumer::<consumer::pull::Config>(&config.name)
        .await
    {
        Ok(_) => stream
            .update_consumer(wanted)
            .await
            .map_err(|e| Error::nats("updating consumer", e))?,
        Err(_) => match stream.create_consumer(wanted).await {
            Ok(c) => c,
            // Another node may have created it first.
            Err(e) => stream
                .get_consumer(&config.name)
                .await
                .map_err(|_| Error::nats("creating consumer", e))?,
        },
    };
    Ok(Consumer {
        inner,
        stream: stream.clone(),
        pinned: config.pinned.is_some(),
    })
}

/// Creates the stream unless it exists (another node may be creating it at
/// the same moment); an existing one gets the configured limits.
async fn provision(broker: &Broker, config: &StreamConfig) -> Result<stream::Stream> {
    let js = broker.jetstream();
    if let Ok(s) = js.get_stream(&config.name).await {
        let current = &s.cached_info().config;
        if config.limits.hold_in(current) {
            return Ok(s);
        }
        let mut updated = current.clone();
        config.limits.apply(&mut updated);
        js.update_stream(updated)
            .await
            .map_err(|e| Error::nats("updating the stream's limits", e))?;
        return js
            .get_stream(&config.name)
            .await
            .map_err(|e| Error::nats("opening stream", e));
    }
    let mut wanted = stream::Config {
        name: config.name.clone(),
        subjects: config.subjects.clone(),
        num_replicas: config.replicas.max(1),
        storage: if config.memory {
            stream::StorageType::Memory
        } else {
            stream::StorageType::File
        },
        allow_message_ttl: true,
        allow_atomic_publish: true,
        allow_message_schedules: true,
        ..Default::default()
    };
    config.limits.apply(&mut wanted);
    match js.create_stream(wanted).await {
        Ok(s) => Ok(s),
        Err(e) => js
            .get_stream(&config.name)
            .await
            .map_err(|_| Error::nats("creating stream", e)),
    }
}

fn publish_error(e: jetstream::context::PublishError) -> Error {
    match e.kind() {
        jetstream::context::PublishErrorKind::StreamNotFound => Error::NoStream("publish"),
        jetstream::context::PublishErrorKind::TimedOut => Error::Timeout(Duration::from_secs(5)),
        _ => Error::nats("JetStream publish", e),
    }
}

/// A durable pull consumer.
pub struct Consumer {
    inner: consumer::Consumer<consumer::pull::Config>,
    /// Its stream.
    stream: stream::Stream,
    pinned: bool,
}

impl Consumer {
    /// The stream sequence below which every message this consumer takes
    /// has been acknowledged.
    pub async fn ack_floor(&self) -> Result<u64> {
        let info = self
            .inner
            .get_info()
            .await
            .map_err(|e| Error::nats("reading a consumer", e))?;
        Ok(info.ack_floor.stream_sequence)
    }

    /// Unpins a pinned consumer, so the next puller gets its messages now
    /// rather than once the pin times out; for a client that stopped pulling.
    pub async fn unpin(&self) -> Result<()> {
        let name = self.inner.cached_info().name.clone();
        self.stream
            .unpin_consumer(&name, PINNED_GROUP)
            .await
            .map_err(|e| Error::nats("unpinning a consumer", e))
    }

    /// Messages as the server delivers them, until the connection closes.
    pub async fn messages(
        &self,
    ) -> Result<impl futures::Stream<Item = Result<Delivery>> + Unpin + use<>> {
        let mut pull = self.inner.stream();
        if self.pinned {
            pull = pull.group(PINNED_GROUP);
        }
        let messages = pull
            .messages()
            .await
            .map_err(|e| Error::nats("consuming", e))?;
        Ok(messages.map(|m| {
            m.map(|msg| Delivery { msg })
                .map_err(|e| Error::nats("consuming", e))
        }))
    }
}

/// One delivered message, to be settled with exactly one of ack, nak or term.
pub struct Delivery {
    msg: jetstream::Message,
}

impl Delivery {
    pub fn subject(&self) -> &str {
        self.msg.subject.as_str()
    }

    pub fn payload(&self) -> &Bytes {
        &self.msg.payload
    }

    pub fn headers(&self) -> Option<&HeaderMap> {
        self.msg.headers.as_ref()
    }

    /// The message's sequence in its stream.
    pub fn sequence(&self) -> u64 {
        self.msg.info().map(|i| i.stream_sequence).unwrap_or(0)
    }

    /// How many times this message has been delivered, this time included.
    pub fn delivered(&self) -> i64 {
        self.msg.info().map(|i| i.delivered).unwrap_or(1)
    }

    /// Done: never deliver again.
    pub async fn ack(&self) -> Result<()> {
        self.msg.ack().await.map_err(|e| Error::nats("ack", e))
    }

    /// Not done: deliver again after `delay`.
    pub async fn nak(&self, delay: Duration) -> Result<()> {
        self.msg
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| Error::nats("nak", e))
    }

    /// Not deliverable: never deliver again.
    pub async fn term(&self) -> Result<()> {
        self.msg
            .ack_with(AckKind::Term)
            .await
            .map_err(|e| Error::nats("term", e))
    }

    /// Still working: reset the redelivery timer.
    pub async fn in_progress(&self) -> Result<()> {
        self.msg
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| Error::nats("in progress", e))
    }
}

//! JetStream KV buckets with revision preconditions, per-key TTL and atomic
//! multi-key writes.
//!
//! Writes are JetStream publishes to the bucket's `$KV.<bucket>.<key>` subjects
//! with the headers KV uses, so a single write and a batch of writes share one
//! path: `Nats-Expected-Last-Subject-Sequence` carries the expected revision,
//! `Nats-TTL` the key's lifetime and `KV-Operation: DEL` a delete.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;

use futures::StreamExt;

use crate::batch;
use crate::codec::{decode, encode_token};
use crate::connection::Broker;
use crate::error::{Error, Result};
use crate::naming::{check_subject, is_valid_resource_name};

const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
/// Points the expected-sequence check at another subject than the message's.
const EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str = "Nats-Expected-Last-Subject-Sequence-Subject";
const KV_OPERATION: &str = "KV-Operation";
const MARKER_REASON: &str = "Nats-Marker-Reason";
const MESSAGE_TTL: &str = "Nats-TTL";
const SCHEDULE: &str = "Nats-Schedule";
const SCHEDULE_TARGET: &str = "Nats-Schedule-Target";
const SCHEDULE_TIME_ZONE: &str = "Nats-Schedule-Time-Zone";
pub use crate::batch::MAX_BATCH;
/// How long [`Bucket::list`] may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of a bucket Jetway provisions.
#[derive(Clone, Debug)]
pub struct BucketConfig {
    pub name: String,
    /// Stream replicas (1 on a single server, 3 in a typical cluster).
    pub replicas: usize,
    /// Keep values in memory instead of on disk.
    pub memory: bool,
    /// Drop a value this long after it was written; `None` keeps it.
    pub max_age: Option<Duration>,
    /// Keys are used as given: already valid KV keys whose `.`-separated tokens
    /// a watch can select by ([`Bucket::watch_prefix`]). Otherwise any string is
    /// a key, encoded as one token.
    pub raw_keys: bool,
    /// Keys may hold message schedules ([`Op::Schedule`]). The bucket's stream
    /// then discards old messages when full rather than refusing new ones, as
    /// the server requires of a stream with schedules.
    pub schedules: bool,
}

/// A live value and the revision that wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub value: Bytes,
    pub revision: u64,
    /// When the key expires, if it was written with a TTL.
    pub expires_at: Option<std::time::SystemTime>,
}

/// A change of one key, as a watch reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub key: String,
    /// The new value, or `None` when the key was deleted.
    pub value: Option<Bytes>,
    pub revision: u64,
}

/// A precondition on the key's latest revision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expect {
    /// Unconditional.
    Any,
    /// The key's latest revision must be this one.
    Revision(u64),
    /// The key must hold no live value (never written, deleted or expired).
    Absent,
}

/// One write of a key.
#[derive(Clone, Debug)]
pub struct Write {
    pub key: String,
    pub op: Op,
    pub expect: Expect,
}

#[derive(Clone, Debug)]
pub enum Op {
    Put {
        value: Bytes,
        ttl: Option<Duration>,
    },
    /// Puts `value` as a message schedule: the server publishes it to another
    /// key when the schedule says, for as long as this key holds it.
    Schedule {
        value: Bytes,
        ttl: Option<Duration>,
        schedule: Schedule,
    },
    Delete,
}

/// When and where a scheduled key publishes its value (nats-server message
/// schedules; 2.12 knows `@at`, 2.14 the rest).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// `@at <RFC 3339>` (fires once, then the key is removed), `@every
    /// <duration>`, a 6-field cron (seconds first) or `@daily` and the like.
    pub pattern: String,
    /// The IANA zone a cron pattern is read in (UTC when `None`).
    pub time_zone: Option<String>,
    /// The key the value is published to.
    pub target: String,
}

impl Schedule {
    /// Fires once, at `at` (at once if it has passed).
    pub fn at(at: std::time::SystemTime, target: String) -> Schedule {
        Schedule {
            pattern: crate::stream::at_pattern(at),
            time_zone: None,
            target,
        }
    }
}

/// A message of the bucket's outbox (see [`Bucket::write_atomic_with_outbox`]).
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Unique among the outbox's messages.
    pub id: String,
    pub payload: Bytes,
}

/// A KV bucket. Cheap to clone.
///
/// A bucket whose stream disappears (memory storage on a server that
/// restarted, say) is provisioned again by the next operation that finds it
/// gone, so callers never need to reopen one.
#[derive(Clone)]
pub struct Bucket {
    broker: Broker,
    config: BucketConfig,
    name: String,
    stream: stream::Stream,
    kv: kv::Store,
    raw_keys: bool,
    /// Read from the stream leader: with replicas, a direct get may be served by
    /// a follower that has not seen the latest write yet.
    leader_reads: bool,
}

impl Broker {
    /// Opens (creating or updating as needed) a KV bucket.
    pub async fn bucket(&self, config: BucketConfig) -> Result<Bucket> {
        Bucket::open(self, config).await
    }
}

impl Bucket {
    pub(crate) async fn open(broker: &Broker, config: BucketConfig) -> Result<Bucket> {
        if !is_valid_resource_name(&config.name) {
            return Err(Error::Invalid(format!(
                "'{}' is not a valid KV bucket name (use A-Z a-z 0-9 - _)",
                config.name
            )));
        }
        let js = broker.jetstream();
        let (kv, stream) = provision(js, &config).await?;
        Ok(Bucket {
            broker: broker.clone(),
            name: config.name.clone(),
            raw_keys: config.raw_keys,
            config,
            leader_reads: stream.cached_info().config.num_replicas > 1,
            stream,
            kv,
        })
    }

    /// Runs `op`; if the bucket's stream turned out to be gone, provisions the
    /// bucket again and runs `op` once more.
    async fn again_if_gone<T, F>(&self, op: impl Fn() -> F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        match op().await {
            Err(Error::NoStream(_)) => {
                self.provision().await?;
                op().await
            }
            other => other,
        }
    }

    /// Like [`Bucket::again_if_gone`], for operations whose errors do not
    /// tell a missing stream apart: any failure provisions and retries once.
    async fn again_if_failed<T, E, F>(&self, context: &'static str, op: impl Fn() -> F) -> Result<T>
    where
        F: Future<Output = Result<T, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        match op().await {
            Ok(v) => Ok(v),
            Err(_) => {
                self.provision().await?;
                op().await.map_err(|e| Error::nats(context, e))
            }
        }
    }

    async fn provision(&self) -> Result<()> {
        tracing::info!(bucket = %self.name, "Provisioning the KV bucket again.");
        provision(self.broker.jetstream(), &self.config)
            .await
            .map(drop)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn subject(&self, key: &str) -> Result<String> {
        let subject = if self.raw_keys {
            format!("$KV.{}.{key}", self.name)
        } else {
            format!("$KV.{}.{}", self.name, encode_token(key))
        };
        check_subject(&subject).map(|()| subject)
    }

    /// A fence's subject: two tokens, so no encoded key (one token) is ever one.
    fn fence_subject(&self, name: &str) -> Result<String> {
        if self.raw_keys {
            return Err(Error::Invalid(format!(
                "bucket {} has raw keys and no room for fences",
                self.name
            )));
        }
        let subject = format!("$KV.{}.fence.{}", self.name, encode_token(name));
        check_subject(&subject).map(|()| subject)
    }

    /// Reads the latest message of `key`, tombstones included.
    async fn last(&self, key: &str) -> Result<Option<jetstream::message::StreamMessage>> {
        let subject = self.subject(key)?;
        self.again_if_gone(|| self.last_of(&subject)).await
    }

    async fn last_of(&self, subject: &str) -> Result<Option<jetstream::message::StreamMessage>> {
        use stream::{DirectGetErrorKind as Direct, LastRawMessageErrorKind as Raw};
        if self.leader_reads {
            match self.stream.get_last_raw_message_by_subject(subject).await {
                Ok(m) => Ok(Some(m)),
                Err(e) => match e.kind() {
                    Raw::NoMessageFound => Ok(None),
                    Raw::JetStream(js)
                        if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                    {
                        Err(Error::NoStream("KV get"))
                    }
                    _ => Err(Error::nats("KV get", e)),
                },
            }
        } else {
            match self.stream.direct_get_last_for_subject(subject).await {
                Ok(m) => Ok(Some(m)),
                Err(e) => match e.kind() {
                    Direct::NotFound => Ok(None),
                    Direct::ErrorResponse(status, _)
                        if status == async_nats::StatusCode::NO_RESPONDERS =>
                    {
                        Err(Error::NoStream("KV get"))
                    }
                    _ => Err(Error::nats("KV get", e)),
                },
            }
        }
    }

    /// The live value of `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Entry>> {
        let Some(m) = self.last(key).await? else {
            return Ok(None);
        };
        if is_tombstone(&m.headers) {
            return Ok(None);
        }
        let expires_at = m
            .headers
            .get(MESSAGE_TTL)
            .and_then(|v| parse_ttl(v.as_str()))
            .map(|ttl| std::time::SystemTime::from(m.time) + ttl);
        Ok(Some(Entry {
            value: m.payload,
            revision: m.sequence,
            expires_at,
        }))
    }

    /// The keys that hold a live value.
    pub async fn keys(&self) -> Result<Vec<String>> {
        let keys = self
            .again_if_failed("listing KV keys", || self.kv.keys())
            .await?;
        let keys: Vec<String> = keys
            .filter_map(|k| futures::future::ready(k.ok().and_then(|k| key_of(self.raw_keys, k))))
            .collect()
            .await;
        Ok(keys)
    }

    /// The live values of the raw keys under `prefix` (its leading tokens),
    /// as they are now; more than `max` is an error.
    pub async fn list(&self, prefix: &str, max: usize) -> Result<Vec<(String, Entry)>> {
        let filter = format!("$KV.{}.{prefix}.>", self.name);
        let listing = || async {
            let consumer = self
                .stream
                .create_consumer(consumer::push::OrderedConfig {
                    deliver_subject: self.broker.client().new_inbox(),
                    filter_subject: filter.clone(),
                    deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                    replay_policy: consumer::ReplayPolicy::Instant,
                    ..Default::default()
                })
                .await
                .map_err(|e| Error::nats("listing KV keys", e))?;
            let pending = usize::try_from(consumer.cached_info().num_pending).unwrap_or(usize::MAX);
            if pending > max {
                return Err(Error::Invalid(format!(
                    "more than {max} keys under {prefix}"
                )));
            }
            let mut messages = consumer
                .messages()
                .await
                .map_err(|e| Error::nats("listing KV keys", e))?;
            let mut entries = Vec::with_capacity(pending);
            for _ in 0..pending {
                let Some(m) = messages.next().await else {
                    break;
                };
                let m = m.map_err(|e| Error::nats("listing KV keys", e))?;
                let headers = m.headers.clone().unwrap_or_default();
                let revision = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                if is_tombstone(&headers) {
                    continue;
                }
                let prefix_len = self.name.len() + 5;
                let Some(key) = m
                    .subject
                    .get(prefix_len..)
                    .and_then(|k| key_of(self.raw_keys, k.to_owned()))
                else {
                    continue;
                };
                entries.push((
                    key,
                    Entry {
                        value: m.payload.clone(),
                        revision,
                        expires_at: None,
                    },
                ));
            }
            Ok(entries)
        };
        tokio::time::timeout(LIST_TIMEOUT, listing())
            .await
            .unwrap_or(Err(Error::Timeout(LIST_TIMEOUT)))
    }

    /// Creates the durable consumer of the bucket's stream, or binds to it
    /// when it already exists.
    pub async fn consumer(
        &self,
        config: crate::stream::ConsumerConfig,
    ) -> Result<crate::stream::Consumer> {
        match crate::stream::durable(&self.stream, config.clone()).await {
            Ok(c) => Ok(c),
            Err(_) => {
                self.provision().await?;
                crate::stream::durable(&self.stream, config).await
            }
        }
    }

    /// Every key's latest value, then every change as it happens.
    pub async fn watch(&self) -> Result<impl futures::Stream<Item = Change> + Unpin + use<>> {
        self.watch_subjects(">", true).await
    }

    /// Every change from now on (no current values).
    pub async fn changes(&self) -> Result<impl futures::Stream<Item = Change> + Unpin + use<>> {
        self.watch_subjects(">", false).await
    }

    /// Like [`Bucket::watch`], for the raw keys under `prefix` (its leading tokens).
    pub async fn watch_prefix(
        &self,
        prefix: &str,
    ) -> Result<impl futures::Stream<Item = Change> + Unpin + use<>> {
        self.watch_subjects(&format!("{prefix}.>"), true).await
    }

    async fn watch_subjects(
        &self,
        filter: &str,
        current: bool,
    ) -> Result<impl futures::Stream<Item = Change> + Unpin + use<>> {
        let watch = self
            .again_if_failed("watching a KV bucket", || async {
                match current {
                    true => self.kv.watch_with_history(filter).await,
                    false => self.kv.watch(filter).await,
                }
            })
            .await?;
        let raw = self.raw_keys;
        Ok(watch.filter_map(move |entry| {
            futures::future::ready(entry.ok().and_then(|entry| {
                Some(Change {
                    key: key_of(raw, entry.key)?,
                    value: (entry.operation == kv::Operation::Put).then_some(entry.value),
                    revision: entry.revision,
                })
            }))
        }))
    }

    /// Applies one write and returns the new revision.
    pub async fn write(&self, write: Write) -> Result<u64> {
        let subject = self.subject(&write.key)?;
        let (headers, payload) = self.message(&write.op, write.expect)?;
        match self
            .publish(subject.clone(), headers, payload.clone())
            .await
        {
            Err(Error::WrongRevision) if write.expect == Expect::Absent => {
                // Only the first attempt assumed "never written"; a tombstone also
                // counts as absent, so retry against its revision.
                let Some(last) = self.last(&write.key).await? else {
                    return Err(Error::WrongRevision);
                };
                if !is_tombstone(&last.headers) {
                    return Err(Error::WrongRevision);
                }
                let (headers, payload) =
                    self.message(&write.op, Expect::Revision(last.sequence))?;
                self.publish(subject, headers, payload).await
            }
            other => other,
        }
    }

    async fn publish(&self, subject: String, headers: HeaderMap, payload: Bytes) -> Result<u64> {
        self.again_if_gone(|| self.publish_once(subject.clone(), headers.clone(), payload.clone()))
            .await
    }

    async fn publish_once(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<u64> {
        let ack = self
            .broker
            .jetstream()
            .publish_with_headers(subject, headers, payload)
            .await
            .map_err(publish_error)?
            .await
            .map_err(publish_error)?;
        Ok(ack.sequence)
    }

    /// Applies all `writes` or none, as one JetStream atomic batch.
    ///
    /// Every precondition is checked by the server against the state before the
    /// batch; if any fails, nothing is written and `WrongRevision` is returned.
    pub async fn write_atomic(&self, writes: Vec<Write>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        if writes.len() > MAX_BATCH {
            return Err(Error::Invalid(format!(
                "a transaction holds at most {MAX_BATCH} operations, got {}",
                writes.len()
            )));
        }
        let writes = merge_same_keys(writes);
        self.again_if_gone(|| self.commit(&writes, None, &[])).await
    }

    /// Claims the fence `name` for `holder` and returns its token: writes
    /// fenced by an older token fail from now on.
    pub async fn claim_fence(&self, name: &str, holder: &str) -> Result<u64> {
        let subject = self.fence_subject(name)?;
        let value = Bytes::copy_from_slice(holder.as_bytes());
        self.publish(subject, HeaderMap::new(), value).await
    }

    /// Like [`Bucket::write_atomic`], but only while `token` is the latest
    /// claim of the fence `name`; otherwise nothing is written and
    /// `WrongRevision` is returned. The writes themselves are unconditional.
    pub async fn write_fenced(&self, writes: Vec<Write>, name: &str, token: u64) -> Result<()> {
        if writes.iter().any(|w| w.expect != Expect::Any) {
            return Err(Error::Invalid(
                "fenced writes carry no preconditions of their own".into(),
            ));
        }
        if writes.is_empty() || writes.len() > MAX_BATCH {
            return self.write_atomic(writes).await;
        }
        let fence = (self.fence_subject(name)?, token);
        let writes = merge_same_keys(writes);
        self.again_if_gone(|| self.commit(&writes, Some(&fence), &[]))
            .await
    }

    /// The headers and payload that carry `op` under `expect`.
    fn message(&self, op: &Op, expect: Expect) -> Result<(HeaderMap, Bytes)> {
        let mut headers = HeaderMap::new();
        match expect {
            Expect::Any => {}
            Expect::Revision(r) => {
                headers.insert(EXPECTED_LAST_SUBJECT_SEQUENCE, r.to_string().as_str())
            }
            Expect::Absent => headers.insert(EXPECTED_LAST_SUBJECT_SEQUENCE, "0"),
        }
        let (value, ttl) = match op {
            Op::Put { value, ttl } => (value, ttl),
            Op::Schedule {
                value,
                ttl,
                schedule,
            } => {
                headers.insert(SCHEDULE, schedule.pattern.as_str());
                headers.insert(SCHEDULE_TARGET, self.subject(&schedule.target)?.as_str());
                if let Some(zone) = &schedule.time_zone {
                    headers.insert(SCHEDULE_TIME_ZONE, zone.as_str());
                }
                (value, ttl)
            }
            Op::Delete => {
                headers.insert(KV_OPERATION, "DEL");
                return Ok((headers, Bytes::new()));
            }
        };
        if let Some(ttl) = ttl {
            if ttl.as_secs() == 0 {
                return Err(Error::Invalid("a TTL must be at least one second".into()));
            }
            headers.insert(MESSAGE_TTL, ttl.as_secs().to_string().as_str());
        }
        Ok((headers, value.clone()))
    }

    /// Like [`Bucket::write_atomic`], with `outbox` messages stored in the
    /// same batch beside the keys (never keys themselves), for
    /// [`Bucket::outbox_consumer`] to take.
    pub async fn write_atomic_with_outbox(
        &self,
        writes: Vec<Write>,
        outbox: Vec<Outgoing>,
    ) -> Result<()> {
        if writes.len() + outbox.len() > MAX_BATCH {
            return Err(Error::Invalid(format!(
                "a transaction holds at most {MAX_BATCH} operations and messages, got {}",
                writes.len() + outbox.len()
            )));
        }
        let writes = merge_same_keys(writes);
        self.again_if_gone(|| self.commit(&writes, None, &outbox))
            .await
    }

    /// An outbox message's subject: two tokens, so no encoded key is one.
    fn outbox_subject(&self, id: &str) -> Result<String> {
        if self.raw_keys {
            return Err(Error::Invalid(format!(
                "bucket {} has raw keys and no room for an outbox",
                self.name
            )));
        }
        let subject = format!("$KV.{}.outbox.{}", self.name, encode_token(id));
        check_subject(&subject).map(|()| subject)
    }

    /// The durable consumer `name` of the bucket's outbox messages.
    pub async fn outbox_consumer(
        &self,
        name: &str,
        ack_wait: Duration,
    ) -> Result<crate::stream::Consumer> {
        self.consumer(crate::stream::ConsumerConfig {
            name: name.to_owned(),
            filter_subject: format!("$KV.{}.outbox.*", self.name),
            deliver_policy: consumer::DeliverPolicy::All,
            max_deliver: -1,
            // Few in hand at a time, so those a dead relay held come back soon.
            max_ack_pending: 64,
            ack_wait,
            inactive_threshold: None,
            pinned: None,
        })
        .await
    }

    /// Removes outbox message `id`, once it has been passed on.
    pub async fn remove_outbox(&self, id: &str) -> Result<()> {
        let subject = self.outbox_subject(id)?;
        self.stream
            .purge()
            .filter(subject)
            .await
            .map(drop)
            .map_err(|e| Error::nats("removing an outbox message", e))
    }

    /// Sends `writes` (one per key) as one atomic batch, checked against
    /// `fence` (a subject and its expected last sequence) when given.
    async fn commit(
        &self,
        writes: &[Write],
        fence: Option<&(String, u64)>,
        outbox: &[Outgoing],
    ) -> Result<()> {
        let mut messages = Vec::with_capacity(writes.len());
        for w in writes {
            let expect = match w.expect {
                // A batch cannot retry one message, so resolve "absent" to the
                // revision it must still have when the batch commits.
                Expect::Absent => match self.last(&w.key).await? {
                    None => Expect::Revision(0),
                    Some(m) if is_tombstone(&m.headers) => Expect::Revision(m.sequence),
                    Some(_) => return Err(Error::WrongRevision),
                },
                other => other,
            };
            let (headers, payload) = self.message(&w.op, expect)?;
            messages.push(batch::Message {
                subject: self.subject(&w.key)?,
                headers,
                payload,
            });
        }
        for m in outbox {
            messages.push(batch::Message {
                subject: self.outbox_subject(&m.id)?,
                headers: HeaderMap::new(),
                payload: m.payload.clone(),
            });
        }
        if let (Some(first), Some((fence, token))) = (messages.first_mut(), fence) {
            // The batch is all or nothing, so checking the fence once fences it all.
            first
                .headers
                .insert(EXPECTED_LAST_SUBJECT_SEQUENCE, token.to_string().as_str());
            first
                .headers
                .insert(EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT, fence.as_str());
        }
        batch::publish(&self.broker, messages).await.map(drop)
    }
}

/// Creates the bucket unless it exists (another node may be creating it at the
/// same moment), with per-key TTLs and atomic batches enabled; returns it and
/// its stream.
async fn provision(
    js: &jetstream::Context,
    config: &BucketConfig,
) -> Result<(kv::Store, stream::Stream)> {
    let kv = match js.get_key_value(&config.name).await {
        Ok(kv) => kv,
        Err(_) => {
            let created = js
                .create_key_value(kv::Config {
                    bucket: config.name.clone(),
                    history: 1,
                    max_age: config.max_age.unwrap_or_default(),
                    num_replicas: config.replicas.max(1),
                    storage: if config.memory {
                        stream::StorageType::Memory
                    } else {
                        stream::StorageType::File
                    },
                    ..Default::default()
                })
                .await;
            match created {
                Ok(kv) => kv,
                // Another node may have created it in the meantime.
                Err(e) => js
                    .get_key_value(&config.name)
                    .await
                    .map_err(|_| Error::nats("creating KV bucket", e))?,
            }
        }
    };
    let stream = js
        .get_stream(format!("KV_{}", config.name))
        .await
        .map_err(|e| Error::nats("opening KV stream", e))?;
    let current = &stream.cached_info().config;
    let schedules_missing = config.schedules
        && (!current.allow_message_schedules || current.discard != stream::DiscardPolicy::Old);
    if !current.allow_message_ttl || !current.allow_atomic_publish || schedules_missing {
        let mut updated = current.clone();
        updated.allow_message_ttl = true;
        updated.allow_atomic_publish = true;
        if config.schedules {
            updated.allow_message_schedules = true;
            updated.discard = stream::DiscardPolicy::Old;
        }
        js.update_stream(updated).await.map_err(|e| {
            Error::nats(
                "enabling TTL, atomic batches and schedules on the KV stream",
                e,
            )
        })?;
    }
    Ok((kv, stream))
}

/// Merges several writes of one key into one: a batch may write a subject once.
/// The first write's precondition is kept (it is checked against the state
/// before the batch) and the last write's operation wins.
fn merge_same_keys(writes: Vec<Write>) -> Vec<Write> {
    let mut merged: Vec<Write> = Vec::with_capacity(writes.len());
    for w in writes {
        match merged.iter_mut().find(|m| m.key == w.key) {
            Some(m) => m.op = w.op,
            None => merged.push(w),
        }
    }
    merged
}

/// The key a stored KV key stands for; fences are no keys.
fn key_of(raw_keys: bool, stored: String) -> Option<String> {
    if raw_keys {
        Some(stored)
    } else if stored.contains('.') {
        None
    } else {
        decode(&stored)
    }
}

fn is_tombstone(headers: &HeaderMap) -> bool {
    headers.get(MARKER_REASON).is_some()
        || headers
            .get(KV_OPERATION)
            .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"))
}

/// Parses a `Nats-TTL` value: seconds, or a Go-style duration such as `30s`.
fn parse_ttl(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let (num, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

fn publish_error(e: jetstream::context::PublishError) -> Error {
    use jetstream::context::PublishErrorKind as K;
    match e.kind() {
        K::WrongLastSequence => Error::WrongRevision,
        K::StreamNotFound => Error::NoStream("KV write"),
        K::MaxPayloadExceeded => Error::PayloadTooLarge(e.to_string()),
        _ => match refused_schedule(&e) {
            Some(why) => Error::Invalid(why),
            None => Error::nats("KV write", e),
        },
    }
}

/// The server's reason when it refused a message schedule (or the TTL that
/// came with it).
fn refused_schedule(e: &jetstream::context::PublishError) -> Option<String> {
    let js = std::error::Error::source(e)?.downcast_ref::<jetstream::Error>()?;
    let code = js.error_code().0;
    (code == 10166 || (10188..=10223).contains(&code)).then(|| js.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_values() {
        assert_eq!(parse_ttl("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_ttl("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_ttl("never"), None);
    }

    #[test]
    fn merges_writes_of_one_key() {
        let put = |key: &str, v: &'static str, expect| Write {
            key: key.into(),
            op: Op::Put {
                value: Bytes::from_static(v.as_bytes()),
                ttl: None,
            },
            expect,
        };
        let merged = merge_same_keys(vec![
            put("a", "1", Expect::Revision(3)),
            put("b", "x", Expect::Any),
            put("a", "2", Expect::Any),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].expect, Expect::Revision(3));
        assert!(matches!(&merged[0].op, Op::Put { value, .. } if value == "2"));
    }
}

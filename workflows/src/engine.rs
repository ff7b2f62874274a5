//! The JetStream driver: workflow instances of one app id kept in one stream,
//! their turns run by the app's workers.
//!
//! - An instance's history is a subject of records (see [`crate::record`]).
//! - Everything that happens to an instance (start, activity results, timers,
//!   events, terminate, suspend, resume) is a message on its inbox subject.
//!   Inboxes fall into [`PARTITIONS`] partitions; each partition has one
//!   durable consumer. The sidecars with a worker connected announce
//!   themselves in placement (as actor hosts do), each pulls the partitions
//!   placement gives it, and the consumer is pinned to one puller at a time,
//!   so a partition's turns run in one sidecar, with its instances'
//!   histories cached, even while views of placement differ.
//! - A turn commits in one atomic batch: its history record (expecting the
//!   history's last sequence, so two owners never both commit), the activity
//!   work it schedules, its timers (message schedules that publish
//!   `timerFired` to the inbox when due) and its messages to other instances.
//!   Only then are the inbox messages it consumed acknowledged; one delivered
//!   again is known by its sequence in the history's records. The turns and
//!   starts of all partitions share batches (group commit).
//! - Activities are messages that every sidecar with a worker pulls from one
//!   shared durable consumer; the result goes to the instance's inbox before
//!   the activity is acknowledged, so a sidecar that dies mid-activity has it
//!   run again elsewhere.
//! - Instance status is a KV entry written after each commit that changes it,
//!   for reads, lists and waits from any sidecar.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use jetway_broker::kv::{Bucket, BucketConfig, Expect, Op, Write};
use jetway_broker::naming::{self, WorkflowNames};
use jetway_broker::placement::{self, HEARTBEAT, Members};
use jetway_broker::stream::{
    Consumer, ConsumerConfig, DeliverPolicy, Delivery, Outgoing, Schedule, Stream, StreamConfig,
};
use jetway_broker::{Broker, HeaderMap};
use prost::Message;
use prost_types::Timestamp;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::commit::Committer;
use crate::machine::{Instance, Rerun, Status, Turn, Work, event};
use crate::proto as pb;
use crate::record::{self, Record, Replayed};
use crate::spill::{self, MAX_SPILLED};
use crate::workers::{Answer, Warm, Workers};
use pb::history_event::EventType;

/// Inbox partitions of an app id: each is one consumer, owned by one sidecar.
pub const PARTITIONS: u32 = 16;
/// How long a silent owner keeps its partition.
const OWNER_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a partition looks at placement.
const PLACEMENT_CHECK: Duration = Duration::from_millis(500);
/// Redelivery of an inbox message its owner has not acknowledged.
const INBOX_ACK_WAIT: Duration = Duration::from_secs(10);
/// Redelivery of an activity whose sidecar stopped saying it is running.
const ACTIVITY_ACK_WAIT: Duration = Duration::from_secs(10);
/// Activities one sidecar runs at once.
const ACTIVITIES_IN_FLIGHT: usize = 256;
/// Longest instance id accepted.
pub const MAX_INSTANCE_ID: usize = 256;
/// Instances an owner keeps in memory before it drops the idle ones.
const MAX_CACHED: usize = 10_000;
/// Answered turns an owner prepares at once.
const MAX_GROUP: usize = 64;
/// Instances one purge by filter removes at most (the caller asks again).
const PURGE_AT_ONCE: u32 = 1_000;
/// How often consumed inbox and activity messages are removed.
const SWEEP: Duration = Duration::from_secs(10);
/// How often a waiter reads the status again without being told of a change.
const WAIT_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such instance exists: {0}")]
    NotFound(String),
    #[error("a workflow with instance ID {0} is already running")]
    AlreadyExists(String),
    #[error("workflow {0} has not finished: only a finished workflow can be purged")]
    NotFinished(String),
    #[error("the instance ID is {0} bytes long, at most {MAX_INSTANCE_ID} are allowed")]
    IdTooLong(usize),
    #[error("instance ID '{0}' is not valid: use letters, digits and - _ : .")]
    IdInvalid(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Rerun(#[from] crate::machine::RerunError),
    #[error(transparent)]
    Broker(#[from] jetway_broker::Error),
}

/// The tag of a status entry that leaves the payloads to the history.
const PAYLOADS_IN_HISTORY: &str = "jetway:payloads-in-history";
/// Room kept in a message for its headers and framing.
const HEADROOM: usize = 4096;

/// Settings of the workflow engine of one app id.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub app_id: String,
    /// Replicas of the stream and bucket (1 on one server, 3 in a cluster).
    pub replicas: usize,
    pub retention: Retention,
}

/// How long finished instances are kept before they are purged (Dapr's
/// `workflow.stateRetentionPolicy`); `None` keeps them until purged.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Retention {
    pub completed: Option<Duration>,
    pub failed: Option<Duration>,
    pub terminated: Option<Duration>,
}

impl Retention {
    fn of(&self, status: Status) -> Option<Duration> {
        match status {
            Status::Completed => self.completed,
            Status::Failed => self.failed,
            Status::Terminated | Status::Canceled => self.terminated,
            _ => None,
        }
    }
}

/// The id of the kind-less inbox event that asks an instance's owner to
/// purge it once its retention has passed.
const EXPIRE: i32 = -2;

/// The workflows of one app id, as this sidecar serves them.
pub struct Engine {
    names: WorkflowNames,
    app_id: String,
    /// This sidecar in placement.
    host: String,
    members: Arc<Members>,
    broker: Broker,
    stream: Stream,
    status: Bucket,
    workers: Arc<Workers>,
    committer: Committer,
    retention: Retention,
    stop: CancellationToken,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Engine {
    /// Opens (creating as needed) the stream and bucket, and owns work while
    /// a worker is connected here.
    pub async fn start(broker: &Broker, config: Config) -> Result<Arc<Engine>, Error> {
        let names = WorkflowNames::new(&config.app_id);
        let stream = broker
            .stream(StreamConfig {
                name: naming::WORKFLOW_STREAM.into(),
                subjects: vec![format!("{}.>", naming::WORKFLOW_PREFIX)],
                replicas: config.replicas,
                memory: false,
                limits: Default::default(),
            })
            .await?;
        let status = broker
            .bucket(BucketConfig {
                name: naming::WORKFLOW_STATUS_BUCKET.into(),
                replicas: config.replicas,
                memory: false,
                max_age: None,
                raw_keys: true,
                schedules: false,
            })
            .await?;
        let committer = Committer::start(stream.clone());
        // Nothing waits on changes: partitions look at placement on their own.
        let changed = Arc::new(tokio::sync::Notify::new());
        let members =
            Members::start(broker, naming::ACTOR_HOSTS_BUCKET, config.replicas, changed).await?;
        let engine = Arc::new(Engine {
            names,
            app_id: config.app_id.clone(),
            host: format!("wf-{}", uuid::Uuid::new_v4().simple()),
            members,
            broker: broker.clone(),
            stream,
            status,
            workers: Arc::new(Workers::default()),
            committer,
            retention: config.retention,
            stop: CancellationToken::new(),
        });
        tokio::spawn(supervise(Arc::downgrade(&engine), engine.stop.clone()));
        Ok(engine)
    }

    /// Whether placement gives `partition` to this sidecar. Until it sees
    /// its own announcement it takes part in every partition: the pinned
    /// consumer still lets only one sidecar at a time take its messages.
    fn is_placed_here(&self, partition: u32) -> bool {
        let role = self.names.placement_role();
        let hosts = self.members.hosts_of(&role);
        !hosts.contains(&self.host)
            || placement::owner(&hosts, &role, partition) == Some(self.host.as_str())
    }

    pub fn workers(&self) -> &Arc<Workers> {
        &self.workers
    }

    /// The largest payload one message of the stream can carry.
    fn payload_limit(&self) -> usize {
        self.broker.max_payload().saturating_sub(HEADROOM)
    }

    /// Refuses a payload larger than the engine carries, naming what it is.
    fn check_size(&self, what: &str, size: usize) -> Result<(), Error> {
        match size > MAX_SPILLED {
            true => Err(Error::TooLarge(format!(
                "{what} is {size} bytes; a workflow carries at most {MAX_SPILLED} in one message"
            ))),
            false => Ok(()),
        }
    }

    /// `message` with its payload by reference when it is larger than a
    /// NATS message (see [`crate::spill`]).
    fn spill(&self, instance: &str, message: Outgoing) -> Vec<Outgoing> {
        spill::spill(&self.names, instance, message, self.payload_limit())
    }

    /// The messages one piece of work of instance `id` sends, each payload
    /// by reference if large (the chunks belong to the addressee).
    fn work_messages(&self, id: &str, work: &Work, now: Timestamp) -> Vec<Outgoing> {
        let to = match work {
            Work::StartChild(request, _) => request.instance_id.as_str(),
            Work::Deliver { instance, .. } | Work::Terminate { instance, .. } => instance,
            _ => id,
        };
        outgoing(&self.names, id, work, now).map_or_else(Vec::new, |m| self.spill(to, m))
    }

    /// Publishes one message to `instance`, its payload by reference if large.
    async fn send(&self, instance: &str, subject: String, payload: Bytes) -> Result<(), Error> {
        let message = Outgoing {
            subject,
            payload,
            ..Default::default()
        };
        // A message alone is a plain publish; one with chunks, a batch.
        match <[Outgoing; 1]>::try_from(self.spill(instance, message)) {
            Ok([m]) => {
                let headers = HeaderMap::new();
                let publish = self
                    .stream
                    .publish(m.subject, headers, m.payload, None, None);
                publish.await?;
            }
            Err(messages) => {
                self.committer.commit(messages).await?;
            }
        }
        Ok(())
    }

    /// What a message of the stream carries, its chunks read if it refers
    /// to them; `None` (logged) when the reference is broken.
    async fn payload_of(&self, payload: &Bytes) -> Result<Option<Bytes>, Error> {
        match spill::resolve(&self.stream, &self.names, payload.clone()).await {
            Ok(payload) => Ok(Some(payload)),
            Err(spill::Unresolved::Read(e)) => Err(e.into()),
            Err(spill::Unresolved::Broken(why)) => {
                tracing::warn!(%why, "A workflow message refers to a payload that cannot be read; dropping it.");
                Ok(None)
            }
        }
    }

    /// Acknowledges a consumed inbox or activity message, and removes the
    /// chunks of its payload, if it had any.
    async fn consumed(&self, delivery: &Delivery) {
        if delivery.ack().await.is_err() {
            return;
        }
        if let Some(blob) = spill::reference(delivery.payload())
            && self.names.is_blob(blob)
            && let Err(error) = self.stream.purge(blob, None).await
        {
            tracing::debug!(%error, blob, "Removing a consumed payload failed; its instance's purge removes it.");
        }
    }

    /// Creates an instance (its id generated when empty) and returns its id.
    pub async fn start_instance(
        &self,
        mut request: pb::CreateInstanceRequest,
    ) -> Result<String, Error> {
        if request.instance_id.is_empty() {
            request.instance_id = uuid::Uuid::new_v4().simple().to_string();
        }
        let id = request.instance_id.clone();
        check_id(&id)?;
        let key = self.names.status_key(&id);
        let current = self.status.get(&key).await?;
        if let Some(entry) = &current
            && !is_finished(&decode_state(&entry.value)?)
        {
            return Err(Error::AlreadyExists(id));
        }
        let history = self.names.history(&id);
        let last = self.stream.last_sequence(&history).await?;
        let now = now();
        self.check_size("the workflow's input", request.encoded_len())?;
        let instance = Instance::start(&request, None, now);
        let started = instance.inbox[0].encode_to_vec().into();
        let inbox = self.names.inbox(partition(&id), &id);
        let start = match request
            .scheduled_start_timestamp
            .filter(|at| system_time(*at) > SystemTime::now())
        {
            Some(at) => Outgoing {
                subject: self.names.timer(&id, 0),
                payload: started,
                schedule: Some(Schedule {
                    at: system_time(at),
                    target: inbox,
                }),
                ..Default::default()
            },
            None => Outgoing {
                subject: inbox,
                payload: started,
                ..Default::default()
            },
        };
        let created = Outgoing {
            subject: history,
            payload: Record {
                reset: true,
                ..Default::default()
            }
            .encode(),
            expect_last: Some(last),
            schedule: None,
        };
        let mut messages = self.spill(&id, start);
        messages.push(created);
        match self.committer.commit(messages).await {
            Err(jetway_broker::Error::WrongRevision) => return Err(Error::AlreadyExists(id)),
            other => other?,
        };
        // The owner may have written a newer status already: then this one loses.
        let expect = current.map_or(Expect::Absent, |e| Expect::Revision(e.revision));
        let pending = self.status_entry(&instance);
        match self.write_status(&id, pending, expect).await {
            Ok(()) | Err(Error::Broker(jetway_broker::Error::WrongRevision)) => {}
            Err(e) => return Err(e),
        }
        Ok(id)
    }

    /// Runs a finished top-level instance again from one of its activities,
    /// timers or child workflows, as a new instance (Dapr's
    /// `RerunWorkflowFromEvent`); returns the new instance's id.
    pub async fn rerun(&self, request: pb::RerunWorkflowFromEventRequest) -> Result<String, Error> {
        let source = request.source_instance_id;
        let Some(state) = self.get(&source, false).await? else {
            return Err(Error::NotFound(source));
        };
        if !is_finished(&state) {
            return Err(Error::Invalid(format!(
                "workflow {source} is not in a terminal state: only a finished workflow can be rerun"
            )));
        }
        if state.parent_instance_id.is_some() {
            return Err(Error::Invalid(format!(
                "workflow {source} is a child workflow: rerun its parent instead"
            )));
        }
        let new_id = request
            .new_instance_id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        check_id(&new_id)?;
        if let Some(child) = &request.new_child_workflow_instance_id {
            check_id(child)?;
        }
        let key = self.names.status_key(&new_id);
        if self.status.get(&key).await?.is_some() {
            return Err(Error::AlreadyExists(new_id));
        }
        let rerun = Rerun {
            event_id: i32::try_from(request.event_id).unwrap_or(i32::MAX),
            new_id: new_id.clone(),
            input: request.overwrite_input.then_some(request.input),
            child_id: request.new_child_workflow_instance_id,
        };
        let (replayed, _) = self.load(&source).await?;
        let now = now();
        let (instance, work) = replayed.instance.rerun(&rerun, now)?;
        let history = self.names.history(&new_id);
        let last = self.stream.last_sequence(&history).await?;
        let record = Record {
            reset: true,
            history: instance.history.clone(),
            ..Default::default()
        }
        .encode();
        self.check_size("the rerun workflow's history", record.len())?;
        let mut messages: Vec<Outgoing> = work
            .iter()
            .flat_map(|w| self.work_messages(&new_id, w, now))
            .collect();
        messages.extend(self.spill(
            &new_id,
            Outgoing {
                subject: history,
                payload: record,
                expect_last: Some(last),
                schedule: None,
            },
        ));
        match self.committer.commit(messages).await {
            Err(jetway_broker::Error::WrongRevision) => return Err(Error::AlreadyExists(new_id)),
            other => other?,
        };
        let state = self.status_entry(&instance);
        match self.write_status(&new_id, state, Expect::Absent).await {
            Ok(()) | Err(Error::Broker(jetway_broker::Error::WrongRevision)) => Ok(new_id),
            Err(e) => Err(e),
        }
    }

    /// The instance's state, if it exists; inputs, outputs and custom status
    /// only `with_payloads`.
    pub async fn get(
        &self,
        id: &str,
        with_payloads: bool,
    ) -> Result<Option<pb::WorkflowState>, Error> {
        let Some(entry) = self.status.get(&self.names.status_key(id)).await? else {
            return Ok(None);
        };
        let mut state = decode_state(&entry.value)?;
        if state.tags.remove(PAYLOADS_IN_HISTORY).is_some() && with_payloads {
            // Too large for the status entry: read from the history.
            let (replayed, _) = self.load(id).await?;
            let full = replayed.instance.state(true);
            (state.input, state.output, state.custom_status) =
                (full.input, full.output, full.custom_status);
        }
        if !with_payloads {
            state.input = None;
            state.output = None;
            state.custom_status = None;
        }
        Ok(Some(state))
    }

    /// Waits until the instance's state satisfies `done` (or it does not
    /// exist), and returns it. The caller's deadline bounds the wait.
    pub async fn wait(
        &self,
        id: &str,
        with_payloads: bool,
        done: impl Fn(&pb::WorkflowState) -> bool,
    ) -> Result<Option<pb::WorkflowState>, Error> {
        let mut changes = self.broker.subscribe(self.names.changed(id)).await?;
        loop {
            match self.get(id, with_payloads).await? {
                Some(state) if !done(&state) => {}
                other => return Ok(other),
            }
            let _ = tokio::time::timeout(WAIT_POLL, changes.next()).await;
        }
    }

    /// Adds `event` to the inbox of an existing instance.
    pub async fn deliver(&self, id: &str, kind: EventType) -> Result<(), Error> {
        if self.status.get(&self.names.status_key(id)).await?.is_none() {
            return Err(Error::NotFound(id.to_owned()));
        }
        let event = event(-1, now(), kind);
        self.check_size("the event", event.encoded_len())?;
        let payload = event.encode_to_vec().into();
        self.send(id, self.names.inbox(partition(id), id), payload)
            .await
    }

    /// Removes a finished instance's history and status (and its children's,
    /// if `recursive`); `force` removes it running or not. Returns how many
    /// instances were removed.
    pub async fn purge(&self, id: &str, recursive: bool, force: bool) -> Result<u32, Error> {
        let Some(state) = self.get(id, false).await? else {
            return Ok(0);
        };
        if !force && !is_finished(&state) {
            return Err(Error::NotFinished(id.to_owned()));
        }
        let mut removed = 1;
        if recursive {
            let replayed = self.load(id).await?.0;
            for child in replayed.instance.children() {
                removed += Box::pin(self.purge(child, true, force)).await?;
            }
        }
        self.stream.purge(&self.names.history(id), None).await?;
        self.stream.purge(&self.names.timers(id), None).await?;
        self.stream.purge(&self.names.blobs(id), None).await?;
        self.status
            .write(Write {
                key: self.names.status_key(id),
                op: Op::Delete,
                expect: Expect::Any,
            })
            .await?;
        Ok(removed)
    }

    /// Purges the instances `filter` matches (finished ones, or any with
    /// `force`), at most [`PURGE_AT_ONCE`] of them; returns how many were
    /// removed and whether that was all.
    pub async fn purge_matching(
        &self,
        filter: &pb::PurgeInstanceFilter,
        recursive: bool,
        force: bool,
    ) -> Result<(u32, bool), Error> {
        let within = |at: Option<Timestamp>| {
            let at = at.map_or(SystemTime::UNIX_EPOCH, system_time);
            filter
                .created_time_from
                .is_none_or(|from| at >= system_time(from))
                && filter.created_time_to.is_none_or(|to| at < system_time(to))
        };
        let mut removed = 0;
        for id in self.ids().await? {
            let Some(state) = self.get(&id, false).await? else {
                continue;
            };
            let matches = (force || is_finished(&state))
                && within(state.created_timestamp)
                && (filter.runtime_status.is_empty()
                    || filter.runtime_status.contains(&state.workflow_status));
            if !matches {
                continue;
            }
            if removed >= PURGE_AT_ONCE {
                return Ok((removed, false));
            }
            removed += self.purge(&id, recursive, force).await?;
        }
        Ok((removed, true))
    }

    /// The committed history of the instance's current execution: while it
    /// runs, as its worker replays it (a stateful worker that lost its copy
    /// reads it here); once finished, every record.
    pub async fn history(&self, id: &str) -> Result<Vec<pb::HistoryEvent>, Error> {
        let (replayed, _) = self.load(id).await?;
        if !replayed.exists {
            return Err(Error::NotFound(id.to_owned()));
        }
        let instance = replayed.instance;
        Ok(match instance.is_finished() {
            true => instance.history,
            false => instance.past_events(),
        })
    }

    /// A page of the app's instance ids, after `after` (exclusive).
    pub async fn list(
        &self,
        after: Option<&str>,
        size: usize,
    ) -> Result<(Vec<String>, Option<String>), Error> {
        let mut ids = self.ids().await?;
        ids.sort();
        let start = after.map_or(0, |a| ids.partition_point(|id| id.as_str() <= a));
        let page: Vec<String> = ids.into_iter().skip(start).take(size.max(1)).collect();
        let next = (page.len() == size.max(1))
            .then(|| page.last().cloned())
            .flatten();
        Ok((page, next))
    }

    /// The ids of the app's instances, in no order.
    async fn ids(&self) -> Result<Vec<String>, Error> {
        let prefix = self.names.status_prefix();
        Ok(self
            .status
            .keys()
            .await?
            .into_iter()
            .filter_map(|k| {
                k.strip_prefix(&prefix)
                    .and_then(jetway_broker::codec::decode)
            })
            .collect())
    }

    /// The instance's records replayed, and the sequence of the last.
    async fn load(&self, id: &str) -> Result<(Replayed, u64), Error> {
        let mut records = self
            .stream
            .subject_messages(&self.names.history(id), 0)
            .await?;
        for (_, record) in &mut records {
            *record = match spill::resolve(&self.stream, &self.names, record.clone()).await {
                Ok(record) => record,
                Err(spill::Unresolved::Read(e)) => return Err(e.into()),
                Err(spill::Unresolved::Broken(why)) => {
                    return Err(Error::Corrupt(format!("a record of workflow {id}: {why}")));
                }
            };
        }
        let last = records.last().map_or(0, |(seq, _)| *seq);
        let replayed = record::replay(id, &records).map_err(Error::Corrupt)?;
        Ok((replayed, last))
    }

    /// The status entry of `instance`: its state, without the payloads
    /// (left to the history) when they would not fit in one message.
    fn status_entry(&self, instance: &Instance) -> Bytes {
        let mut state = instance.state(true);
        if state.encoded_len() > self.payload_limit() {
            state = instance.state(false);
            state.tags.insert(PAYLOADS_IN_HISTORY.into(), String::new());
        }
        state.encode_to_vec().into()
    }

    async fn write_status(&self, id: &str, value: Bytes, expect: Expect) -> Result<(), Error> {
        self.status
            .write(Write {
                key: self.names.status_key(id),
                op: Op::Put { value, ttl: None },
                expect,
            })
            .await?;
        // Wake whoever waits for it; a waiter also reads again on its own.
        let _ = self
            .broker
            .client()
            .publish(self.names.changed(id), Bytes::new())
            .await;
        Ok(())
    }
}

/// Runs the partitions and activities while a worker is connected here.
async fn supervise(engine: std::sync::Weak<Engine>, stop: CancellationToken) {
    let Some(mut count) = engine.upgrade().map(|e| e.workers.count()) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = count.wait_for(|n| *n > 0) => if changed.is_err() { return },
        }
        let serving = stop.child_token();
        let Some(engine) = engine.upgrade() else {
            return;
        };
        tokio::spawn(announce(engine.clone(), serving.clone()));
        for partition in 0..PARTITIONS {
            tokio::spawn(own(engine.clone(), partition, serving.clone()));
        }
        tokio::spawn(run_activities(engine.clone(), serving.clone()));
        drop(engine);
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = count.wait_for(|n| *n == 0) => {}
        }
        serving.cancel();
    }
}

/// Announces this sidecar as serving the app's workflows until `stop`, then
/// withdraws it, so the others take its partitions at once.
async fn announce(engine: Arc<Engine>, stop: CancellationToken) {
    let role = [engine.names.placement_role()];
    loop {
        let announced = engine.members.announce(&engine.host, &engine.app_id, &role);
        if let Err(error) = announced.await {
            tracing::warn!(%error, "Announcing the workflow host failed.");
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
    let _ = engine.members.withdraw(&engine.host).await;
}

/// One instance of an owned partition.
struct Cached {
    replayed: Replayed,
    /// Sequence of the history's last record.
    last: u64,
    /// Inbox messages whose events wait in the instance's inbox (its tail).
    deliveries: Vec<Delivery>,
    /// The next record starts a new execution.
    reset: bool,
    /// A turn is with a worker.
    busy: bool,
    /// The worker that ran its last turn.
    warm: Option<Warm>,
}

type Done = (String, Turn, Answer, Option<Warm>);

/// A turn applied in memory, waiting for its commit.
struct Prepared {
    id: String,
    /// Its work, then its history record.
    messages: Vec<Outgoing>,
    reset: bool,
    consumed: Vec<u64>,
    /// Inbox messages the turn consumed (the first of its deliveries).
    delivered: usize,
    /// Status, custom status and executions before the turn.
    before: (Status, Option<String>, u32),
}

/// Owns `partition` while this sidecar is its consumer's pinned puller,
/// until `stop`.
async fn own(engine: Arc<Engine>, partition: u32, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if !engine.is_placed_here(partition) {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(PLACEMENT_CHECK) => continue,
            }
        }
        // Served until placement moves it elsewhere.
        let serving = stop.child_token();
        tokio::spawn({
            let (engine, serving) = (engine.clone(), serving.clone());
            async move {
                while engine.is_placed_here(partition) {
                    tokio::select! {
                        _ = serving.cancelled() => return,
                        _ = tokio::time::sleep(PLACEMENT_CHECK) => {}
                    }
                }
                serving.cancel();
            }
        });
        let served = serve_partition(&engine, partition, &serving).await;
        serving.cancel();
        if let Err(error) = served {
            tracing::warn!(partition, %error, "Serving a workflow partition failed; trying again.");
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

async fn serve_partition(
    engine: &Arc<Engine>,
    partition: u32,
    stop: &CancellationToken,
) -> Result<(), Error> {
    let consumer = engine
        .stream
        .consumer(ConsumerConfig {
            name: engine.names.inbox_consumer(partition),
            filter_subject: engine.names.inbox_filter(partition),
            deliver_policy: DeliverPolicy::All,
            max_deliver: -1,
            max_ack_pending: 10_000,
            ack_wait: INBOX_ACK_WAIT,
            inactive_threshold: None,
            pinned: Some(OWNER_TIMEOUT),
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut sweep = tokio::time::interval(SWEEP);
    let mut owner = Owner {
        engine: engine.clone(),
        instances: HashMap::new(),
        turns: JoinSet::new(),
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                // Pulling no more: hand the partition over.
                drop(messages);
                owner.release().await;
                if let Err(error) = consumer.unpin().await {
                    tracing::debug!(partition, %error, "Unpinning a workflow partition failed; its pin times out.");
                }
                return Ok(());
            }
            message = messages.next() => match message {
                Some(Ok(delivery)) => owner.receive(delivery).await,
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(()),
            },
            Some(Ok(done)) = owner.turns.join_next() => {
                // Every answer that is in goes in the same batch.
                let mut answered = vec![done];
                while answered.len() < MAX_GROUP
                    && let Some(Ok(done)) = owner.turns.try_join_next()
                {
                    answered.push(done);
                }
                owner.commit(answered).await;
            }
            _ = sweep.tick() => {
                let filter = engine.names.inbox_filter(partition);
                sweep_below_ack_floor(&engine.stream, &consumer, &filter).await;
            }
        }
    }
}

/// Removes the messages on `filter` that `consumer` has acknowledged: the
/// stream keeps histories, so consumed work must go by itself.
async fn sweep_below_ack_floor(stream: &Stream, consumer: &Consumer, filter: &str) {
    let removed = match consumer.ack_floor().await {
        Ok(0) => return,
        Ok(floor) => stream.purge(filter, Some(floor + 1)).await,
        Err(e) => Err(e),
    };
    if let Err(error) = removed {
        tracing::debug!(%error, filter, "Removing consumed workflow messages failed.");
    }
}

/// The instances of one owned partition.
struct Owner {
    engine: Arc<Engine>,
    instances: HashMap<String, Cached>,
    turns: JoinSet<Done>,
}

impl Owner {
    /// Takes one inbox message into its instance's inbox.
    async fn receive(&mut self, delivery: Delivery) {
        let Some(id) = WorkflowNames::inbox_instance(delivery.subject()) else {
            let _ = delivery.term().await;
            return;
        };
        let payload = match self.engine.payload_of(delivery.payload()).await {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                let _ = delivery.term().await;
                return;
            }
            Err(error) => {
                tracing::warn!(instance = %id, %error, "Reading an inbox message's payload failed; it comes again.");
                let _ = delivery.nak(Duration::from_secs(1)).await;
                return;
            }
        };
        let Ok(event) = pb::HistoryEvent::decode(payload.as_ref()) else {
            tracing::warn!(instance = %id, "An inbox message is not a history event; dropping it.");
            let _ = delivery.term().await;
            return;
        };
        if !self.instances.contains_key(&id) {
            if self.instances.len() >= MAX_CACHED {
                // Idle ones are read again from their history when needed.
                self.instances
                    .retain(|_, c| c.busy || !c.deliveries.is_empty());
            }
            match self.engine.load(&id).await {
                Ok((replayed, last)) => {
                    self.instances.insert(
                        id.clone(),
                        Cached {
                            replayed,
                            last,
                            deliveries: Vec::new(),
                            reset: false,
                            busy: false,
                            warm: None,
                        },
                    );
                }
                Err(error) => {
                    tracing::warn!(instance = %id, %error, "Loading a workflow failed; its message comes again.");
                    let _ = delivery.nak(Duration::from_secs(1)).await;
                    return;
                }
            }
        }
        let cached = self.instances.get_mut(&id).expect("cached above");
        let seq = delivery.sequence();
        if cached.replayed.consumed.contains(&seq) {
            self.engine.consumed(&delivery).await;
            return;
        }
        // Delivered again while it waits: keep the newer delivery to acknowledge.
        if let Some(waiting) = cached.deliveries.iter_mut().find(|d| d.sequence() == seq) {
            *waiting = delivery;
            return;
        }
        if event.event_type.is_none() && event.event_id == EXPIRE {
            self.expire(&id).await;
            self.engine.consumed(&delivery).await;
            return;
        }
        let instance = &mut cached.replayed.instance;
        if matches!(event.event_type, Some(EventType::ExecutionStarted(_))) {
            if instance.started().is_some() && !instance.is_finished() {
                // Started already: a second start changes nothing.
                self.engine.consumed(&delivery).await;
                return;
            }
            if instance.is_finished() || !instance.history.is_empty() {
                *instance = Instance {
                    id: id.clone(),
                    ..Instance::default()
                };
                cached.reset = true;
            }
        } else if instance.started().is_none() {
            tracing::debug!(instance = %id, "A message for no workflow; dropping it.");
            self.engine.consumed(&delivery).await;
            self.instances.remove(&id);
            return;
        }
        if !instance.deliver(event) {
            // Finished: nothing more happens to it.
            self.engine.consumed(&delivery).await;
            self.instances.remove(&id);
            return;
        }
        cached.deliveries.push(delivery);
        self.next_turn(&id);
    }

    /// Hands the instance's next turn to a worker, unless one is out.
    fn next_turn(&mut self, id: &str) {
        let Some(cached) = self.instances.get_mut(id) else {
            return;
        };
        if cached.busy {
            return;
        }
        let Some(turn) = cached.replayed.instance.turn(now()) else {
            return;
        };
        cached.busy = true;
        let warm = cached.warm.take();
        let workers = self.engine.workers.clone();
        let id = id.to_owned();
        self.turns.spawn(async move {
            let item = pb::WorkItem {
                request: Some(pb::work_item::Request::WorkflowRequest(
                    turn.request.clone(),
                )),
                ..Default::default()
            };
            let (answer, warm) = workers.run(item, warm).await;
            (id, turn, answer, warm)
        });
    }

    /// Commits the turns the workers answered (in the sidecar's next batch,
    /// so under load many turns share its cost), then acknowledges what they
    /// consumed.
    async fn commit(&mut self, answered: Vec<Done>) {
        let mut prepared: Vec<Prepared> = answered
            .into_iter()
            .filter_map(|(id, turn, answer, warm)| self.prepare(id, turn, answer, warm))
            .collect();
        let committer = &self.engine.committer;
        let committed = futures::future::join_all(
            prepared
                .iter_mut()
                .map(|p| committer.commit(std::mem::take(&mut p.messages))),
        )
        .await;
        for (p, committed) in prepared.into_iter().zip(committed) {
            match committed {
                Ok(sequence) => self.finish(p, sequence).await,
                Err(error) => {
                    tracing::warn!(instance = %p.id, %error, "Committing a workflow turn failed; it runs again.");
                    self.reload(&p.id).await;
                }
            }
        }
    }

    /// Applies a worker's answer to its instance and builds the messages
    /// that commit it (the history record last).
    fn prepare(
        &mut self,
        id: String,
        turn: Turn,
        answer: Answer,
        warm: Option<Warm>,
    ) -> Option<Prepared> {
        let cached = self.instances.get_mut(&id)?;
        cached.busy = false;
        let Answer::Workflow(mut response) = answer else {
            return None;
        };
        // A worker forgets the history of an execution it ended.
        let ended = response.actions.iter().any(|a| {
            matches!(
                a.workflow_action_type,
                Some(pb::workflow_action::WorkflowActionType::CompleteWorkflow(_))
            )
        });
        cached.warm = warm.filter(|_| !ended && !cached.reset);
        // A turn whose record no message can carry fails the workflow,
        // rather than failing to commit again and again.
        let shown: usize = turn
            .request
            .new_events
            .iter()
            .map(Message::encoded_len)
            .sum();
        if let Err(error) = self
            .engine
            .check_size("the workflow turn", shown + response.encoded_len())
        {
            tracing::warn!(instance = %id, %error, "A workflow turn is too large; the workflow fails.");
            response = failure(&id, "PayloadTooLarge", error.to_string());
        }
        let instance = &mut cached.replayed.instance;
        let before = (
            instance.status(),
            instance.custom_status.clone(),
            instance.continued,
        );
        let history_from = instance.history.len();
        // The inbox holds first the events the records carry, then delivered ones.
        let carried = instance.inbox.len() - cached.deliveries.len();
        let delivered = turn.consumed.saturating_sub(carried);
        let now = now();
        let work = match instance.complete(turn, response, now) {
            Ok(work) => work,
            Err(error) => {
                tracing::warn!(instance = %id, %error, "A worker's answer does not fit its turn; the turn runs again.");
                // Replayed from the committed history when its messages come again.
                let cached = self.instances.remove(&id)?;
                for delivery in cached.deliveries {
                    tokio::spawn(async move { delivery.nak(Duration::from_millis(100)).await });
                }
                return None;
            }
        };
        let continued = instance.continued != before.2;
        let consumed: Vec<u64> = cached.deliveries[..delivered]
            .iter()
            .map(Delivery::sequence)
            .collect();
        let record = Record {
            reset: cached.reset || continued,
            history: match continued {
                true => Vec::new(),
                false => instance.history[history_from..].to_vec(),
            },
            pending: match continued {
                true => instance.inbox
                    [..instance.inbox.len() - (cached.deliveries.len() - delivered)]
                    .to_vec(),
                false => Vec::new(),
            },
            consumed,
            custom_status: instance.custom_status.clone(),
            continued: instance.continued,
        };
        let engine = &self.engine;
        let names = &engine.names;
        let mut messages: Vec<Outgoing> = work
            .iter()
            .flat_map(|w| engine.work_messages(&id, w, now))
            .collect();
        let finished = work.iter().find_map(|w| match w {
            Work::Finished(status) => Some(*status),
            _ => None,
        });
        if let Some(keep) = finished.and_then(|s| self.engine.retention.of(s)) {
            messages.push(Outgoing {
                subject: names.timer(&id, EXPIRE),
                payload: pb::HistoryEvent {
                    event_id: EXPIRE,
                    ..Default::default()
                }
                .encode_to_vec()
                .into(),
                schedule: Some(Schedule {
                    at: SystemTime::now() + keep,
                    target: names.inbox(partition(&id), &id),
                }),
                ..Default::default()
            });
        }
        let record_message = Outgoing {
            subject: names.history(&id),
            payload: record.encode(),
            expect_last: Some(cached.last),
            schedule: None,
        };
        messages.extend(engine.spill(&id, record_message));
        Some(Prepared {
            id,
            messages,
            reset: record.reset,
            consumed: record.consumed,
            delivered,
            before,
        })
    }

    /// After its commit (its record stored at `sequence`): acknowledges the
    /// turn's inbox messages, writes a changed status and starts the next turn.
    async fn finish(&mut self, p: Prepared, sequence: u64) {
        let Some(cached) = self.instances.get_mut(&p.id) else {
            return;
        };
        cached.last = sequence;
        cached.replayed.exists = true;
        if p.reset {
            cached.replayed.consumed.clear();
        }
        cached.reset = false;
        cached.replayed.consumed.extend(&p.consumed);
        for delivery in cached.deliveries.drain(..p.delivered) {
            self.engine.consumed(&delivery).await;
        }
        let instance = &cached.replayed.instance;
        let after = (
            instance.status(),
            instance.custom_status.clone(),
            instance.continued,
        );
        let finished = instance.is_finished();
        if after != p.before {
            let state = self.engine.status_entry(instance);
            if let Err(error) = self.engine.write_status(&p.id, state, Expect::Any).await {
                tracing::warn!(instance = %p.id, %error, "Writing a workflow's status failed.");
            }
        }
        if finished {
            // Nothing more happens to it: free its memory.
            self.instances.remove(&p.id);
        } else {
            self.next_turn(&p.id);
        }
    }

    /// Purges the instance if it finished at least its retention ago (a
    /// reused id may have started again, or finished again more recently).
    async fn expire(&mut self, id: &str) {
        let Some(cached) = self.instances.get(id) else {
            return;
        };
        let instance = &cached.replayed.instance;
        let due = instance
            .state(false)
            .completed_timestamp
            .zip(self.engine.retention.of(instance.status()))
            .is_some_and(|(at, keep)| system_time(at) + keep <= SystemTime::now());
        let running = instance.started().is_some() && !instance.is_finished();
        if running {
            return;
        }
        // Not running: nothing of it needs to stay in memory.
        self.instances.remove(id);
        if !due {
            return;
        }
        match self.engine.purge(id, false, false).await {
            Ok(_) => {
                tracing::debug!(instance = %id, "A finished workflow's retention passed; purged.")
            }
            Err(error) => {
                tracing::warn!(instance = %id, %error, "Purging a workflow past its retention failed.")
            }
        }
    }

    /// Hands the partition over: the waiting messages go to its next owner
    /// at once rather than after their acknowledgement wait.
    async fn release(&mut self) {
        self.turns.abort_all();
        for (_, cached) in self.instances.drain() {
            for delivery in cached.deliveries {
                let _ = delivery.nak(Duration::ZERO).await;
            }
        }
    }

    /// Forgets the instance and has its waiting messages delivered again, to
    /// be replayed from the committed history.
    async fn reload(&mut self, id: &str) {
        if let Some(cached) = self.instances.remove(id) {
            for delivery in cached.deliveries {
                let _ = delivery.nak(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The message one piece of work sends, if any.
fn outgoing(names: &WorkflowNames, id: &str, work: &Work, now: Timestamp) -> Option<Outgoing> {
    let to_inbox = |instance: &str, kind: EventType| Outgoing {
        subject: names.inbox(partition(instance), instance),
        payload: event(-1, now, kind).encode_to_vec().into(),
        ..Default::default()
    };
    Some(match work {
        Work::Activity(request) => Outgoing {
            subject: names.activity(id),
            payload: request.encode_to_vec().into(),
            ..Default::default()
        },
        Work::Timer { id: timer, fire_at } => Outgoing {
            subject: names.timer(id, *timer),
            payload: event(
                -1,
                *fire_at,
                EventType::TimerFired(pb::TimerFiredEvent {
                    fire_at: Some(*fire_at),
                    timer_id: *timer,
                }),
            )
            .encode_to_vec()
            .into(),
            schedule: Some(Schedule {
                at: system_time(*fire_at),
                target: names.inbox(partition(id), id),
            }),
            ..Default::default()
        },
        Work::StartChild(request, parent) => {
            let child = Instance::start(request, Some(parent.clone()), now);
            let started = child.inbox.into_iter().next()?;
            Outgoing {
                subject: names.inbox(partition(&request.instance_id), &request.instance_id),
                payload: started.encode_to_vec().into(),
                ..Default::default()
            }
        }
        Work::Deliver { instance, event } => Outgoing {
            subject: names.inbox(partition(instance), instance),
            payload: event.encode_to_vec().into(),
            ..Default::default()
        },
        Work::Terminate {
            instance,
            reason,
            recurse,
        } => to_inbox(
            instance,
            EventType::ExecutionTerminated(pb::ExecutionTerminatedEvent {
                input: reason.clone(),
                recurse: *recurse,
            }),
        ),
        Work::Finished(_) => return None,
    })
}

/// Runs activities from the app's shared consumer on this sidecar's workers,
/// until `stop`.
async fn run_activities(engine: Arc<Engine>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if let Err(error) = serve_activities(&engine, &stop).await {
            tracing::warn!(%error, "Taking workflow activities failed; trying again.");
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

async fn serve_activities(engine: &Arc<Engine>, stop: &CancellationToken) -> Result<(), Error> {
    let consumer = engine
        .stream
        .consumer(ConsumerConfig {
            name: engine.names.activity_consumer(),
            filter_subject: engine.names.activity_filter(),
            deliver_policy: DeliverPolicy::All,
            max_deliver: -1,
            max_ack_pending: 10_000,
            ack_wait: ACTIVITY_ACK_WAIT,
            inactive_threshold: None,
            pinned: None,
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(ACTIVITIES_IN_FLIGHT));
    let mut running = JoinSet::new();
    let mut sweep = tokio::time::interval(SWEEP);
    let filter = engine.names.activity_filter();
    loop {
        let slot = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
        };
        let delivery = loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = sweep.tick() => sweep_below_ack_floor(&engine.stream, &consumer, &filter).await,
                message = messages.next() => match message {
                    Some(Ok(delivery)) => break delivery,
                    Some(Err(error)) => return Err(error.into()),
                    None => return Ok(()),
                },
            }
        };
        let engine = engine.clone();
        let stop = stop.clone();
        running.spawn(async move {
            run_activity(&engine, delivery, &stop).await;
            drop(slot);
        });
        while running.try_join_next().is_some() {}
    }
}

/// Runs one activity and sends its result to the instance's inbox.
async fn run_activity(engine: &Engine, delivery: Delivery, stop: &CancellationToken) {
    let payload = match engine.payload_of(delivery.payload()).await {
        Ok(Some(payload)) => payload,
        Ok(None) => {
            let _ = delivery.term().await;
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "Reading an activity's payload failed; it comes again.");
            let _ = delivery.nak(Duration::from_secs(1)).await;
            return;
        }
    };
    let Ok(request) = pb::ActivityRequest::decode(payload.as_ref()) else {
        tracing::warn!("An activity message does not decode; dropping it.");
        let _ = delivery.term().await;
        return;
    };
    let item = pb::WorkItem {
        request: Some(pb::work_item::Request::ActivityRequest(request.clone())),
        ..Default::default()
    };
    let mut progress = tokio::time::interval(ACTIVITY_ACK_WAIT / 3);
    progress.tick().await;
    let run = engine.workers.run(item, None);
    tokio::pin!(run);
    let answer = loop {
        tokio::select! {
            (answer, _) = &mut run => break answer,
            _ = progress.tick() => { let _ = delivery.in_progress().await; }
            _ = stop.cancelled() => {
                // No worker here any more: let another sidecar run it.
                let _ = delivery.nak(Duration::ZERO).await;
                return;
            }
        }
    };
    let Answer::Activity(mut response) = answer else {
        return;
    };
    if let Err(error) = engine.check_size("the activity's result", response.encoded_len()) {
        response.result = None;
        response.failure_details = Some(pb::TaskFailureDetails {
            error_type: "PayloadTooLarge".into(),
            error_message: error.to_string(),
            is_non_retriable: true,
            ..Default::default()
        });
    }
    let instance = request
        .workflow_instance
        .map(|w| w.instance_id)
        .unwrap_or_default();
    let kind = match response.failure_details {
        Some(failure) => EventType::TaskFailed(pb::TaskFailedEvent {
            task_scheduled_id: request.task_id,
            failure_details: Some(failure),
            task_execution_id: request.task_execution_id.clone(),
            ..Default::default()
        }),
        None => EventType::TaskCompleted(pb::TaskCompletedEvent {
            task_scheduled_id: request.task_id,
            result: response.result,
            task_execution_id: request.task_execution_id.clone(),
            ..Default::default()
        }),
    };
    let payload = event(-1, now(), kind).encode_to_vec().into();
    let subject = engine.names.inbox(partition(&instance), &instance);
    match engine.send(&instance, subject, payload).await {
        Ok(()) => engine.consumed(&delivery).await,
        Err(error) => {
            tracing::warn!(%instance, %error, "Sending an activity's result failed; the activity runs again.");
            let _ = delivery.nak(Duration::from_secs(1)).await;
        }
    }
}

/// A worker's answer that fails the workflow with `error_type` and `message`.
fn failure(id: &str, error_type: &str, message: String) -> pb::WorkflowResponse {
    use pb::workflow_action::WorkflowActionType as Action;
    let failed = pb::CompleteWorkflowAction {
        workflow_status: Status::Failed as i32,
        failure_details: Some(pb::TaskFailureDetails {
            error_type: error_type.into(),
            error_message: message,
            is_non_retriable: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    pb::WorkflowResponse {
        instance_id: id.to_owned(),
        actions: vec![pb::WorkflowAction {
            id: -1,
            workflow_action_type: Some(Action::CompleteWorkflow(failed)),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The inbox partition of an instance.
pub fn partition(id: &str) -> u32 {
    naming::partition(id, PARTITIONS)
}

/// Refuses an instance id that is too long or holds characters Dapr does
/// not allow.
pub fn check_id(id: &str) -> Result<(), Error> {
    if id.len() > MAX_INSTANCE_ID {
        return Err(Error::IdTooLong(id.len()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.');
    if id.is_empty() || !id.chars().all(allowed) {
        return Err(Error::IdInvalid(id.to_owned()));
    }
    Ok(())
}

fn decode_state(value: &[u8]) -> Result<pb::WorkflowState, Error> {
    pb::WorkflowState::decode(value)
        .map_err(|e| Error::Corrupt(format!("a workflow's status does not decode: {e}")))
}

pub fn is_finished(state: &pb::WorkflowState) -> bool {
    matches!(
        Status::try_from(state.workflow_status),
        Ok(Status::Completed | Status::Failed | Status::Terminated | Status::Canceled)
    )
}

fn now() -> Timestamp {
    Timestamp::from(SystemTime::now())
}

fn system_time(at: Timestamp) -> SystemTime {
    SystemTime::try_from(at).unwrap_or(SystemTime::UNIX_EPOCH)
}

//! The jobs building block, on JetStream message schedules: no process of
//! ours keeps time, so jobs outlive every sidecar.
//!
//! One KV bucket holds every app's jobs, under raw keys `<app>.<kind>.<name>`:
//!
//! - `job`: the definition, for GET and listing. It is itself the message
//!   schedule: `@at <due time>` for a one-shot job (the server removes it
//!   when it fires, as Dapr deletes a finished job), the repeating pattern for
//!   a job with a schedule, plain while a due time comes first;
//! - `due`: a job with both a due time and a schedule fires at `@at` first,
//!   from here; the trigger then arms the repeating pattern on `job`;
//! - `fire`: where the schedules publish. The bucket keeps one message per
//!   key, so triggers missed while no replica ran collapse into one;
//! - `count`: how often a job with `repeats` has fired.
//!
//! The replicas of an app share one durable consumer of their `fire` keys,
//! so each trigger reaches one of them; a failed trigger is redelivered as
//! the job's failure policy says, and acknowledged only when done.

mod spec;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use jetway_broker::codec::{encode_name_part, encode_token};
use jetway_broker::kv::{Bucket, BucketConfig, Expect, Op, Schedule, Write};
use jetway_broker::stream::{ConsumerConfig, DeliverPolicy, Delivery};
use jetway_broker::{self as broker, Broker};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use spec::{Data, FailurePolicy, Job, MAX_NAME};

const BUCKET: &str = "jetway_jobs";
/// Jobs one listing returns at most.
pub const MAX_LIST: usize = 100_000;
/// How long a trigger may stay unacknowledged before another replica gets it.
const ACK_WAIT: Duration = Duration::from_secs(90);
const KV_OPERATION: &str = "KV-Operation";
const SCHEDULER: &str = "Nats-Scheduler";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Name is empty")]
    NameEmpty,
    #[error("Schedule is empty")]
    ScheduleEmpty,
    /// The job breaks a rule of the scheduler.
    #[error("{0}")]
    Invalid(String),
    #[error("job already exists: {0}")]
    Exists(String),
    #[error("job not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Backend(String),
}

impl From<broker::Error> for Error {
    fn from(e: broker::Error) -> Error {
        match e {
            broker::Error::Invalid(why) | broker::Error::PayloadTooLarge(why) => {
                Error::Invalid(why)
            }
            other => Error::Backend(other.to_string()),
        }
    }
}

/// The app's side of a trigger.
#[async_trait::async_trait]
pub trait JobApp: Send + Sync {
    /// Delivers one trigger; `Err` says why the app did not take it.
    async fn trigger(&self, name: &str, data: &Data) -> Result<(), String>;
}

/// A job as stored: what the app asked for, and the version it is.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// Tells this version of the job from an earlier one of the same name.
    id: String,
    /// No fire after this (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<i64>,
    job: Job,
}

/// The jobs of one app.
pub struct Jobs {
    bucket: Bucket,
    app_id: String,
    /// The app id as a key token.
    app: String,
    /// Largest record a key may hold.
    max_record: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn time_of(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The `Nats-TTL` that ends a key at `expires` (whole seconds, rounded up).
fn ttl_until(expires: Option<i64>, now: i64) -> Option<Duration> {
    let left = expires?.saturating_sub(now).max(1);
    Some(Duration::from_secs(
        u64::try_from(left).unwrap_or(0).div_ceil(1000),
    ))
}

fn delete(key: String) -> Write {
    Write {
        key,
        op: Op::Delete,
        expect: Expect::Any,
    }
}

impl Jobs {
    pub async fn open(broker: &Broker, app_id: &str) -> broker::Result<Jobs> {
        let bucket = broker
            .bucket(BucketConfig {
                name: BUCKET.into(),
                replicas: 1,
                memory: false,
                max_age: None,
                raw_keys: true,
                schedules: true,
            })
            .await?;
        Ok(Jobs {
            bucket,
            app_id: app_id.to_owned(),
            app: encode_token(app_id),
            max_record: broker.max_payload().saturating_sub(4096),
        })
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}.{kind}.{}", self.app, encode_token(name))
    }

    /// Schedules `job`; one of the same name is replaced only if `overwrite`.
    pub async fn schedule(&self, job: Job, overwrite: bool) -> Result<(), Error> {
        let now = now_ms();
        let plan = spec::plan(&job, now)?;
        let name = job.name.clone();
        let record = Record {
            id: uuid::Uuid::new_v4().simple().to_string(),
            expires: plan.expires,
            job,
        };
        let value = bytes::Bytes::from(serde_json::to_vec(&record).expect("jobs serialize"));
        if value.len() > self.max_record {
            return Err(Error::Invalid(format!(
                "the job takes {} bytes, at most {} fit",
                value.len(),
                self.max_record
            )));
        }
        let ttl = ttl_until(plan.expires, now);
        let fire = self.key("fire", &name);
        let repeating = plan.pattern.clone().map(|pattern| Schedule {
            pattern,
            time_zone: plan.time_zone.clone(),
            target: fire.clone(),
        });
        let definition = match (plan.due, repeating) {
            (None, Some(schedule)) => Op::Schedule {
                value: value.clone(),
                ttl,
                schedule,
            },
            (Some(due), None) => Op::Schedule {
                value: value.clone(),
                ttl,
                schedule: Schedule::at(time_of(due), fire.clone()),
            },
            // A due time, then the schedule: `due` fires first.
            _ => Op::Put {
                value: value.clone(),
                ttl,
            },
        };
        let due = match plan.due.filter(|_| plan.pattern.is_some()) {
            Some(due) => Write {
                key: self.key("due", &name),
                op: Op::Schedule {
                    value,
                    ttl,
                    schedule: Schedule::at(time_of(due), fire.clone()),
                },
                expect: Expect::Any,
            },
            None => delete(self.key("due", &name)),
        };
        let job_key = self.key("job", &name);
        for _ in 0..3 {
            let existing = match overwrite {
                true => self.bucket.get(&job_key).await?,
                false => None,
            };
            let mut writes = vec![Write {
                key: job_key.clone(),
                op: definition.clone(),
                expect: existing
                    .as_ref()
                    .map_or(Expect::Absent, |e| Expect::Revision(e.revision)),
            }];
            // A replaced job's pending trigger, count and first fire go with it.
            if existing.is_some() || matches!(due.op, Op::Schedule { .. }) {
                writes.push(due.clone());
            }
            if existing.is_some() {
                writes.push(delete(fire.clone()));
                writes.push(delete(self.key("count", &name)));
            }
            let written = match writes.len() {
                1 => self.bucket.write(writes.remove(0)).await.map(drop),
                _ => self.bucket.write_atomic(writes).await,
            };
            match written {
                Ok(()) => return Ok(()),
                Err(broker::Error::WrongRevision) if !overwrite => {
                    return Err(Error::Exists(format!("{}||{name}", self.app_id)));
                }
                // Changed under us: read it again.
                Err(broker::Error::WrongRevision) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Backend(format!(
            "job {name} kept changing while it was being scheduled"
        )))
    }

    async fn record(&self, name: &str) -> Result<Option<(Record, u64)>, Error> {
        let Some(entry) = self.bucket.get(&self.key("job", name)).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&entry.value)
            .map_err(|e| Error::Backend(format!("job {name} is unreadable: {e}")))?;
        Ok(Some((record, entry.revision)))
    }

    pub async fn get(&self, name: &str) -> Result<Job, Error> {
        spec::check_name(name)?;
        match self.record(name).await? {
            Some((record, _)) => Ok(record.job),
            None => Err(Error::NotFound(name.to_owned())),
        }
    }

    /// Deletes the job (deleting a job that does not exist is no error).
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        spec::check_name(name)?;
        self.bucket
            .write_atomic(
                ["job", "due", "fire", "count"]
                    .map(|kind| delete(self.key(kind, name)))
                    .into(),
            )
            .await
            .map_err(Error::from)
    }

    /// The app's jobs, by name.
    pub async fn list(&self) -> Result<Vec<Job>, Error> {
        let entries = self
            .bucket
            .list(&format!("{}.job", self.app), MAX_LIST)
            .await?;
        let mut jobs: Vec<Job> = entries
            .into_iter()
            .filter_map(|(_, e)| serde_json::from_slice::<Record>(&e.value).ok())
            .map(|r| r.job)
            .collect();
        jobs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(jobs)
    }

    /// Deletes every job whose name starts with `prefix` (all for "").
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), Error> {
        for job in self.list().await? {
            if job.name.starts_with(prefix) {
                self.delete(&job.name).await?;
            }
        }
        Ok(())
    }

    /// Delivers the app's triggers until `stop`, `concurrency` at a time.
    pub async fn run(
        self: Arc<Self>,
        app: Arc<dyn JobApp>,
        concurrency: usize,
        stop: CancellationToken,
    ) {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let config = ConsumerConfig {
            name: format!("jobs_{}", encode_name_part(&self.app)),
            filter_subject: format!("$KV.{BUCKET}.{}.fire.*", self.app),
            deliver_policy: DeliverPolicy::All,
            max_deliver: -1,
            // Twice what is handled at once, so a freed slot finds a trigger waiting.
            max_ack_pending: i64::try_from(concurrency.max(1) * 2).unwrap_or(i64::MAX),
            ack_wait: ACK_WAIT,
            inactive_threshold: None,
            pinned: None,
        };
        while !stop.is_cancelled() {
            let messages = match self.bucket.consumer(config.clone()).await {
                Ok(consumer) => consumer.messages().await,
                Err(e) => Err(e),
            };
            let mut messages = match messages {
                Ok(m) => m,
                Err(error) => {
                    tracing::error!(%error, "Consuming job triggers failed; retrying.");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    biased;
                    _ = stop.cancelled() => None,
                    m = messages.next() => m,
                };
                let delivery = match next {
                    Some(Ok(d)) => d,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "A job trigger could not be read.");
                        continue;
                    }
                    None => break,
                };
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let (jobs, app) = (self.clone(), app.clone());
                tokio::spawn(async move {
                    jobs.handle(app.as_ref(), delivery).await;
                    drop(permit);
                });
            }
            if !stop.is_cancelled() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let _ = permits.acquire_many(concurrency.max(1) as u32).await;
    }

    async fn handle(&self, app: &dyn JobApp, delivery: Delivery) {
        let headers = delivery.headers();
        if headers.is_some_and(|h| h.get(KV_OPERATION).is_some()) {
            // A deleted or replaced job's trigger, withdrawn.
            let _ = delivery.ack().await;
            return;
        }
        let Ok(record) = serde_json::from_slice::<Record>(delivery.payload()) else {
            tracing::warn!(
                subject = delivery.subject(),
                "An unreadable job trigger was dropped."
            );
            let _ = delivery.term().await;
            return;
        };
        let first = headers.and_then(|h| h.get(SCHEDULER)).is_some_and(|s| {
            s.as_str()
                .ends_with(&format!(".due.{}", encode_token(&record.job.name)))
        });
        let name = &record.job.name;
        let live = record.expires.is_none_or(|e| now_ms() <= e);
        if live && let Err(why) = app.trigger(name, &record.job.data).await {
            let attempt = u32::try_from(delivery.delivered()).unwrap_or(u32::MAX);
            let policy = record
                .job
                .failure_policy
                .as_ref()
                .unwrap_or(&FailurePolicy::DEFAULT);
            if let Some(after) = policy.retry_after(attempt) {
                tracing::debug!(job = %name, attempt, %why, "The app failed a job trigger; it will be retried.");
                let _ = delivery.nak(after).await;
                return;
            }
            tracing::warn!(job = %name, attempt, %why, "The app failed a job trigger; it is given up.");
        }
        if let Err(error) = self.after_trigger(&record, first).await {
            tracing::warn!(job = %name, %error, "A job's state could not be moved on after its trigger.");
        }
        let _ = delivery.ack().await;
    }

    /// Moves the job on after a trigger it is done with: arms its repeating
    /// pattern after the first fire at its due time, counts repeats, and
    /// deletes it after its last fire.
    async fn after_trigger(&self, fired: &Record, first: bool) -> Result<(), Error> {
        let name = &fired.job.name;
        let now = now_ms();
        let expired = fired.expires.is_some_and(|e| now > e);
        let Some(schedule) = fired.job.schedule.as_ref() else {
            // A one-shot job: the server removed it when it fired.
            return Ok(());
        };
        if !first && !expired && fired.job.repeats.is_none() {
            // A repeating job runs on by itself: nothing to read or write.
            return Ok(());
        }
        let Some((current, revision)) = self.record(name).await? else {
            return Ok(());
        };
        if current.id != fired.id {
            // Replaced since: the new version goes its own way.
            return Ok(());
        }
        let fires = match fired.job.repeats {
            Some(repeats) => {
                let n = self.count(name, fired).await?;
                (n >= repeats).then_some(())
            }
            None => None,
        };
        if fires.is_some() || expired {
            return self.remove_version(name, revision).await;
        }
        if first {
            let (pattern, time_zone) = spec::pattern(schedule).map_err(Error::Invalid)?;
            let value = serde_json::to_vec(&current).expect("jobs serialize").into();
            let armed = Write {
                key: self.key("job", name),
                op: Op::Schedule {
                    value,
                    ttl: ttl_until(fired.expires, now),
                    schedule: Schedule {
                        pattern,
                        time_zone,
                        target: self.key("fire", name),
                    },
                },
                expect: Expect::Revision(revision),
            };
            match self.bucket.write(armed).await {
                Ok(_) | Err(broker::Error::WrongRevision) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Counts one more fire of this version of job `name`; returns the fires so far.
    async fn count(&self, name: &str, fired: &Record) -> Result<u32, Error> {
        let (key, id) = (self.key("count", name), &fired.id);
        for _ in 0..5 {
            let (n, expect) = match self.bucket.get(&key).await? {
                Some(e) => {
                    let text = String::from_utf8_lossy(&e.value);
                    let n = match text.split_once(' ') {
                        Some((of, n)) if of == id => n.parse::<u32>().unwrap_or(0),
                        _ => 0,
                    };
                    (n, Expect::Revision(e.revision))
                }
                None => (0, Expect::Absent),
            };
            let write = Write {
                key: key.clone(),
                op: Op::Put {
                    value: format!("{id} {}", n + 1).into(),
                    ttl: ttl_until(fired.expires, now_ms()),
                },
                expect,
            };
            match self.bucket.write(write).await {
                Ok(_) => return Ok(n + 1),
                Err(broker::Error::WrongRevision) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Backend(format!(
            "the fires of job {name} could not be counted"
        )))
    }

    /// Deletes job `name` if `revision` is still its latest.
    async fn remove_version(&self, name: &str, revision: u64) -> Result<(), Error> {
        let mut writes: Vec<Write> = ["due", "fire", "count"]
            .map(|kind| delete(self.key(kind, name)))
            .into();
        writes.insert(
            0,
            Write {
                key: self.key("job", name),
                op: Op::Delete,
                expect: Expect::Revision(revision),
            },
        );
        match self.bucket.write_atomic(writes).await {
            Ok(()) | Err(broker::Error::WrongRevision) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

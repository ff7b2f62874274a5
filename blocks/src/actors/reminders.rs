//! Durable reminders: one KV entry per reminder, keyed
//! `<type>.<partition>.<id>.<name>`, so the host of a partition watches just
//! that partition's reminders and keeps them in a timetable. After each fire it
//! writes the next due time back (compare-and-set on the revision it fired), so
//! a new host after a failover resumes where the old one stopped, and fires a
//! reminder that came due while no host ran it once, not once per missed period.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use futures::StreamExt;
use jetway_broker::codec::encode_token;
use jetway_broker::kv::{Bucket, BucketConfig, Expect, Op, Write};
use jetway_broker::{self as broker, Broker};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use jetway_core::schedule::{self, Schedule};

const BUCKET: &str = "jetway_actor_reminders";

/// A reminder as stored: what was registered, and where its schedule stands.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Record {
    pub(super) actor_type: String,
    pub(super) actor_id: String,
    pub(super) name: String,
    pub(super) due_time: String,
    pub(super) period: String,
    pub(super) ttl: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) data: Option<Box<RawValue>>,
    /// When it fires next (ms since the Unix epoch).
    next: i64,
    /// How often it has fired.
    fires: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeats: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<i64>,
}

impl Record {
    /// A new registration; the schedule's errors are the caller's to report.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        actor_type: String,
        actor_id: String,
        name: String,
        due_time: String,
        period: String,
        ttl: String,
        data: Option<Box<RawValue>>,
        now: i64,
    ) -> Result<Record, String> {
        let s = schedule::parse(&due_time, &period, &ttl, now)?;
        Ok(Record {
            actor_type,
            actor_id,
            name,
            due_time,
            period,
            ttl,
            data,
            next: s.due,
            fires: 0,
            repeats: s.repeats,
            expires: s.expires,
        })
    }

    fn schedule(&self) -> Schedule {
        let mut s = schedule::parse("", &self.period, "", self.next).unwrap_or(Schedule {
            due: self.next,
            period: None,
            repeats: None,
            expires: None,
        });
        s.due = self.next;
        s.repeats = self.repeats;
        s.expires = self.expires;
        s
    }

    pub(super) fn key(&self) -> String {
        key(&self.actor_type, &self.actor_id, &self.name)
    }
}

/// The KV key of a reminder.
fn key(actor_type: &str, actor_id: &str, name: &str) -> String {
    format!(
        "{}.{}",
        partition_prefix(actor_type, super::partition_of(actor_id)),
        [actor_id, name].map(encode_token).join(".")
    )
}

fn partition_prefix(actor_type: &str, partition: u32) -> String {
    format!("{}.{partition}", encode_token(actor_type))
}

/// A reminder due now, and the revision its firing must replace.
pub(super) struct Due {
    pub(super) record: Record,
    revision: u64,
}

#[derive(Default)]
struct Timetable {
    /// Reminders of the partitions this host follows, by key.
    entries: HashMap<String, (Record, u64)>,
    /// (next fire, key), for the reminders not being fired right now.
    due: BTreeSet<(i64, String)>,
}

pub(super) struct Reminders {
    bucket: Bucket,
    table: Mutex<Timetable>,
    /// Notified when the earliest due time may have changed.
    pub(super) changed: Notify,
}

/// Why a registration was refused.
pub(super) enum RegisterError {
    Exists,
    Broker(broker::Error),
}

impl Reminders {
    pub(super) async fn open(broker: &Broker) -> broker::Result<Reminders> {
        let bucket = broker
            .bucket(BucketConfig {
                name: BUCKET.into(),
                replicas: 1,
                memory: false,
                max_age: None,
                raw_keys: true,
                schedules: false,
            })
            .await?;
        Ok(Reminders {
            bucket,
            table: Mutex::new(Timetable::default()),
            changed: Notify::new(),
        })
    }

    /// Stores a registration; an existing one of the same name is replaced unless
    /// `overwrite` is false.
    pub(super) async fn register(
        &self,
        record: &Record,
        overwrite: bool,
    ) -> Result<(), RegisterError> {
        let value = serde_json::to_vec(record).expect("reminders serialize");
        let write = Write {
            key: record.key(),
            op: Op::Put {
                value: value.into(),
                ttl: None,
            },
            expect: if overwrite {
                Expect::Any
            } else {
                Expect::Absent
            },
        };
        match self.bucket.write(write).await {
            Ok(_) => Ok(()),
            Err(broker::Error::WrongRevision) => Err(RegisterError::Exists),
            Err(e) => Err(RegisterError::Broker(e)),
        }
    }

    pub(super) async fn get(
        &self,
        actor_type: &str,
        actor_id: &str,
        name: &str,
    ) -> broker::Result<Option<Record>> {
        let entry = self.bucket.get(&key(actor_type, actor_id, name)).await?;
        Ok(entry.and_then(|e| serde_json::from_slice(&e.value).ok()))
    }

    pub(super) async fn delete(
        &self,
        actor_type: &str,
        actor_id: &str,
        name: &str,
    ) -> broker::Result<()> {
        self.bucket
            .write(Write {
                key: key(actor_type, actor_id, name),
                op: Op::Delete,
                expect: Expect::Any,
            })
            .await
            .map(|_| ())
    }

    /// Keeps the timetable in step with one partition's reminders until `stop`
    /// fires, then drops them from it.
    pub(super) async fn follow(&self, actor_type: &str, partition: u32, stop: CancellationToken) {
        let prefix = partition_prefix(actor_type, partition);
        let mut changes = loop {
            match self.bucket.watch_prefix(&prefix).await {
                Ok(c) => break c,
                Err(error) => {
                    tracing::warn!(%error, actor_type, partition, "Watching reminders failed; retrying.");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        loop {
            let change = tokio::select! {
                _ = stop.cancelled() => break,
                c = changes.next() => match c { Some(c) => c, None => break },
            };
            // A fire's own write is in the timetable already.
            if self.holds(&change.key, change.revision) {
                continue;
            }
            let record = change
                .value
                .and_then(|v| serde_json::from_slice::<Record>(&v).ok());
            self.put(change.key, record.map(|r| (r, change.revision)));
        }
        let mut table = self.table.lock().expect("reminders lock");
        let Timetable { entries, due } = &mut *table;
        entries.retain(|k, _| !k.starts_with(&format!("{prefix}.")));
        due.retain(|(_, k)| entries.contains_key(k));
    }

    /// Puts a fire's own write in the timetable (so its echo from the watch
    /// can be skipped), unless a newer registration got there first.
    fn put_written(&self, record: Record, revision: u64, done: bool) {
        let key = record.key();
        self.put_if(key, (!done).then_some((record, revision)), |current| {
            current < revision
        });
    }

    /// Whether the timetable has `key` at `revision`.
    fn holds(&self, key: &str, revision: u64) -> bool {
        let table = self.table.lock().expect("reminders lock");
        table.entries.get(key).is_some_and(|(_, r)| *r == revision)
    }

    /// Sets (or with `None` removes) one reminder in the timetable.
    fn put(&self, key: String, entry: Option<(Record, u64)>) {
        self.put_if(key, entry, |_| true);
    }

    /// Like `put`, when the revision in the timetable passes `replaceable`.
    fn put_if(&self, key: String, entry: Option<(Record, u64)>, replaceable: impl Fn(u64) -> bool) {
        let mut table = self.table.lock().expect("reminders lock");
        if table
            .entries
            .get(&key)
            .is_some_and(|(_, r)| !replaceable(*r))
        {
            return;
        }
        if let Some((old, _)) = table.entries.remove(&key) {
            table.due.remove(&(old.next, key.clone()));
        }
        if let Some((record, revision)) = entry {
            table.due.insert((record.next, key.clone()));
            table.entries.insert(key, (record, revision));
        }
        drop(table);
        self.changed.notify_one();
    }

    /// When the earliest reminder is due, if any.
    pub(super) fn next_due(&self) -> Option<i64> {
        let table = self.table.lock().expect("reminders lock");
        table.due.first().map(|(at, _)| *at)
    }

    /// Takes the reminders due at `now` out of the timetable, for firing.
    pub(super) fn take_due(&self, now: i64) -> Vec<Due> {
        let mut table = self.table.lock().expect("reminders lock");
        let mut out = Vec::new();
        while let Some((at, key)) = table.due.first().cloned() {
            if at > now {
                break;
            }
            table.due.pop_first();
            if let Some((record, revision)) = table.entries.get(&key) {
                out.push(Due {
                    record: record.clone(),
                    revision: *revision,
                });
            }
        }
        out
    }

    /// Records a fire: the next due time, or the end of the reminder (when done,
    /// or `cancel`). A registration that replaced it meanwhile wins.
    pub(super) async fn fired(&self, due: Due, now: i64, cancel: bool) {
        let Due {
            mut record,
            revision,
        } = due;
        record.fires += 1;
        let next = match cancel {
            true => None,
            false => record.schedule().after(record.next, record.fires, now),
        };
        let op = match next {
            Some(at) => {
                record.next = at;
                Op::Put {
                    value: serde_json::to_vec(&record)
                        .expect("reminders serialize")
                        .into(),
                    ttl: None,
                }
            }
            None => Op::Delete,
        };
        let done = next.is_none();
        let write = Write {
            key: record.key(),
            op,
            expect: Expect::Revision(revision),
        };
        match self.bucket.write(write).await {
            Ok(written) => self.put_written(record, written, done),
            Err(broker::Error::WrongRevision) => {}
            Err(error) => {
                tracing::warn!(%error, reminder = %record.name, "Recording a reminder's fire failed; it fires again.");
                self.put(record.key(), Some((record, revision)));
            }
        }
    }
}

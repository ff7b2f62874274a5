//! Placement: which hosts are alive and which roles (actor roles, say) each
//! serves, and which host owns a partition of a role. Every host puts its
//! announcement in a KV bucket each second and every node watches the
//! bucket; the owner of a partition is the live host with the highest
//! rendezvous score, so a host joining or leaving moves only its share.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::Broker;
use crate::kv::{Bucket, BucketConfig, Expect, Op, Write};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// How often a host announces itself.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A host not heard from for this long counts as gone.
const LIVENESS: Duration = Duration::from_secs(3);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Announcement {
    app_id: String,
    roles: Vec<String>,
}

struct Seen {
    roles: Vec<String>,
    at: Instant,
}

/// The live actor hosts, as this node sees them.
pub struct Members {
    bucket: Bucket,
    hosts: RwLock<HashMap<String, Seen>>,
    /// Notified when a host appears, changes or leaves.
    changed: Arc<Notify>,
}

impl Members {
    /// Opens `bucket`, reads who is there and keeps watching; `changed` is
    /// notified when a host appears, changes its roles or leaves.
    pub async fn start(
        broker: &Broker,
        bucket: &str,
        replicas: usize,
        changed: Arc<Notify>,
    ) -> crate::Result<Arc<Members>> {
        let bucket = broker
            .bucket(BucketConfig {
                name: bucket.into(),
                replicas,
                // On disk, so a restarted server still has them (and the
                // watches' positions still match the stream's sequences).
                memory: false,
                // Announcements of hosts that died long ago vanish.
                max_age: Some(LIVENESS),
                raw_keys: false,
                schedules: false,
            })
            .await?;
        let members = Arc::new(Members {
            bucket,
            hosts: RwLock::new(HashMap::new()),
            changed,
        });
        let mut changes = members.bucket.watch().await?;
        for key in members.bucket.keys().await? {
            if let Some(entry) = members.bucket.get(&key).await? {
                members.record(key, Some(entry.value));
            }
        }
        let watching = Arc::downgrade(&members);
        tokio::spawn(async move {
            loop {
                while let Some(change) = changes.next().await {
                    let Some(members) = watching.upgrade() else {
                        return;
                    };
                    members.record(change.key, change.value);
                }
                // The watch ended (its bucket was lost, say): watch again.
                changes = loop {
                    tokio::time::sleep(HEARTBEAT).await;
                    let Some(members) = watching.upgrade() else {
                        return;
                    };
                    match members.bucket.watch().await {
                        Ok(changes) => break changes,
                        Err(error) => {
                            tracing::warn!(%error, "Watching actor hosts failed; retrying.")
                        }
                    }
                };
            }
        });
        Ok(members)
    }

    fn record(&self, host: String, value: Option<Bytes>) {
        let announced = value.and_then(|v| serde_json::from_slice::<Announcement>(&v).ok());
        let mut hosts = self.hosts.write().expect("members lock");
        let before = hosts.get(&host).map(|s| s.roles.clone());
        match announced {
            Some(a) => {
                hosts.insert(
                    host,
                    Seen {
                        roles: a.roles.clone(),
                        at: Instant::now(),
                    },
                );
                if before.as_ref() != Some(&a.roles) {
                    self.changed.notify_one();
                }
            }
            None => {
                hosts.remove(&host);
                self.changed.notify_one();
            }
        }
    }

    /// Announces (or re-announces) `host` as serving `roles`.
    pub async fn announce(&self, host: &str, app_id: &str, roles: &[String]) -> crate::Result<()> {
        let value = serde_json::to_vec(&Announcement {
            app_id: app_id.to_owned(),
            roles: roles.to_vec(),
        })
        .expect("announcements serialize");
        self.bucket
            .write(Write {
                key: host.to_owned(),
                op: Op::Put {
                    value: value.into(),
                    ttl: None,
                },
                expect: Expect::Any,
            })
            .await
            .map(|_| ())
    }

    /// Takes `host` out at once, so others need not wait for it to go silent.
    pub async fn withdraw(&self, host: &str) -> crate::Result<()> {
        self.bucket
            .write(Write {
                key: host.to_owned(),
                op: Op::Delete,
                expect: Expect::Any,
            })
            .await
            .map(|_| ())
    }

    /// The live hosts that serve `role`.
    pub fn hosts_of(&self, role: &str) -> Vec<String> {
        let hosts = self.hosts.read().expect("members lock");
        hosts
            .iter()
            .filter(|(_, s)| s.at.elapsed() < LIVENESS && s.roles.iter().any(|t| t == role))
            .map(|(h, _)| h.clone())
            .collect()
    }
}

/// Which of `hosts` (the live hosts of `role`) should own `partition` of it:
/// the one with the highest rendezvous score, so a host joining or leaving
/// moves only its own share of partitions.
pub fn owner<'a>(hosts: &'a [String], role: &str, partition: u32) -> Option<&'a str> {
    hosts
        .iter()
        .max_by_key(|host| score(host, role, partition))
        .map(String::as_str)
}

/// FNV-1a (64 bits) of the host, role and partition, with a final mix so the
/// last bytes (the partition) move every bit.
fn score(host: &str, role: &str, partition: u32) -> u64 {
    let key = format!("{host}\u{0}{role}\u{0}{partition}");
    let mut h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_spreads_partitions_and_moves_only_a_share() {
        let hosts = |names: &[&str]| names.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        let (two, three) = (hosts(&["a/1", "b/2"]), hosts(&["a/1", "b/2", "c/3"]));
        let owner = |hosts: &[String], p| owner(hosts, "T", p).unwrap().to_owned();
        let on_a = (0..32).filter(|p| owner(&two, *p) == "a/1").count();
        assert!((8..=24).contains(&on_a), "{on_a} of 32 on one host");
        for p in 0..32 {
            let now = owner(&three, p);
            assert!(
                now == "c/3" || now == owner(&two, p),
                "partition {p} moved between old hosts"
            );
        }
    }
}

//! Exclusive leases held through JetStream priority groups.
//!
//! A lease is a durable pull consumer with the `pinned_client` priority policy on
//! its own subject of a small stream. Every client that wants the lease
//! pulls from it and publishes a beat to its subject now and then; the server
//! pins one puller and delivers beats to it alone. The pinned client holds the
//! lease while beats keep reaching it. The server moves the pin only after its
//! holder has not pulled for the TTL, and a holder counts itself holding for at
//! most half the TTL after its last beat, so two clients never both count
//! themselves holders (as long as neither's clock runs at half speed).
//!
//! A holder whose pulls fail provisions the stream and its consumer again,
//! so leases come back by themselves when a server lost them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{consumer, stream};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Notify;

use crate::codec::encode_name_part;
use crate::connection::Broker;
use crate::error::{Error, Result};

const GROUP: &str = "holder";

/// Settings of a family of leases (one stream).
#[derive(Clone, Debug)]
pub struct LeasesConfig {
    /// The stream's name.
    pub name: String,
    /// Subject prefix of the leases' beats.
    pub subject_prefix: String,
    pub replicas: usize,
    /// How long the server keeps a silent holder pinned.
    pub ttl: Duration,
}

/// A family of leases. Cheap to clone.
#[derive(Clone)]
pub struct Leases {
    broker: Broker,
    config: Arc<LeasesConfig>,
    stream: stream::Stream,
}

impl Broker {
    /// Opens (creating as needed) a family of leases.
    pub async fn leases(&self, config: LeasesConfig) -> Result<Leases> {
        Leases::open(self, config).await
    }
}

impl Leases {
    pub(crate) async fn open(broker: &Broker, config: LeasesConfig) -> Result<Leases> {
        let stream = provision(broker, &config).await?;
        Ok(Leases {
            broker: broker.clone(),
            config: Arc::new(config),
            stream,
        })
    }

    /// Starts contending for the lease `name`; `changed` is notified whenever this
    /// client starts or stops holding it.
    pub async fn contend(&self, name: &str, changed: Arc<Notify>) -> Result<Lease> {
        let consumer_name = encode_name_part(name);
        let consumer = self.consumer(&self.stream, &consumer_name).await?;
        let held_until = Arc::new(Mutex::new(None));
        let task = tokio::spawn(hold(
            self.clone(),
            consumer,
            consumer_name.clone(),
            held_until.clone(),
            changed,
        ));
        Ok(Lease {
            leases: self.clone(),
            consumer_name,
            held_until,
            task,
        })
    }

    fn subject(&self, consumer_name: &str) -> String {
        format!("{}.{consumer_name}", self.config.subject_prefix)
    }

    /// The lease's pinned consumer, created unless it exists.
    async fn consumer(
        &self,
        stream: &stream::Stream,
        consumer_name: &str,
    ) -> Result<consumer::PullConsumer> {
        stream
            .get_or_create_consumer(
                consumer_name,
                consumer::pull::Config {
                    durable_name: Some(consumer_name.to_owned()),
                    filter_subject: self.subject(consumer_name),
                    ack_policy: consumer::AckPolicy::None,
                    deliver_policy: consumer::DeliverPolicy::New,
                    priority_policy: consumer::PriorityPolicy::PinnedClient,
                    priority_groups: vec![GROUP.to_owned()],
                    priority_timeout: self.config.ttl,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Error::nats("creating a lease consumer", e))
    }

    /// The stream and the lease's consumer again, for a holder whose pulls
    /// fail: the server may have lost them.
    async fn provision(&self, consumer_name: &str) -> Result<consumer::PullConsumer> {
        let stream = provision(&self.broker, &self.config).await?;
        self.consumer(&stream, consumer_name).await
    }
}

/// Creates the leases' stream unless it exists. On disk, so a restarted
/// server still has it.
async fn provision(broker: &Broker, config: &LeasesConfig) -> Result<stream::Stream> {
    broker
        .jetstream()
        .get_or_create_stream(stream::Config {
            name: config.name.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            num_replicas: config.replicas.max(1),
            // Beats only move pins; none needs keeping.
            max_age: config.ttl * 4,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::nats("creating the lease stream", e))
}

/// This client's claim on one lease. Dropping it stops contending.
pub struct Lease {
    leases: Leases,
    consumer_name: String,
    held_until: Arc<Mutex<Option<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Whether this client holds the lease right now.
    pub fn is_held(&self) -> bool {
        is_held(&self.held_until)
    }

    /// Stops contending and, if this client holds the lease, hands it over at once
    /// to the next client that wants it.
    pub async fn release(&self) -> Result<()> {
        self.task.abort();
        let held = self.is_held();
        *self.held_until.lock().expect("lease lock") = None;
        if held {
            self.leases
                .stream
                .unpin_consumer(&self.consumer_name, GROUP)
                .await
                .map_err(|e| Error::nats("releasing a lease", e))?;
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_held(held_until: &Mutex<Option<Instant>>) -> bool {
    held_until
        .lock()
        .expect("lease lock")
        .is_some_and(|until| Instant::now() < until)
}

/// Pulls and beats until aborted, keeping `held_until` current.
async fn hold(
    leases: Leases,
    consumer: consumer::PullConsumer,
    consumer_name: String,
    held_until: Arc<Mutex<Option<Instant>>>,
    changed: Arc<Notify>,
) {
    let ttl = leases.config.ttl;
    let subject = leases.subject(&consumer_name);
    let mut consumer = Some(consumer);
    let mut beat = tokio::time::interval(ttl / 6);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let pulled = match &consumer {
            Some(c) => c
                .stream()
                .group(GROUP)
                .expires(ttl / 3)
                .max_messages_per_batch(16)
                .messages()
                .await
                .map_err(|e| Error::nats("pulling a lease", e)),
            None => Err(Error::NoStream("lease")),
        };
        let mut messages = match pulled {
            Ok(m) => m,
            Err(error) => {
                tracing::debug!(%error, "Pulling a lease failed; provisioning it and retrying.");
                tokio::time::sleep(ttl / 6).await;
                consumer = leases.provision(&consumer_name).await.ok();
                continue;
            }
        };
        loop {
            let held = is_held(&held_until);
            tokio::select! {
                _ = beat.tick() => {
                    let _ = leases.broker.client().publish(subject.clone(), Bytes::new()).await;
                }
                m = messages.next() => match m {
                    Some(Ok(_)) => {
                        *held_until.lock().expect("lease lock") = Some(Instant::now() + ttl / 2);
                    }
                    Some(Err(error)) => {
                        // The consumer may be gone with its server: provision
                        // it again before the next pull.
                        tracing::debug!(%error, "A lease pull failed; pulling again.");
                        consumer = leases.provision(&consumer_name).await.ok();
                        break;
                    }
                    None => break,
                },
            }
            if held != is_held(&held_until) {
                changed.notify_one();
            }
        }
        if is_held(&held_until) {
            *held_until.lock().expect("lease lock") = None;
            changed.notify_one();
        }
    }
}

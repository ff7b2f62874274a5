//! Exclusive leases held through JetStream priority groups.
//!
//! A lease is a durable pull consumer with the `pinned_client` priority policy on
//! its own subject of a small memory stream. Every client that wants the lease
//! pulls from it and publishes a beat to its subject now and then; the server
//! pins one puller and delivers beats to it alone. The pinned client holds the
//! lease while beats keep reaching it. The server moves the pin only after its
//! holder has not pulled for the TTL, and a holder counts itself holding for at
//! most half the TTL after its last beat, so two clients never both count
//! themselves holders (as long as neither's clock runs at half speed).

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
    stream: stream::Stream,
    subject_prefix: String,
    ttl: Duration,
}

impl Broker {
    /// Opens (creating as needed) a family of leases.
    pub async fn leases(&self, config: LeasesConfig) -> Result<Leases> {
        Leases::open(self, config).await
    }
}

impl Leases {
    pub(crate) async fn open(broker: &Broker, config: LeasesConfig) -> Result<Leases> {
        let js = broker.jetstream();
        let wanted = stream::Config {
            name: config.name.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            num_replicas: config.replicas.max(1),
            storage: stream::StorageType::Memory,
            // Beats only move pins; none needs keeping.
            max_age: config.ttl * 4,
            ..Default::default()
        };
        let stream = js
            .get_or_create_stream(wanted)
            .await
            .map_err(|e| Error::nats("creating the lease stream", e))?;
        Ok(Leases {
            broker: broker.clone(),
            stream,
            subject_prefix: config.subject_prefix,
            ttl: config.ttl,
        })
    }

    /// Starts contending for the lease `name`; `changed` is notified whenever this
    /// client starts or stops holding it.
    pub async fn contend(&self, name: &str, changed: Arc<Notify>) -> Result<Lease> {
        let consumer_name = encode_name_part(name);
        let subject = format!("{}.{consumer_name}", self.subject_prefix);
        let consumer = self
            .stream
            .get_or_create_consumer(
                &consumer_name,
                consumer::pull::Config {
                    durable_name: Some(consumer_name.clone()),
                    filter_subject: subject.clone(),
                    ack_policy: consumer::AckPolicy::None,
                    deliver_policy: consumer::DeliverPolicy::New,
                    memory_storage: true,
                    priority_policy: consumer::PriorityPolicy::PinnedClient,
                    priority_groups: vec![GROUP.to_owned()],
                    priority_timeout: self.ttl,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Error::nats("creating a lease consumer", e))?;
        let held_until = Arc::new(Mutex::new(None));
        let task = tokio::spawn(hold(
            self.broker.clone(),
            consumer,
            subject,
            self.ttl,
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
    broker: Broker,
    consumer: consumer::PullConsumer,
    subject: String,
    ttl: Duration,
    held_until: Arc<Mutex<Option<Instant>>>,
    changed: Arc<Notify>,
) {
    let mut beat = tokio::time::interval(ttl / 6);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let pulled = consumer
            .stream()
            .group(GROUP)
            .expires(ttl / 3)
            .max_messages_per_batch(16)
            .messages()
            .await;
        let mut messages = match pulled {
            Ok(m) => m,
            Err(error) => {
                tracing::debug!(%error, "Pulling a lease failed; retrying.");
                tokio::time::sleep(ttl / 6).await;
                continue;
            }
        };
        loop {
            let held = is_held(&held_until);
            tokio::select! {
                _ = beat.tick() => {
                    let _ = broker.client().publish(subject.clone(), Bytes::new()).await;
                }
                m = messages.next() => match m {
                    Some(Ok(_)) => {
                        *held_until.lock().expect("lease lock") = Some(Instant::now() + ttl / 2);
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "A lease pull failed; pulling again.");
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

//! Virtual actors on NATS, with no placement service.
//!
//! An actor id belongs to one of [`PARTITIONS`] partitions of its type (the hash
//! NATS's `partition()` mapping uses). Each partition is a lease held by one live
//! host at a time (a pinned pull consumer, see `jetway_broker::lease`); its
//! holder serves the partition's subject and keeps the partition's actors
//! active. A call from any node is a request to that subject, answered by the
//! holder in the actor's turn; while a partition moves, callers retry.

mod app;
mod config;
mod error;
mod host;
mod reminders;
mod state;
mod turn;
mod wire;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use jetway_broker::lease::LeasesConfig;
use jetway_broker::{self as broker, Broker, naming};
use jetway_core::Context;
use serde_json::value::RawValue;
use tokio::sync::{Notify, OnceCell};
use tokio_util::sync::CancellationToken;

pub use app::{ActorApp, Callback, REMINDER_CANCEL};
pub use config::{AppConfig, TypeConfig};
pub use error::ActorError;
pub use host::{Host, TimerSpec};
use jetway_broker::placement::Members;
use reminders::{RegisterError, Reminders};
pub use state::ActorOp;

use jetway_core::AppResponse;

use crate::state::Store;

/// Partitions per actor type: enough to spread a type over many hosts, few
/// enough that each is one lease and one subscription.
pub const PARTITIONS: u32 = 32;
/// The header that carries a reentrant call chain.
pub const REENTRANCY_HEADER: &str = "dapr-reentrancy-id";
/// How long the server keeps a silent host's partitions pinned to it.
const LEASE_TTL: Duration = Duration::from_secs(3);

/// A call of an actor method.
pub struct ActorCall {
    pub actor_type: String,
    pub actor_id: String,
    pub method: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a host did not run a call.
pub enum CallError {
    /// The actor's partition is not (or no longer) served here: ask again.
    Moved,
    Failed(ActorError),
}

pub fn partition_of(actor_id: &str) -> u32 {
    naming::partition(actor_id, PARTITIONS)
}

/// The actor runtime of one node: a client of every actor, and the host of the
/// app's actor types once the app has told which.
pub struct Actors {
    broker: Broker,
    /// The state store marked `actorStateStore`.
    store: Arc<dyn Store>,
    app_id: String,
    timeout: Duration,
    changed: Arc<Notify>,
    members: OnceCell<Arc<Members>>,
    reminders: OnceCell<Arc<Reminders>>,
    host: RwLock<Option<Arc<Host>>>,
}

/// A reminder registration.
pub struct ReminderSpec {
    pub due_time: String,
    pub period: String,
    pub ttl: String,
    pub data: Option<Box<RawValue>>,
    /// Replace a reminder of the same name (the default).
    pub overwrite: bool,
}

/// A registered reminder, as the API reports it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderInfo {
    #[serde(rename = "actorID")]
    pub actor_id: String,
    pub actor_type: String,
    pub due_time: String,
    pub period: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ttl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

impl Actors {
    pub fn new(broker: Broker, store: Arc<dyn Store>, app_id: String, timeout: Duration) -> Actors {
        Actors {
            broker,
            store,
            app_id,
            timeout,
            changed: Arc::new(Notify::new()),
            members: OnceCell::new(),
            reminders: OnceCell::new(),
            host: RwLock::new(None),
        }
    }

    async fn members(&self) -> Result<&Arc<Members>, ActorError> {
        self.members
            .get_or_try_init(|| {
                Members::start(
                    &self.broker,
                    naming::ACTOR_HOSTS_BUCKET,
                    1,
                    self.changed.clone(),
                )
            })
            .await
            .map_err(|e| ActorError::Unavailable(e.to_string()))
    }

    async fn reminders(&self) -> Result<&Arc<Reminders>, ActorError> {
        self.reminders
            .get_or_try_init(|| async { Reminders::open(&self.broker).await.map(Arc::new) })
            .await
            .map_err(|e| ActorError::Unavailable(e.to_string()))
    }

    /// The host of this node's actor types, while the app hosts actors.
    pub fn host(&self) -> Option<Arc<Host>> {
        self.host.read().expect("host lock").clone()
    }

    /// Starts hosting the app's actor types: announced, and contending for its
    /// partitions. Keep it going with [`Host::run`].
    pub async fn start_hosting(
        &self,
        app: Arc<dyn ActorApp>,
        config: AppConfig,
    ) -> Result<Arc<Host>, String> {
        let members = self.members().await.map_err(|e| e.to_string())?.clone();
        let reminders = self.reminders().await.map_err(|e| e.to_string())?.clone();
        let leases = self
            .broker
            .leases(LeasesConfig {
                name: naming::ACTOR_LEASE_STREAM.into(),
                subject_prefix: naming::ACTOR_LEASE_PREFIX.into(),
                replicas: 1,
                ttl: LEASE_TTL,
            })
            .await
            .map_err(|e| e.to_string())?;
        let id = format!("{}/{}", self.app_id, uuid::Uuid::new_v4().simple());
        tracing::info!(host = %id, types = ?config.types.keys().collect::<Vec<_>>(), "Hosting actors.");
        let host = Host::new(
            id,
            self.app_id.clone(),
            app,
            config,
            self.broker.clone(),
            self.store.clone(),
            members,
            leases,
            reminders,
            self.changed.clone(),
        );
        {
            let mut current = self.host.write().expect("host lock");
            if current.is_some() {
                return Err("this sidecar's app already hosts actors".into());
            }
            *current = Some(host.clone());
        }
        host.announce().await;
        Ok(host)
    }

    /// Runs `host` until `stop` fires, then hands its actors over and forgets it.
    pub async fn run_host(&self, host: Arc<Host>, stop: CancellationToken) {
        host.clone().run(stop).await;
        let mut current = self.host.write().expect("host lock");
        if current.as_ref().is_some_and(|h| Arc::ptr_eq(h, &host)) {
            *current = None;
        }
    }

    /// Calls an actor method wherever the actor is active, waiting while its
    /// partition moves between hosts.
    pub async fn invoke(&self, ctx: &Context, call: ActorCall) -> Result<AppResponse, ActorError> {
        if call.actor_type.is_empty() || call.actor_id.is_empty() {
            return Err(ActorError::MissingInstance);
        }
        let members = self.members().await?;
        let partition = partition_of(&call.actor_id);
        let subject = naming::actor_subject(&call.actor_type, partition);
        let deadline = Instant::now() + ctx.remaining(self.timeout).min(self.timeout);
        let mut backoff = Duration::from_millis(5);
        loop {
            let local = self.host().filter(|h| h.owns(&call.actor_type, partition));
            let result = match local {
                Some(host) => host.call(&call).await,
                None => {
                    let reply = self
                        .broker
                        .request(
                            subject.clone(),
                            wire::encode_call(&call),
                            call.body.clone(),
                            deadline.saturating_duration_since(Instant::now()),
                        )
                        .await;
                    match reply {
                        Ok(msg) => wire::decode_result(msg),
                        Err(broker::Error::NoResponders) => Err(CallError::Moved),
                        Err(e) => Err(CallError::Failed(invoke_failed(&call, e))),
                    }
                }
            };
            match result {
                Ok(answer) => return Ok(answer),
                Err(CallError::Failed(e)) => return Err(e),
                Err(CallError::Moved) => {}
            }
            if members.hosts_of(&call.actor_type).is_empty()
                && !self.host().is_some_and(|h| h.hosts(&call.actor_type))
            {
                return Err(invoke_failed(
                    &call,
                    format_args!("no host serves actor type {}", call.actor_type),
                ));
            }
            if Instant::now() + backoff >= deadline {
                return Err(invoke_failed(
                    &call,
                    "timed out waiting for the actor's host",
                ));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(250));
        }
    }
}

impl Actors {
    /// The host of `actor_type` on this node: reminders and timers are set
    /// through the sidecar of an app that hosts the type.
    fn hosting(&self, actor_type: &str) -> Result<Arc<Host>, ActorError> {
        self.host()
            .filter(|h| h.hosts(actor_type))
            .ok_or_else(|| ActorError::NotHosted {
                actor_type: actor_type.to_owned(),
                app_id: self.app_id.clone(),
            })
    }

    pub async fn register_reminder(
        &self,
        actor_type: &str,
        actor_id: &str,
        name: &str,
        spec: ReminderSpec,
    ) -> Result<(), ActorError> {
        self.hosting(actor_type)?;
        let failed = ActorError::ReminderCreate;
        if actor_id.is_empty() || name.is_empty() {
            return Err(failed(
                "actor id and reminder name must not be empty".into(),
            ));
        }
        let record = reminders::Record::new(
            actor_type.to_owned(),
            actor_id.to_owned(),
            name.to_owned(),
            spec.due_time,
            spec.period,
            spec.ttl,
            spec.data,
            host::now_ms(),
        )
        .map_err(failed)?;
        match self
            .reminders()
            .await?
            .register(&record, spec.overwrite)
            .await
        {
            Ok(()) => Ok(()),
            Err(RegisterError::Exists) => Err(ActorError::ReminderExists {
                name: name.to_owned(),
                actor: format!("{actor_type}/{actor_id}"),
            }),
            Err(RegisterError::Broker(e)) => Err(failed(e.to_string())),
        }
    }

    pub async fn get_reminder(
        &self,
        actor_type: &str,
        actor_id: &str,
        name: &str,
    ) -> Result<ReminderInfo, ActorError> {
        self.hosting(actor_type)?;
        let record = self
            .reminders()
            .await?
            .get(actor_type, actor_id, name)
            .await
            .map_err(|e| ActorError::ReminderGet(e.to_string()))?
            .ok_or_else(|| ActorError::ReminderNotFound {
                name: name.to_owned(),
                actor: format!("{actor_type}/{actor_id}"),
            })?;
        Ok(ReminderInfo {
            actor_id: record.actor_id,
            actor_type: record.actor_type,
            due_time: record.due_time,
            period: record.period,
            ttl: record.ttl,
            data: record.data,
        })
    }

    pub async fn delete_reminder(
        &self,
        actor_type: &str,
        actor_id: &str,
        name: &str,
    ) -> Result<(), ActorError> {
        self.hosting(actor_type)?;
        self.reminders()
            .await?
            .delete(actor_type, actor_id, name)
            .await
            .map_err(|e| ActorError::ReminderDelete(e.to_string()))
    }

    pub fn register_timer(
        &self,
        actor_type: &str,
        actor_id: &str,
        name: &str,
        spec: TimerSpec,
    ) -> Result<(), ActorError> {
        self.hosting(actor_type)?
            .register_timer(actor_type, actor_id, name, spec)
    }

    /// A timer of an actor active on this sidecar's host.
    pub fn get_timer(
        &self,
        actor_type: &str,
        actor_id: &str,
        name: &str,
    ) -> Result<Arc<TimerSpec>, ActorError> {
        self.hosting(actor_type)?
            .timer(actor_type, actor_id, name)
            .ok_or_else(|| ActorError::TimerNotFound {
                name: name.to_owned(),
                actor: format!("{actor_type}/{actor_id}"),
            })
    }

    pub fn delete_timer(
        &self,
        actor_type: &str,
        actor_id: &str,
        name: &str,
    ) -> Result<(), ActorError> {
        self.hosting(actor_type)?
            .unregister_timer(actor_type, actor_id, name);
        Ok(())
    }
}

fn invoke_failed(call: &ActorCall, why: impl std::fmt::Display) -> ActorError {
    let detail = format!(" {} on {}/{}", call.method, call.actor_type, call.actor_id);
    ActorError::invoke(&detail, why)
}

//! Virtual actors on NATS, with no placement service.
//!
//! An actor id belongs to one of [`PARTITIONS`] partitions of its type (the hash
//! NATS's `partition()` mapping uses). Each partition is a lease held by one live
//! host at a time (a pinned pull consumer, see `jetway_broker::lease`); its
//! holder serves the partition's subject and keeps the partition's actors
//! active. A call from any node is a request to that subject, answered by the
//! holder in the actor's turn; while a partition moves, callers retry.

mod config;
mod host;
mod members;
mod turn;
mod wire;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use jetway_broker::lease::LeasesConfig;
use jetway_broker::{self as broker, Broker, naming};
use tokio::sync::{Notify, OnceCell};
use tokio_util::sync::CancellationToken;

pub use config::{AppConfig, TypeConfig};
pub use host::Host;
use members::Members;

use crate::api::Error;
use crate::app::AppChannel;
use crate::invoke::Answer;

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
    Failed(Error),
}

pub fn partition_of(actor_id: &str) -> u32 {
    naming::partition(actor_id, PARTITIONS)
}

/// The actor runtime of one node: a client of every actor, and the host of the
/// app's actor types once the app has told which.
pub struct Actors {
    broker: Broker,
    app_id: String,
    timeout: Duration,
    changed: Arc<Notify>,
    members: OnceCell<Arc<Members>>,
    host: OnceLock<Arc<Host>>,
}

impl Actors {
    pub fn new(broker: Broker, app_id: String, timeout: Duration) -> Actors {
        Actors {
            broker,
            app_id,
            timeout,
            changed: Arc::new(Notify::new()),
            members: OnceCell::new(),
            host: OnceLock::new(),
        }
    }

    async fn members(&self) -> Result<&Arc<Members>, Error> {
        self.members
            .get_or_try_init(|| Members::start(&self.broker, 1, self.changed.clone()))
            .await
            .map_err(|e| {
                Error::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ERR_ACTOR_RUNTIME_NOT_FOUND",
                    format!("the actor runtime cannot reach NATS: {e}"),
                )
            })
    }

    /// The host of this node's actor types, once hosting has started.
    pub fn host(&self) -> Option<&Arc<Host>> {
        self.host.get()
    }

    /// Starts hosting the app's actor types; runs until `stop` fires.
    pub async fn start_hosting(
        &self,
        app: AppChannel,
        config: AppConfig,
        stop: CancellationToken,
    ) -> Result<(), String> {
        let members = self.members().await.map_err(|e| e.message)?.clone();
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
            members,
            leases,
            self.changed.clone(),
        );
        if self.host.set(host.clone()).is_err() {
            return Err("actor hosting has already started".into());
        }
        host.run(stop).await;
        Ok(())
    }

    /// Calls an actor method wherever the actor is active, waiting while its
    /// partition moves between hosts.
    pub async fn invoke(&self, call: ActorCall) -> Result<Answer, Error> {
        if call.actor_type.is_empty() || call.actor_id.is_empty() {
            return Err(Error::new(
                StatusCode::BAD_REQUEST,
                "ERR_ACTOR_INSTANCE_MISSING",
                "actor type and id must not be empty",
            )
            .with_grpc(tonic::Code::Internal));
        }
        let members = self.members().await?;
        let partition = partition_of(&call.actor_id);
        let subject = naming::actor_subject(&call.actor_type, partition);
        let deadline = Instant::now() + self.timeout;
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
                        Err(e) => Err(CallError::Failed(invoke_failed(&call, e.to_string()))),
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
                    format!("no host serves actor type {}", call.actor_type),
                ));
            }
            if Instant::now() + backoff >= deadline {
                return Err(invoke_failed(
                    &call,
                    "timed out waiting for the actor's host".into(),
                ));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(250));
        }
    }
}

fn invoke_failed(call: &ActorCall, message: String) -> Error {
    Error::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ERR_ACTOR_INVOKE_METHOD",
        format!(
            "error invoke actor method {} on {}/{}: {message}",
            call.method, call.actor_type, call.actor_id
        ),
    )
}

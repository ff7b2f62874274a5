//! Hosting actors: the partitions this node holds, the actors active in them,
//! their turns, and the calls into the app.
//!
//! Every hosted type has [`PARTITIONS`] partitions. The host that should own a
//! partition (see [`placement::owner`]) contends for its lease; while it holds
//! the lease it serves the partition's subject, and an actor of the partition
//! is active here and nowhere else. A host that should no longer own a partition
//! (a new host joined) drains it: it stops taking calls, lets the calls in flight
//! finish, deactivates the partition's actors and hands the lease over.
//!
//! Before serving a partition the host claims the partition's fence in the
//! actor state store, and its actors' state writes are fenced by that claim:
//! a host cut off for longer than the lease (paused, partitioned) finds its
//! writes refused once the next owner has claimed the fence.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use http::HeaderValue;
use jetway_broker::lease::{Lease, Leases};
use jetway_broker::{self as broker, Broker, naming};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::app::{ActorApp, Callback, REMINDER_CANCEL};
use super::config::{AppConfig, TypeConfig};
use super::reminders::{Due, Reminders};
use super::turn::{TooDeep, Turn};
use super::{ActorCall, ActorError, CallError, PARTITIONS, REENTRANCY_HEADER, wire};
use jetway_broker::placement::{self, HEARTBEAT, Members};
use jetway_core::{AppResponse, Context, schedule};

use crate::state::{Fence, Store};

/// How often the host looks at its partitions when nothing wakes it earlier.
const TICK: Duration = Duration::from_millis(250);
/// Reminders fired at once, at most.
const FIRING: usize = 256;
/// Attempts at one reminder fire before it moves on to its next due time.
const FIRE_ATTEMPTS: u32 = 3;

type Key = (String, String);

/// A running timer and what it was registered with.
type Timer = (tokio::task::AbortHandle, Arc<TimerSpec>);

/// One active actor.
struct Active {
    partition: u32,
    turn: Arc<Turn>,
    last_used: Mutex<Instant>,
    /// Deactivated: a call that waited for this turn must activate anew.
    retired: AtomicBool,
}

impl Active {
    fn touch(&self) {
        *self.last_used.lock().expect("actor lock") = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used.lock().expect("actor lock").elapsed()
    }
}

/// One turn's work: the callback and the reentrant chain it belongs to.
struct Work<'a> {
    actor_type: &'a str,
    actor_id: &'a str,
    callback: Callback<'a>,
    chain: Option<&'a str>,
}

/// A partition this host contends for or holds.
struct Partition {
    lease: Arc<Lease>,
    /// Set while the partition's subject is served, with the claim on its fence.
    serving: Option<(CancellationToken, Fence)>,
}

/// How long claiming a partition's fence may take.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Host {
    id: String,
    app_id: String,
    app: Arc<dyn ActorApp>,
    config: AppConfig,
    broker: Broker,
    /// The actor state store, which also keeps the partitions' fences.
    store: Arc<dyn Store>,
    members: Arc<Members>,
    leases: Leases,
    changed: Arc<Notify>,
    actors: Mutex<HashMap<Key, Arc<Active>>>,
    partitions: Mutex<HashMap<(String, u32), Partition>>,
    reminders: Arc<Reminders>,
    /// Timers of active actors, by actor and timer name.
    timers: Mutex<HashMap<(Key, String), Timer>>,
    tasks: TaskTracker,
}

/// A timer as registered.
pub struct TimerSpec {
    pub due_time: String,
    pub period: String,
    pub ttl: String,
    pub callback: String,
    pub data: Option<Box<serde_json::value::RawValue>>,
}

impl Host {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        id: String,
        app_id: String,
        app: Arc<dyn ActorApp>,
        config: AppConfig,
        broker: Broker,
        store: Arc<dyn Store>,
        members: Arc<Members>,
        leases: Leases,
        reminders: Arc<Reminders>,
        changed: Arc<Notify>,
    ) -> Arc<Host> {
        Arc::new(Host {
            id,
            app_id,
            app,
            config,
            broker,
            store,
            members,
            leases,
            changed,
            actors: Mutex::new(HashMap::new()),
            partitions: Mutex::new(HashMap::new()),
            reminders,
            timers: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
        })
    }

    pub fn hosts(&self, actor_type: &str) -> bool {
        self.config.types.contains_key(actor_type)
    }

    pub fn types(&self) -> Vec<String> {
        self.config.types.keys().cloned().collect()
    }

    /// How many actors of each type are active here.
    pub fn active_counts(&self) -> Vec<(String, usize)> {
        let actors = self.actors.lock().expect("actors lock");
        self.config
            .types
            .keys()
            .map(|t| (t.clone(), actors.keys().filter(|(at, _)| at == t).count()))
            .collect()
    }

    /// Whether this host serves `partition` of `actor_type` right now.
    pub fn owns(&self, actor_type: &str, partition: u32) -> bool {
        self.serving(actor_type, partition, |_| ()).is_some()
    }

    /// `read` of the fence of `partition` of `actor_type`, while this host
    /// serves it.
    fn serving<T>(
        &self,
        actor_type: &str,
        partition: u32,
        read: impl FnOnce(&Fence) -> T,
    ) -> Option<T> {
        let partitions = self.partitions.lock().expect("partitions lock");
        let p = partitions.get(&(actor_type.to_owned(), partition))?;
        match &p.serving {
            Some((_, fence)) if p.lease.is_held() => Some(read(fence)),
            _ => None,
        }
    }

    /// The fence that an actor's state writes carry, while its partition is
    /// served here.
    pub fn fence_of(&self, actor_type: &str, actor_id: &str) -> Option<Fence> {
        self.serving(actor_type, super::partition_of(actor_id), Fence::clone)
    }

    /// Announces the host and keeps its partitions as placement wants them,
    /// until `stop` fires; then hands everything over.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        self.tasks.spawn(self.clone().fire_reminders(stop.clone()));
        let mut announced = Instant::now();
        let mut scanned = Instant::now();
        loop {
            if announced.elapsed() >= HEARTBEAT {
                self.announce().await;
                announced = Instant::now();
            }
            self.place().await;
            if scanned.elapsed() >= self.config.scan_interval {
                scanned = Instant::now();
                self.deactivate_idle();
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.changed.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
        let _ = self.members.withdraw(&self.id).await;
        let held: Vec<(String, u32)> = self
            .partitions
            .lock()
            .expect("partitions lock")
            .keys()
            .cloned()
            .collect();
        let drains = held.into_iter().map(|(t, p)| self.clone().drain(t, p));
        futures::future::join_all(drains).await;
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Tells every node that this host serves its types.
    pub async fn announce(&self) {
        if let Err(error) = self
            .members
            .announce(&self.id, &self.app_id, &self.types())
            .await
        {
            tracing::warn!(%error, "Announcing the actor host failed.");
        }
    }

    /// Contends for the partitions this host should own, drains those it should
    /// not, and serves exactly the ones whose lease it holds.
    async fn place(self: &Arc<Self>) {
        for actor_type in self.config.types.keys() {
            let hosts = self.members.hosts_of(actor_type);
            for p in 0..PARTITIONS {
                let key = (actor_type.clone(), p);
                let wanted = placement::owner(&hosts, actor_type, p) == Some(self.id.as_str());
                let present = self
                    .partitions
                    .lock()
                    .expect("partitions lock")
                    .contains_key(&key);
                match (wanted, present) {
                    (true, false) => match self
                        .leases
                        .contend(&naming::actor_lease(actor_type, p), self.changed.clone())
                        .await
                    {
                        Ok(lease) => {
                            let partition = Partition {
                                lease: Arc::new(lease),
                                serving: None,
                            };
                            self.partitions
                                .lock()
                                .expect("partitions lock")
                                .insert(key.clone(), partition);
                        }
                        Err(error) => {
                            tracing::warn!(%error, actor_type, partition = p, "Contending for an actor partition failed.")
                        }
                    },
                    (false, true) => {
                        self.tasks.spawn(self.clone().drain(actor_type.clone(), p));
                    }
                    _ => {}
                }
                self.serve_if_held(&key).await;
            }
        }
    }

    /// Starts or stops serving `key` as its lease comes and goes.
    async fn serve_if_held(self: &Arc<Self>, key: &(String, u32)) {
        let (held, serving) = {
            let partitions = self.partitions.lock().expect("partitions lock");
            match partitions.get(key) {
                Some(p) => (p.lease.is_held(), p.serving.is_some()),
                None => return,
            }
        };
        if held && !serving {
            // Claimed first, so a former owner's writes fail before this host
            // activates any actor of the partition.
            let ctx = Context::default().with_timeout(CLAIM_TIMEOUT);
            let name = format!("actors||{}||{}", key.0, key.1);
            let fence = match self.store.claim_fence(&ctx, &name, &self.id).await {
                Ok(fence) => fence,
                Err(error) => {
                    tracing::warn!(%error, "Claiming an actor partition's fence failed.");
                    return;
                }
            };
            let subject = naming::actor_subject(&key.0, key.1);
            let mut calls = match self.broker.serve(subject, "jetway".into()).await {
                Ok(s) => s,
                Err(error) => {
                    tracing::warn!(%error, "Subscribing to an actor partition failed.");
                    return;
                }
            };
            // The subscription must reach the server before callers are told.
            let _ = self.broker.flush().await;
            let stop = CancellationToken::new();
            // The partition may have been drained while subscribing.
            let kept = match self
                .partitions
                .lock()
                .expect("partitions lock")
                .get_mut(key)
            {
                Some(p) if p.serving.is_none() => {
                    p.serving = Some((stop.clone(), fence));
                    true
                }
                _ => false,
            };
            if !kept {
                let _ = calls.unsubscribe().await;
                return;
            }
            tracing::debug!(actor_type = %key.0, partition = key.1, "Serving an actor partition.");
            let (host, (actor_type, partition), following) =
                (self.clone(), key.clone(), stop.clone());
            self.tasks.spawn(async move {
                host.reminders
                    .follow(&actor_type, partition, following)
                    .await
            });
            self.tasks.spawn(self.clone().serve(calls, stop));
        } else if !held && serving {
            tracing::warn!(actor_type = %key.0, partition = key.1, "Lost the lease of an actor partition; its actors are deactivated here once their turns end.");
            if let Some(p) = self
                .partitions
                .lock()
                .expect("partitions lock")
                .get_mut(key)
                && let Some((stop, _)) = p.serving.take()
            {
                stop.cancel();
            }
            let wait = self
                .config
                .types
                .get(&key.0)
                .map_or(Duration::ZERO, |c| c.drain_timeout);
            let (host, (actor_type, partition)) = (self.clone(), key.clone());
            self.tasks.spawn(async move {
                host.deactivate_partition(&actor_type, partition, wait, true)
                    .await
            });
        }
    }

    /// Answers the calls that reach one partition's subject.
    async fn serve(self: Arc<Self>, mut calls: broker::Subscriber, stop: CancellationToken) {
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => break,
                m = calls.next() => match m { Some(m) => m, None => break },
            };
            let host = self.clone();
            self.tasks.spawn(async move { host.answer(msg).await });
        }
        let _ = calls.unsubscribe().await;
    }

    async fn answer(&self, mut msg: broker::Message) {
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        let taken = self.broker.take_payload(&mut msg).await;
        let call = taken
            .map_err(|e| ActorError::Invalid(e.to_string()))
            .and_then(|()| wire::decode_call(msg));
        let (headers, body) = match call {
            Ok(call) => wire::encode_result(self.call(&call).await),
            Err(e) => wire::encode_result(Err(CallError::Failed(e))),
        };
        if let Err(error) = self.broker.reply(reply, headers, body).await {
            tracing::warn!(%error, "Replying to an actor call failed.");
        }
    }

    /// Runs one method call on an actor of a partition this host serves.
    pub async fn call(&self, call: &ActorCall) -> Result<AppResponse, CallError> {
        let config = self.type_config(&call.actor_type)?;
        let mut headers = call.headers.clone();
        let chain = match config.reentrancy {
            Some(_) => {
                if !headers.contains_key(REENTRANCY_HEADER) {
                    let id = uuid::Uuid::new_v4().to_string();
                    headers.insert(REENTRANCY_HEADER, HeaderValue::from_str(&id).expect("uuid"));
                }
                headers
                    .get(REENTRANCY_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            }
            None => None,
        };
        let work = Work {
            actor_type: &call.actor_type,
            actor_id: &call.actor_id,
            callback: Callback::Method {
                name: &call.method,
                headers,
                body: call.body.clone(),
            },
            chain: chain.as_deref(),
        };
        self.in_turn(work).await
    }

    /// Runs a callback in the actor's turn, activating the actor if it is not
    /// active.
    async fn in_turn(&self, work: Work<'_>) -> Result<AppResponse, CallError> {
        let config = self.type_config(work.actor_type)?;
        let partition = super::partition_of(work.actor_id);
        loop {
            if !self.owns(work.actor_type, partition) {
                return Err(CallError::Moved);
            }
            let actor = self.activate(work.actor_type, work.actor_id, partition);
            let _turn = actor
                .turn
                .enter(work.chain, config.reentrancy.unwrap_or(1))
                .await
                .map_err(|TooDeep| CallError::Failed(ActorError::StackDepth))?;
            if actor.retired.load(Ordering::Acquire) {
                continue;
            }
            // The lease may have gone while this call waited for the turn.
            if !self.owns(work.actor_type, partition) {
                return Err(CallError::Moved);
            }
            actor.touch();
            let answer = self
                .app
                .call(work.actor_type, work.actor_id, work.callback.clone())
                .await;
            actor.touch();
            return answer.map_err(|e| CallError::Failed(ActorError::invoke("", e)));
        }
    }

    fn type_config(&self, actor_type: &str) -> Result<&TypeConfig, CallError> {
        self.config.types.get(actor_type).ok_or_else(|| {
            CallError::Failed(ActorError::invoke(
                "",
                format_args!(
                    "actor type {actor_type} is not hosted by app {}",
                    self.app_id
                ),
            ))
        })
    }

    fn activate(&self, actor_type: &str, actor_id: &str, partition: u32) -> Arc<Active> {
        let mut actors = self.actors.lock().expect("actors lock");
        actors
            .entry((actor_type.to_owned(), actor_id.to_owned()))
            .or_insert_with(|| {
                Arc::new(Active {
                    partition,
                    turn: Arc::new(Turn::default()),
                    last_used: Mutex::new(Instant::now()),
                    retired: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// Deactivates the actors idle for longer than their type allows.
    fn deactivate_idle(self: &Arc<Self>) {
        let idle: Vec<(Key, Arc<Active>)> = {
            let actors = self.actors.lock().expect("actors lock");
            actors
                .iter()
                .filter(|((t, _), a)| {
                    self.config
                        .types
                        .get(t)
                        .is_some_and(|c| a.idle_for() >= c.idle_timeout)
                })
                .map(|(k, a)| (k.clone(), a.clone()))
                .collect()
        };
        for (key, actor) in idle {
            // A busy actor is not idle; the next scan looks again.
            let Some(turn) = actor.turn.try_enter() else {
                continue;
            };
            let host = self.clone();
            self.tasks.spawn(async move {
                host.retire(&key, &actor, true).await;
                drop(turn);
            });
        }
    }

    /// Takes `actor` out of the table, with its timers, and tells the app when
    /// `tell_app`; the caller holds its turn.
    async fn retire(&self, key: &Key, actor: &Active, tell_app: bool) {
        actor.retired.store(true, Ordering::Release);
        self.actors.lock().expect("actors lock").remove(key);
        self.drop_timers(key);
        if !tell_app {
            return;
        }
        if let Err(error) = self.app.deactivate(&key.0, &key.1).await {
            tracing::warn!(actor_type = %key.0, actor_id = %key.1, %error, "Deactivating an actor failed.");
        }
    }

    /// Deactivates the actors of one partition, waiting up to `wait` for each
    /// one's call in flight; the app is told only when `tell_app`.
    async fn deactivate_partition(
        &self,
        actor_type: &str,
        partition: u32,
        wait: Duration,
        tell_app: bool,
    ) {
        let members: Vec<(Key, Arc<Active>)> = {
            let actors = self.actors.lock().expect("actors lock");
            actors
                .iter()
                .filter(|((t, _), a)| t == actor_type && a.partition == partition)
                .map(|(k, a)| (k.clone(), a.clone()))
                .collect()
        };
        let retire = members.into_iter().map(|(key, actor)| async move {
            let turn = tokio::time::timeout(wait, actor.turn.enter(None, 1)).await;
            self.retire(&key, &actor, tell_app).await;
            drop(turn);
        });
        futures::future::join_all(retire).await;
    }

    /// Hands one partition over: no new calls, calls in flight finish (within the
    /// type's drain timeout), actors deactivated, lease released.
    async fn drain(self: Arc<Self>, actor_type: String, partition: u32) {
        let Some(p) = self
            .partitions
            .lock()
            .expect("partitions lock")
            .remove(&(actor_type.clone(), partition))
        else {
            return;
        };
        if let Some((stop, _)) = &p.serving {
            stop.cancel();
        }
        let config = self.config.types.get(&actor_type);
        let wait = config.map_or(Duration::ZERO, |c| c.drain_timeout);
        let tell_app = config.is_none_or(|c| c.drain_rebalanced);
        self.deactivate_partition(&actor_type, partition, wait, tell_app)
            .await;
        if let Err(error) = p.lease.release().await {
            tracing::warn!(%error, actor_type, partition, "Releasing an actor partition failed; it moves when the lease expires.");
        }
    }
}

impl Host {
    /// Fires reminders as they come due, until `stop` fires.
    async fn fire_reminders(self: Arc<Self>, stop: CancellationToken) {
        let firing = Arc::new(tokio::sync::Semaphore::new(FIRING));
        loop {
            for due in self.reminders.take_due(now_ms()) {
                let Ok(permit) = firing.clone().acquire_owned().await else {
                    return;
                };
                let host = self.clone();
                self.tasks.spawn(async move {
                    host.fire(due).await;
                    drop(permit);
                });
            }
            let wait = match self.reminders.next_due() {
                Some(at) => Duration::from_millis((at - now_ms()).clamp(0, 1000) as u64),
                None => Duration::from_secs(1),
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.reminders.changed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Calls the app's reminder callback in the actor's turn, then records the fire.
    async fn fire(&self, due: Due) {
        let record = &due.record;
        let mut cancel = false;
        for attempt in 1..=FIRE_ATTEMPTS {
            let work = Work {
                actor_type: &record.actor_type,
                actor_id: &record.actor_id,
                callback: Callback::Reminder {
                    name: &record.name,
                    due_time: &record.due_time,
                    period: &record.period,
                    data: record.data.as_deref(),
                },
                chain: None,
            };
            match self.in_turn(work).await {
                Ok(answer) if answer.status.is_success() => {
                    cancel = answer
                        .headers
                        .get(REMINDER_CANCEL)
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
                    break;
                }
                // The partition moved: its new host fires it.
                Err(CallError::Moved) => return,
                Ok(answer) => {
                    tracing::warn!(reminder = %record.name, actor_id = %record.actor_id, status = %answer.status, attempt, "A reminder callback failed.")
                }
                Err(CallError::Failed(e)) => {
                    tracing::warn!(reminder = %record.name, actor_id = %record.actor_id, error = %e, attempt, "A reminder callback failed.")
                }
            }
            if attempt < FIRE_ATTEMPTS {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        self.reminders.fired(due, now_ms(), cancel).await;
    }

    /// Starts (or replaces) a timer of an actor active here.
    pub fn register_timer(
        self: &Arc<Self>,
        actor_type: &str,
        actor_id: &str,
        name: &str,
        spec: TimerSpec,
    ) -> Result<(), ActorError> {
        let failed = ActorError::TimerCreate;
        let partition = super::partition_of(actor_id);
        if !self.owns(actor_type, partition) {
            return Err(failed(format!(
                "actor {actor_type}/{actor_id} is not active on this host"
            )));
        }
        let mut schedule =
            schedule::parse(&spec.due_time, &spec.period, &spec.ttl, now_ms()).map_err(failed)?;
        self.activate(actor_type, actor_id, partition);
        let key: Key = (actor_type.to_owned(), actor_id.to_owned());
        let spec = Arc::new(spec);
        let host = self.clone();
        let (timer_key, timer_name, timer) = (key.clone(), name.to_owned(), spec.clone());
        let task = self.tasks.spawn(async move {
            let mut fires = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(
                    (schedule.due - now_ms()).max(0) as u64
                ))
                .await;
                let work = Work {
                    actor_type: &timer_key.0,
                    actor_id: &timer_key.1,
                    callback: Callback::Timer {
                        name: &timer_name,
                        callback: &timer.callback,
                        due_time: &timer.due_time,
                        period: &timer.period,
                        data: timer.data.as_deref(),
                    },
                    chain: None,
                };
                if let Err(CallError::Moved) = host.in_turn(work).await {
                    return;
                }
                fires += 1;
                match schedule.after(schedule.due, fires, now_ms()) {
                    Some(next) => schedule.due = next,
                    None => return,
                }
            }
        });
        let old = self
            .timers
            .lock()
            .expect("timers lock")
            .insert((key, name.to_owned()), (task.abort_handle(), spec));
        if let Some((old, _)) = old {
            old.abort();
        }
        Ok(())
    }

    /// A timer of an actor active here, as registered.
    pub fn timer(&self, actor_type: &str, actor_id: &str, name: &str) -> Option<Arc<TimerSpec>> {
        let key = (
            (actor_type.to_owned(), actor_id.to_owned()),
            name.to_owned(),
        );
        let timers = self.timers.lock().expect("timers lock");
        timers.get(&key).map(|(_, spec)| spec.clone())
    }

    pub fn unregister_timer(&self, actor_type: &str, actor_id: &str, name: &str) {
        let key = (
            (actor_type.to_owned(), actor_id.to_owned()),
            name.to_owned(),
        );
        if let Some((timer, _)) = self.timers.lock().expect("timers lock").remove(&key) {
            timer.abort();
        }
    }

    fn drop_timers(&self, key: &Key) {
        self.timers
            .lock()
            .expect("timers lock")
            .retain(|(k, _), (timer, _)| {
                let keep = k != key;
                if !keep {
                    timer.abort();
                }
                keep
            });
    }
}

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

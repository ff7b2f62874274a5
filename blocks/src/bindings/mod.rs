//! The bindings building block: a node's binding components (connectors from
//! the `jetway-bindings` crate), output bindings served to every app of the
//! NATS system by request-reply, and input bindings feeding the app.
//!
//! An output binding runs on the nodes that load it. Each serves it on
//! `jetway.binding.<name>` in a queue group, so a call from a node without
//! the component reaches one that has it (an edge node beside a database can
//! serve it for every app); the component's `scopes` say which app ids may
//! call. An input binding runs where its app is; one whose events would
//! repeat on every replica (cron) runs on the replica that holds its lease.

mod app;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jetway_broker::lease::{Lease, Leases, LeasesConfig};
use jetway_broker::{self as broker, Broker, naming};
use jetway_core::Context;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use app::AppHandler;
pub use app::BindingApp;
pub use jetway_bindings::{Event, Input, Output, Refused, Request, Response};

/// One binding component, as the node built it.
pub struct BindingComponent {
    pub name: String,
    pub output: Option<Arc<dyn Output>>,
    pub input: Option<Arc<dyn Input>>,
    /// The app path input events are posted to (`route`, else `/<name>`).
    pub route: String,
    /// `direction` names input: deliver without asking the app first.
    pub input_declared: bool,
    /// Run the input on one replica of the app at a time (its lease holder).
    pub singleton: bool,
    /// App ids that may call it (`scopes`); empty is every app.
    pub scopes: Vec<String>,
}

impl BindingComponent {
    fn allows(&self, caller: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == caller)
    }
}

/// Why an output binding call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("couldn't find output binding {0}")]
    NotFound(String),
    #[error("app {caller} may not use output binding {name} (not in its scopes)")]
    Denied { name: String, caller: String },
    #[error("error invoking output binding {name}: {message}")]
    Failed { name: String, message: String },
}

fn timed_out(name: &str, after: Duration) -> Error {
    Error::Failed {
        name: name.to_owned(),
        message: format!("no answer within {after:?}"),
    }
}

/// The node's bindings.
pub struct Bindings {
    broker: Broker,
    app_id: String,
    components: HashMap<String, Arc<BindingComponent>>,
    timeout: Duration,
}

/// How long an input binding's lease outlives a silent holder.
const LEASE_TTL: Duration = Duration::from_secs(6);

impl Bindings {
    pub fn new(
        broker: Broker,
        app_id: impl Into<String>,
        components: impl IntoIterator<Item = BindingComponent>,
        timeout: Duration,
    ) -> Bindings {
        Bindings {
            broker,
            app_id: app_id.into(),
            components: components
                .into_iter()
                .map(|c| (c.name.clone(), Arc::new(c)))
                .collect(),
            timeout,
        }
    }

    /// Calls output binding `name`: here when this node runs it, else on a
    /// node that does.
    pub async fn invoke(
        &self,
        ctx: &Context,
        name: &str,
        request: Request,
    ) -> Result<Response, Error> {
        let timeout = ctx.remaining(self.timeout).min(self.timeout);
        if let Some(c) = self.components.get(name).filter(|c| c.output.is_some()) {
            return call(c, &self.app_id, request, timeout).await;
        }
        let failed = |message: String| Error::Failed {
            name: name.to_owned(),
            message,
        };
        let headers = wire::request_headers(&request, &self.app_id, timeout);
        let reply = self
            .broker
            .request(
                naming::binding_subject(name),
                headers,
                request.data,
                timeout,
            )
            .await
            .map_err(|e| match e {
                broker::Error::NoResponders => Error::NotFound(name.to_owned()),
                broker::Error::Timeout(after) => timed_out(name, after),
                other => failed(other.to_string()),
            })?;
        wire::response(name, &self.app_id, reply)
    }

    /// Serves this node's output bindings to the NATS system until `cancel`
    /// fires.
    pub async fn serve(self: Arc<Self>, cancel: CancellationToken) -> Result<(), broker::Error> {
        let mut subscriptions = futures::stream::SelectAll::new();
        for c in self.components.values().filter(|c| c.output.is_some()) {
            let subject = naming::binding_subject(&c.name);
            let requests = self.broker.serve(subject.clone(), subject).await?;
            let c = c.clone();
            subscriptions.push(requests.map(move |m| (c.clone(), m)).boxed());
        }
        if subscriptions.is_empty() {
            return Ok(());
        }
        let tasks = TaskTracker::new();
        loop {
            let (c, msg) = tokio::select! {
                _ = cancel.cancelled() => break,
                next = subscriptions.next() => match next { Some(n) => n, None => break },
            };
            let broker = self.broker.clone();
            let received = Instant::now();
            tasks.spawn(async move {
                let mut msg = msg;
                let Some(reply) = msg.reply.clone() else {
                    return;
                };
                let staged = broker.take_payload(&mut msg).await;
                let (caller, request, timeout) = wire::request(msg, received);
                let answer = if let Err(e) = staged {
                    Err(Error::Failed {
                        name: c.name.clone(),
                        message: e.to_string(),
                    })
                } else if c.allows(&caller) {
                    call(&c, &caller, request, timeout).await
                } else {
                    Err(Error::Denied {
                        name: c.name.clone(),
                        caller,
                    })
                };
                let (headers, body) = wire::reply(answer);
                if let Err(error) = broker.reply(reply, headers, body).await {
                    tracing::warn!(%error, binding = %c.name, "Replying to an output binding call failed.");
                }
            });
        }
        tasks.close();
        tasks.wait().await;
        Ok(())
    }

    /// Starts the input bindings the app takes, each until `stop` fires.
    pub async fn start_inputs(
        &self,
        app: Arc<dyn BindingApp>,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Result<Vec<String>, broker::Error> {
        let mut started = Vec::new();
        let mut leases = None;
        for c in self.components.values() {
            let Some(input) = c.input.clone() else {
                continue;
            };
            if !c.input_declared && !app.wants(&c.name, &c.route).await {
                tracing::info!(binding = %c.name, route = %c.route, "The app does not take this input binding's events.");
                continue;
            }
            let handler = Arc::new(AppHandler::new(app.clone(), &c.name, &c.route));
            let stop = stop.clone();
            if c.singleton {
                if leases.is_none() {
                    leases = Some(self.leases().await?);
                }
                let leases = leases.as_ref().expect("opened above");
                let changed = Arc::new(Notify::new());
                let lease = leases
                    .contend(
                        &naming::binding_lease(&self.app_id, &c.name),
                        changed.clone(),
                    )
                    .await?;
                tasks.spawn(run_while_held(lease, changed, input, handler, stop));
            } else {
                tasks.spawn(async move { input.run(handler, stop).await });
            }
            started.push(c.name.clone());
        }
        Ok(started)
    }

    async fn leases(&self) -> Result<Leases, broker::Error> {
        self.broker
            .leases(LeasesConfig {
                name: naming::BINDING_LEASE_STREAM.into(),
                subject_prefix: naming::BINDING_LEASE_PREFIX.into(),
                replicas: 1,
                ttl: LEASE_TTL,
            })
            .await
    }
}

/// Calls `c`'s output for `caller`, within `timeout`.
async fn call(
    c: &BindingComponent,
    caller: &str,
    request: Request,
    timeout: Duration,
) -> Result<Response, Error> {
    let output = c
        .output
        .as_ref()
        .ok_or_else(|| Error::NotFound(c.name.clone()))?;
    let failed = |message: String| Error::Failed {
        name: c.name.clone(),
        message,
    };
    if request.operation.is_empty() {
        return Err(failed("operation field is missing from request".into()));
    }
    if !output.operations().contains(&request.operation.as_str()) {
        return Err(failed(format!(
            "binding {} does not support operation {}. supported operations:{}",
            c.name,
            request.operation,
            output.operations().join(" ")
        )));
    }
    tracing::debug!(binding = %c.name, caller, operation = %request.operation, "Output binding call.");
    match tokio::time::timeout(timeout, output.invoke(request)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(timed_out(&c.name, timeout)),
    }
}

/// Runs `input` whenever this replica holds `lease`, stopping it when the
/// lease moves, until `stop` fires.
async fn run_while_held(
    lease: Lease,
    changed: Arc<Notify>,
    input: Arc<dyn Input>,
    handler: Arc<AppHandler>,
    stop: CancellationToken,
) {
    let check = Duration::from_millis(500);
    while !stop.is_cancelled() {
        if !lease.is_held() {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = changed.notified() => {}
                _ = tokio::time::sleep(check) => {}
            }
            continue;
        }
        let held = stop.child_token();
        let run = input.run(handler.clone(), held.clone());
        tokio::pin!(run);
        loop {
            tokio::select! {
                _ = &mut run => break,
                _ = changed.notified() => {}
                _ = tokio::time::sleep(check) => {}
            }
            if !lease.is_held() {
                held.cancel();
            }
        }
    }
    if let Err(error) = lease.release().await {
        tracing::debug!(%error, "Releasing an input binding's lease failed.");
    }
}

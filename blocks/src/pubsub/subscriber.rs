//! Delivers subscribed events to the app and settles them by the app's answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use jetway_core::Context;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::cloudevent;
use super::{Deliveries, Delivery, PubSubComponent, Rule, Subscription};
use super::{Incoming, Message, PubSub};

/// How long the app may take over a delivery, unless `processingTimeout`
/// says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// A subscription as it runs: where events come from and where they go.
pub struct Route {
    pub pubsub_name: String,
    pub pubsub: Arc<dyn PubSub>,
    pub topic: String,
    /// Consumer group (the app id, or `consumerID`).
    pub group: String,
    pub rules: Vec<CompiledRule>,
    pub dead_letter_topic: Option<String>,
    /// Deliver the bytes as they arrived, wrapped in a fresh envelope.
    pub raw_payload: bool,
    /// Attempts before a failing message goes to the dead-letter topic, or
    /// is dropped with a log; `None`: retried until it succeeds.
    pub max_attempts: Option<u32>,
    /// How long the app may take over one delivery (or batch) before it is
    /// given up and redelivered.
    pub deadline: Duration,
    /// Delays between redeliveries, by attempt (the last repeats).
    pub backoff: Vec<Duration>,
    /// Events (or batches) handled at once.
    pub concurrency: usize,
    /// Deliver in batches.
    pub bulk: Option<super::Bulk>,
    pub deliveries: Arc<dyn Deliveries>,
    /// The group's position is forgotten after this long with no reader
    /// (streaming subscriptions); `None` keeps it.
    pub forget_after: Option<Duration>,
}

impl Route {
    /// How `spec` runs on `component`: its rules compiled, its delivery
    /// settings read from the subscription's metadata, else the component's.
    /// `concurrency` is the node's limit (`concurrency: single` makes it 1).
    pub fn new(
        component: &PubSubComponent,
        spec: &Subscription,
        concurrency: usize,
        deliveries: Arc<dyn Deliveries>,
    ) -> Result<Route, String> {
        let rules = spec
            .rules
            .iter()
            .map(CompiledRule::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let setting = |k: &str| {
            spec.metadata
                .get(k)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
                .or_else(|| component.metadata.value(k))
        };
        let max_attempts = match setting("maxDeliver") {
            Some(v) => match v
                .parse::<i64>()
                .map_err(|_| format!("maxDeliver '{v}' is not a number"))?
            {
                ..=0 => None,
                n => Some(n.min(i64::from(u32::MAX)) as u32),
            },
            // With a dead-letter topic, Dapr's default of three attempts;
            // without one, nothing is given up.
            None => spec.dead_letter_topic.as_ref().map(|_| 3),
        };
        let deadline = match setting("processingTimeout") {
            Some(v) => jetway_core::duration::parse(v)
                .map_err(|e| format!("processingTimeout: {e}"))?
                .max(Duration::from_millis(1)),
            None => DEFAULT_DEADLINE,
        };
        let concurrency = if setting("concurrency").is_some_and(|c| c == "single") {
            1
        } else {
            concurrency
        };
        Ok(Route {
            pubsub_name: spec.pubsub.clone(),
            pubsub: component.pubsub.clone(),
            topic: spec.topic.clone(),
            group: component.group.clone(),
            rules,
            dead_letter_topic: spec.dead_letter_topic.clone(),
            raw_payload: setting("rawPayload").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            max_attempts,
            deadline,
            backoff: backoff_from(&component.metadata)?,
            concurrency,
            bulk: spec.bulk.clone(),
            deliveries,
            forget_after: None,
        })
    }
}

/// A routing rule with its CEL program compiled once.
pub struct CompiledRule {
    pub program: Option<cel_interpreter::Program>,
    pub path: String,
}

impl CompiledRule {
    pub fn compile(rule: &Rule) -> Result<CompiledRule, String> {
        let program = if rule.matches.trim().is_empty() {
            None
        } else {
            // The CEL parser may panic on malformed input instead of failing.
            let compiled =
                std::panic::catch_unwind(|| cel_interpreter::Program::compile(&rule.matches));
            let invalid =
                |e: &dyn std::fmt::Display| format!("invalid match '{}': {e}", rule.matches);
            match compiled {
                Ok(Ok(program)) => Some(program),
                Ok(Err(e)) => return Err(invalid(&e)),
                Err(_) => return Err(invalid(&"not a valid CEL expression")),
            }
        };
        Ok(CompiledRule {
            program,
            path: rule.path.clone(),
        })
    }
}

/// What to do with a delivery.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Ack,
    Retry,
    /// Not deliverable: to the dead-letter topic if there is one, then ack.
    Drop,
}

impl Outcome {
    /// Reads Dapr's status words (`SUCCESS`, `RETRY`, `DROP`; empty is success).
    pub fn from_status(status: &str, topic: &str) -> Outcome {
        match status {
            "" | "SUCCESS" => Outcome::Ack,
            "RETRY" => Outcome::Retry,
            "DROP" => {
                tracing::warn!(topic, "The app asked to drop an event.");
                Outcome::Drop
            }
            other => {
                tracing::warn!(
                    topic,
                    status = other,
                    "Unknown delivery status from the app; will retry."
                );
                Outcome::Retry
            }
        }
    }
}

/// One event on its way to a target.
pub struct Event<'a> {
    pub pubsub: &'a str,
    pub topic: &'a str,
    /// The route the subscription's rules chose.
    pub path: &'a str,
    /// The CloudEvent, as JSON.
    pub data: Bytes,
    pub traceparent: Option<&'a str>,
}

/// Events of one route, delivered together (bulk subscriptions).
pub struct Batch<'a> {
    pub pubsub: &'a str,
    pub topic: &'a str,
    pub path: &'a str,
    /// Entry ids and CloudEvents (JSON).
    pub entries: Vec<(String, Bytes)>,
}

impl<'a> Batch<'a> {
    /// One entry's CloudEvent as a single event.
    pub fn event(&self, data: &Bytes) -> Event<'a> {
        Event {
            pubsub: self.pubsub,
            topic: self.topic,
            path: self.path,
            data: data.clone(),
            traceparent: None,
        }
    }
}

/// Where a subscription's events go: the app, or a stream the app opened.
#[async_trait::async_trait]
pub trait Target: Send + Sync {
    async fn deliver(&self, event: &Event<'_>) -> Outcome;

    /// Delivers a batch: one outcome per entry, in order. By default, one
    /// event at a time.
    async fn deliver_batch(&self, batch: &Batch<'_>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(batch.entries.len());
        for (_, data) in &batch.entries {
            outcomes.push(self.deliver(&batch.event(data)).await);
        }
        outcomes
    }
}

/// Runs `route` until `cancel` fires, resubscribing if the broker's stream ends.
pub async fn run(route: Arc<Route>, app: Arc<dyn Target>, cancel: CancellationToken) {
    let permits = Arc::new(Semaphore::new(route.concurrency.max(1)));
    while !cancel.is_cancelled() {
        let mut messages = match route
            .pubsub
            .subscribe(&route.topic, &route.group, route.forget_after)
            .await
        {
            Ok(m) => m,
            Err(error) => {
                tracing::error!(%error, pubsub = %route.pubsub_name, topic = %route.topic, "Subscribing failed; retrying.");
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => None,
                m = messages.next() => m,
            };
            let Some(incoming) = next else { break };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (route, app) = (route.clone(), app.clone());
            let Some(bulk) = &route.bulk else {
                tokio::spawn(async move {
                    handle(&route, app.as_ref(), incoming).await;
                    drop(permit);
                });
                continue;
            };
            // A batch: what arrives until it is full or its wait is over.
            let mut batch = vec![incoming];
            let deadline = tokio::time::sleep(bulk.max_await);
            tokio::pin!(deadline);
            while batch.len() < bulk.max_messages {
                tokio::select! {
                    biased;
                    m = messages.next() => match m {
                        Some(m) => batch.push(m),
                        None => break,
                    },
                    _ = &mut deadline => break,
                }
            }
            tokio::spawn(async move {
                handle_batch(&route, app.as_ref(), batch).await;
                drop(permit);
            });
        }
        if !cancel.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Drain: wait for in-flight deliveries to settle.
    let _ = permits.acquire_many(route.concurrency.max(1) as u32).await;
}

/// Delivers a batch, grouped by the path each event's rules choose, then
/// settles every event by its own outcome.
async fn handle_batch(route: &Route, app: &dyn Target, batch: Vec<Incoming>) {
    let mut outcomes = vec![Outcome::Retry; batch.len()];
    let mut by_path: BTreeMap<&str, Vec<(usize, Bytes)>> = BTreeMap::new();
    for (i, incoming) in batch.iter().enumerate() {
        match prepare(route, &incoming.data) {
            Ok((path, event, _)) => by_path.entry(path).or_default().push((i, event)),
            Err(outcome) => outcomes[i] = outcome,
        }
    }
    for (path, members) in by_path {
        let entries = members
            .iter()
            .map(|(_, event)| (uuid::Uuid::new_v4().to_string(), event.clone()))
            .collect();
        let batch = Batch {
            pubsub: &route.pubsub_name,
            topic: &route.topic,
            path,
            entries,
        };
        let Ok(answers) = tokio::time::timeout(route.deadline, app.deliver_batch(&batch)).await
        else {
            tracing::warn!(topic = %route.topic, deadline = ?route.deadline, "The app did not answer a batch in time; it will be redelivered.");
            continue;
        };
        for ((i, _), outcome) in members.iter().zip(answers) {
            outcomes[*i] = outcome;
        }
    }
    for (incoming, outcome) in batch.into_iter().zip(outcomes) {
        settle(route, incoming, outcome).await;
    }
}

async fn handle(route: &Route, app: &dyn Target, incoming: Incoming) {
    let outcome = {
        // An app slower than the broker's ack wait must not get a second copy
        // meanwhile: report progress at half the ack wait.
        let work = async {
            match tokio::time::timeout(route.deadline, deliver(route, app, &incoming.data)).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::warn!(topic = %route.topic, deadline = ?route.deadline, "The app did not answer in time; the event will be redelivered.");
                    Outcome::Retry
                }
            }
        };
        tokio::pin!(work);
        match route.pubsub.ack_wait() {
            None => work.await,
            Some(wait) => loop {
                tokio::select! {
                    outcome = &mut work => break outcome,
                    _ = tokio::time::sleep(wait / 2) => incoming.settle.in_progress().await,
                }
            },
        }
    };
    settle(route, incoming, outcome).await;
}

/// Acks, retries or dead-letters one delivery by its outcome.
async fn settle(route: &Route, incoming: Incoming, outcome: Outcome) {
    let exhausted = route
        .max_attempts
        .is_some_and(|max| incoming.delivered >= max);
    match outcome {
        Outcome::Ack => {
            route.deliveries.delivered(Delivery::Acked);
            incoming.settle.ack().await;
        }
        Outcome::Drop => dead_letter_and_ack(route, incoming).await,
        Outcome::Retry if exhausted => {
            if route.dead_letter_topic.is_none() {
                tracing::warn!(topic = %route.topic, deliveries = incoming.delivered, "Event dropped after maxDeliver attempts (no dead-letter topic).");
            }
            dead_letter_and_ack(route, incoming).await
        }
        Outcome::Retry => {
            route.deliveries.delivered(Delivery::Retried);
            let i = (incoming.delivered as usize)
                .saturating_sub(1)
                .min(route.backoff.len().saturating_sub(1));
            let delay = route
                .backoff
                .get(i)
                .copied()
                .unwrap_or(Duration::from_secs(1));
            incoming.settle.retry(delay).await;
        }
    }
}

/// Publishes the original message to the dead-letter topic, if any, then acks.
/// Nothing is lost: if the dead-letter publish fails, the message is retried.
async fn dead_letter_and_ack(route: &Route, incoming: Incoming) {
    if let Some(topic) = &route.dead_letter_topic {
        let msg = Message {
            data: incoming.data.clone(),
            id: None,
            ttl: None,
        };
        if let Err(error) = route.pubsub.publish(&Context::default(), topic, msg).await {
            tracing::error!(%error, topic = %topic, "Publishing to the dead-letter topic failed; will retry.");
            route.deliveries.delivered(Delivery::Retried);
            incoming.settle.retry(Duration::from_secs(1)).await;
            return;
        }
    }
    route.deliveries.delivered(Delivery::Dropped);
    incoming.settle.ack().await;
}

async fn deliver(route: &Route, target: &dyn Target, data: &Bytes) -> Outcome {
    let (path, event, traceparent) = match prepare(route, data) {
        Ok(prepared) => prepared,
        Err(outcome) => return outcome,
    };
    let event = Event {
        pubsub: &route.pubsub_name,
        topic: &route.topic,
        path,
        data: event,
        traceparent: traceparent.as_deref(),
    };
    target.deliver(&event).await
}

/// The route's path, the CloudEvent and its trace parent for a stored message,
/// or what to do with a message that cannot be delivered.
fn prepare<'r>(
    route: &'r Route,
    data: &Bytes,
) -> Result<(&'r str, Bytes, Option<String>), Outcome> {
    let (event, traceparent) = if route.raw_payload {
        (
            cloudevent::wrap_raw(&route.pubsub_name, &route.topic, data),
            None,
        )
    } else {
        // It never will be one: no use retrying it.
        let Some(head) = cloudevent::head(data) else {
            tracing::warn!(topic = %route.topic, "Event is not a JSON CloudEvent; not delivered.");
            return Err(Outcome::Drop);
        };
        if cloudevent::expired(head.expiration.as_deref()) {
            tracing::debug!(topic = %route.topic, "Event expired; not delivered.");
            return Err(Outcome::Drop);
        }
        (data.clone(), head.traceparent.map(|t| t.into_owned()))
    };
    let Some(path) = select_path(&route.rules, &event) else {
        tracing::warn!(topic = %route.topic, "No route matched the event; dropped.");
        return Err(Outcome::Drop);
    };
    Ok((path, event, traceparent))
}

fn select_path<'a>(rules: &'a [CompiledRule], event: &[u8]) -> Option<&'a str> {
    if let [only] = rules
        && only.program.is_none()
    {
        return Some(&only.path);
    }
    let value: serde_json::Value = serde_json::from_slice(event).ok()?;
    let mut ctx = cel_interpreter::Context::default();
    ctx.add_variable("event", value).ok()?;
    rules
        .iter()
        .find(|r| match &r.program {
            None => true,
            Some(p) => matches!(p.execute(&ctx), Ok(cel_interpreter::Value::Bool(true))),
        })
        .map(|r| r.path.as_str())
}

/// The redelivery delays of a component's `backOff` metadata.
pub fn backoff_from(metadata: &jetway_core::Metadata) -> Result<Vec<Duration>, String> {
    match metadata.value("backOff") {
        None => Ok(vec![
            Duration::from_millis(200),
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(5),
        ]),
        Some(list) => list.split(',').map(jetway_core::duration::parse).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Uncounted;
    impl Deliveries for Uncounted {
        fn delivered(&self, _: Delivery) {}
    }

    #[test]
    fn a_route_reads_the_subscription_then_the_component() {
        let mut metadata = jetway_core::Metadata::default();
        metadata.insert("MAXDELIVER", "7");
        metadata.insert("rawPayload", "true");
        let component = PubSubComponent {
            name: "ps".into(),
            kind: "pubsub.in-memory".into(),
            pubsub: Arc::new(super::super::MemoryPubSub::default()),
            group: "orders-app".into(),
            metadata,
        };
        let spec = |pairs: &[(&str, &str)]| Subscription {
            name: "s".into(),
            pubsub: "ps".into(),
            topic: "orders".into(),
            rules: vec![],
            metadata: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dead_letter_topic: None,
            scopes: vec![],
            bulk: None,
        };
        let new = |s: &Subscription| Route::new(&component, s, 64, Arc::new(Uncounted));
        let route = new(&spec(&[])).unwrap();
        assert_eq!((route.max_attempts, route.concurrency), (Some(7), 64));
        assert_eq!(route.deadline, DEFAULT_DEADLINE);
        assert!(route.raw_payload);
        assert_eq!(route.group, "orders-app");
        let route = new(&spec(&[
            ("maxDeliver", "2"),
            ("concurrency", "single"),
            ("processingTimeout", "5s"),
        ]))
        .unwrap();
        assert_eq!((route.max_attempts, route.concurrency), (Some(2), 1));
        assert_eq!(route.deadline, Duration::from_secs(5));
        assert_eq!(
            new(&spec(&[("maxDeliver", "-1")])).unwrap().max_attempts,
            None
        );
        assert!(new(&spec(&[("processingTimeout", "soon")])).is_err());
        assert!(new(&spec(&[("maxDeliver", "many")])).is_err());
    }

    #[test]
    fn rules_route_by_cel() {
        let rules: Vec<CompiledRule> = [
            Rule {
                matches: r#"event.type == "big""#.into(),
                path: "/big".into(),
            },
            Rule {
                matches: "event.data.n > 10".into(),
                path: "/many".into(),
            },
            Rule {
                matches: String::new(),
                path: "/default".into(),
            },
        ]
        .iter()
        .map(|r| CompiledRule::compile(r).unwrap())
        .collect();
        assert_eq!(
            select_path(&rules, br#"{"type":"big","data":{}}"#),
            Some("/big")
        );
        assert_eq!(
            select_path(&rules, br#"{"type":"x","data":{"n":11}}"#),
            Some("/many")
        );
        assert_eq!(
            select_path(&rules, br#"{"type":"x","data":{"n":1}}"#),
            Some("/default")
        );
        assert_eq!(select_path(&rules[..1], br#"{"type":"small"}"#), None);
        assert!(
            CompiledRule::compile(&Rule {
                matches: "event.type ==".into(),
                path: "/x".into()
            })
            .is_err()
        );
    }

    #[test]
    fn backoffs() {
        let m: jetway_core::Metadata = [("BACKOFF", "100ms, 2s")].into_iter().collect();
        assert_eq!(
            backoff_from(&m).unwrap(),
            vec![Duration::from_millis(100), Duration::from_secs(2)]
        );
        assert_eq!(backoff_from(&Default::default()).unwrap().len(), 5);
    }
}

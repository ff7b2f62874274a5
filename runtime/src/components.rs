//! The component registry: turns loaded Component resources into running state
//! stores and pub/sub brokers. The set of types is an explicit list.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jetway_broker::kv::BucketConfig;
use jetway_broker::stream::{DeliverPolicy, StreamConfig};
use jetway_broker::{Broker, ConnectOptions, Credentials, naming};

use crate::pubsub::{self, JetStreamOptions, JetStreamPubSub, MemoryPubSub, PubSub};
use crate::resources::Component;
use crate::state::{self, JetStreamStore, KeyPrefix, MemoryStore, Store};

pub const STATE_JETSTREAM: &str = "state.jetstream";
pub const STATE_IN_MEMORY: &str = "state.in-memory";
pub const PUBSUB_JETSTREAM: &str = "pubsub.jetstream";
pub const PUBSUB_IN_MEMORY: &str = "pubsub.in-memory";

/// Component types this build knows, with the metadata keys each accepts.
fn known_keys(kind: &str) -> Option<Vec<&'static str>> {
    const NATS: &[&str] = &[
        "natsURL",
        "jwt",
        "seedKey",
        "token",
        "name",
        "tls_client_cert",
        "tls_client_key",
        "replicas",
        "memoryStorage",
    ];
    const STATE: &[&str] = &["keyPrefix", "actorStateStore", "bucket"];
    const PUBSUB: &[&str] = &[
        "consumerID",
        "allowedTopics",
        "publishingScopes",
        "subscriptionScopes",
        "protectedTopics",
        "streamName",
        "subjectPrefix",
        "durableName",
        "queueGroupName",
        "deliverPolicy",
        "startSequence",
        "startTime",
        "ackPolicy",
        "ackWait",
        "maxDeliver",
        "backOff",
        "maxAckPending",
        "concurrency",
        "flowControl",
        "heartbeat",
        "rateLimit",
        "domain",
        "apiPrefix",
    ];
    match kind {
        STATE_JETSTREAM => Some([NATS, STATE].concat()),
        STATE_IN_MEMORY => Some(STATE.to_vec()),
        PUBSUB_JETSTREAM => Some([NATS, PUBSUB].concat()),
        PUBSUB_IN_MEMORY => Some(PUBSUB.to_vec()),
        _ => None,
    }
}

/// A component that could not be built, naming where it was declared.
#[derive(Debug, thiserror::Error)]
#[error("{file}: Component '{name}'{}: {message}", field.as_ref().map(|f| format!(": field '{f}'")).unwrap_or_default())]
pub struct Error {
    pub file: String,
    pub name: String,
    pub field: Option<String>,
    pub message: String,
    /// The component's own NATS server could not be reached (not a YAML mistake).
    pub unreachable: bool,
}

/// A state store and how this app's keys are prefixed in it.
pub struct StateComponent {
    pub name: String,
    pub kind: String,
    pub store: Arc<dyn Store>,
    /// Resolved key prefix (without `||`).
    pub prefix: Option<String>,
    pub actor_store: bool,
}

/// A pub/sub broker and the delivery settings from its metadata.
pub struct PubSubComponent {
    pub name: String,
    pub kind: String,
    pub pubsub: Arc<dyn PubSub>,
    /// Consumer group: `consumerID`, else the app id.
    pub group: String,
    pub metadata: jetway_core::Metadata,
}

#[derive(Default)]
pub struct Registry {
    pub state: HashMap<String, StateComponent>,
    pub pubsub: HashMap<String, PubSubComponent>,
    /// (name, type) of every component, in load order, for metadata.
    pub listed: Vec<(String, String, &'static [&'static str])>,
}

/// What building a component needs from the node.
pub struct Context<'a> {
    pub broker: &'a Broker,
    pub nats_url: &'a str,
    pub app_id: &'a str,
    pub namespace: Option<&'a str>,
}

/// Checks types, versions and metadata keys without touching the network.
pub fn validate(components: &[Component]) -> Result<(), Error> {
    for c in components {
        let err = |field: &str, message: String| Error {
            file: c.file.clone(),
            name: c.name.clone(),
            field: Some(field.into()),
            message,
            unreachable: false,
        };
        let Some(keys) = known_keys(&c.kind) else {
            return Err(err(
                "spec.type",
                format!(
                    "unknown component type '{}' (this build knows {STATE_JETSTREAM}, {STATE_IN_MEMORY}, {PUBSUB_JETSTREAM}, {PUBSUB_IN_MEMORY})",
                    c.kind
                ),
            ));
        };
        // As in daprd, no version, v0 and v1 all name a type's first version.
        if !["", "v0", "v1"].contains(&c.version.to_ascii_lowercase().as_str()) {
            return Err(err(
                "spec.version",
                format!(
                    "unsupported version '{}' for {} (use v1)",
                    c.version, c.kind
                ),
            ));
        }
        for (key, _) in c.metadata.iter() {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                tracing::warn!(file = %c.file, component = %c.name, key = %key, "Unknown metadata key; ignored.");
            }
        }
    }
    Ok(())
}

/// Builds every component. A failure stops the node unless the component has
/// `ignoreErrors`.
pub async fn build(components: &[Component], ctx: &Context<'_>) -> Result<Registry, Error> {
    validate(components)?;
    let mut registry = Registry::default();
    let mut connections: HashMap<String, Broker> = HashMap::new();
    for c in components {
        match build_one(c, ctx, &mut connections, &mut registry).await {
            Ok(()) => {}
            Err(e) if c.ignore_errors => {
                tracing::warn!(error = %e, "Component failed to initialise; ignored (ignoreErrors).")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(registry)
}

async fn build_one(
    c: &Component,
    ctx: &Context<'_>,
    connections: &mut HashMap<String, Broker>,
    registry: &mut Registry,
) -> Result<(), Error> {
    let err = |field: Option<&str>, message: String| Error {
        file: c.file.clone(),
        name: c.name.clone(),
        field: field.map(Into::into),
        message,
        unreachable: false,
    };
    let meta = |k: &str| c.metadata.value(k);
    let flag = |k: &str| c.metadata.flag(k);
    let replicas: usize = match meta("replicas") {
        Some(v) => v
            .parse()
            .map_err(|_| err(Some("replicas"), format!("'{v}' is not a number")))?,
        None => 1,
    };
    match c.kind.as_str() {
        STATE_JETSTREAM | STATE_IN_MEMORY => {
            let store: Arc<dyn Store> = if c.kind == STATE_JETSTREAM {
                let broker = connection(c, ctx, connections).await?;
                let name = meta("bucket")
                    .map(str::to_owned)
                    .unwrap_or_else(|| naming::resource_name(&c.name));
                let bucket = broker
                    .bucket(BucketConfig {
                        name,
                        replicas,
                        memory: flag("memoryStorage"),
                        max_age: None,
                        raw_keys: false,
                    })
                    .await
                    .map_err(|e| err(Some("bucket"), e.to_string()))?;
                Arc::new(JetStreamStore::new(bucket))
            } else {
                Arc::new(MemoryStore::default())
            };
            let prefix = KeyPrefix::parse(meta("keyPrefix"));
            if let KeyPrefix::Literal(p) = &prefix
                && p.contains("||")
            {
                return Err(err(Some("keyPrefix"), "must not contain '||'".into()));
            }
            registry
                .listed
                .push((c.name.clone(), c.kind.clone(), state::FEATURES));
            registry.state.insert(
                c.name.clone(),
                StateComponent {
                    name: c.name.clone(),
                    kind: c.kind.clone(),
                    store,
                    prefix: prefix.resolve(ctx.app_id, &c.name, ctx.namespace),
                    actor_store: flag("actorStateStore"),
                },
            );
        }
        PUBSUB_JETSTREAM | PUBSUB_IN_MEMORY => {
            let pubsub: Arc<dyn PubSub> = if c.kind == PUBSUB_JETSTREAM {
                let broker = connection(c, ctx, connections).await?;
                let options = jetstream_options(c, &meta).map_err(|(f, m)| err(Some(f), m))?;
                let stream_name = match meta("streamName") {
                    Some(n) => n.to_owned(),
                    None => format!("JETWAY_{}", naming::resource_name(&c.name)),
                };
                let subjects = if options.subject_prefix.is_empty() {
                    vec![">".into()]
                } else {
                    vec![format!("{}.>", options.subject_prefix)]
                };
                let stream = broker
                    .stream(StreamConfig {
                        name: stream_name,
                        subjects,
                        replicas,
                        memory: flag("memoryStorage"),
                    })
                    .await
                    .map_err(|e| err(Some("streamName"), e.to_string()))?;
                Arc::new(JetStreamPubSub::new(stream, options))
            } else {
                Arc::new(MemoryPubSub::default())
            };
            registry
                .listed
                .push((c.name.clone(), c.kind.clone(), pubsub.features()));
            registry.pubsub.insert(
                c.name.clone(),
                PubSubComponent {
                    name: c.name.clone(),
                    kind: c.kind.clone(),
                    pubsub,
                    group: meta("consumerID").unwrap_or(ctx.app_id).to_owned(),
                    metadata: c.metadata.clone(),
                },
            );
        }
        other => unreachable!("validate() refused component type {other}"),
    }
    Ok(())
}

type MetaFn<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

fn jetstream_options<'a>(
    c: &Component,
    meta: &MetaFn<'a>,
) -> Result<JetStreamOptions, (&'static str, String)> {
    let number = |key: &'static str, default: i64| -> Result<i64, (&'static str, String)> {
        meta(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| (key, format!("'{v}' is not a number")))
            })
            .unwrap_or(Ok(default))
    };
    let deliver_policy = match meta("deliverPolicy").unwrap_or("all") {
        "all" => DeliverPolicy::All,
        "last" => DeliverPolicy::Last,
        "new" => DeliverPolicy::New,
        "sequence" => DeliverPolicy::ByStartSequence {
            start_sequence: number("startSequence", 1)? as u64,
        },
        "time" => {
            let secs = number("startTime", 0)?;
            let at = time::OffsetDateTime::from_unix_timestamp(secs)
                .map_err(|e| ("startTime", e.to_string()))?;
            DeliverPolicy::ByStartTime { start_time: at }
        }
        other => {
            return Err((
                "deliverPolicy",
                format!("'{other}' is not one of all, last, new, sequence, time"),
            ));
        }
    };
    let ack_wait = match meta("ackWait") {
        Some(v) => crate::duration::parse(v).map_err(|e| ("ackWait", e))?,
        None => Duration::from_secs(30),
    };
    pubsub::subscriber::backoff_from(&c.metadata).map_err(|e| ("backOff", e))?;
    let subject_prefix = match c.metadata.get("subjectPrefix") {
        Some(p) => p.to_owned(),
        None => naming::pubsub_subject_prefix(&c.name),
    };
    Ok(JetStreamOptions {
        subject_prefix,
        deliver_policy,
        max_deliver: number("maxDeliver", -1)?,
        max_ack_pending: number("maxAckPending", 1024)?,
        ack_wait,
        durable_name: meta("durableName").map(str::to_owned),
    })
}

/// The node's connection, or a component's own when it names another server or
/// its own credentials.
async fn connection(
    c: &Component,
    ctx: &Context<'_>,
    connections: &mut HashMap<String, Broker>,
) -> Result<Broker, Error> {
    let meta = |k: &str| c.metadata.value(k).map(str::to_owned);
    let url = meta("natsURL");
    let credentials = match (meta("jwt"), meta("seedKey"), meta("token")) {
        (Some(jwt), Some(seed), _) => Credentials::Jwt { jwt, seed },
        (None, None, Some(token)) => Credentials::Token(token),
        (None, None, None) => Credentials::None,
        _ => {
            return Err(Error {
                file: c.file.clone(),
                name: c.name.clone(),
                field: Some("jwt".into()),
                message: "jwt and seedKey go together".into(),
                unreachable: false,
            });
        }
    };
    if (url.is_none() || url.as_deref() == Some(ctx.nats_url))
        && matches!(credentials, Credentials::None)
    {
        return Ok(ctx.broker.clone());
    }
    let url = url.unwrap_or_else(|| ctx.nats_url.to_owned());
    let key = format!("{url}|{}", c.name);
    if let Some(b) = connections.get(&key) {
        return Ok(b.clone());
    }
    let opts = ConnectOptions {
        url: url.clone(),
        name: meta("name").unwrap_or_else(|| format!("jetway {} {}", ctx.app_id, c.name)),
        credentials,
        tls_ca: None,
        tls_client: meta("tls_client_cert")
            .zip(meta("tls_client_key"))
            .map(|(c, k)| (c.into(), k.into())),
    };
    let broker = Broker::connect(&opts, Duration::from_secs(5))
        .await
        .map_err(|e| Error {
            file: c.file.clone(),
            name: c.name.clone(),
            field: Some("natsURL".into()),
            message: format!("cannot connect to {url}: {e}"),
            unreachable: true,
        })?;
    connections.insert(key, broker.clone());
    Ok(broker)
}

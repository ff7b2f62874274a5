//! The component factory: turns loaded Component resources into running
//! state stores, pub/sub brokers, secret stores, bindings, lock and
//! configuration stores.
//!
//! Each component type is one entry of [`FACTORIES`]: its Dapr type name,
//! the metadata names it reads and its constructor, which parses the
//! metadata into typed settings (one file per type in this folder). Building
//! goes in phases: secret stores first, then every other component's
//! `secretKeyRef` values are read from them, then the rest are built.

mod bindings;
mod configuration_jetstream;
mod lock_jetstream;
mod nats;
mod pubsub_jetstream;
mod pubsub_memory;
mod secretstores_jetstream;
mod secretstores_local_env;
mod secretstores_local_file;
mod state_jetstream;
mod state_memory;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use jetway_broker::Broker;

use jetway_blocks::pubsub::PubSub;
pub use jetway_blocks::registry::{PubSubComponent, Registry, StateComponent};
use jetway_blocks::secrets::SecretStore;
use jetway_blocks::state::Store;

use crate::resources::Component;

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

impl Error {
    fn new(c: &Component, field: Option<&str>, message: impl Into<String>) -> Error {
        Error {
            file: c.file.clone(),
            name: c.name.clone(),
            field: field.map(Into::into),
            message: message.into(),
            unreachable: false,
        }
    }
}

/// What building a component needs from the node.
pub struct Context<'a> {
    pub broker: &'a Broker,
    pub nats_url: &'a str,
    pub app_id: &'a str,
    pub namespace: Option<&'a str>,
}

/// What a constructor made.
enum Built {
    State(StateComponent),
    PubSub(PubSubComponent),
    Secrets(Arc<dyn SecretStore>),
    Binding(jetway_blocks::bindings::BindingComponent),
    Lock(jetway_blocks::lock::LockComponent),
    Configuration(jetway_blocks::configuration::ConfigurationComponent),
}

/// The shared state of one build: the node's context and the NATS
/// connections components of their own opened, reused by name and URL.
struct Builder<'a> {
    ctx: &'a Context<'a>,
    connections: Mutex<HashMap<String, Broker>>,
}

type Construct = for<'a> fn(&'a Component, &'a Builder<'a>) -> BoxFuture<'a, Result<Built, Error>>;

/// A component type this build knows.
struct Factory {
    kind: &'static str,
    /// The metadata names it reads, in groups; others are warned about.
    keys: &'static [&'static [&'static str]],
    construct: Construct,
}

/// Every component type, by Dapr's type name (version v1).
const FACTORIES: &[Factory] = &[
    state_jetstream::FACTORY,
    state_memory::FACTORY,
    pubsub_jetstream::FACTORY,
    pubsub_memory::FACTORY,
    secretstores_local_file::FACTORY,
    secretstores_local_env::FACTORY,
    secretstores_jetstream::FACTORY,
    lock_jetstream::FACTORY,
    configuration_jetstream::FACTORY,
    bindings::CRON,
    bindings::HTTP,
    bindings::JETSTREAM,
    bindings::LOCALSTORAGE,
    bindings::MQTT,
    bindings::MQTT3,
    bindings::MYSQL,
    bindings::POSTGRES,
    bindings::POSTGRESQL,
    bindings::RABBITMQ,
    bindings::REDIS,
];

fn factory(kind: &str) -> Option<&'static Factory> {
    FACTORIES.iter().find(|f| f.kind == kind)
}

fn is_secret_store(c: &Component) -> bool {
    c.kind.starts_with("secretstores.")
}

/// Checks types, versions, metadata names and secret references without
/// touching the network.
pub fn validate(components: &[Component]) -> Result<(), Error> {
    let secret_stores: HashSet<&str> = components
        .iter()
        .filter(|c| is_secret_store(c))
        .map(|c| c.name.as_str())
        .collect();
    for c in components {
        let Some(factory) = factory(&c.kind) else {
            let known: Vec<_> = FACTORIES.iter().map(|f| f.kind).collect();
            return Err(Error::new(
                c,
                Some("spec.type"),
                format!(
                    "unknown component type '{}' (this build knows {})",
                    c.kind,
                    known.join(", ")
                ),
            ));
        };
        // As in daprd, no version, v0 and v1 all name a type's first version.
        if !["", "v0", "v1"].contains(&c.version.to_ascii_lowercase().as_str()) {
            return Err(Error::new(
                c,
                Some("spec.version"),
                format!(
                    "unsupported version '{}' for {} (use v1)",
                    c.version, c.kind
                ),
            ));
        }
        let names = c.metadata.iter().map(|(k, _)| k);
        for key in names.chain(c.secret_refs.iter().map(|r| r.name.as_str())) {
            if !factory
                .keys
                .iter()
                .flat_map(|g| g.iter())
                .any(|k| k.eq_ignore_ascii_case(key))
            {
                tracing::warn!(file = %c.file, component = %c.name, key = %key, "Unknown metadata key; ignored.");
            }
        }
        // Dapr's topic scoping restricts who may publish and subscribe; it is
        // not enforced yet, and whoever writes it expects it to be.
        if c.kind.starts_with("pubsub.")
            && let Some(key) = SCOPING_KEYS.iter().find(|k| c.metadata.value(k).is_some())
        {
            return Err(Error::new(
                c,
                Some(&format!("spec.metadata.{key}")),
                "topic scoping is not enforced yet: refusing to start rather than leave the topics open to every app",
            ));
        }
        if let Some(r) = c.secret_refs.first() {
            if is_secret_store(c) {
                return Err(Error::new(
                    c,
                    Some(&r.field),
                    "a secret store's metadata cannot come from a secret store",
                ));
            }
            match c.secret_store.as_deref() {
                None => {
                    return Err(Error::new(
                        c,
                        Some("auth.secretStore"),
                        format!("missing: it names the secret store of {}", r.field),
                    ));
                }
                Some(store) if !secret_stores.contains(store) => {
                    return Err(Error::new(
                        c,
                        Some("auth.secretStore"),
                        format!("'{store}' is not a secret store component"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Builds every component, once [`validate`] has passed them: secret stores,
/// then the others with their `secretKeyRef` values read. A failure stops the
/// node unless the component has `ignoreErrors`.
pub async fn build(components: &[Component], ctx: &Context<'_>) -> Result<Registry, Error> {
    let builder = Builder {
        ctx,
        connections: Mutex::default(),
    };
    let mut registry = Registry::default();
    let (secret_stores, others): (Vec<&Component>, Vec<&Component>) =
        components.iter().partition(|c| is_secret_store(c));
    for c in secret_stores.into_iter().chain(others) {
        let built = async {
            let resolved = resolve_secrets(c, &registry).await?;
            let c = resolved.as_ref().unwrap_or(c);
            let factory = factory(&c.kind)
                .ok_or_else(|| Error::new(c, Some("spec.type"), "unknown component type"))?;
            (factory.construct)(c, &builder).await
        };
        let built = built.await;
        match built {
            Ok(built) => add(&mut registry, c, built),
            Err(e) if c.ignore_errors => {
                tracing::warn!(error = %e, "Component failed to initialise; ignored (ignoreErrors).")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(registry)
}

/// `c` with its `secretKeyRef` values read from its secret store, or `None`
/// when it has none.
async fn resolve_secrets(c: &Component, registry: &Registry) -> Result<Option<Component>, Error> {
    if c.secret_refs.is_empty() {
        return Ok(None);
    }
    let name = c.secret_store.as_deref().unwrap_or_default();
    let store = registry.secrets.get(name).ok_or_else(|| {
        Error::new(
            c,
            Some("auth.secretStore"),
            format!("secret store '{name}' did not start"),
        )
    })?;
    let mut resolved = c.clone();
    for r in &c.secret_refs {
        let secret = store
            .get(&r.secret)
            .await
            .map_err(|e| Error::new(c, Some(&r.field), e.to_string()))?;
        let value = secret.and_then(|mut s| s.remove(&r.key)).ok_or_else(|| {
            Error::new(
                c,
                Some(&r.field),
                format!(
                    "secret '{}' has no key '{}' in secret store '{name}'",
                    r.secret, r.key
                ),
            )
        })?;
        resolved.metadata.insert(r.name.clone(), value);
    }
    Ok(Some(resolved))
}

fn add(registry: &mut Registry, c: &Component, built: Built) {
    let features = match built {
        Built::State(s) => {
            registry.state.insert(c.name.clone(), s);
            jetway_blocks::state::FEATURES
        }
        Built::PubSub(p) => {
            let features = p.pubsub.features();
            registry.pubsub.insert(c.name.clone(), p);
            features
        }
        Built::Secrets(s) => {
            registry.secrets.insert(c.name.clone(), s);
            &[]
        }
        Built::Binding(b) => {
            registry.bindings.push(b);
            &[]
        }
        Built::Lock(l) => {
            registry.locks.insert(c.name.clone(), l);
            &[]
        }
        Built::Configuration(s) => {
            registry.configuration.insert(c.name.clone(), s);
            &[]
        }
    };
    registry
        .listed
        .push((c.name.clone(), c.kind.clone(), features));
}

/// What every state store reads.
const STATE_KEYS: &[&str] = &[
    "keyPrefix",
    "actorStateStore",
    "outboxPublishPubsub",
    "outboxPublishTopic",
    "outboxPubsub",
    "outboxDiscardWhenMissingState",
];

/// Dapr's pub/sub scoping keys, refused until they are enforced.
const SCOPING_KEYS: &[&str] = &[
    "allowedTopics",
    "publishingScopes",
    "subscriptionScopes",
    "protectedTopics",
];

/// What every pub/sub broker reads (a broker of this process ignores the
/// JetStream ones).
const PUBSUB_KEYS: &[&str] = &[
    "consumerID",
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
    "processingTimeout",
];

/// A state store with the key prefix (`keyPrefix`) of this app, and its
/// outbox when the metadata asks for one (only a KV `bucket` has one).
fn state(
    c: &Component,
    b: &Builder<'_>,
    store: Arc<dyn Store>,
    bucket: Option<jetway_broker::kv::Bucket>,
) -> Result<Built, Error> {
    use jetway_blocks::state::KeyPrefix;
    let prefix = KeyPrefix::parse(c.metadata.value("keyPrefix"));
    if let KeyPrefix::Literal(p) = &prefix
        && p.contains("||")
    {
        return Err(Error::new(c, Some("keyPrefix"), "must not contain '||'"));
    }
    Ok(Built::State(StateComponent {
        name: c.name.clone(),
        kind: c.kind.clone(),
        store,
        prefix: prefix.resolve(b.ctx.app_id, &c.name, b.ctx.namespace),
        actor_store: c.metadata.flag("actorStateStore"),
        outbox: outbox(c, bucket)?,
    }))
}

/// Dapr's outbox metadata: on when both `outboxPublishPubsub` and
/// `outboxPublishTopic` are set. `outboxPubsub` (daprd's staging topic) is
/// read and unused: the events stage in the store's own bucket.
fn outbox(
    c: &Component,
    bucket: Option<jetway_broker::kv::Bucket>,
) -> Result<Option<Arc<jetway_blocks::state::Outbox>>, Error> {
    let (Some(pubsub), Some(topic)) = (
        c.metadata.value("outboxPublishPubsub"),
        c.metadata.value("outboxPublishTopic"),
    ) else {
        return Ok(None);
    };
    let Some(bucket) = bucket else {
        return Err(Error::new(
            c,
            Some("outboxPublishPubsub"),
            format!(
                "the transactional outbox needs a state.jetstream store, not {}",
                c.kind
            ),
        ));
    };
    let settings = jetway_blocks::state::OutboxSettings {
        pubsub: pubsub.to_owned(),
        topic: topic.to_owned(),
        discard_when_missing_state: c.metadata.flag("outboxDiscardWhenMissingState"),
    };
    Ok(Some(Arc::new(jetway_blocks::state::Outbox::new(
        bucket, settings,
    ))))
}

/// A broker with this app's consumer group (`consumerID`, else the app id).
fn pubsub(c: &Component, b: &Builder<'_>, pubsub: Arc<dyn PubSub>) -> Result<Built, Error> {
    Ok(Built::PubSub(PubSubComponent {
        name: c.name.clone(),
        kind: c.kind.clone(),
        pubsub,
        group: c
            .metadata
            .value("consumerID")
            .unwrap_or(b.ctx.app_id)
            .to_owned(),
        metadata: c.metadata.clone(),
    }))
}

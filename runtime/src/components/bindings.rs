//! Binding components: each type's connector (from the `jetway-bindings`
//! crate) reads its own metadata; here they get their NATS connection, the
//! `direction` and `route` every binding reads, and the app's scopes.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use jetway_bindings::{self as connectors, Input, Metadata, Output};
use jetway_blocks::bindings::BindingComponent;
use jetway_broker::naming;

use super::{Builder, Built, Error, Factory, nats};
use crate::resources::Component;

/// What every binding reads.
const KEYS: &[&str] = &["direction", "route"];

pub(super) const CRON: Factory = Factory {
    kind: "bindings.cron",
    keys: &[KEYS, connectors::cron::KEYS],
    construct: |c, _| {
        let made = connectors::cron::Cron::new(&metadata(c)).map(|cron| Made {
            input: Some(Arc::new(cron)),
            // Every replica would fire it: one holds its lease and does.
            singleton: true,
            ..Made::default()
        });
        ready(c, made)
    },
};

pub(super) const HTTP: Factory = Factory {
    kind: "bindings.http",
    keys: &[KEYS, connectors::http::KEYS],
    construct: |c, _| ready(c, connectors::http::Http::new(&metadata(c)).map(output)),
};

pub(super) const LOCALSTORAGE: Factory = Factory {
    kind: "bindings.localstorage",
    keys: &[KEYS, connectors::localstorage::KEYS],
    construct: |c, _| {
        let made = connectors::localstorage::LocalStorage::new(&metadata(c)).map(output);
        ready(c, made)
    },
};

pub(super) const REDIS: Factory = Factory {
    kind: "bindings.redis",
    keys: &[KEYS, connectors::redis::KEYS],
    construct: |c, _| {
        connected(c, async move {
            connectors::redis::Redis::connect(&metadata(c)).await
        })
    },
};

pub(super) const POSTGRESQL: Factory = Factory {
    kind: "bindings.postgresql",
    keys: &[KEYS, connectors::postgres::KEYS],
    construct: |c, _| {
        connected(c, async move {
            connectors::postgres::Postgres::connect(&metadata(c)).await
        })
    },
};

/// daprd's other name for `bindings.postgresql`.
pub(super) const POSTGRES: Factory = Factory {
    kind: "bindings.postgres",
    ..POSTGRESQL
};

pub(super) const MYSQL: Factory = Factory {
    kind: "bindings.mysql",
    keys: &[KEYS, connectors::mysql::KEYS],
    construct: |c, _| {
        connected(c, async move {
            connectors::mysql::Mysql::connect(&metadata(c)).await
        })
    },
};

pub(super) const RABBITMQ: Factory = Factory {
    kind: "bindings.rabbitmq",
    keys: &[KEYS, connectors::rabbitmq::KEYS],
    construct: |c, _| {
        ready(
            c,
            connectors::rabbitmq::RabbitMq::new(&metadata(c)).map(both),
        )
    },
};

pub(super) const MQTT3: Factory = Factory {
    kind: "bindings.mqtt3",
    keys: &[KEYS, connectors::mqtt::KEYS],
    construct: |c, _| ready(c, connectors::mqtt::Mqtt::new(&metadata(c)).map(both)),
};

/// daprd's other name for `bindings.mqtt3`.
pub(super) const MQTT: Factory = Factory {
    kind: "bindings.mqtt",
    ..MQTT3
};

pub(super) const JETSTREAM: Factory = Factory {
    kind: "bindings.jetstream",
    keys: &[KEYS, nats::KEYS, connectors::jetstream::KEYS],
    construct: |c, b| jetstream(c, b).boxed(),
};

async fn jetstream(c: &Component, b: &Builder<'_>) -> Result<Built, Error> {
    let client = nats::connection(c, b).await?.client().clone();
    let meta = metadata(c);
    let durable = naming::resource_name(&format!("{}-{}", b.ctx.app_id, c.name));
    let input = match meta.get("streamName") {
        Some(_) => {
            let consumer = connectors::jetstream::Consumer::new(client.clone(), &meta, &durable);
            Some(Arc::new(consumer.map_err(|e| error(c, e))?) as Arc<dyn Input>)
        }
        None => None,
    };
    let made = Made {
        output: Some(Arc::new(connectors::jetstream::Publisher::new(
            client, &meta,
        ))),
        input,
        singleton: false,
    };
    component(c, made)
}

/// What a connector made.
#[derive(Default)]
struct Made {
    output: Option<Arc<dyn Output>>,
    input: Option<Arc<dyn Input>>,
    singleton: bool,
}

/// An output-only connector.
fn output(o: impl Output + 'static) -> Made {
    Made {
        output: Some(Arc::new(o)),
        ..Made::default()
    }
}

/// A connector that is both an input and an output.
fn both(connector: impl Output + Input + 'static) -> Made {
    let connector = Arc::new(connector);
    Made {
        output: Some(connector.clone()),
        input: Some(connector),
        singleton: false,
    }
}

fn metadata(c: &Component) -> Metadata {
    c.metadata.iter().collect()
}

fn error(c: &Component, e: connectors::Error) -> Error {
    match e {
        connectors::Error::Config { field, message } => Error::new(c, Some(&field), message),
        other => Error::new(c, None, other.to_string()),
    }
}

/// An output-only connector that connects to its service when built.
fn connected<'a, O: Output + 'static>(
    c: &'a Component,
    connect: impl std::future::Future<Output = Result<O, connectors::Error>> + Send + 'a,
) -> BoxFuture<'a, Result<Built, Error>> {
    async move {
        let made = connect.await.map(output);
        made.map_err(|e| error(c, e)).and_then(|m| component(c, m))
    }
    .boxed()
}

fn ready<'a>(
    c: &'a Component,
    made: Result<Made, connectors::Error>,
) -> BoxFuture<'a, Result<Built, Error>> {
    std::future::ready(made.map_err(|e| error(c, e)).and_then(|m| component(c, m))).boxed()
}

/// The component, with `direction` (which sides run; an input named there
/// is started without asking the app) and `route` applied.
fn component(c: &Component, made: Made) -> Result<Built, Error> {
    let direction = c.metadata.value("direction").map(|d| {
        d.split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    });
    if let Some(sides) = &direction
        && let Some(bad) = sides.iter().find(|s| *s != "input" && *s != "output")
    {
        return Err(Error::new(
            c,
            Some("direction"),
            format!("'{bad}' is neither input nor output"),
        ));
    }
    let wants = |side: &str| {
        direction
            .as_ref()
            .is_none_or(|d| d.iter().any(|s| s == side))
    };
    let route = match c.metadata.value("route") {
        Some(r) if r.starts_with('/') => r.to_owned(),
        Some(r) => format!("/{r}"),
        None => format!("/{}", c.name),
    };
    Ok(Built::Binding(BindingComponent {
        name: c.name.clone(),
        output: made.output.filter(|_| wants("output")),
        input: made.input.filter(|_| wants("input")),
        route,
        input_declared: direction
            .as_ref()
            .is_some_and(|d| d.iter().any(|s| s == "input")),
        singleton: made.singleton,
        scopes: c.scopes.clone(),
    }))
}

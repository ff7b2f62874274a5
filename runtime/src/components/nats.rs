//! What every JetStream component shares: its NATS connection (the node's,
//! unless it names its own server or credentials) and its storage.

use std::time::Duration;

use jetway_broker::kv::{Bucket, BucketConfig};
use jetway_broker::{Broker, ConnectOptions, Credentials, naming};

use super::{Builder, Error};
use crate::resources::Component;

pub(super) const KEYS: &[&str] = &[
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

/// Where a stream or bucket keeps its data.
pub(super) struct Storage {
    pub(super) replicas: usize,
    pub(super) memory: bool,
}

impl Storage {
    pub(super) fn parse(c: &Component) -> Result<Storage, Error> {
        let replicas = match c.metadata.value("replicas") {
            Some(v) => v
                .parse()
                .map_err(|_| Error::new(c, Some("replicas"), format!("'{v}' is not a number")))?,
            None => 1,
        };
        Ok(Storage {
            replicas,
            memory: c.metadata.flag("memoryStorage"),
        })
    }
}

/// The node's connection, or the component's own when it names another
/// server or its own credentials (one per URL and component).
pub(super) async fn connection(c: &Component, b: &Builder<'_>) -> Result<Broker, Error> {
    let meta = |k: &str| c.metadata.value(k).map(str::to_owned);
    let url = meta("natsURL");
    let credentials = match (meta("jwt"), meta("seedKey"), meta("token")) {
        (Some(jwt), Some(seed), _) => Credentials::Jwt { jwt, seed },
        (None, None, Some(token)) => Credentials::Token(token),
        (None, None, None) => Credentials::None,
        _ => return Err(Error::new(c, Some("jwt"), "jwt and seedKey go together")),
    };
    let ctx = b.ctx;
    if (url.is_none() || url.as_deref() == Some(ctx.nats_url))
        && matches!(credentials, Credentials::None)
    {
        return Ok(ctx.broker.clone());
    }
    let url = url.unwrap_or_else(|| ctx.nats_url.to_owned());
    let key = format!("{url}|{}", c.name);
    if let Some(broker) = b.connections.lock().expect("connections lock").get(&key) {
        return Ok(broker.clone());
    }
    let opts = ConnectOptions {
        url: url.clone(),
        name: meta("name").unwrap_or_else(|| format!("jetway {} {}", ctx.app_id, c.name)),
        credentials,
        tls_ca: None,
        tls_client: meta("tls_client_cert")
            .zip(meta("tls_client_key"))
            .map(|(c, k)| (c.into(), k.into())),
        max_body: 0,
    };
    let broker = Broker::connect(&opts, Duration::from_secs(5))
        .await
        .map_err(|e| Error {
            unreachable: true,
            ..Error::new(c, Some("natsURL"), format!("cannot connect to {url}: {e}"))
        })?;
    b.connections
        .lock()
        .expect("connections lock")
        .insert(key, broker.clone());
    Ok(broker)
}

/// The component's KV bucket (`bucket`, else one named after the component),
/// created if missing, on its connection and storage.
pub(super) async fn bucket(
    c: &Component,
    b: &Builder<'_>,
    raw_keys: bool,
) -> Result<Bucket, Error> {
    let storage = Storage::parse(c)?;
    let broker = connection(c, b).await?;
    let name = c
        .metadata
        .value("bucket")
        .map(str::to_owned)
        .unwrap_or_else(|| naming::resource_name(&c.name));
    broker
        .bucket(BucketConfig {
            name,
            replicas: storage.replicas,
            memory: storage.memory,
            max_age: None,
            raw_keys,
            schedules: false,
        })
        .await
        .map_err(|e| Error::new(c, Some("bucket"), e.to_string()))
}

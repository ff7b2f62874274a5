//! `state.jetstream`: a JetStream KV bucket per store (`bucket`, else one
//! named after the component).

use std::sync::Arc;

use futures::FutureExt;
use jetway_broker::kv::BucketConfig;
use jetway_broker::naming;

use super::nats::{self, Storage};
use super::{Builder, Built, Error, Factory};
use crate::resources::Component;
use jetway_blocks::state::JetStreamStore;

pub(super) const FACTORY: Factory = Factory {
    kind: "state.jetstream",
    keys: &[nats::KEYS, super::STATE_KEYS, &["bucket"]],
    construct: |c, b| build(c, b).boxed(),
};

async fn build(c: &Component, b: &Builder<'_>) -> Result<Built, Error> {
    let storage = Storage::parse(c)?;
    let broker = nats::connection(c, b).await?;
    let name = c
        .metadata
        .value("bucket")
        .map(str::to_owned)
        .unwrap_or_else(|| naming::resource_name(&c.name));
    let bucket = broker
        .bucket(BucketConfig {
            name,
            replicas: storage.replicas,
            memory: storage.memory,
            max_age: None,
            raw_keys: false,
        })
        .await
        .map_err(|e| Error::new(c, Some("bucket"), e.to_string()))?;
    super::state(c, b, Arc::new(JetStreamStore::new(bucket)))
}

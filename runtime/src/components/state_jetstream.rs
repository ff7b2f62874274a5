//! `state.jetstream`: a JetStream KV bucket per store (`bucket`, else one
//! named after the component).

use std::sync::Arc;

use futures::FutureExt;

use super::nats;
use super::{Builder, Built, Error, Factory};
use crate::resources::Component;
use jetway_blocks::state::JetStreamStore;

pub(super) const FACTORY: Factory = Factory {
    kind: "state.jetstream",
    keys: &[nats::KEYS, super::STATE_KEYS, &["bucket"]],
    construct: |c, b| build(c, b).boxed(),
};

async fn build(c: &Component, b: &Builder<'_>) -> Result<Built, Error> {
    let bucket = nats::bucket(c, b, false).await?;
    super::state(
        c,
        b,
        Arc::new(JetStreamStore::new(bucket.clone())),
        Some(bucket),
    )
}

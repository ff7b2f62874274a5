//! `pubsub.in-memory`: a broker in this process, for tests and development.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Builder, Built, Error, Factory};
use crate::resources::Component;
use jetway_blocks::pubsub::MemoryPubSub;

pub(super) const FACTORY: Factory = Factory {
    kind: "pubsub.in-memory",
    keys: &[super::PUBSUB_KEYS],
    construct,
};

fn construct<'a>(c: &'a Component, b: &'a Builder<'a>) -> BoxFuture<'a, Result<Built, Error>> {
    async move { super::pubsub(c, b, Arc::new(MemoryPubSub::default())) }.boxed()
}

//! `state.in-memory`: a store in this process, for tests and development.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Builder, Built, Error, Factory};
use crate::resources::Component;
use jetway_blocks::state::MemoryStore;

pub(super) const FACTORY: Factory = Factory {
    kind: "state.in-memory",
    keys: &[super::STATE_KEYS],
    construct,
};

fn construct<'a>(c: &'a Component, b: &'a Builder<'a>) -> BoxFuture<'a, Result<Built, Error>> {
    async move { super::state(c, b, Arc::new(MemoryStore::default()), None) }.boxed()
}

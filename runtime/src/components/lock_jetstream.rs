//! `lock.jetstream`: locks in a KV bucket (`bucket`, else one named after the
//! component), keys prefixed as state keys are (`keyPrefix`, the app id by
//! default, so two apps share locks only when told to).

use std::sync::Arc;

use futures::FutureExt;
use jetway_blocks::lock::{JetStreamLocks, LockComponent};
use jetway_blocks::state::KeyPrefix;

use super::{Builder, Built, Error, Factory, nats};
use crate::resources::Component;

pub(super) const FACTORY: Factory = Factory {
    kind: "lock.jetstream",
    keys: &[nats::KEYS, &["bucket", "keyPrefix"]],
    construct: |c, b| build(c, b).boxed(),
};

async fn build(c: &Component, b: &Builder<'_>) -> Result<Built, Error> {
    let prefix = KeyPrefix::parse(c.metadata.value("keyPrefix"));
    if let KeyPrefix::Literal(p) = &prefix
        && p.contains("||")
    {
        return Err(Error::new(c, Some("keyPrefix"), "must not contain '||'"));
    }
    let bucket = nats::bucket(c, b, false).await?;
    Ok(Built::Lock(LockComponent {
        name: c.name.clone(),
        store: Arc::new(JetStreamLocks::new(bucket)),
        prefix: prefix.resolve(b.ctx.app_id, &c.name, b.ctx.namespace),
    }))
}

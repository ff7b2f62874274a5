//! `configuration.jetstream`: items in a KV bucket (`bucket`, else one named
//! after the component), one raw key per item.

use std::sync::Arc;

use futures::FutureExt;
use jetway_blocks::configuration::{ConfigurationComponent, JetStreamConfiguration};

use super::{Builder, Built, Error, Factory, nats};
use crate::resources::Component;

pub(super) const FACTORY: Factory = Factory {
    kind: "configuration.jetstream",
    keys: &[nats::KEYS, &["bucket"]],
    construct: |c, b| build(c, b).boxed(),
};

async fn build(c: &Component, b: &Builder<'_>) -> Result<Built, Error> {
    let bucket = nats::bucket(c, b, true).await?;
    Ok(Built::Configuration(ConfigurationComponent {
        name: c.name.clone(),
        store: Arc::new(JetStreamConfiguration::new(bucket)),
    }))
}

//! `secretstores.local.env`: the node's environment (`prefix` limits it).

use std::sync::Arc;

use futures::FutureExt;

use super::{Built, Factory};
use jetway_blocks::secrets::LocalEnvStore;

pub(super) const FACTORY: Factory = Factory {
    kind: "secretstores.local.env",
    keys: &[&["prefix"]],
    construct: |c, _| {
        let prefix = c.metadata.value("prefix").unwrap_or_default();
        let store = LocalEnvStore::new(prefix, std::env::vars());
        std::future::ready(Ok(Built::Secrets(Arc::new(store)))).boxed()
    },
};

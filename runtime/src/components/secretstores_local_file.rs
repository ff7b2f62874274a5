//! `secretstores.local.file`: secrets from a JSON file (`secretsFile`),
//! nested keys joined with `nestedSeparator` (`:`), one secret per top-level
//! key with `multiValued`.

use std::sync::Arc;

use futures::FutureExt;

use super::{Built, Error, Factory};
use crate::resources::Component;
use jetway_blocks::secrets::LocalFileStore;

/// A secrets file larger than this is refused rather than read whole.
const MAX_FILE: u64 = 4 << 20;

pub(super) const FACTORY: Factory = Factory {
    kind: "secretstores.local.file",
    keys: &[&["secretsFile", "nestedSeparator", "multiValued"]],
    construct: |c, _| std::future::ready(build(c)).boxed(),
};

fn build(c: &Component) -> Result<Built, Error> {
    let path = c
        .metadata
        .value("secretsFile")
        .ok_or_else(|| Error::new(c, Some("secretsFile"), "missing"))?;
    let unreadable = |e: std::io::Error| Error::new(c, Some("secretsFile"), format!("{path}: {e}"));
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_FILE {
        return Err(Error::new(
            c,
            Some("secretsFile"),
            format!("{path} is {size} bytes; at most {MAX_FILE} are read"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    let separator = c.metadata.value("nestedSeparator").unwrap_or(":");
    let store = LocalFileStore::parse(&text, separator, c.metadata.flag("multiValued"))
        .map_err(|e| Error::new(c, Some("secretsFile"), format!("{path}: {e}")))?;
    Ok(Built::Secrets(Arc::new(store)))
}

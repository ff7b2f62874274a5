//! `secretstores.jetstream`: secrets in a KV bucket (`bucket`, else one named
//! after the component), sealed at rest when a key is given
//! (`encryptionKeyFile` or `encryptionKeyEnv`: 32 bytes as base64).

use std::sync::Arc;

use futures::FutureExt;

use super::nats;
use super::{Builder, Built, Error, Factory};
use crate::resources::Component;
use jetway_blocks::secrets::{JetStreamSecrets, SealKey};

pub(super) const FACTORY: Factory = Factory {
    kind: "secretstores.jetstream",
    keys: &[
        nats::KEYS,
        &[
            "bucket",
            "multiValued",
            "encryptionKeyFile",
            "encryptionKeyEnv",
        ],
    ],
    construct: |c, b| build(c, b).boxed(),
};

/// A key file larger than this is not a key.
const MAX_KEY_FILE: u64 = 4096;

fn seal_key(c: &Component) -> Result<Option<SealKey>, Error> {
    let (field, text) = match (
        c.metadata.value("encryptionKeyFile"),
        c.metadata.value("encryptionKeyEnv"),
    ) {
        (Some(_), Some(_)) => {
            return Err(Error::new(
                c,
                Some("encryptionKeyFile"),
                "give encryptionKeyFile or encryptionKeyEnv, not both",
            ));
        }
        (None, None) => return Ok(None),
        (Some(path), None) => {
            let unreadable =
                |e: String| Error::new(c, Some("encryptionKeyFile"), format!("{path}: {e}"));
            let size = std::fs::metadata(path)
                .map_err(|e| unreadable(e.to_string()))?
                .len();
            if size > MAX_KEY_FILE {
                return Err(unreadable(format!("{size} bytes is too large for a key")));
            }
            let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
            ("encryptionKeyFile", text)
        }
        (None, Some(var)) => {
            let text = std::env::var(var).map_err(|_| {
                Error::new(c, Some("encryptionKeyEnv"), format!("{var} is not set"))
            })?;
            ("encryptionKeyEnv", text)
        }
    };
    SealKey::parse(&text)
        .map(Some)
        .map_err(|e| Error::new(c, Some(field), format!("not an encryption key: {e}")))
}

async fn build(c: &Component, b: &Builder<'_>) -> Result<Built, Error> {
    let key = seal_key(c)?;
    // Secret names are the keys as written, so `nats kv put` writes them.
    let bucket = nats::bucket(c, b, true).await?;
    let store = JetStreamSecrets::new(bucket, key, c.metadata.flag("multiValued"));
    Ok(Built::Secrets(Arc::new(store)))
}

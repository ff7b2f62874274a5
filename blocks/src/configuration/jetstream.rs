//! `configuration.jetstream`: items in a KV bucket, one raw key per item (so
//! `nats kv put` writes them), the value as text, the version the revision.

use futures::StreamExt;
use futures::stream::BoxStream;
use jetway_broker::kv::{Bucket, Change};

use super::{ConfigurationStore, Error, Item, Items};

/// `get` of every key reads at most this many.
const MAX_ITEMS: usize = 10_000;

pub struct JetStreamConfiguration {
    bucket: Bucket,
}

impl JetStreamConfiguration {
    pub fn new(bucket: Bucket) -> JetStreamConfiguration {
        JetStreamConfiguration { bucket }
    }
}

fn backend(e: jetway_broker::Error) -> Error {
    Error::Backend(e.to_string())
}

fn item(value: &[u8], revision: u64) -> Item {
    Item {
        value: String::from_utf8_lossy(value).into_owned(),
        version: revision.to_string(),
        metadata: Default::default(),
    }
}

#[async_trait::async_trait]
impl ConfigurationStore for JetStreamConfiguration {
    async fn get(&self, keys: &[String]) -> Result<Items, Error> {
        let keys = match keys.is_empty() {
            true => self.bucket.keys().await.map_err(backend)?,
            false => keys.to_vec(),
        };
        if keys.len() > MAX_ITEMS {
            return Err(Error::Backend(format!(
                "the store holds {} items; one read returns at most {MAX_ITEMS}",
                keys.len()
            )));
        }
        let mut items = Items::new();
        for key in keys {
            // A key KV cannot hold is one the store does not have.
            if let Ok(Some(entry)) = self.bucket.get(&key).await {
                items.insert(key, item(&entry.value, entry.revision));
            }
        }
        Ok(items)
    }

    async fn subscribe(&self, keys: Vec<String>) -> Result<BoxStream<'static, Items>, Error> {
        let changes = self.bucket.changes().await.map_err(backend)?;
        let wanted = move |c: &Change| keys.is_empty() || keys.contains(&c.key);
        Ok(changes
            .filter(move |c| futures::future::ready(wanted(c)))
            .map(|c| {
                let item = match &c.value {
                    Some(v) => item(v, c.revision),
                    None => item(b"", c.revision),
                };
                Items::from([(c.key, item)])
            })
            .boxed())
    }
}

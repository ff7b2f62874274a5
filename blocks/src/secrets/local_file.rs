//! `secretstores.local.file`: secrets read once from a JSON file, as daprd's
//! local file store reads them (for development, not production).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Error, Secret, SecretStore, Secrets, Wanted};

/// Secrets from a JSON file. Nested objects are flattened, their keys joined
/// with `separator`; with `multi_valued`, each top-level key is one secret
/// whose (flattened) members are its keys, else each flattened key is a
/// secret holding one key of the same name.
pub struct LocalFileStore {
    secrets: BTreeMap<String, Secret>,
}

impl LocalFileStore {
    /// Reads `json` (the file's text).
    pub fn parse(json: &str, separator: &str, multi_valued: bool) -> Result<LocalFileStore, Error> {
        let root: Value = serde_json::from_str(json)
            .map_err(|e| Error::Backend(format!("the secrets file is not JSON: {e}")))?;
        let Value::Object(top) = root else {
            return Err(Error::Backend(
                "the secrets file is not a JSON object".into(),
            ));
        };
        let mut secrets = BTreeMap::new();
        for (name, value) in top {
            if multi_valued {
                let mut keys = BTreeMap::new();
                match value {
                    Value::Object(members) => {
                        for (k, v) in members {
                            flatten(&k, v, separator, &mut keys);
                        }
                    }
                    other => flatten(&name, other, separator, &mut keys),
                }
                secrets.insert(name, keys);
            } else {
                let mut flat = BTreeMap::new();
                flatten(&name, value, separator, &mut flat);
                for (k, v) in flat {
                    secrets.insert(k.clone(), BTreeMap::from([(k, v)]));
                }
            }
        }
        Ok(LocalFileStore { secrets })
    }
}

fn flatten(prefix: &str, value: Value, separator: &str, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(members) => {
            for (k, v) in members {
                flatten(&format!("{prefix}{separator}{k}"), v, separator, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s);
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

#[async_trait::async_trait]
impl SecretStore for LocalFileStore {
    async fn get(&self, name: &str) -> Result<Option<Secret>, Error> {
        Ok(self.secrets.get(name).cloned())
    }

    async fn bulk(&self, wanted: &Wanted) -> Result<Secrets, Error> {
        let mut all = self.secrets.clone();
        all.retain(|name, _| wanted(name));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"nats": {"token": "s3cret", "user": {"name": "app"}}, "port": 4222}"#;

    #[tokio::test]
    async fn nested_keys_are_flattened() {
        let store = LocalFileStore::parse(FILE, ":", false).unwrap();
        let token = store.get("nats:token").await.unwrap().unwrap();
        assert_eq!(token["nats:token"], "s3cret");
        let name = store.get("nats:user:name").await.unwrap().unwrap();
        assert_eq!(name["nats:user:name"], "app");
        assert_eq!(store.get("port").await.unwrap().unwrap()["port"], "4222");
        assert_eq!(store.get("nats").await.unwrap(), None);
    }

    #[tokio::test]
    async fn multi_valued_secrets_hold_their_members() {
        let store = LocalFileStore::parse(FILE, ".", true).unwrap();
        let nats = store.get("nats").await.unwrap().unwrap();
        assert_eq!(nats["token"], "s3cret");
        assert_eq!(nats["user.name"], "app");
        assert_eq!(store.get("port").await.unwrap().unwrap()["port"], "4222");
    }

    #[test]
    fn a_file_that_is_not_a_json_object_is_refused() {
        assert!(LocalFileStore::parse("[1]", ":", false).is_err());
        assert!(LocalFileStore::parse("{", ":", false).is_err());
    }
}

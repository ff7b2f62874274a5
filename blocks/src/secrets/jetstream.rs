//! `secretstores.jetstream`: secrets in a JetStream KV bucket, one key per
//! secret, optionally sealed at rest with AES-256-GCM.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jetway_broker::kv::Bucket;

use super::{Error, Secret, SecretStore, Secrets, Wanted};

/// What a sealed value starts with; the rest is base64 of nonce and
/// ciphertext.
const SEALED: &str = "jetway-sealed:v1:";

/// Bulk reads stop here rather than hold an unbounded bucket in memory.
const MAX_BULK: usize = 10_000;

/// The key that seals values: 32 bytes, written as base64.
#[derive(Clone)]
pub struct SealKey(Aes256Gcm);

impl SealKey {
    pub fn parse(text: &str) -> Result<SealKey, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        Aes256Gcm::new_from_slice(&bytes)
            .map(SealKey)
            .map_err(|_| format!("{} bytes; an AES-256 key is 32", bytes.len()))
    }

    /// `plain` sealed for the secret `name` (which it is bound to: a sealed
    /// value copied under another name does not open).
    pub fn seal(&self, name: &str, plain: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plain,
            aad: name.as_bytes(),
        };
        let sealed = self
            .0
            .encrypt(&nonce, payload)
            .expect("AES-GCM seals any input below 64 GiB");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{SEALED}{}", STANDARD.encode(bytes))
    }

    fn open(&self, name: &str, stored: &[u8]) -> Result<Vec<u8>, Error> {
        let broken = |why: &str| Error::Backend(format!("secret {name}: {why}"));
        let text = std::str::from_utf8(stored)
            .ok()
            .and_then(|t| t.strip_prefix(SEALED))
            .ok_or_else(|| broken("the value is not sealed, and this store seals every value"))?;
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| broken("the sealed value is not base64"))?;
        if bytes.len() < 12 {
            return Err(broken("the sealed value is truncated"));
        }
        let (nonce, sealed) = bytes.split_at(12);
        let payload = Payload {
            msg: sealed,
            aad: name.as_bytes(),
        };
        self.0
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| broken("the sealed value does not open with this key"))
    }
}

/// Secrets in a KV bucket. A value is the secret's one key (named as the
/// secret), or with `multi_valued` a JSON object of its keys.
pub struct JetStreamSecrets {
    bucket: Bucket,
    key: Option<SealKey>,
    multi_valued: bool,
}

impl JetStreamSecrets {
    pub fn new(bucket: Bucket, key: Option<SealKey>, multi_valued: bool) -> JetStreamSecrets {
        JetStreamSecrets {
            bucket,
            key,
            multi_valued,
        }
    }

    fn decode(&self, name: &str, stored: &[u8]) -> Result<Secret, Error> {
        let plain = match &self.key {
            Some(key) => key.open(name, stored)?,
            None => stored.to_vec(),
        };
        if self.multi_valued {
            return serde_json::from_slice(&plain).map_err(|e| {
                Error::Backend(format!(
                    "secret {name}: not a JSON object of strings ({e}), as multiValued needs"
                ))
            });
        }
        let value = String::from_utf8(plain)
            .map_err(|_| Error::Backend(format!("secret {name}: the value is not UTF-8")))?;
        Ok(Secret::from([(name.to_owned(), value)]))
    }
}

fn backend(e: jetway_broker::Error) -> Error {
    Error::Backend(e.to_string())
}

#[async_trait::async_trait]
impl SecretStore for JetStreamSecrets {
    async fn get(&self, name: &str) -> Result<Option<Secret>, Error> {
        match self.bucket.get(name).await.map_err(backend)? {
            Some(entry) => self.decode(name, &entry.value).map(Some),
            None => Ok(None),
        }
    }

    async fn bulk(&self, wanted: &Wanted) -> Result<Secrets, Error> {
        let mut names = self.bucket.keys().await.map_err(backend)?;
        names.retain(|n| wanted(n));
        if names.len() > MAX_BULK {
            return Err(Error::Backend(format!(
                "the bucket holds {} secrets; a bulk read returns at most {MAX_BULK}",
                names.len()
            )));
        }
        let mut all = Secrets::new();
        for name in names {
            // A key deleted between the listing and the read is no secret.
            if let Some(secret) = self.get(&name).await? {
                all.insert(name, secret);
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealKey {
        SealKey::parse(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn sealed_values_open_only_under_their_name_and_key() {
        let sealed = key().seal("db", b"hunter2");
        assert!(sealed.starts_with(SEALED));
        assert_eq!(key().open("db", sealed.as_bytes()).unwrap(), b"hunter2");
        assert!(key().open("api", sealed.as_bytes()).is_err());
        let other = SealKey::parse(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open("db", sealed.as_bytes()).is_err());
        assert!(
            key().open("db", b"hunter2").is_err(),
            "plain text is refused"
        );
        assert!(
            key()
                .open("db", format!("{SEALED}AAAA").as_bytes())
                .is_err()
        );
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(SealKey::parse(&STANDARD.encode([1u8; 16])).is_err());
        assert!(SealKey::parse("not base64!").is_err());
        assert!(SealKey::parse(&format!("{}\n", STANDARD.encode([1u8; 32]))).is_ok());
    }
}

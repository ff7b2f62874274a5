//! `lock.jetstream`: locks in a JetStream KV bucket.

use std::time::Duration;

use bytes::Bytes;
use jetway_broker::Error as NatsError;
use jetway_broker::kv::{Bucket, Expect, Op, Write};

use super::{Error, LockStore, UnlockStatus};

pub struct JetStreamLocks {
    bucket: Bucket,
}

impl JetStreamLocks {
    pub fn new(bucket: Bucket) -> JetStreamLocks {
        JetStreamLocks { bucket }
    }
}

fn backend(e: NatsError) -> Error {
    Error::Backend(e.to_string())
}

#[async_trait::async_trait]
impl LockStore for JetStreamLocks {
    async fn try_lock(&self, key: &str, owner: &str, expiry: Duration) -> Result<bool, Error> {
        let write = Write {
            key: key.to_owned(),
            op: Op::Put {
                value: Bytes::copy_from_slice(owner.as_bytes()),
                ttl: Some(expiry),
            },
            expect: Expect::Absent,
        };
        match self.bucket.write(write).await {
            Ok(_) => Ok(true),
            Err(NatsError::WrongRevision) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<UnlockStatus, Error> {
        let Some(held) = self.bucket.get(key).await.map_err(backend)? else {
            return Ok(UnlockStatus::LockDoesNotExist);
        };
        if held.value != owner.as_bytes() {
            return Ok(UnlockStatus::LockBelongsToOthers);
        }
        let delete = Write {
            key: key.to_owned(),
            op: Op::Delete,
            expect: Expect::Revision(held.revision),
        };
        match self.bucket.write(delete).await {
            Ok(_) => Ok(UnlockStatus::Success),
            // It expired and was taken again between the read and the delete.
            Err(NatsError::WrongRevision) => match self.bucket.get(key).await.map_err(backend)? {
                None => Ok(UnlockStatus::LockDoesNotExist),
                Some(_) => Ok(UnlockStatus::LockBelongsToOthers),
            },
            Err(e) => Err(backend(e)),
        }
    }
}

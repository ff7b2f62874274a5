//! `state.jetstream`: a JetStream KV bucket. ETag = KV revision; transactions
//! are one atomic batch.

use jetway_broker::Error as NatsError;
use jetway_broker::kv::{Bucket, Expect, Op, Write};
use jetway_core::Context;

use super::{DeleteRequest, Error, Fence, Item, Operation, SetRequest, Store};
use crate::within;

pub struct JetStreamStore {
    bucket: Bucket,
}

impl JetStreamStore {
    pub fn new(bucket: Bucket) -> JetStreamStore {
        JetStreamStore { bucket }
    }
}

fn expect(etag: Option<&str>, first_write: bool) -> Result<Expect, Error> {
    match etag {
        Some(e) => e
            .parse()
            .map(Expect::Revision)
            .map_err(|_| Error::InvalidEtag(e.to_owned())),
        None if first_write => Ok(Expect::Absent),
        None => Ok(Expect::Any),
    }
}

fn upsert(req: SetRequest) -> Result<Write, Error> {
    Ok(Write {
        expect: expect(req.etag.as_deref(), req.first_write)?,
        key: req.key,
        op: Op::Put {
            value: req.value,
            ttl: req.ttl,
        },
    })
}

fn delete(req: DeleteRequest) -> Result<Write, Error> {
    Ok(Write {
        expect: expect(req.etag.as_deref(), false)?,
        key: req.key,
        op: Op::Delete,
    })
}

pub(super) fn writes(ops: Vec<Operation>) -> Result<Vec<Write>, Error> {
    ops.into_iter()
        .map(|op| match op {
            Operation::Upsert(r) => upsert(r),
            Operation::Delete(r) => delete(r),
        })
        .collect()
}

pub(super) fn error(e: NatsError) -> Error {
    match e {
        NatsError::WrongRevision => {
            Error::EtagMismatch("the key was changed or does not exist".into())
        }
        NatsError::Invalid(m) | NatsError::PayloadTooLarge(m) => Error::Invalid(m),
        other => Error::Backend(other.to_string()),
    }
}

#[async_trait::async_trait]
impl Store for JetStreamStore {
    async fn get(&self, ctx: &Context, key: &str) -> Result<Option<Item>, Error> {
        let entry = within(ctx, self.bucket.get(key)).await.map_err(error)?;
        Ok(entry.map(|e| Item {
            value: e.value,
            etag: e.revision.to_string(),
            expires_at: e.expires_at,
        }))
    }

    async fn set(&self, ctx: &Context, req: SetRequest) -> Result<(), Error> {
        within(ctx, self.bucket.write(upsert(req)?))
            .await
            .map(drop)
            .map_err(error)
    }

    async fn delete(&self, ctx: &Context, req: DeleteRequest) -> Result<(), Error> {
        within(ctx, self.bucket.write(delete(req)?))
            .await
            .map(drop)
            .map_err(error)
    }

    async fn transact(&self, ctx: &Context, ops: Vec<Operation>) -> Result<(), Error> {
        within(ctx, self.bucket.write_atomic(writes(ops)?))
            .await
            .map_err(error)
    }

    async fn claim_fence(&self, ctx: &Context, name: &str, holder: &str) -> Result<Fence, Error> {
        let token = within(ctx, self.bucket.claim_fence(name, holder))
            .await
            .map_err(error)?;
        Ok(Fence {
            name: name.to_owned(),
            token,
        })
    }

    async fn transact_fenced(
        &self,
        ctx: &Context,
        ops: Vec<Operation>,
        fence: &Fence,
    ) -> Result<(), Error> {
        let writes = writes(ops)?;
        within(
            ctx,
            self.bucket.write_fenced(writes, &fence.name, fence.token),
        )
        .await
        .map_err(|e| match e {
            NatsError::WrongRevision => Error::Fenced(fence.name.clone()),
            other => error(other),
        })
    }

    fn max_transaction_ops(&self) -> Option<usize> {
        Some(jetway_broker::kv::MAX_BATCH)
    }
}

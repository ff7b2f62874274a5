//! `state.in-memory`: a map in this process, for development and tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use jetway_core::Context;

use super::{DeleteRequest, Error, Fence, Item, Operation, SetRequest, Store};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    items: HashMap<String, Value>,
    version: u64,
    /// Each fence's latest token.
    fences: HashMap<String, u64>,
}

struct Value {
    data: Bytes,
    version: u64,
    expires: Option<(Instant, SystemTime)>,
}

impl Inner {
    fn live(&self, key: &str) -> Option<&Value> {
        self.items
            .get(key)
            .filter(|v| v.expires.is_none_or(|(at, _)| at > Instant::now()))
    }

    fn check(&self, key: &str, etag: Option<&str>, first_write: bool) -> Result<(), Error> {
        let current = self.live(key).map(|v| v.version);
        match etag {
            Some(e) => {
                let want: u64 = e.parse().map_err(|_| Error::InvalidEtag(e.to_owned()))?;
                if current != Some(want) {
                    return Err(Error::EtagMismatch(format!(
                        "key '{key}' is not at etag {e}"
                    )));
                }
            }
            None if first_write && current.is_some() => {
                return Err(Error::EtagMismatch(format!("key '{key}' already exists")));
            }
            None => {}
        }
        Ok(())
    }

    fn apply(&mut self, op: Operation) {
        match op {
            Operation::Upsert(r) => {
                self.version += 1;
                let expires = r
                    .ttl
                    .map(|ttl| (Instant::now() + ttl, SystemTime::now() + ttl));
                self.items.insert(
                    r.key,
                    Value {
                        data: r.value,
                        version: self.version,
                        expires,
                    },
                );
            }
            Operation::Delete(r) => {
                self.items.remove(&r.key);
            }
        }
    }
}

fn precondition(op: &Operation) -> (&str, Option<&str>, bool) {
    match op {
        Operation::Upsert(r) => (&r.key, r.etag.as_deref(), r.first_write),
        Operation::Delete(r) => (&r.key, r.etag.as_deref(), false),
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn get(&self, _: &Context, key: &str) -> Result<Option<Item>, Error> {
        let inner = self.inner.lock().expect("state lock");
        Ok(inner.live(key).map(|v| Item {
            value: v.data.clone(),
            etag: v.version.to_string(),
            expires_at: v.expires.map(|(_, at)| at),
        }))
    }

    async fn set(&self, ctx: &Context, req: SetRequest) -> Result<(), Error> {
        self.transact(ctx, vec![Operation::Upsert(req)]).await
    }

    async fn delete(&self, ctx: &Context, req: DeleteRequest) -> Result<(), Error> {
        self.transact(ctx, vec![Operation::Delete(req)]).await
    }

    async fn transact(&self, ctx: &Context, ops: Vec<Operation>) -> Result<(), Error> {
        self.commit(ctx, ops, None)
    }

    async fn claim_fence(&self, _: &Context, name: &str, _: &str) -> Result<Fence, Error> {
        let mut inner = self.inner.lock().expect("state lock");
        inner.version += 1;
        let token = inner.version;
        inner.fences.insert(name.to_owned(), token);
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
        self.commit(ctx, ops, Some(fence))
    }
}

impl MemoryStore {
    fn commit(&self, _: &Context, ops: Vec<Operation>, fence: Option<&Fence>) -> Result<(), Error> {
        let mut inner = self.inner.lock().expect("state lock");
        if let Some(fence) = fence
            && inner.fences.get(&fence.name) != Some(&fence.token)
        {
            return Err(Error::Fenced(fence.name.clone()));
        }
        for op in &ops {
            let (key, etag, first_write) = precondition(op);
            inner.check(key, etag, first_write)?;
        }
        for op in ops {
            inner.apply(op);
        }
        Ok(())
    }
}

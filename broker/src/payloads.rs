//! Payloads larger than one NATS message (the server's `max_payload`, 1 MiB
//! by default): staged in a JetStream object store (chunked there) and passed
//! by reference in a header. The receiver reads the object and removes it;
//! one no receiver took (the request found no responder, say) is removed by
//! the caller, and the bucket's age limit catches what a crash left.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{
    self,
    object_store::{self, ObjectStore},
};
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};

const BUCKET: &str = "jetway_payloads";
/// The header that names a staged payload, and the one with its size.
pub(crate) const REF: &str = "Jetway-Payload-Ref";
const SIZE: &str = "Jetway-Payload-Size";
/// Room left in a message for its headers.
const HEADROOM: usize = 64 * 1024;
/// A staged payload no one took is removed after this long.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// The largest payload a node stages or takes unless told otherwise (daprd's
/// default `--max-body-size`).
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// The node's object store for staged payloads, opened on first use, and
/// the largest payload it stages or takes.
#[derive(Clone)]
pub(crate) struct Staging(Arc<(OnceCell<ObjectStore>, usize)>);

impl Staging {
    pub(crate) fn new(max_body: usize) -> Staging {
        let max = if max_body == 0 {
            DEFAULT_MAX_BODY
        } else {
            max_body
        };
        Staging(Arc::new((OnceCell::new(), max)))
    }
}

impl Staging {
    /// The largest payload staged or taken.
    pub(crate) fn max_body(&self) -> usize {
        self.0.1
    }

    async fn objects(&self, js: &jetstream::Context) -> Result<&ObjectStore> {
        self.0
            .0
            .get_or_try_init(|| async {
                if let Ok(store) = js.get_object_store(BUCKET).await {
                    return Ok(store);
                }
                let config = object_store::Config {
                    bucket: BUCKET.into(),
                    max_age: MAX_AGE,
                    ..Default::default()
                };
                match js.create_object_store(config).await {
                    Ok(store) => Ok(store),
                    // Another node may have created it in the meantime.
                    Err(e) => js
                        .get_object_store(BUCKET)
                        .await
                        .map_err(|_| Error::nats("opening the object store of large payloads", e)),
                }
            })
            .await
    }

    /// `body` as it travels: itself when it fits in a message of
    /// `max_payload` bytes, else staged, with `headers` naming the object.
    pub(crate) async fn stage(
        &self,
        js: &jetstream::Context,
        max_payload: usize,
        headers: &mut HeaderMap,
        body: Bytes,
    ) -> Result<Bytes> {
        if body.len() <= max_payload.saturating_sub(HEADROOM) {
            return Ok(body);
        }
        if body.len() > self.max_body() {
            return Err(Error::PayloadTooLarge(format!(
                "the payload is {} bytes, more than the {} allowed",
                body.len(),
                self.max_body()
            )));
        }
        let name = nuid::next().to_string();
        let mut reader = body.as_ref();
        self.objects(js)
            .await?
            .put(name.as_str(), &mut reader)
            .await
            .map_err(|e| Error::nats("staging a large payload", e))?;
        headers.insert(REF, name.as_str());
        headers.insert(SIZE, body.len().to_string().as_str());
        Ok(Bytes::new())
    }

    /// Removes a payload [`Staging::stage`] staged and no one took.
    pub(crate) async fn unstage(&self, js: &jetstream::Context, headers: &HeaderMap) {
        if let Some(name) = headers.get(REF)
            && let Ok(objects) = self.objects(js).await
        {
            let _ = objects.delete(name.as_str()).await;
        }
    }

    /// Replaces a staged payload of `message` by its bytes (and removes the
    /// object); one larger than the limit is refused unread.
    pub(crate) async fn take(
        &self,
        js: &jetstream::Context,
        message: &mut async_nats::Message,
    ) -> Result<()> {
        let max = self.max_body();
        let Some(headers) = message.headers.as_mut() else {
            return Ok(());
        };
        let Some(name) = headers.get(REF).map(|v| v.as_str().to_owned()) else {
            return Ok(());
        };
        let size: usize = headers
            .get(SIZE)
            .and_then(|s| s.as_str().parse().ok())
            .unwrap_or(usize::MAX);
        let objects = self.objects(js).await?;
        if size > max {
            let _ = objects.delete(name.as_str()).await;
            return Err(Error::PayloadTooLarge(format!(
                "the payload is {size} bytes, more than the {max} allowed"
            )));
        }
        let mut object = objects
            .get(name.as_str())
            .await
            .map_err(|e| Error::nats("reading a large payload", e))?;
        let mut body = Vec::with_capacity(size.min(16 << 20));
        (&mut object)
            .take(max as u64 + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|e| Error::nats("reading a large payload", e))?;
        let _ = objects.delete(name.as_str()).await;
        if body.len() != size {
            return Err(Error::Invalid(format!(
                "a large payload was cut short: {} of {size} bytes",
                body.len()
            )));
        }
        message.payload = body.into();
        Ok(())
    }
}

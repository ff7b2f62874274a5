//! The pub/sub building block: the broker trait every pub/sub component
//! implements, CloudEvents, and delivery of events to the app.

pub mod cloudevent;
mod jetstream;
mod memory;
pub mod subscriber;
mod subscription;
pub mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use jetway_core::{Context, Metadata};

pub use jetstream::{JetStreamOptions, JetStreamPubSub};
pub use memory::MemoryPubSub;
pub use subscription::{Bulk, BulkSpec, Rule, Subscription};

/// How a delivery to the app ended.
#[derive(Clone, Copy, Debug)]
pub enum Delivery {
    Acked = 0,
    Retried = 1,
    Dropped = 2,
}

/// Counts deliveries as they end (the node's metrics).
pub trait Deliveries: Send + Sync {
    fn delivered(&self, outcome: Delivery);
}

/// A message to publish.
pub struct Message {
    pub data: Bytes,
    /// De-duplication id (the CloudEvent id).
    pub id: Option<String>,
    pub ttl: Option<Duration>,
}

/// A delivered message and how to settle it.
pub struct Incoming {
    pub data: Bytes,
    /// Deliveries of this message so far, this one included.
    pub delivered: u32,
    pub settle: Box<dyn Settle>,
}

/// Settles one delivery: exactly one of these is called.
#[async_trait::async_trait]
pub trait Settle: Send + Sync {
    /// Processed: never deliver again.
    async fn ack(&self);
    /// Deliver again after `delay`.
    async fn retry(&self, delay: Duration);
    /// Still being handled: do not redeliver yet.
    async fn in_progress(&self) {}
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Backend(String),
}

/// A pub/sub broker and the delivery settings from its metadata.
pub struct PubSubComponent {
    pub name: String,
    pub kind: String,
    pub pubsub: Arc<dyn PubSub>,
    /// Consumer group: `consumerID`, else the app id.
    pub group: String,
    pub metadata: Metadata,
}

/// A message broker.
///
/// Every implementation guarantees: `publish` returns only once the message is
/// stored (it will be delivered even if this node dies next); each message of a
/// topic reaches every `group` once per successful settlement (at least once);
/// a message is redelivered until it is acked.
#[async_trait::async_trait]
pub trait PubSub: Send + Sync {
    /// Capabilities to report in metadata (Dapr feature names).
    fn features(&self) -> &'static [&'static str];
    /// Stores `msg`, giving up at the context's deadline.
    async fn publish(&self, ctx: &Context, topic: &str, msg: Message) -> Result<(), Error>;
    /// How long a delivery may stay unsettled before the broker redelivers it.
    fn ack_wait(&self) -> Option<Duration> {
        None
    }
    /// Messages of `topic` for consumer `group`, shared by all members of the
    /// group. With `forget_after`, the broker may forget the group's position
    /// once no member has read for that long.
    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        forget_after: Option<Duration>,
    ) -> Result<BoxStream<'static, Incoming>, Error>;
}

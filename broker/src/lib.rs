//! Jetway's NATS mapping layer: the connection, the names of subjects, streams,
//! buckets and consumers, the reversible key encoding, the KV, stream and
//! request-reply primitives the building blocks are made of, and placement
//! (live hosts, partition owners, partition leases) that actors, workflows
//! and jobs share.
//!
//! It speaks NATS words only (subject, stream, bucket, revision) and knows
//! nothing of HTTP, gRPC or Dapr.

mod batch;
pub mod codec;
mod connection;
mod error;
pub mod kv;
pub mod lease;
pub mod naming;
mod payloads;
pub mod placement;
pub mod server;
pub mod stream;

pub use async_nats::{HeaderMap, HeaderValue, Message, Subject, Subscriber};
pub use connection::{Broker, ConnectOptions, Credentials, check_urls};
pub use error::{Error, Result};
pub use payloads::DEFAULT_MAX_BODY;

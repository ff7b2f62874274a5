//! The Jetway node: a Dapr-compatible sidecar whose only infrastructure is NATS
//! JetStream. Command line and settings, resource loading, the component
//! factory, the
//! Dapr HTTP and gRPC APIs and the app channel.

pub mod api;
pub mod app;
pub mod bench;
pub mod cli;
pub mod components;
pub mod embedded;
pub mod metrics;
pub mod node;
pub mod resources;
pub mod run;
pub mod settings;

pub use jetway_blocks::{actors, invoke, pubsub, secrets, state};

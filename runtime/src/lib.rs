//! The Jetway node: a Dapr-compatible sidecar whose only infrastructure is NATS
//! JetStream. Command line and settings, resource loading, the component
//! registry, the building blocks (state, pub/sub, service invocation), the Dapr
//! HTTP API and the app channel.

pub mod actors;
pub mod api;
pub mod app;
pub mod bench;
pub mod cli;
pub mod components;
pub mod embedded;
pub mod invoke;
pub mod metrics;
pub mod node;
pub mod pubsub;
pub mod resources;
pub mod run;
pub mod secrets;
pub mod settings;
pub mod state;

//! End-to-end tests: real nats-server, real `jetway` sidecar processes, and apps
//! (small in-process HTTP apps, and Python apps written with the official Dapr SDK).

mod app;
mod grpc;
mod invoke;
mod loss;
mod nats;
mod pubsub;
mod sdk;
mod startup;
mod state;

use std::time::Duration;

/// An HTTP client for the tests, with a bounded timeout on every call.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

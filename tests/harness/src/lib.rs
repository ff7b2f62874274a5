//! Test harness for Jetway: a real `nats-server` on an ephemeral loopback port
//! with its own store directory, `jetway` sidecar processes and app processes.
//!
//! Every wait is bounded, and every process is killed by its PID when its
//! handle drops.

mod nats;
mod process;
mod relay;
mod sidecar;

pub use nats::{NatsCluster, NatsServer};
pub use process::{App, free_port, python, wait_for_port, workspace_root};
pub use relay::Relay;
pub use sidecar::{Resources, Sidecar, SidecarBuilder, jetway_binary};

/// Polls `check` every 20 ms until it yields `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

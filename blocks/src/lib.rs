//! Jetway's building blocks: for each, the trait its components implement
//! (with the guarantees every implementation gives), its error kinds and its
//! components. No block knows an API framework: the API edge translates
//! requests into calls on these and their errors into Dapr's codes.

pub mod actors;
pub mod bindings;
pub mod configuration;
pub mod invoke;
pub mod jobs;
pub mod lock;
pub mod pubsub;
pub mod registry;
pub mod secrets;
pub mod state;

pub use registry::Registry;

use std::future::Future;

use jetway_broker as broker;
use jetway_core::Context;

/// Runs a NATS operation until the context's deadline, if it has one.
pub(crate) async fn within<T>(
    ctx: &Context,
    op: impl Future<Output = broker::Result<T>>,
) -> broker::Result<T> {
    let Some(deadline) = ctx.deadline else {
        return op.await;
    };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    tokio::time::timeout(left, op)
        .await
        .unwrap_or(Err(broker::Error::Timeout(left)))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[tokio::test]
    async fn an_operation_gives_up_at_the_deadline() {
        let ctx = Context::default().with_timeout(Duration::from_millis(20));
        let started = Instant::now();
        let never = std::future::pending::<broker::Result<()>>();
        assert!(matches!(
            within(&ctx, never).await,
            Err(broker::Error::Timeout(_))
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        let no_deadline = within(&Context::default(), async { Ok(7) }).await;
        assert_eq!(no_deadline.unwrap(), 7);
    }
}

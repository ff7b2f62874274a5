//! Turn-based concurrency: one call at a time per actor, except calls of the
//! call chain that holds the turn when reentrancy is on.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The turn of one actor.
pub(super) struct Turn {
    permit: Arc<Semaphore>,
    holder: Mutex<Option<Holder>>,
}

/// The call chain in the turn and how deep it has re-entered.
struct Holder {
    chain: Option<String>,
    depth: u32,
    /// Released when the outermost call of the chain leaves, whichever that is.
    _permit: OwnedSemaphorePermit,
}

/// A reentrant call went deeper than the type allows.
#[derive(Debug, PartialEq)]
pub(super) struct TooDeep;

/// Holding the turn; leaving drops it.
pub(super) struct InTurn {
    turn: Arc<Turn>,
}

impl Default for Turn {
    fn default() -> Self {
        Turn {
            permit: Arc::new(Semaphore::new(1)),
            holder: Mutex::new(None),
        }
    }
}

impl Turn {
    /// Waits for the turn, in arrival order. A call of the `chain` that holds the
    /// turn enters at once, up to `max_depth` calls deep.
    pub(super) async fn enter(
        self: &Arc<Self>,
        chain: Option<&str>,
        max_depth: u32,
    ) -> Result<InTurn, TooDeep> {
        if let Some(chain) = chain
            && let Some(h) = self.holder.lock().expect("turn lock").as_mut()
            && h.chain.as_deref() == Some(chain)
        {
            if h.depth >= max_depth {
                return Err(TooDeep);
            }
            h.depth += 1;
            return Ok(InTurn { turn: self.clone() });
        }
        let permit = self
            .permit
            .clone()
            .acquire_owned()
            .await
            .expect("the turn semaphore is never closed");
        self.hold(chain, permit);
        Ok(InTurn { turn: self.clone() })
    }

    /// Takes the turn only if it is free right now.
    pub(super) fn try_enter(self: &Arc<Self>) -> Option<InTurn> {
        let permit = self.permit.clone().try_acquire_owned().ok()?;
        self.hold(None, permit);
        Some(InTurn { turn: self.clone() })
    }

    fn hold(&self, chain: Option<&str>, permit: OwnedSemaphorePermit) {
        *self.holder.lock().expect("turn lock") = Some(Holder {
            chain: chain.map(str::to_owned),
            depth: 1,
            _permit: permit,
        });
    }
}

impl Drop for InTurn {
    fn drop(&mut self) {
        let mut holder = self.turn.holder.lock().expect("turn lock");
        if let Some(h) = holder.as_mut() {
            h.depth -= 1;
            if h.depth == 0 {
                *holder = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_call_at_a_time() {
        let turn = Arc::new(Turn::default());
        let first = turn.enter(None, 32).await.unwrap();
        assert!(turn.try_enter().is_none());
        let waiting = tokio::spawn({
            let turn = turn.clone();
            async move { turn.enter(None, 32).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap().unwrap();
        assert!(turn.try_enter().is_some());
    }

    #[tokio::test]
    async fn the_holding_chain_reenters_up_to_its_depth() {
        let turn = Arc::new(Turn::default());
        let outer = turn.enter(Some("chain"), 2).await.unwrap();
        let inner = turn.enter(Some("chain"), 2).await.unwrap();
        assert_eq!(turn.enter(Some("chain"), 2).await.err(), Some(TooDeep));
        // Another chain waits, even after the outer call leaves first.
        drop(outer);
        let other = tokio::spawn({
            let turn = turn.clone();
            async move { turn.enter(Some("other"), 2).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!other.is_finished());
        drop(inner);
        other.await.unwrap().unwrap();
    }
}

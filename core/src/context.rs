//! The request context every block operation takes: who is calling, until
//! when, and the trace the call belongs to.

use std::time::{Duration, Instant};

use http::HeaderMap;

/// W3C trace context headers, carried across every hop.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// What a block knows about the request it serves.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The W3C `traceparent` of the call, if the caller sent one.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// When the caller stops waiting.
    pub deadline: Option<Instant>,
    /// The calling app's id, when a sidecar vouches for it.
    pub caller: Option<String>,
}

impl Context {
    /// The context of a request with these headers (trace context only).
    pub fn from_headers(headers: &HeaderMap) -> Context {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Context {
            traceparent: text(TRACEPARENT),
            tracestate: text(TRACESTATE),
            ..Context::default()
        }
    }

    /// The same context with a deadline `timeout` from now, unless an
    /// earlier one is set.
    pub fn with_timeout(mut self, timeout: Duration) -> Context {
        let deadline = Instant::now() + timeout;
        self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        self
    }

    pub fn with_caller(mut self, caller: impl Into<String>) -> Context {
        self.caller = Some(caller.into());
        self
    }

    /// How long is left before the deadline; `default` when there is none.
    pub fn remaining(&self, default: Duration) -> Duration {
        match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trace_context_and_keeps_the_earlier_deadline() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, "00-abc-def-01".parse().unwrap());
        headers.insert(TRACESTATE, "".parse().unwrap());
        let ctx = Context::from_headers(&headers);
        assert_eq!(ctx.traceparent.as_deref(), Some("00-abc-def-01"));
        assert_eq!(ctx.tracestate, None);
        assert_eq!(
            ctx.remaining(Duration::from_secs(7)),
            Duration::from_secs(7)
        );

        let ctx = ctx
            .with_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(60));
        assert!(ctx.remaining(Duration::ZERO) <= Duration::from_secs(1));
    }
}

//! Service invocation over NATS request-reply.
//!
//! Each sidecar with an app serves `jetway.invoke.<app id>` in the queue group of
//! its app id, so replicas share calls. The HTTP verb, path and query travel in
//! headers next to the caller's headers; the reply carries the app's status.

pub(crate) mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use jetway_broker::codec::{from_header_text, header_text};
use jetway_broker::{self as broker, Broker, naming};
use jetway_core::{App, AppError, AppRequest, AppResponse, Context};
use tokio_util::sync::CancellationToken;

/// How long a caller waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an invocation got no answer from the target app.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(
        "failed to invoke, id: {target}, err: app id {target} is not found (no running sidecar serves it)"
    )]
    NoTarget { target: String },
    /// The call cannot be sent as asked (an app id too long for a subject).
    #[error("failed to invoke, id: {target}, err: {message}")]
    Invalid { target: String, message: String },
    #[error("failed to invoke, id: {target}, err: request too large: {message}")]
    TooLarge { target: String, message: String },
    #[error("failed to invoke, id: {target}, err: no answer within {after:?}")]
    Timeout { target: String, after: Duration },
    /// The target's sidecar could not reach its app, or NATS failed.
    #[error("failed to invoke, id: {target}, err: {message}")]
    Failed { target: String, message: String },
}

/// Counts the calls this node serves.
pub trait Invocations: Send + Sync {
    fn served(&self);
}

/// How this node serves its app's invocations.
#[derive(Clone, Debug)]
pub struct Serving {
    /// Calls handed to the app at once; more wait (and NATS holds them).
    pub max_concurrency: usize,
    /// How long calls in flight may finish after a stop.
    pub grace: Duration,
}

/// Invokes apps by id, and serves this node's app.
pub struct Invoker {
    broker: Broker,
    app_id: String,
    app: Option<Arc<dyn App>>,
    timeout: Duration,
}

impl Invoker {
    pub fn new(
        broker: Broker,
        app_id: impl Into<String>,
        app: Option<Arc<dyn App>>,
        timeout: Duration,
    ) -> Invoker {
        Invoker {
            broker,
            app_id: app_id.into(),
            app,
            timeout,
        }
    }

    /// Invokes `target`: through NATS, or straight to the local app when it is
    /// our own id. Waits until the context's deadline, or the default timeout.
    pub async fn invoke(
        &self,
        ctx: &Context,
        target: &str,
        request: AppRequest,
    ) -> Result<AppResponse, InvokeError> {
        let failed = |message: String| InvokeError::Failed {
            target: target.to_owned(),
            message,
        };
        if request.path_and_query.chars().any(char::is_control) {
            return Err(InvokeError::Invalid {
                target: target.to_owned(),
                message: "the method holds a control character (a line break, say)".into(),
            });
        }
        if target == self.app_id
            && let Some(app) = &self.app
        {
            let request = AppRequest {
                headers: wire::callee_headers(request.headers, &self.app_id, target),
                ..request
            };
            let ctx = ctx.clone().with_timeout(self.timeout);
            let r = app.call(&ctx, request).await.map_err(|e| match e {
                AppError::Timeout(after) => InvokeError::Timeout {
                    target: target.to_owned(),
                    after,
                },
                other => failed(other.to_string()),
            })?;
            return Ok(AppResponse {
                headers: wire::strip_hop(r.headers),
                ..r
            });
        }
        let timeout = ctx.remaining(self.timeout).min(self.timeout);
        let mut headers = broker::HeaderMap::new();
        wire::copy_to_nats(&request.headers, &mut headers);
        headers.insert(wire::VERB, request.verb.as_str());
        headers.insert(wire::PATH, header_text(&request.path_and_query).as_ref());
        headers.insert(wire::CALLER, self.app_id.as_str());
        headers.insert(wire::DEADLINE, timeout.as_millis().to_string().as_str());
        let subject = naming::invoke_subject(target);
        let reply = self
            .broker
            .request(subject, headers, request.body, timeout)
            .await
            .map_err(|e| match e {
                broker::Error::NoResponders => InvokeError::NoTarget {
                    target: target.to_owned(),
                },
                broker::Error::PayloadTooLarge(message) => InvokeError::TooLarge {
                    target: target.to_owned(),
                    message,
                },
                broker::Error::Invalid(message) => InvokeError::Invalid {
                    target: target.to_owned(),
                    message,
                },
                broker::Error::Timeout(after) => InvokeError::Timeout {
                    target: target.to_owned(),
                    after,
                },
                other => failed(other.to_string()),
            })?;
        let headers = reply.headers.unwrap_or_default();
        if let Some(failure) = headers.get(wire::FAILURE) {
            return Err(failed(failure.to_string()));
        }
        Ok(AppResponse {
            status: wire::status(&headers),
            headers: wire::http_headers(&headers),
            body: reply.payload,
            type_url: headers
                .get(wire::TYPE_URL)
                .map(|t| from_header_text(t.as_str()).into_owned()),
        })
    }

    /// Serves invocations of this node's app until `cancel` fires.
    pub async fn serve(
        self: Arc<Self>,
        serving: Serving,
        counter: Arc<dyn Invocations>,
        cancel: CancellationToken,
    ) -> Result<(), broker::Error> {
        let mut requests = self
            .broker
            .serve(
                naming::invoke_subject(&self.app_id),
                naming::invoke_queue_group(&self.app_id),
            )
            .await?;
        let limit = Arc::new(tokio::sync::Semaphore::new(serving.max_concurrency.max(1)));
        let tasks = tokio_util::task::TaskTracker::new();
        loop {
            let msg = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                m = requests.next() => match m { Some(m) => m, None => break },
            };
            let received = Instant::now();
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            counter.served();
            let this = self.clone();
            tasks.spawn(async move {
                this.answer(msg, received).await;
                drop(permit);
            });
        }
        // Stop taking new calls, then let the ones in flight finish.
        let _ = requests.unsubscribe().await;
        tasks.close();
        let _ = tokio::time::timeout(serving.grace, tasks.wait()).await;
        Ok(())
    }

    /// Answers one call, received at `received` (its deadline counts from then).
    async fn answer(&self, mut msg: broker::Message, received: Instant) {
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        if let Err(error) = self.broker.take_payload(&mut msg).await {
            let mut out = broker::HeaderMap::new();
            out.insert(wire::FAILURE, wire::one_line(&error.to_string()).as_str());
            let _ = self.broker.reply(reply, out, Bytes::new()).await;
            return;
        }
        let headers = msg.headers.unwrap_or_default();
        let header = |n: &str| headers.get(n).map(|v| v.as_str().to_owned());
        let verb = header(wire::VERB)
            .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
            .unwrap_or(Method::POST);
        let caller = header(wire::CALLER).unwrap_or_default();
        let mut ctx = Context::from_headers(&wire::http_headers(&headers)).with_caller(&caller);
        if let Some(ms) = header(wire::DEADLINE).and_then(|ms| ms.parse().ok()) {
            ctx.deadline = Some(received + Duration::from_millis(ms));
        }
        if ctx.remaining(Duration::MAX).is_zero() {
            // The caller gave up while the call waited its turn.
            tracing::debug!("An invocation's deadline passed before the app was called.");
            return;
        }
        let request = AppRequest {
            verb,
            path_and_query: header(wire::PATH)
                .map(|p| from_header_text(&p).into_owned())
                .unwrap_or_else(|| "/".into()),
            headers: wire::callee_headers(wire::http_headers(&headers), &caller, &self.app_id),
            body: msg.payload,
        };
        let mut out = broker::HeaderMap::new();
        let body = match &self.app {
            None => {
                out.insert(wire::FAILURE, "the target sidecar has no app channel");
                Bytes::new()
            }
            Some(app) => match app.call(&ctx, request).await {
                Ok(r) => {
                    out.insert(wire::STATUS, r.status.as_str());
                    if let Some(t) = &r.type_url {
                        out.insert(wire::TYPE_URL, header_text(t).as_ref());
                    }
                    wire::copy_to_nats(&r.headers, &mut out);
                    r.body
                }
                Err(e) => {
                    out.insert(wire::FAILURE, wire::one_line(&e.to_string()).as_str());
                    Bytes::new()
                }
            },
        };
        if let Err(error) = self.broker.reply(reply.clone(), out, body).await {
            tracing::warn!(%error, "Replying to an invocation failed.");
            if let broker::Error::PayloadTooLarge(m) = error {
                let mut out = broker::HeaderMap::new();
                out.insert(wire::FAILURE, format!("response too large: {m}").as_str());
                let _ = self.broker.reply(reply, out, Bytes::new()).await;
            }
        }
    }
}

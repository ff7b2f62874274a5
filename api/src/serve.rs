//! The accept loop of the API ports, on hyper: a cap on open connections,
//! HTTP/2 limits (streams, header list, reset budgets, keepalive pings), an
//! idle timeout, HTTP/1's header read timeout, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Bounds on what one client may hold open on an API port.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// HTTP/2 streams open at once on one connection.
    pub max_concurrent_streams: u32,
    /// The largest header block a request may send, advertised in SETTINGS.
    pub max_header_list_size: u32,
    /// Streams a client may reset before the server took them, per connection
    /// (rapid reset): past it, the connection ends with ENHANCE_YOUR_CALM.
    pub max_pending_accept_reset_streams: usize,
    /// Streams the server may reset for a client's protocol errors, per connection.
    pub max_local_error_reset_streams: usize,
    /// A ping after this long without frames; a dead peer is noticed in
    /// `keepalive_interval + keepalive_timeout`.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// HTTP/1: the time a client has to send a request's head, and to begin
    /// the next one on a kept-alive connection.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            max_concurrent_streams: 200,
            max_header_list_size: 32 * 1024,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 256,
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(300),
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// What a port speaks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Protocol {
    /// HTTP/1.1, and HTTP/2 for clients that open with its preface.
    Auto,
    /// HTTP/2 only (gRPC).
    Http2,
}

/// Serves `service` on `listener` until `stop` is cancelled, then lets every
/// connection finish the requests it has in flight.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    protocol: Protocol,
    limits: Limits,
    stop: CancellationToken,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let builder = Arc::new(builder(protocol, &limits));
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    accepted = listener.accept() => accepted.map(|(tcp, _)| (tcp, permit)),
                },
                Err(_) => break,
            },
        };
        let (tcp, permit) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!(%error, "API port cannot accept a connection.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Small responses go out at once.
        let _ = tcp.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = TowerToHyperService::new(Tracked {
            inner: service.clone(),
            activity: activity.clone(),
        });
        let (builder, stop, idle) = (builder.clone(), stop.clone(), limits.idle_timeout);
        connections.spawn(async move {
            let _permit = permit;
            let mut connection = pin!(builder.serve_connection(TokioIo::new(tcp), service));
            let mut closing = false;
            loop {
                tokio::select! {
                    ended = connection.as_mut() => {
                        if let Err(error) = ended {
                            tracing::debug!(%error, "API connection ended.");
                        }
                        return;
                    }
                    _ = stop.cancelled(), if !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ = activity.idle_for(idle), if !closing => {
                        tracing::debug!("Closing an idle API connection.");
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        });
    }
    connections.close();
    connections.wait().await;
}

fn builder(protocol: Protocol, limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_size)
        .max_pending_accept_reset_streams(limits.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(limits.max_local_error_reset_streams)
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout);
    match protocol {
        Protocol::Auto => builder,
        // gRPC has no use for a Date header: one less to encode per response.
        Protocol::Http2 => {
            builder.http2().auto_date_header(false);
            builder.http2_only()
        }
    }
}

/// Requests in flight on one connection, and since when it has had none.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `started` to the end of the last request.
    idle_since: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        }
    }

    /// Resolves once no request has been in flight for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let since = Duration::from_millis(self.idle_since.load(Ordering::Acquire));
            let deadline = self.started + since + timeout;
            if self.in_flight.load(Ordering::Acquire) == 0 && deadline <= Instant::now() {
                return;
            }
            // Busy or not long idle: look again when it could first be idle long enough.
            tokio::time::sleep_until(deadline.max(Instant::now() + timeout / 4)).await;
        }
    }

    fn begin(self: &Arc<Activity>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// One request in flight: from the call until its response body is done.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let ms = a.started.elapsed().as_millis() as u64;
        a.idle_since.store(ms, Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A service that counts its requests in flight on the connection.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, B> tower_service::Service<Request<Incoming>> for Tracked<S>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = Infallible;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        TrackedFuture {
            request: Some(self.activity.begin()),
            response: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// A response on its way, its request counted.
    struct TrackedFuture<F> {
        request: Option<InFlight>,
        #[pin]
        response: F,
    }
}

impl<F, B> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
{
    type Output = Result<Response<TrackedBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.response.poll(cx))?;
        let request = this.request.take().expect("polled after completion");
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _request: request,
        })))
    }
}

/// A response body that keeps its request counted until it is dropped.
struct TrackedBody<B> {
    body: B,
    _request: InFlight,
}

impl<B: http_body::Body + Unpin> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Answers `/` at once, `/slow` after 200 ms, and `/hold` with a body that never ends.
    fn service() -> axum::Router {
        use axum::routing::get;
        axum::Router::new()
            .route("/", get(|| async { "" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    ""
                }),
            )
            .route(
                "/hold",
                get(|| async {
                    axum::body::Body::from_stream(futures::stream::pending::<
                        Result<Bytes, Infallible>,
                    >())
                }),
            )
    }

    async fn start(protocol: Protocol, limits: Limits) -> (u16, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, service(), protocol, limits, stop.clone()));
        (port, stop)
    }

    async fn h2_connect(
        port: u16,
    ) -> (
        h2::client::SendRequest<Bytes>,
        tokio::task::JoinHandle<Result<(), h2::Error>>,
    ) {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        (send, tokio::spawn(connection))
    }

    fn get(port: u16, path: &str) -> Request<()> {
        Request::get(format!("http://127.0.0.1:{port}{path}"))
            .body(())
            .unwrap()
    }

    #[tokio::test]
    async fn an_idle_http2_connection_is_closed_and_a_busy_one_is_not() {
        let limits = Limits {
            idle_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let (port, _stop) = start(Protocol::Http2, limits).await;

        let (mut idle, idle_connection) = h2_connect(port).await;
        let (response, _) = idle.send_request(get(port, "/"), true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);

        let (mut busy, busy_connection) = h2_connect(port).await;
        let (response, _) = busy.send_request(get(port, "/hold"), true).unwrap();
        let held = response.await.unwrap();

        let closed = tokio::time::timeout(Duration::from_secs(3), idle_connection).await;
        assert!(
            matches!(closed, Ok(Ok(Ok(())))),
            "the idle connection ends cleanly: {closed:?}"
        );
        assert!(
            !busy_connection.is_finished(),
            "a response in flight keeps its connection"
        );
        drop(held);
    }

    #[tokio::test]
    async fn http1_closes_a_connection_that_sends_no_head_in_time() {
        let limits = Limits {
            header_read_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let (port, _stop) = start(Protocol::Auto, limits).await;
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "the server closed the connection");
    }

    #[tokio::test]
    async fn connections_past_the_cap_wait_for_a_free_one() {
        let limits = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        let (port, _stop) = start(Protocol::Http2, limits).await;
        let (mut first, first_connection) = h2_connect(port).await;
        let (response, _) = first.send_request(get(port, "/"), true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);

        let (mut second, _second_connection) = h2_connect(port).await;
        let (response, _) = second.send_request(get(port, "/"), true).unwrap();
        let response = tokio::spawn(response);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !response.is_finished(),
            "not served while the first is open"
        );

        drop(first);
        first_connection.await.unwrap().unwrap();
        let response = tokio::time::timeout(Duration::from_secs(3), response)
            .await
            .expect("served once the first closed");
        assert_eq!(response.unwrap().unwrap().status(), 200);
    }

    #[tokio::test]
    async fn stopping_lets_a_connection_finish_its_call() {
        let (port, stop) = start(Protocol::Http2, Limits::default()).await;
        let (mut send, connection) = h2_connect(port).await;
        let (response, _) = send.send_request(get(port, "/slow"), true).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.cancel();
        assert_eq!(response.await.unwrap().status(), 200);
        drop(send);
        let ended = tokio::time::timeout(Duration::from_secs(3), connection).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }
}

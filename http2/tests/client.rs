//! The client against hyper's HTTP/2 server, and against our own, over real TCP.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jetway_http2::{Channel, RecvBody};
use tokio_util::sync::CancellationToken;

type Reply =
    StreamBody<futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// Echoes the body, with `grpc-status: 0` in trailers; `/slow` waits a
/// little first.
async fn echo<B: http_body::Body>(request: Request<B>) -> Result<Response<Reply>, Infallible>
where
    B::Error: std::fmt::Debug,
{
    if request.uri().path() == "/slow" {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    let frames = vec![Ok(Frame::data(body)), Ok(Frame::trailers(trailers))];
    Ok(Response::new(StreamBody::new(futures::stream::iter(
        frames,
    ))))
}

/// A hyper HTTP/2 server running `echo`.
async fn hyper_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(
                    TokioIo::new(tcp),
                    hyper::service::service_fn(echo::<hyper::body::Incoming>),
                ),
            );
        }
    });
    addr
}

#[derive(Clone)]
struct Echo;

impl tower_service::Service<Request<RecvBody>> for Echo {
    type Response = Response<Reply>;
    type Error = Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Response<Reply>, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RecvBody>) -> Self::Future {
        Box::pin(echo(request))
    }
}

/// Our server running `echo`.
async fn our_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(jetway_http2::serve(tcp, Echo, CancellationToken::new()));
        }
    });
    addr
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::handshake(tokio::net::TcpStream::connect(addr).await.unwrap())
}

async fn call(channel: &Channel, body: Bytes) -> (Bytes, HeaderMap) {
    call_path(channel, "/echo", body).await
}

async fn call_path(channel: &Channel, path: &str, body: Bytes) -> (Bytes, HeaderMap) {
    let request = Request::post(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .body(Full::new(body))
        .unwrap();
    let response = channel.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    (collected.to_bytes(), trailers)
}

async fn exercise(addr: std::net::SocketAddr) {
    let channel = channel(addr).await;
    for i in 0..3 {
        let (body, trailers) = call(&channel, Bytes::from(format!("hello {i}"))).await;
        assert_eq!(body, format!("hello {i}"));
        assert_eq!(trailers["grpc-status"], "0");
    }
    let big: Bytes = (0..3 * 1024 * 1024)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let (body, _) = call(&channel, big.clone()).await;
    assert!(body == big, "a body larger than every window arrives whole");
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let channel = channel.clone();
            tokio::spawn(async move {
                let (body, _) = call(&channel, Bytes::from(format!("n{i}"))).await;
                assert_eq!(body, format!("n{i}"));
            })
        })
        .collect();
    for c in calls {
        c.await.unwrap();
    }
    // Finished calls let go of their streams: more calls than the server's
    // stream limit go through one after another.
    let more = async {
        for _ in 0..250 {
            call(&channel, Bytes::from("again")).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), more)
        .await
        .expect("no stream is leaked");
    assert!(!channel.is_closed());
}

// Two worker threads: calls queue work while the connection's task runs elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_hypers_server() {
    exercise(hyper_server().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_our_server() {
    exercise(our_server().await).await;
}

#[tokio::test]
async fn a_closed_server_fails_calls_instead_of_hanging() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move { drop(listener.accept().await.unwrap()) });
    let channel = channel(addr).await;
    accept.await.unwrap();
    let request = Request::post("http://localhost/echo")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let result =
        tokio::time::timeout(std::time::Duration::from_secs(5), channel.call(request)).await;
    assert!(result.expect("no hang").is_err());
}

// Callers on two threads race the connection's task for the shared state;
// no call may wait on a wakeup that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_other_threads_never_stall() {
    let channel = channel(our_server().await).await;
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let channel = channel.clone();
            tokio::spawn(async move {
                for _ in 0..1000 {
                    call(&channel, Bytes::from_static(b"x")).await;
                }
            })
        })
        .collect();
    let all = futures::future::try_join_all(callers);
    tokio::time::timeout(std::time::Duration::from_secs(60), all)
        .await
        .expect("no call stalls")
        .unwrap();
}

#[tokio::test]
async fn a_server_going_away_lets_the_calls_it_took_finish() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        jetway_http2::serve(tcp, Echo, token).await.unwrap();
    });
    let channel = channel(addr).await;
    let slow = {
        let channel = channel.clone();
        tokio::spawn(async move { call_path(&channel, "/slow", Bytes::from("last")).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        channel.is_closed(),
        "after GOAWAY, new calls need a new connection"
    );
    let request = Request::post("http://localhost/echo")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert!(matches!(
        channel.call(request).await,
        Err(jetway_http2::CallError::Closed)
    ));
    let (body, trailers) = slow.await.unwrap();
    assert_eq!(body, "last", "the call the server had taken completes");
    assert_eq!(trailers["grpc-status"], "0");
}

// A server that answers the first call and keeps the connection open after
// the client's GOAWAY: the client must end it once its last body is read.
#[tokio::test]
async fn a_dropped_channel_ends_its_connection_once_the_last_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (mut read, mut write) = tcp.into_split();
        // SETTINGS; HEADERS with :status 200; DATA "body" ending the stream.
        let mut frames = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
        frames.extend([0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88]);
        frames.extend([0, 0, 4, 0, 1, 0, 0, 0, 1]);
        frames.extend(b"body");
        write.write_all(&frames).await.unwrap();
        // Until the client closes the connection.
        let mut sink = vec![0; 4096];
        while read.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let channel = channel(addr).await;
    let request = Request::post("http://localhost/echo")
        .body(Full::new(Bytes::from("body")))
        .unwrap();
    let response = channel.call(request).await.unwrap();
    drop(channel);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "body");
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("the client closes the connection")
        .unwrap();
}

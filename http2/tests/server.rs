//! The server against hyper's HTTP/2 client over real TCP.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jetway_http2::RecvBody;
use tokio_util::sync::CancellationToken;

type Reply =
    StreamBody<futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// Echoes the request body with the path in a header and `grpc-status: 0` in
/// trailers; `/slow` waits a little first.
#[derive(Clone)]
struct Echo;

impl tower_service::Service<Request<RecvBody>> for Echo {
    type Response = Response<Reply>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RecvBody>) -> Self::Future {
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            if path == "/slow" {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let frames = vec![Ok(Frame::data(body)), Ok(Frame::trailers(trailers))];
            let mut response = Response::new(StreamBody::new(futures::stream::iter(frames)));
            response
                .headers_mut()
                .insert("x-path", path.parse().unwrap());
            Ok(response)
        })
    }
}

async fn start() -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        jetway_http2::serve(tcp, Echo, token).await.unwrap();
    });
    (addr, stop, server)
}

async fn client(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

async fn call(
    send: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    path: &str,
    body: Bytes,
) -> (Response<()>, Bytes, HeaderMap) {
    let request = Request::post(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .body(Full::new(body))
        .unwrap();
    let (parts, body) = send.send_request(request).await.unwrap().into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    (
        Response::from_parts(parts, ()),
        collected.to_bytes(),
        trailers,
    )
}

#[tokio::test]
async fn a_unary_call_gets_headers_body_and_trailers() {
    let (addr, _stop, _server) = start().await;
    let mut send = client(addr).await;
    for i in 0..3 {
        let (head, body, trailers) =
            call(&mut send, &format!("/echo/{i}"), Bytes::from("hello")).await;
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()["x-path"], format!("/echo/{i}").as_str());
        assert_eq!(body, "hello");
        assert_eq!(trailers["grpc-status"], "0");
    }
}

#[tokio::test]
async fn bodies_larger_than_every_window_flow_both_ways() {
    let (addr, _stop, _server) = start().await;
    let mut send = client(addr).await;
    let big: Bytes = (0..3 * 1024 * 1024)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let (_, body, trailers) = call(&mut send, "/big", big.clone()).await;
    assert_eq!(body.len(), big.len());
    assert!(body == big);
    assert_eq!(trailers["grpc-status"], "0");
}

#[tokio::test]
async fn concurrent_streams_share_one_connection() {
    let (addr, _stop, _server) = start().await;
    let send = client(addr).await;
    let calls = (0..64).map(|i| {
        let mut send = send.clone();
        tokio::spawn(async move {
            let path = if i % 8 == 0 {
                "/slow".to_owned()
            } else {
                format!("/c/{i}")
            };
            let (_, body, _) = call(&mut send, &path, Bytes::from(format!("n{i}"))).await;
            assert_eq!(body, format!("n{i}"));
        })
    });
    for c in calls.collect::<Vec<_>>() {
        c.await.unwrap();
    }
}

#[tokio::test]
async fn shutdown_lets_the_open_stream_finish_then_closes() {
    let (addr, stop, server) = start().await;
    let mut send = client(addr).await;
    let slow = tokio::spawn(async move { call(&mut send, "/slow", Bytes::from("last")).await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.cancel();
    let (_, body, trailers) = slow.await.unwrap();
    assert_eq!(body, "last");
    assert_eq!(trailers["grpc-status"], "0");
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("the connection closes once its stream ends")
        .unwrap();
}

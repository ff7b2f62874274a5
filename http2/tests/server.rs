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

/// A small deterministic generator (xorshift64*), so a failing case can be
/// reproduced from its number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Two calls written by hand: the second refers to the dynamic table entries
/// the first one's block inserted.
fn well_formed() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    frame(&mut out, 0x4, 0, 0, &[]);
    let mut block = vec![0x83, 0x86, 0x04, 5];
    block.extend_from_slice(b"/echo");
    block.extend_from_slice(&[0x41, 9]);
    block.extend_from_slice(b"localhost");
    block.extend_from_slice(&[0x5f, 16]);
    block.extend_from_slice(b"application/grpc");
    frame(&mut out, 0x1, 0x4, 1, &block);
    frame(&mut out, 0x0, 0x1, 1, b"hello");
    frame(&mut out, 0x6, 0, 0, b"8 octets");
    frame(&mut out, 0x8, 0, 0, &1000u32.to_be_bytes());
    let block = [
        0x83, 0x86, 0x04, 5, b'/', b'e', b'c', b'h', b'o', 0xbf, 0xbe,
    ];
    frame(&mut out, 0x1, 0x4 | 0x1, 3, &block);
    out
}

/// Corrupts the well-formed input: flipped, replaced, inserted or removed
/// octets, or a cut.
fn mutated(rng: &mut Rng) -> Vec<u8> {
    let mut input = well_formed();
    for _ in 0..1 + rng.below(4) {
        let at = PREFACE.len() + rng.below(input.len() - PREFACE.len());
        match rng.below(5) {
            0 => input[at] ^= 1 << rng.below(8),
            1 => input[at] = rng.next() as u8,
            2 => input.insert(at, rng.next() as u8),
            3 => drop(input.remove(at)),
            _ => input.truncate(at),
        }
        if input.len() <= PREFACE.len() {
            break;
        }
    }
    input
}

/// Frames of any type with random flags, stream ids and payloads, after a
/// valid preface.
fn random_frames(rng: &mut Rng) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    for _ in 0..1 + rng.below(8) {
        let kind = rng.below(12) as u8;
        let flags = rng.next() as u8;
        let stream = [0, 1, 1, 2, 3, 5, rng.next() as u32 & 0x7fff_ffff][rng.below(7)];
        let len = rng.below(48);
        let payload = rng.bytes(len);
        frame(&mut out, kind, flags, stream, &payload);
    }
    out
}

/// Writes `input` to a served connection, closes our side and reads until the
/// server closes its own; panics if the server panics or does not close.
async fn exchange(input: Vec<u8>) -> Vec<u8> {
    let (mut ours, theirs) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(jetway_http2::serve(theirs, Echo, CancellationToken::new()));
    let talk = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut read, mut write) = tokio::io::split(&mut ours);
        let mut output = Vec::new();
        let send = async {
            // The server may close first, which fails this write: fine.
            let _ = write.write_all(&input).await;
            let _ = write.shutdown().await;
        };
        let (_, received) = tokio::join!(send, read.read_to_end(&mut output));
        received.map(|_| output)
    };
    let within = std::time::Duration::from_secs(5);
    let output = tokio::time::timeout(within, talk)
        .await
        .expect("the server closes the connection")
        .unwrap_or_default();
    let ended = tokio::time::timeout(within, server)
        .await
        .expect("the server's task ends");
    if let Err(e) = ended {
        panic!("the server's task failed: {e}");
    }
    output
}

#[tokio::test]
async fn malformed_input_never_panics_or_hangs_the_server() {
    // The base the mutations start from is answered: both calls get their
    // response headers, and the first its body back.
    let output = exchange(well_formed()).await;
    let mut frames = Vec::new();
    let mut rest = &output[..];
    while rest.len() >= 9 {
        let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        let stream = u32::from_be_bytes(rest[5..9].try_into().unwrap());
        frames.push((rest[3], stream, &rest[9..9 + len]));
        rest = &rest[9 + len..];
    }
    assert!(frames.iter().any(|f| f.0 == 0x1 && f.1 == 1), "{frames:?}");
    assert!(frames.contains(&(0x0, 1, &b"hello"[..])), "{frames:?}");
    assert!(frames.iter().any(|f| f.0 == 0x1 && f.1 == 3), "{frames:?}");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..20_000 {
        let input = if case % 2 == 0 {
            mutated(&mut rng)
        } else {
            random_frames(&mut rng)
        };
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        let outcome = tokio::spawn(exchange(input)).await;
        assert!(outcome.is_ok(), "case {case} failed; input: {hex}");
    }
}

/// Parses a server's output into (type, flags, stream, payload) frames.
fn parse_frames(mut output: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut frames = Vec::new();
    while output.len() >= 9 {
        let len = u32::from_be_bytes([0, output[0], output[1], output[2]]) as usize;
        let stream = u32::from_be_bytes(output[5..9].try_into().unwrap());
        let end = (9 + len).min(output.len());
        frames.push((output[3], output[4], stream, output[9..end].to_vec()));
        output = &output[end..];
    }
    frames
}

#[tokio::test]
async fn a_peer_that_does_not_read_is_not_read_either() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    tokio::spawn(jetway_http2::serve(theirs, Echo, CancellationToken::new()));
    let (mut read, mut write) = tokio::io::split(ours);
    write.write_all(PREFACE).await.unwrap();
    let mut pings = Vec::new();
    for _ in 0..1000 {
        frame(&mut pings, 0x6, 0, 0, b"8 octets");
    }
    // Every PING asks for an answer; we never read them.
    let mut written = 0;
    let flood = async {
        loop {
            write.write_all(&pings).await.unwrap();
            written += pings.len();
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), flood).await;
    assert!(
        written < 4 << 20,
        "the server stopped reading after {written} octets"
    );
    // Once we read, the server reads again.
    tokio::spawn(async move {
        let mut sink = vec![0; 1 << 16];
        while read.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    tokio::time::timeout(std::time::Duration::from_secs(5), write.write_all(&pings))
        .await
        .expect("the server reads again")
        .unwrap();
}

#[tokio::test]
async fn a_header_block_with_too_many_names_is_refused() {
    let mut block = Vec::new();
    for i in 0..25_000u32 {
        let name: Vec<u8> = (0..4)
            .map(|k| b'a' + (i / 26u32.pow(k) % 26) as u8)
            .collect();
        block.extend_from_slice(&[0x00, 4]);
        block.extend_from_slice(&name);
        block.push(0);
    }
    let mut input = PREFACE.to_vec();
    frame(&mut input, 0x4, 0, 0, &[]);
    let mut head = vec![0x83, 0x86, 0x04, 5];
    head.extend_from_slice(b"/echo");
    let chunks: Vec<&[u8]> = block.chunks(16_000).collect();
    // END_STREAM without END_HEADERS: the block goes on in CONTINUATIONs.
    frame(&mut input, 0x1, 0x1, 1, &head);
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let flags = if i == last { 0x4 } else { 0 };
        frame(&mut input, 0x9, flags, 1, chunk);
    }
    let frames = parse_frames(&exchange(input).await);
    assert!(
        frames.iter().any(|f| f.0 == 0x3 && f.2 == 1),
        "the stream is reset: {:?}",
        frames.iter().map(|f| (f.0, f.2)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rapid_resets_end_the_connection() {
    let mut input = PREFACE.to_vec();
    frame(&mut input, 0x4, 0, 0, &[]);
    for n in 0..1100u32 {
        let stream = 2 * n + 1;
        let mut block = vec![0x83, 0x86, 0x04, 5];
        block.extend_from_slice(b"/slow");
        frame(&mut input, 0x1, 0x4, stream, &block);
        frame(&mut input, 0x3, 0, stream, &8u32.to_be_bytes());
    }
    let frames = parse_frames(&exchange(input).await);
    let goaway = frames.iter().find(|f| f.0 == 0x7).expect("a GOAWAY");
    assert_eq!(goaway.3[4..8], 0xbu32.to_be_bytes(), "ENHANCE_YOUR_CALM");
}

//! The gRPC port's HTTP/2 limits, probed with a raw HTTP/2 client (h2).

use std::time::Duration;

use bytes::Bytes;
use h2::Reason;
use jetway_testkit::{NatsServer, Sidecar};

/// Opens an HTTP/2 connection to `port`; the task drives it and returns how it ended.
async fn connect(
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

/// A `GetMetadata` call with an empty message, plus `extra` headers.
fn get_metadata(port: u16, extra: &[(&str, String)]) -> http::Request<()> {
    let mut request = http::Request::post(format!(
        "http://127.0.0.1:{port}/dapr.proto.runtime.v1.Dapr/GetMetadata"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers");
    for (name, value) in extra {
        request = request.header(*name, value);
    }
    request.body(()).unwrap()
}

/// Sends `request` with one empty gRPC message and returns the status and `grpc-status`.
async fn call(
    send: &mut h2::client::SendRequest<Bytes>,
    request: http::Request<()>,
) -> (u16, Option<String>) {
    let (response, mut body) = send.send_request(request, false).unwrap();
    let _ = body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true);
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("answered in time")
        .unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.unwrap().len());
    }
    let grpc_status = body
        .trailers()
        .await
        .unwrap()
        .and_then(|t| Some(t.get("grpc-status")?.to_str().ok()?.to_owned()));
    (status, grpc_status)
}

async fn sidecar(nats: &NatsServer) -> Sidecar {
    Sidecar::builder("h2-probe")
        .nats(nats)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_header_list_over_the_limit_is_refused_and_the_connection_stays_usable() {
    let nats = NatsServer::start().await;
    let sidecar = sidecar(&nats).await;
    let port = sidecar.grpc_port;
    let (mut send, _connection) = connect(port).await;
    assert_eq!(
        call(&mut send, get_metadata(port, &[])).await,
        (200, Some("0".into()))
    );

    // 40 headers of 2 KiB: 80 KiB, over the advertised 32 KiB.
    let big: Vec<(String, String)> = (0..40)
        .map(|i| (format!("x-big-{i}"), "a".repeat(2048)))
        .collect();
    let big: Vec<(&str, String)> = big.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let (response, _body) = send.send_request(get_metadata(port, &big), true).unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("answered in time");
    match refused {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(e) => assert_eq!(e.reason(), Some(Reason::REFUSED_STREAM), "{e}"),
    }

    assert_eq!(
        call(&mut send, get_metadata(port, &[])).await,
        (200, Some("0".into())),
        "the same connection still serves calls"
    );
}

#[tokio::test]
async fn a_flood_of_reset_streams_ends_the_connection_with_enhance_your_calm() {
    let nats = NatsServer::start().await;
    let sidecar = sidecar(&nats).await;
    let port = sidecar.grpc_port;
    let (mut send, connection) = connect(port).await;
    assert_eq!(
        call(&mut send, get_metadata(port, &[])).await,
        (200, Some("0".into()))
    );

    // Open and at once cancel 100 streams (the budget is 20), with no await
    // in between, so they reach the server as one burst of HEADERS and
    // RST_STREAM frames, written before the server answers with GOAWAY.
    for _ in 0..100 {
        match send.send_request(get_metadata(port, &[]), false) {
            Ok((response, body)) => drop((response, body)),
            Err(_) => break,
        }
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the server ends the connection")
        .unwrap();
    let error = ended.expect_err("ended with an error");
    assert_eq!(error.reason(), Some(Reason::ENHANCE_YOUR_CALM), "{error}");

    // Other clients are served as before.
    let (mut send, _connection) = connect(port).await;
    assert_eq!(
        call(&mut send, get_metadata(port, &[])).await,
        (200, Some("0".into()))
    );
}

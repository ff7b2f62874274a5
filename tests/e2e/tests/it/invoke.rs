//! Service invocation across two sidecars and apps.

use std::time::{Duration, Instant};

use jetway_testkit::{NatsServer, Resources, Sidecar};
use serde_json::Value;

use crate::app::TestApp;
use crate::client;

struct Pair {
    _nats: NatsServer,
    a: Sidecar,
    _app_a: TestApp,
    b: Sidecar,
    app_b: TestApp,
}

async fn pair() -> Pair {
    let nats = NatsServer::start().await;
    let res = Resources::new();
    let app_a = TestApp::start(Value::Null).await;
    let app_b = TestApp::start(Value::Null).await;
    let a = Sidecar::builder("alpha")
        .app_port(app_a.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let b = Sidecar::builder("beta")
        .app_port(app_b.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    Pair {
        _nats: nats,
        a,
        _app_a: app_a,
        b,
        app_b,
    }
}

#[tokio::test]
async fn verbs_paths_queries_headers_bodies_and_statuses_pass_through() {
    let p = pair().await;
    let http = client();
    for verb in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let url = format!(
            "{}/v1.0/invoke/beta/method/echo/deep/path?x=1&y=two",
            p.a.url()
        );
        let r = http
            .request(verb.parse().unwrap(), url)
            .header("x-custom", "kept")
            .header("content-type", "text/plain")
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{verb}");
        assert_eq!(r.headers()["x-echo"], "yes");
        let echo: Value = r.json().await.unwrap();
        assert_eq!(echo["method"], verb);
        assert_eq!(echo["path"], "/echo/deep/path");
        assert_eq!(echo["query"], "x=1&y=two");
        assert_eq!(
            echo["body"], "payload",
            "{verb}: bodies travel with every verb"
        );
        assert_eq!(echo["headers"]["x-custom"], "kept");
        assert_eq!(echo["headers"]["content-type"], "text/plain");
        assert_eq!(echo["headers"]["dapr-caller-app-id"], "alpha");
        assert_eq!(echo["headers"]["dapr-callee-app-id"], "beta");
    }
    let r = http
        .post(format!(
            "{}/v1.0/invoke/beta/method/echo?status=418",
            p.a.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 418);
    // A status with no body and an app route that does not exist.
    let r = http
        .get(format!("{}/v1.0/invoke/beta/method/missing", p.a.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    p.app_b.reply("/missing", 404, "nope");
    let r = http
        .get(format!("{}/v1.0/invoke/beta/method/missing", p.a.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (404, "nope".to_owned())
    );
}

#[tokio::test]
async fn header_form_and_self_invocation() {
    let p = pair().await;
    let http = client();
    let r = http
        .post(format!("{}/echo/by-header?q=1", p.a.url()))
        .header("dapr-app-id", "beta")
        .body("b")
        .send()
        .await
        .unwrap();
    let echo: Value = r.json().await.unwrap();
    assert_eq!(
        (echo["path"].as_str(), echo["query"].as_str()),
        (Some("/echo/by-header"), Some("q=1"))
    );
    assert!(
        echo["headers"].get("dapr-app-id").is_none(),
        "the routing header is stripped"
    );

    let r = http
        .put(format!("{}/v1.0/invoke/beta/method/echo/self", p.b.url()))
        .body("me")
        .send()
        .await
        .unwrap();
    let echo: Value = r.json().await.unwrap();
    assert_eq!(
        (echo["method"].as_str(), echo["body"].as_str()),
        (Some("PUT"), Some("me"))
    );
    assert_eq!(p.app_b.received("/echo/self").len(), 1);

    let r = http
        .get(format!("{}/not/an/api", p.a.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_DIRECT_INVOKE");
}

#[tokio::test]
async fn unknown_app_fails_promptly_with_daprs_error() {
    let p = pair().await;
    let started = Instant::now();
    let r = client()
        .post(format!("{}/v1.0/invoke/nobody/method/x", p.a.url()))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_DIRECT_INVOKE");
    assert!(body["message"].as_str().unwrap().contains("nobody"));
}

#[tokio::test]
async fn replicas_of_one_app_share_the_load() {
    let nats = NatsServer::start().await;
    let res = Resources::new();
    let caller = Sidecar::builder("caller")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let (app1, app2) = (
        TestApp::start(Value::Null).await,
        TestApp::start(Value::Null).await,
    );
    let _r1 = Sidecar::builder("worker")
        .app_port(app1.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let _r2 = Sidecar::builder("worker")
        .app_port(app2.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let http = client();
    for i in 0..40 {
        let r = http
            .post(format!("{}/v1.0/invoke/worker/method/echo/n", caller.url()))
            .body(i.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let (n1, n2) = (
        app1.received("/echo/n").len(),
        app2.received("/echo/n").len(),
    );
    assert_eq!(n1 + n2, 40, "every call reaches exactly one replica");
    assert!(n1 > 0 && n2 > 0, "both replicas served calls ({n1}/{n2})");
}

/// Bodies beyond one NATS message travel staged in an object store, both
/// ways, up to `--max-body-size`; above it a clear 413.
#[tokio::test]
async fn bodies_beyond_a_nats_message_travel_up_to_the_body_limit() {
    let nats = NatsServer::start().await;
    let app = TestApp::start(Value::Null).await;
    let start = |id: &'static str, port: Option<u16>| {
        let mut b = Sidecar::builder(id)
            .nats(&nats)
            .arg("--max-body-size")
            .arg("32Mi");
        if let Some(port) = port {
            b = b.app_port(port);
        }
        b.start()
    };
    let _callee = start("big-callee", Some(app.port)).await.unwrap();
    let caller = start("big-caller", None).await.unwrap();
    let body: Vec<u8> = (0..16 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let r = client()
        .post(format!(
            "{}/v1.0/invoke/big-callee/method/echo",
            caller.url()
        ))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let echoed: Value = r.json().await.unwrap();
    assert_eq!(
        status,
        200,
        "{}",
        echoed.to_string().chars().take(300).collect::<String>()
    );
    assert_eq!(
        echoed["body"].as_str().map(str::len),
        Some(body.len()),
        "16 MiB there and back"
    );
    assert!(echoed["body"].as_str().unwrap().as_bytes() == body.as_slice());
    // What was staged is gone once taken (only the deletion markers stay).
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut staged = js.get_stream("OBJ_jetway_payloads").await.unwrap();
    let left = staged.info().await.unwrap().state.bytes;
    assert!(left < 16 << 10, "{left} bytes left staged");

    // Above the limit: 413, before anything is sent.
    let r = client()
        .post(format!(
            "{}/v1.0/invoke/big-callee/method/echo",
            caller.url()
        ))
        .body(vec![b'x'; (32 << 20) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(app.received("/echo").len() == 1);

    // With the default limit (4 MiB), 2 MiB travels and 5 MiB is refused.
    let p = pair().await;
    let r = client()
        .post(format!("{}/v1.0/invoke/beta/method/echo", p.a.url()))
        .body(vec![b'y'; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(format!("{}/v1.0/invoke/beta/method/echo", p.a.url()))
        .body(vec![b'z'; 5 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(p.app_b.received("/echo").len(), 1);
}

//! The gRPC API and the gRPC app channel, driven by the official SDKs.

use std::time::Duration;

use jetway_testkit::{NatsServer, Resources, Sidecar, python, workspace_root};
use serde_json::{Value, json};

use crate::app::TestApp;

/// The state store has no `spec.version`: daprd takes that as v1, and so does Jetway.
fn resources() -> Resources {
    Resources::new()
        .with(
            "statestore.yaml",
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: statestore}\nspec: {type: state.jetstream}\n",
        )
        .component("pubsub", "pubsub.jetstream", &[])
}

/// Runs a Python script from tests/e2e/apps against `sidecar`; returns the JSON
/// object it prints last.
pub(crate) async fn run_python(script: &str, args: &[&str], sidecar: &Sidecar) -> Value {
    let path = workspace_root().join("tests/e2e/apps").join(script);
    let stdout = crate::run_to_end(
        tokio::process::Command::new(python())
            .arg(path)
            .args(args)
            .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
            .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string()),
        Duration::from_secs(90),
    )
    .await;
    crate::last_json(&stdout)
}

#[tokio::test]
async fn python_grpc_client_state_publish_invoke_metadata_and_streaming() {
    let nats = NatsServer::start().await;
    let res = resources();
    let app = TestApp::start(Value::Null).await;
    let _target = Sidecar::builder("http-target")
        .app_port(app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let sidecar = Sidecar::builder("grpc-client")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let seen = run_python("grpc_client.py", &["http-target"], &sidecar).await;

    assert_eq!(seen["get"]["data"], "v1");
    assert!(!seen["get"]["etag"].as_str().unwrap().is_empty());
    assert_eq!(seen["stale_etag"]["code"], "ABORTED");
    assert_eq!(seen["stale_etag"]["reason"], "ERR_STATE_SAVE");
    assert_eq!(seen["first_write"]["code"], "ABORTED");
    assert_eq!(seen["after"], "v2");
    assert_eq!(
        seen["unknown_store"],
        json!({"code": "INVALID_ARGUMENT", "reason": "DAPR_STATE_NOT_FOUND", "message": "state store nostore is not found"})
    );
    assert_eq!(seen["bad_key"]["code"], "INVALID_ARGUMENT");
    assert_eq!(seen["tx_stale"]["code"], "INTERNAL");
    assert_eq!(
        seen["bulk"],
        json!({"t1": "one", "t2": "two", "k1": ""}),
        "the failed transaction changed nothing"
    );
    assert_eq!(seen["deleted"], "");
    assert_eq!(
        seen["metadata"],
        json!({"id": "grpc-client", "components": ["pubsub", "statestore"], "color": "green"})
    );

    let echo: Value = serde_json::from_str(seen["invoke"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["body"], r#"{"hello": "grpc"}"#);
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["headers"]["dapr-caller-app-id"], "grpc-client");
    assert_eq!(seen["invoke"]["content_type"], "application/json");
    assert_eq!(
        seen["invoke_not_found"],
        json!({"code": "NOT_FOUND", "reason": "Not Found", "message": "Not Found"})
    );
    assert_eq!(seen["invoke_nobody"]["code"], "UNAVAILABLE");

    let stream = seen["stream"].as_array().unwrap();
    let ns: Vec<_> = stream.iter().map(|e| e["data"]["n"].clone()).collect();
    assert_eq!(ns, [json!(0), json!(1), json!(2)]);
    assert_eq!(stream[0]["topic"], "stream-orders");
    assert_eq!(stream[0]["pubsub"], "pubsub");
    assert_eq!(stream[0]["type"], "com.dapr.event.sent");
    assert_eq!(
        seen["redelivered"],
        json!({"same_id": true, "data": {"n": 99}})
    );
    // The streams' consumer is deleted by the server an hour after the last
    // stream closed.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream("JETWAY_pubsub")
        .await
        .unwrap()
        .get_consumer("grpc-client_stream-orders")
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!(info.config.inactive_threshold, Duration::from_secs(3600));
    assert_eq!(seen["unknown_pubsub"]["code"], "INVALID_ARGUMENT");
    assert_eq!(seen["unknown_pubsub"]["reason"], "DAPR_PUBSUB_NOT_FOUND");
}

fn read_events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Invokes `app_id`'s `method` with the Python SDK from a fresh process, over
/// HTTP or gRPC; returns the invoker's JSON line.
async fn python_invoke(sidecar: &Sidecar, protocol: &str, app_id: &str, method: &str) -> Value {
    let out = tokio::process::Command::new(python())
        .arg(workspace_root().join("tests/e2e/apps/invoker.py"))
        .args([app_id, method, r#"{"n": 7}"#, "POST"])
        .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
        .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
        .env("DAPR_API_METHOD_INVOCATION_PROTOCOL", protocol)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| {
        panic!(
            "invoker printed no JSON: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Starts `grpc_app.py` on `port`, recording its events in `events`.
pub(crate) fn grpc_app(port: u16, events: &std::path::Path) -> jetway_testkit::App {
    let script = workspace_root().join("tests/e2e/apps/grpc_app.py");
    jetway_testkit::App::spawn(
        "grpc_app.py",
        &python(),
        &[&script.display().to_string()],
        &[
            ("APP_PORT", port.to_string()),
            ("EVENTS_FILE", events.display().to_string()),
        ],
    )
}

/// A `dapr.ext.grpc` app behind `--app-protocol grpc`: health-checked over
/// `AppCallbackHealthCheck`, invoked from HTTP and gRPC callers (and an HTTP
/// app from both), and fed topic events with SUCCESS and RETRY answers.
#[tokio::test]
async fn python_grpc_app_and_the_four_invocation_protocol_pairs() {
    let nats = NatsServer::start().await;
    let res = resources();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let app_port = jetway_testkit::free_port();
    let grpc_sidecar = Sidecar::builder("grpc-app")
        .app_port(app_port)
        .arg("--app-protocol")
        .arg("grpc")
        .arg("--enable-app-health-check")
        .arg("--app-health-probe-interval")
        .arg("1")
        .arg("--app-health-threshold")
        .arg("1")
        .nats(&nats)
        .resources(&res)
        .outbound_only()
        .start()
        .await
        .unwrap();
    let mut app = grpc_app(app_port, &events);
    grpc_sidecar
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("sidecar ready once the gRPC app listens and passes its health check");
    let http_app = TestApp::start(Value::Null).await;
    let _http_sidecar = Sidecar::builder("http-app")
        .app_port(http_app.port)
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let caller = Sidecar::builder("caller")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let http = crate::client();

    // HTTP caller → gRPC app.
    let r = http
        .post(format!(
            "{}/v1.0/invoke/grpc-app/method/echo?x=1",
            caller.url()
        ))
        .header("content-type", "application/json")
        .header("x-custom", "kept")
        .body(r#"{"n": 7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(
        echo,
        json!({"body": r#"{"n": 7}"#, "content_type": "application/json", "caller": "caller", "custom": "kept"})
    );
    // A method the app does not serve: its UNIMPLEMENTED status, as HTTP.
    let r = http
        .post(format!("{}/v1.0/invoke/grpc-app/method/nope", caller.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["code"], 12);
    assert!(status["message"].as_str().unwrap().contains("nope"));

    // gRPC caller → gRPC app, and HTTP caller from the SDK → gRPC app.
    for protocol in ["grpc", "http"] {
        let line = python_invoke(&caller, protocol, "grpc-app", "echo").await;
        let echo: Value = serde_json::from_str(line["text"].as_str().unwrap_or("null")).unwrap();
        assert_eq!(echo["body"], r#"{"n": 7}"#, "{protocol}: {line}");
        assert_eq!(echo["caller"], "caller", "{protocol}");
    }
    // A typed protobuf answer, unpacked as the SDK's custom-data example
    // does: its Any type URL reaches a gRPC caller, and an HTTP caller gets
    // the message as application/x-protobuf.
    for protocol in ["grpc", "http"] {
        let stdout = crate::run_to_end(
            tokio::process::Command::new(python())
                .arg(workspace_root().join("tests/e2e/apps/custom_data.py"))
                .args(["grpc-app", "typed", "hi"])
                .env("DAPR_HTTP_PORT", caller.http_port.to_string())
                .env("DAPR_GRPC_PORT", caller.grpc_port.to_string())
                .env("DAPR_API_METHOD_INVOCATION_PROTOCOL", protocol),
            Duration::from_secs(60),
        )
        .await;
        let seen = crate::last_json(&stdout);
        assert_eq!(seen["value"], "typed: hi", "{protocol}: {seen}");
    }
    // gRPC caller → gRPC app's missing method: the app's status, unchanged.
    let line = python_invoke(&caller, "grpc", "grpc-app", "nope").await;
    assert!(
        line["error"].as_str().unwrap().contains("UNIMPLEMENTED"),
        "{line}"
    );
    // gRPC and HTTP callers → HTTP app.
    for protocol in ["grpc", "http"] {
        let line = python_invoke(&caller, protocol, "http-app", "echo").await;
        let echo: Value = serde_json::from_str(line["text"].as_str().unwrap_or("null")).unwrap();
        assert_eq!(
            (echo["method"].as_str(), echo["body"].as_str()),
            (Some("POST"), Some(r#"{"n": 7}"#)),
            "{protocol}: {line}"
        );
    }

    // Topic events over OnTopicEvent: SUCCESS acks, RETRY redelivers.
    for (topic, n) in [("grpc-orders", 1), ("grpc-flaky", 2)] {
        let r = http
            .post(format!("{}/v1.0/publish/pubsub/{topic}", caller.url()))
            .header("content-type", "application/json")
            .body(json!({ "n": n }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let got = jetway_testkit::eventually(Duration::from_secs(30), || async {
        let got = read_events(&events);
        (got.len() >= 2).then_some(got)
    })
    .await
    .expect("both events reached the gRPC app");
    let orders = got.iter().find(|e| e["topic"] == "grpc-orders").unwrap();
    assert_eq!(orders["data"], json!({"n": 1}));
    assert_eq!(orders["type"], "com.dapr.event.sent");
    assert_eq!(orders["content_type"], "application/json");
    let flaky = got.iter().find(|e| e["topic"] == "grpc-flaky").unwrap();
    assert_eq!(flaky["data"], json!({"n": 2}));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read_events(&events).len(), 2, "each event recorded once");

    // AppCallbackHealthCheck: a gone app makes the sidecar unready.
    app.kill().await;
    jetway_testkit::eventually(Duration::from_secs(10), || async {
        let r = reqwest::get(format!("{}/v1.0/healthz", grpc_sidecar.url()))
            .await
            .ok()?;
        (r.status() == 500).then_some(())
    })
    .await
    .expect("unready once the gRPC app fails its health check");
}

pub(crate) fn js_dir() -> std::path::PathBuf {
    workspace_root().join("tests/e2e/js")
}

/// A JavaScript `DaprServer` (HTTP or gRPC) behind its own sidecar.
async fn js_server(
    nats: &NatsServer,
    res: &Resources,
    protocol: &str,
    topic: &str,
    events: &std::path::Path,
) -> (Sidecar, jetway_testkit::App) {
    let app_port = jetway_testkit::free_port();
    let sidecar = Sidecar::builder(&format!("js-{protocol}-app"))
        .app_port(app_port)
        .arg("--app-protocol")
        .arg(protocol)
        .nats(nats)
        .resources(res)
        .outbound_only()
        .start()
        .await
        .unwrap();
    let dapr_port = match protocol {
        "grpc" => sidecar.grpc_port,
        _ => sidecar.http_port,
    };
    let app = jetway_testkit::App::spawn(
        &format!("js-{protocol}-server"),
        std::path::Path::new("node"),
        &[&js_dir().join("server.mjs").display().to_string(), protocol],
        &[
            ("APP_PORT", app_port.to_string()),
            ("DAPR_PORT", dapr_port.to_string()),
            ("TOPIC", topic.to_owned()),
            ("BULK_TOPIC", format!("{topic}-bulk")),
            ("EVENTS_FILE", events.display().to_string()),
        ],
    );
    sidecar
        .wait_ready(Duration::from_secs(60))
        .await
        .unwrap_or_else(|_| panic!("js {protocol} app ready: {}", app.output()));
    (sidecar, app)
}

/// `@dapr/dapr`: both DaprClient protocols (state, transactions, publish,
/// invoke, metadata) and DaprServer over HTTP and gRPC receiving events and
/// invocations.
#[tokio::test]
async fn javascript_sdk_clients_and_servers() {
    let nats = NatsServer::start().await;
    let res = resources();
    let dir = tempfile::tempdir().unwrap();
    let (http_events, grpc_events) = (dir.path().join("http.jsonl"), dir.path().join("grpc.jsonl"));
    let _http = js_server(&nats, &res, "http", "js-http-orders", &http_events).await;
    let _grpc = js_server(&nats, &res, "grpc", "js-grpc-orders", &grpc_events).await;
    let caller = Sidecar::builder("js-client")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let stdout = crate::run_to_end(
        tokio::process::Command::new("node")
            .arg(js_dir().join("client.mjs"))
            .args([
                "js-http-app,js-grpc-app",
                "js-http-orders,js-grpc-orders,js-http-orders-bulk,js-grpc-orders-bulk",
            ])
            .env("DAPR_HTTP_PORT", caller.http_port.to_string())
            .env("DAPR_GRPC_PORT", caller.grpc_port.to_string()),
        Duration::from_secs(90),
    )
    .await;
    let seen = crate::last_json(&stdout);
    for protocol in ["http", "grpc"] {
        let s = &seen[protocol];
        assert_eq!(s["get"], json!({"n": 1}), "{protocol}: {s}");
        assert_eq!(
            s["bulk"],
            json!({"a": {"n": 1}, "b": null, "c": "from a transaction"}),
            "{protocol}"
        );
        assert_eq!(s["deleted"], "", "{protocol}");
        for app in ["js-http-app", "js-grpc-app"] {
            assert_eq!(
                s["invoke"][app]["echo"],
                json!({"from": protocol}),
                "{protocol} → {app}: {s}"
            );
        }
        assert_eq!(
            s["metadata"],
            json!({"id": "js-client", "components": ["pubsub", "statestore"]})
        );
    }
    // Each server records its topic's events and its bulk topic's in one file.
    for (events, topic) in [
        (&http_events, "js-http-orders"),
        (&grpc_events, "js-grpc-orders"),
    ] {
        let bulk_topic = format!("{topic}-bulk");
        let from = |got: &[Value], t: &str| {
            let mut from: Vec<_> = got
                .iter()
                .filter(|e| e["topic"] == t)
                .map(|e| e["from"].as_str().unwrap().to_owned())
                .collect();
            from.sort();
            from
        };
        let got = jetway_testkit::eventually(Duration::from_secs(30), || async {
            let got = read_events(events);
            (from(&got, topic).len() >= 2 && from(&got, &bulk_topic).len() >= 2).then_some(got)
        })
        .await
        .unwrap_or_else(|_| panic!("{topic}: events from both clients"));
        assert_eq!(from(&got, topic), ["grpc", "http"], "{topic}");
        assert_eq!(from(&got, &bulk_topic), ["grpc", "http"], "{bulk_topic}");
        assert_eq!(got.len(), 4, "{topic}: nothing else, nothing twice");
    }
}

/// The gRPC API itself: `dapr-api-token` enforced, rpcs not built yet answer
/// UNIMPLEMENTED with a message, and trace context (`grpc-trace-bin`,
/// `traceparent`) reaches the app.
#[tokio::test]
async fn grpc_api_token_unimplemented_and_trace_context() {
    use dapr::dapr::proto::common::v1 as common;
    use dapr::dapr::proto::runtime::v1 as pb;
    use pb::dapr_client::DaprClient;
    use tonic::Code;
    use tonic::metadata::{BinaryMetadataValue, MetadataValue};

    let nats = NatsServer::start().await;
    let res = resources();
    let app =
        TestApp::start(json!([{"pubsubname": "pubsub", "topic": "traced", "route": "/traced"}]))
            .await;
    let sidecar = Sidecar::builder("guarded")
        .app_port(app.port)
        .env("DAPR_API_TOKEN", "s3cret")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", sidecar.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut dapr = DaprClient::new(channel);
    fn with_token<T>(message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("dapr-api-token", MetadataValue::from_static("s3cret"));
        request
    }

    let denied = dapr
        .get_metadata(pb::GetMetadataRequest {})
        .await
        .unwrap_err();
    assert_eq!(
        (denied.code(), denied.message()),
        (Code::Unauthenticated, "Unauthorized")
    );
    let metadata = dapr
        .get_metadata(with_token(pb::GetMetadataRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(metadata.id, "guarded");

    let missing = dapr
        .query_state_alpha1(with_token(pb::QueryStateRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unimplemented);
    assert!(
        missing.message().contains("not implemented"),
        "{}",
        missing.message()
    );

    // grpc-trace-bin on a publish: the event, and so the delivery, carries it.
    let mut bin = vec![0u8, 0];
    bin.extend([0xab; 16]);
    bin.push(1);
    bin.extend([0xcd; 8]);
    bin.extend([2, 1]);
    let mut publish = with_token(pb::PublishEventRequest {
        pubsub_name: "pubsub".into(),
        topic: "traced".into(),
        data: br#"{"n":1}"#.to_vec(),
        data_content_type: "application/json".into(),
        metadata: Default::default(),
    });
    publish
        .metadata_mut()
        .insert_bin("grpc-trace-bin", BinaryMetadataValue::from_bytes(&bin));
    dapr.publish_event(publish).await.unwrap();
    let got = app.wait_for("/traced", 1, Duration::from_secs(20)).await;
    let expected = format!("00-{}-{}-01", "ab".repeat(16), "cd".repeat(8));
    assert_eq!(got[0].headers["traceparent"], expected.as_str());
    assert_eq!(got[0].json()["traceparent"], expected.as_str());

    // traceparent on an invocation reaches the app.
    let traceparent = format!("00-{}-{}-01", "12".repeat(16), "34".repeat(8));
    let mut invoke = with_token(pb::InvokeServiceRequest {
        id: "guarded".into(),
        message: Some(common::InvokeRequest {
            method: "echo".into(),
            data: None,
            content_type: String::new(),
            http_extension: Some(common::HttpExtension {
                verb: common::http_extension::Verb::Get as i32,
                querystring: String::new(),
            }),
        }),
    });
    invoke
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let answer = dapr.invoke_service(invoke).await.unwrap().into_inner();
    let echo: Value = serde_json::from_slice(&answer.data.unwrap().value).unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["headers"]["traceparent"], traceparent.as_str());
    assert!(echo["headers"].get("dapr-api-token").is_none());
}

/// `--app-channel-address ::1` reaches a gRPC app over IPv6 (the sidecar once
/// panicked at start-up building the app's URI).
#[tokio::test]
async fn a_grpc_app_is_reached_on_an_ipv6_channel_address() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app_port = jetway_testkit::free_port();
    let sidecar = Sidecar::builder("grpc-v6")
        .app_port(app_port)
        .arg("--app-protocol")
        .arg("grpc")
        .arg("--app-channel-address")
        .arg("::1")
        .nats(&nats)
        .outbound_only()
        .start()
        .await
        .unwrap();
    let _app = grpc_app(app_port, &dir.path().join("events.jsonl"));
    sidecar
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("ready once the app listens on [::1]");
    let r = crate::client()
        .post(format!("{}/v1.0/invoke/grpc-v6/method/echo", sidecar.url()))
        .header("content-type", "application/json")
        .body(r#"{"n": 6}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["body"], r#"{"n": 6}"#);
}

/// An illegal state key answers as daprd does: `DAPR_STATE_ILLEGAL_KEY`, with
/// the key as a `BadRequest` field violation and the store as `ResourceInfo`,
/// read by the Python SDK over gRPC and in the HTTP error body.
#[tokio::test]
async fn an_illegal_state_key_carries_daprd_s_details_over_both_apis() {
    let nats = NatsServer::start().await;
    let sidecar = Sidecar::builder("errors")
        .nats(&nats)
        .resources(&resources())
        .start()
        .await
        .unwrap();
    let message = "input key/keyPrefix 'key||' can't contain '||'";
    let seen = run_python("error_handling.py", &[], &sidecar).await;
    assert_eq!(
        seen,
        json!({
            "code": "INVALID_ARGUMENT",
            "message": message,
            "error_code": "DAPR_STATE_ILLEGAL_KEY",
            "details": {
                "error_info": {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "DAPR_STATE_ILLEGAL_KEY",
                    "domain": "dapr.io",
                },
                "resource_info": {
                    "@type": "type.googleapis.com/google.rpc.ResourceInfo",
                    "resource_type": "state",
                    "resource_name": "statestore",
                },
                "bad_request": {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "field_violations": [{"field": "key||", "description": message}],
                },
            },
        })
    );

    let r = crate::client()
        .post(format!("{}/v1.0/state/statestore", sidecar.url()))
        .json(&json!([{"key": "key||", "value": "v"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "errorCode": "ERR_MALFORMED_REQUEST",
            "message": message,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "field_violations": [{"field": "key||", "description": message}],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.ResourceInfo",
                    "resource_type": "state",
                    "resource_name": "statestore",
                    "owner": "",
                    "description": "",
                },
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "DAPR_STATE_ILLEGAL_KEY",
                    "domain": "dapr.io",
                    "metadata": null,
                },
            ],
        })
    );
}

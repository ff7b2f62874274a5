//! The gRPC API and the gRPC app channel, driven by the official SDKs.

use std::time::Duration;

use jetway_testkit::{NatsServer, Resources, Sidecar, python, workspace_root};
use serde_json::{Value, json};

use crate::app::TestApp;

fn resources() -> Resources {
    Resources::new()
        .component("statestore", "state.jetstream", &[])
        .component("pubsub", "pubsub.jetstream", &[])
}

/// Runs a Python script from tests/e2e/apps against `sidecar`; returns the JSON
/// object it prints last.
pub(crate) async fn run_python(script: &str, args: &[&str], sidecar: &Sidecar) -> Value {
    let path = workspace_root().join("tests/e2e/apps").join(script);
    let out = tokio::process::Command::new(python())
        .arg(path)
        .args(args)
        .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
        .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), out)
        .await
        .expect("the script finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap()
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
    assert_eq!(seen["unknown_pubsub"]["code"], "INVALID_ARGUMENT");
    assert_eq!(seen["unknown_pubsub"]["reason"], "DAPR_PUBSUB_NOT_FOUND");
}

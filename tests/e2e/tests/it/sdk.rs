//! The official Python Dapr SDK (pinned in tests/requirements.txt), unchanged,
//! against Jetway sidecars.

use std::time::Duration;

use jetway_testkit::{App, NatsServer, Resources, Sidecar, free_port, python, workspace_root};
use serde_json::Value;

pub(crate) fn app_script(name: &str) -> String {
    workspace_root()
        .join("tests/e2e/apps")
        .join(name)
        .display()
        .to_string()
}

pub(crate) fn read_events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn python_fastapi_subscriber_and_http_invocation_client() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component("pubsub", "pubsub.jetstream", &[]);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let app_port = free_port();
    let subscriber = Sidecar::builder("py-subscriber")
        .app_port(app_port)
        .nats(&nats)
        .resources(&res)
        .outbound_only()
        .start()
        .await
        .unwrap();
    let _app = App::spawn(
        "subscriber.py",
        &python(),
        &[&app_script("subscriber.py")],
        &[
            ("APP_PORT", app_port.to_string()),
            ("DAPR_HTTP_PORT", subscriber.http_port.to_string()),
            ("EVENTS_FILE", events.display().to_string()),
        ],
    );
    subscriber
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("sidecar ready once the Python app listens");
    let publisher = Sidecar::builder("py-publisher")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let r = crate::client()
        .post(format!("{}/v1.0/publish/pubsub/orders", publisher.url()))
        .header("content-type", "application/json")
        .body(r#"{"orderId": 42}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let got = jetway_testkit::eventually(Duration::from_secs(20), || async {
        read_events(&events)
            .into_iter()
            .find(|e| e["topic"] == "orders")
    })
    .await
    .expect("the SDK app received the event");
    assert_eq!(got["data"]["orderId"], 42);
    assert_eq!(got["pubsubname"], "pubsub");

    // DaprClient.invoke_method over HTTP, from a Python process, to the subscriber app's /echo.
    let stdout = crate::run_to_end(
        tokio::process::Command::new(python())
            .arg(app_script("invoker.py"))
            .args(["py-subscriber", "echo", "hello from the sdk", "POST"])
            .env("DAPR_HTTP_PORT", publisher.http_port.to_string())
            .env("DAPR_GRPC_PORT", free_port().to_string()),
        Duration::from_secs(60),
    )
    .await;
    let line = crate::last_json(&stdout);
    let echo: Value = serde_json::from_str(line["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        (echo["method"].as_str(), echo["body"].as_str()),
        (Some("POST"), Some("hello from the sdk"))
    );
    assert_eq!(echo["headers"]["dapr-caller-app-id"], "py-publisher");
}

/// The README's first command: the orders example, on a test server and free ports.
#[tokio::test]
async fn the_orders_example_runs() {
    let nats = NatsServer::start().await;
    let script = workspace_root().join("examples/orders/run.sh");
    let ports: Vec<String> = (0..6).map(|_| free_port().to_string()).collect();
    let mut run = tokio::process::Command::new(script);
    run.env("NATS_URL", nats.url())
        .env("JETWAY_BIN", jetway_testkit::jetway_binary())
        .env("INVENTORY_APP_PORT", &ports[0])
        .env("INVENTORY_HTTP_PORT", &ports[1])
        .env("INVENTORY_GRPC_PORT", &ports[2])
        .env("ORDERS_APP_PORT", &ports[3])
        .env("ORDERS_HTTP_PORT", &ports[4])
        .env("ORDERS_GRPC_PORT", &ports[5])
        .stdin(std::process::Stdio::null());
    let stdout = crate::run_to_end(&mut run, Duration::from_secs(180)).await;
    assert!(stdout.contains("all orders arrived"), "{stdout}");
}

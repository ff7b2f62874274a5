//! Workflows with the official Python SDK's worker and client
//! (`dapr.ext.workflow`), unchanged, against Jetway sidecars.

use std::collections::HashMap;
use std::time::Duration;

use jetway_testkit::{NatsServer, Sidecar, python};
use serde_json::{Value, json};

/// Runs `scenarios` of tests/e2e/apps/workflow_app.py against `sidecar` and
/// returns each scenario's report by name.
async fn python_scenarios(sidecar: &Sidecar, scenarios: &[&str]) -> HashMap<String, Value> {
    let stdout = crate::run_to_end(
        tokio::process::Command::new(python())
            .arg(crate::sdk::app_script("workflow_app.py"))
            .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
            .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
            .env("SCENARIOS", scenarios.join(",")),
        Duration::from_secs(240),
    )
    .await;
    let reports: HashMap<String, Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v["scenario"].as_str()?.to_owned(), v)))
        .collect();
    assert!(reports.contains_key("done"), "{stdout}");
    reports
}

#[tokio::test]
async fn python_sdk_workflows_run_to_completion() {
    let nats = NatsServer::start().await;
    let sidecar = Sidecar::builder("py-workflows")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let scenarios = [
        "chain",
        "fan_out",
        "events",
        "timer",
        "child",
        "retries",
        "failing",
        "continue_as_new",
        "terminate",
        "suspend",
        "list",
    ];
    let r = python_scenarios(&sidecar, &scenarios).await;
    let report = |name: &str| {
        let v = &r[name];
        assert_ne!(v["status"], "ERROR", "{name}: {v}");
        v
    };
    assert_eq!(report("chain")["status"], "COMPLETED");
    assert_eq!(
        report("chain")["output"],
        json!(["Hello Tokyo", "Hello Seattle", "Hello London"])
    );

    // Five activities of half a second each, run side by side.
    let fan_out = report("fan_out");
    assert_eq!(fan_out["output"], 30, "{fan_out}");
    assert!(fan_out["seconds"].as_f64().unwrap() < 2.4, "{fan_out}");

    let events = report("events");
    assert_eq!(events["output"], json!({"approved": true}), "{events}");
    assert_eq!(events["custom_status"], "waiting", "{events}");

    let timer = report("timer");
    assert_eq!(timer["output"], "timed out", "{timer}");
    assert!(timer["seconds"].as_f64().unwrap() >= 1.0, "{timer}");

    assert_eq!(
        report("child")["output"],
        json!({"child": ["Hello a", "Hello b"]})
    );
    // Two failed attempts, then the third succeeds.
    assert_eq!(report("retries")["output"], 3);
    let failing = report("failing");
    assert_eq!(failing["status"], "FAILED", "{failing}");
    assert!(
        failing["failure"]
            .as_str()
            .unwrap_or("")
            .contains("always fails"),
        "{failing}"
    );
    assert_eq!(report("continue_as_new")["output"], 3);

    let terminate = report("terminate");
    assert_eq!(terminate["status"], "TERMINATED", "{terminate}");
    assert_eq!(terminate["after_purge"], Value::Null, "{terminate}");

    let suspend = report("suspend");
    assert_eq!(suspend["paused"], "SUSPENDED", "{suspend}");
    assert_eq!(suspend["while_paused"], "SUSPENDED", "{suspend}");
    assert_eq!(
        suspend["output"],
        json!({"approved": "while paused"}),
        "{suspend}"
    );

    // Every instance but the purged one is listed.
    let listed = report("list")["output"].as_u64().unwrap();
    assert!(listed >= 10, "{}", r["list"]);
}

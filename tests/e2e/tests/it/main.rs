//! End-to-end tests: real nats-server, real `jetway` sidecar processes, and apps
//! (small in-process HTTP apps, and Python apps written with the official Dapr SDK).

mod actors;
mod app;
mod bindings;
mod configuration;
mod deploy;
mod faults;
mod grpc;
mod hostile;
mod http2;
mod invoke;
mod jobs;
mod lock;
mod loss;
mod nats;
mod outbox;
mod pubsub;
mod sdk;
mod secrets;
mod startup;
mod state;
mod workflows;

use std::time::Duration;

/// An HTTP client for the tests, with a bounded timeout on every call.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Runs `command` to its end (killed after `timeout`) and returns its stdout;
/// fails the test with the command's output unless it exits 0.
pub(crate) async fn run_to_end(command: &mut tokio::process::Command, timeout: Duration) -> String {
    let out = tokio::time::timeout(timeout, command.kill_on_drop(true).output())
        .await
        .expect("the command finishes in time")
        .expect("the command starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The JSON value on the last line of a script's output.
pub(crate) fn last_json(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

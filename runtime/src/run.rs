//! `jetway run`: a sidecar in this process and the app as a child, like `dapr run`.

use std::process::ExitStatus;

use tokio::process::Command;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::node;
use jetway_api::settings::Settings;

/// Starts the sidecar, then the app with `DAPR_HTTP_PORT`, `DAPR_GRPC_PORT`,
/// `APP_ID` and `APP_PORT` set; forwards SIGINT/SIGTERM to the app; stops the
/// sidecar when the app exits and returns the app's exit code.
pub async fn run(settings: Settings, command: &[String]) -> anyhow::Result<i32> {
    let shutdown = CancellationToken::new();
    let running = node::start(settings.clone(), shutdown.clone()).await?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no app command given"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("DAPR_HTTP_PORT", settings.http_port.to_string())
        .env("DAPR_GRPC_PORT", settings.grpc_port.to_string())
        .env("APP_ID", &settings.app_id);
    if let Some(port) = settings.app_port {
        cmd.env("APP_PORT", port.to_string());
    }
    if let Some(port) = settings.metrics_port {
        cmd.env("DAPR_METRICS_PORT", port.to_string());
    }
    // Its own process group: a terminal's Ctrl-C reaches the app once, forwarded
    // by us, rather than twice.
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start the app '{program}': {e}"))?;
    let pid = child.id();
    tracing::info!(pid, command = %command.join(" "), "App started.");
    let sidecar = tokio::spawn(running.wait());
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let status: ExitStatus = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = interrupt.recv() => forward(pid, "INT"),
            _ = terminate.recv() => forward(pid, "TERM"),
            // The sidecar was told to shut down (`/v1.0/shutdown`): stop the app too.
            _ = shutdown.cancelled() => forward(pid, "TERM"),
        }
    };
    tracing::info!(%status, "App exited; stopping the sidecar.");
    shutdown.cancel();
    let _ = sidecar.await;
    Ok(exit_code(status))
}

fn forward(pid: Option<u32>, signal: &str) {
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

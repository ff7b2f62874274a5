//! The embedded local NATS: with no `--nats-url`, Jetway uses a nats-server on
//! 127.0.0.1:4250 (or `JETWAY_EMBEDDED_NATS_PORT`) with JetStream, starting one
//! (detached, so every local sidecar shares it and it outlives any one of them)
//! when none answers there. Stop it with `kill $(cat <data dir>/nats-server.pid)`.

use std::path::PathBuf;
use std::time::Duration;

use jetway_broker::server::{self, Options};

/// Default loopback port of the embedded server.
pub const PORT: u16 = 4250;

fn port() -> u16 {
    std::env::var("JETWAY_EMBEDDED_NATS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(PORT)
}

/// Where the embedded server keeps its data: `$XDG_DATA_HOME/jetway/nats` or
/// `~/.local/share/jetway/nats`.
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("jetway/nats")
}

/// Returns the URL of the embedded server, starting it if nothing listens yet.
pub async fn ensure() -> anyhow::Result<String> {
    let port = port();
    let url = format!("nats://127.0.0.1:{port}");
    if listening(port).await {
        return Ok(url);
    }
    let binary = server::find(None)?;
    let dir = data_dir();
    std::fs::create_dir_all(&dir)?;
    // One starter at a time: two servers must never share the store directory.
    let lock = std::fs::File::create(dir.join("start.lock"))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock)).await??;
    if listening(port).await {
        return Ok(url);
    }
    tracing::info!(path = %binary.path.display(), version = %binary.version, data = %dir.display(), "Starting the embedded NATS server.");
    let opts = Options {
        port: Some(port),
        store_dir: dir.join("jetstream"),
        detached: true,
        log_file: Some(dir.join("nats-server.log")),
        pid_file: Some(dir.join("nats-server.pid")),
        config_file: None,
    };
    let started = server::start(&binary, &opts, Duration::from_secs(10)).await?;
    drop(lock);
    Ok(started.url)
}

async fn listening(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    matches!(
        tokio::time::timeout(Duration::from_millis(300), connect).await,
        Ok(Ok(_))
    )
}

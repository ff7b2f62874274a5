//! The embedded local NATS: with no `--nats-url`, Jetway uses a nats-server on
//! 127.0.0.1:4250 (or `JETWAY_EMBEDDED_NATS_PORT`) with JetStream, starting one
//! (detached, so every local sidecar shares it and it outlives any one of them)
//! when none answers there. Stop it with `kill $(cat <data dir>/nats-server.pid)`.
//!
//! The server requires a token that Jetway generates once and keeps in the
//! data directory (`credentials` and the server's `nats.conf`, both 0600), so
//! other local users cannot reach it; a server on the port that does not
//! require the token is not Jetway's and is refused.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jetway_broker::server::{self, Options};

/// Default loopback port of the embedded server.
pub const PORT: u16 = 4250;

/// How to reach the embedded server.
pub struct Embedded {
    pub url: String,
    pub token: String,
    /// The file that holds the token.
    pub credentials: PathBuf,
}

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

/// Returns how to reach the embedded server, starting it if nothing listens yet.
pub async fn ensure() -> anyhow::Result<Embedded> {
    let port = port();
    let dir = data_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    // One starter at a time: two servers must never share the store
    // directory, and the credentials are made once.
    let lock = std::fs::File::create(dir.join("start.lock"))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock)).await??;
    let credentials = dir.join("credentials");
    let token = token(&credentials)?;
    let embedded = Embedded {
        url: format!("nats://127.0.0.1:{port}"),
        token,
        credentials,
    };
    if listening(port).await {
        return Ok(embedded);
    }
    let binary = server::find(None)?;
    private_file(
        &dir.join("nats.conf"),
        &format!("authorization {{ token: \"{}\" }}\n", embedded.token),
    )?;
    tracing::info!(path = %binary.path.display(), version = %binary.version, data = %dir.display(), "Starting the embedded NATS server.");
    let opts = Options {
        port: Some(port),
        store_dir: dir.join("jetstream"),
        detached: true,
        log_file: Some(dir.join("nats-server.log")),
        pid_file: Some(dir.join("nats-server.pid")),
        config_file: Some(dir.join("nats.conf")),
    };
    server::start(&binary, &opts, Duration::from_secs(10)).await?;
    drop(lock);
    Ok(embedded)
}

/// The token in `credentials`, generated when there is none yet.
fn token(credentials: &Path) -> anyhow::Result<String> {
    let token = match std::fs::read_to_string(credentials) {
        Ok(token) if token.trim().bytes().all(|b| b.is_ascii_alphanumeric()) => {
            token.trim().to_owned()
        }
        Ok(_) => anyhow::bail!(
            "{} does not hold a token Jetway wrote; delete it to have a new one made",
            credentials.display()
        ),
        Err(_) => {
            let token = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            private_file(credentials, &token)?;
            token
        }
    };
    Ok(token)
}

/// Writes `text` to a new file only its owner may read.
fn private_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

async fn listening(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    matches!(
        tokio::time::timeout(Duration::from_millis(300), connect).await,
        Ok(Ok(_))
    )
}

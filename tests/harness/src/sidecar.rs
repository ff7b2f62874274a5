use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{App, free_port, workspace_root};
use crate::{NatsServer, eventually};

/// The `jetway` binary (`JETWAY_BIN`, or built once per test process so it is
/// never stale). It is built in its own target directory: the features cargo
/// unifies for a test run differ from the binary's own, and sharing one output
/// path would relink it on every alternation.
pub fn jetway_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("JETWAY_BIN") {
                return PathBuf::from(p);
            }
            let root = workspace_root();
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"))
                .join("harness");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "jetway-runtime",
                    "--bin",
                    "jetway",
                    "--target-dir",
                ])
                .arg(&target)
                .current_dir(&root)
                .status()
                .expect("run cargo build");
            assert!(status.success(), "building jetway failed");
            target.join("debug/jetway")
        })
        .clone()
}

/// A directory of resource YAML files for a sidecar.
pub struct Resources {
    dir: tempfile::TempDir,
}

impl Resources {
    pub fn new() -> Resources {
        Resources {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Adds a file with `yaml` (one or more documents).
    pub fn with(self, file: &str, yaml: &str) -> Resources {
        std::fs::write(self.dir.path().join(file), yaml).expect("write resource");
        self
    }

    /// A component of `kind` named `name` with `metadata` pairs.
    pub fn component(self, name: &str, kind: &str, metadata: &[(&str, &str)]) -> Resources {
        let mut yaml = format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {kind}\n  version: v1\n"
        );
        if !metadata.is_empty() {
            yaml.push_str("  metadata:\n");
            for (k, v) in metadata {
                yaml.push_str(&format!("  - name: {k}\n    value: \"{v}\"\n"));
            }
        }
        self.with(&format!("{name}.yaml"), &yaml)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Resources {
    fn default() -> Self {
        Resources::new()
    }
}

/// Builds a sidecar process.
pub struct SidecarBuilder {
    app_id: String,
    app_port: Option<u16>,
    nats_url: Option<String>,
    resources: Vec<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    wait_ready: bool,
}

/// A running `jetway sidecar`, killed when dropped.
pub struct Sidecar {
    pub app_id: String,
    pub http_port: u16,
    pub grpc_port: u16,
    process: App,
    builder_args: Vec<String>,
    builder_envs: Vec<(String, String)>,
}

impl Sidecar {
    pub fn builder(app_id: &str) -> SidecarBuilder {
        SidecarBuilder {
            app_id: app_id.into(),
            app_port: None,
            nats_url: None,
            resources: Vec::new(),
            args: Vec::new(),
            envs: Vec::new(),
            wait_ready: true,
        }
    }

    /// `http://127.0.0.1:<port>` of the Dapr HTTP API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The file the sidecar's output goes to.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    pub fn process(&mut self) -> &mut App {
        &mut self.process
    }

    /// Kills the process with SIGKILL, as in a crash.
    pub async fn kill(&mut self) {
        self.process.kill().await;
    }

    /// Starts the same sidecar again (same ports, flags and environment).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.process.kill().await;
        self.process = spawn(&self.app_id, &self.builder_args, &self.builder_envs);
        wait_healthy(self.http_port, "/v1.0/healthz", &self.process, READY_WAIT).await
    }

    /// Waits until `/v1.0/healthz` is 204: the app is connected (for sidecars
    /// started `outbound_only` before their app).
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        wait_healthy(self.http_port, "/v1.0/healthz", &self.process, timeout).await
    }
}

impl SidecarBuilder {
    pub fn app_port(mut self, port: u16) -> Self {
        self.app_port = Some(port);
        self
    }

    pub fn nats(self, nats: &NatsServer) -> Self {
        self.nats_url(nats.url())
    }

    /// NATS at `url` (a relay in front of the server, say).
    pub fn nats_url(mut self, url: &str) -> Self {
        self.nats_url = Some(url.to_owned());
        self
    }

    pub fn resources(mut self, resources: &Resources) -> Self {
        self.resources.push(resources.path().to_owned());
        self
    }

    /// Extra command-line flags.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Return once the API is up, without waiting for the app (`healthz/outbound`).
    pub fn outbound_only(mut self) -> Self {
        self.wait_ready = false;
        self
    }

    /// The command line this builder produces (for tests of startup failures).
    pub fn command_line(&self, http_port: u16, grpc_port: u16) -> Vec<String> {
        let mut args = vec![
            "sidecar".into(),
            "--app-id".into(),
            self.app_id.clone(),
            "--dapr-http-port".into(),
            http_port.to_string(),
            "--dapr-grpc-port".into(),
            grpc_port.to_string(),
            "--log-level".into(),
            "debug".into(),
        ];
        if let Some(p) = self.app_port {
            args.extend(["--app-port".into(), p.to_string()]);
        }
        if let Some(u) = &self.nats_url {
            args.extend(["--nats-url".into(), u.clone()]);
        }
        for r in &self.resources {
            args.extend(["--resources-path".into(), r.display().to_string()]);
        }
        args.extend(self.args.iter().cloned());
        args
    }

    pub async fn start(self) -> anyhow::Result<Sidecar> {
        let (http_port, grpc_port) = (free_port(), free_port());
        let args = self.command_line(http_port, grpc_port);
        let process = spawn(&self.app_id, &args, &self.envs);
        let path = if self.wait_ready {
            "/v1.0/healthz"
        } else {
            "/v1.0/healthz/outbound"
        };
        wait_healthy(http_port, path, &process, READY_WAIT).await?;
        Ok(Sidecar {
            app_id: self.app_id,
            http_port,
            grpc_port,
            process,
            builder_args: args,
            builder_envs: self.envs,
        })
    }

    /// Runs the sidecar expecting it to refuse to start; returns (exit code, output).
    pub async fn start_fails(self) -> (Option<i32>, String) {
        let args = self.command_line(free_port(), free_port());
        let mut process = spawn(&self.app_id, &args, &self.envs);
        let code = process.wait(Duration::from_secs(20)).await;
        (code, process.output())
    }
}

fn spawn(app_id: &str, args: &[String], envs: &[(String, String)]) -> App {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut all_envs: Vec<(&str, String)> = vec![(
        "RUST_LOG",
        "info,jetway_runtime=debug,async_nats=warn".into(),
    )];
    all_envs.extend(envs.iter().map(|(k, v)| (k.as_str(), v.clone())));
    App::spawn(
        &format!("sidecar {app_id}"),
        &jetway_binary(),
        &args,
        &all_envs,
    )
}

/// How long a starting sidecar may take to become healthy.
const READY_WAIT: Duration = Duration::from_secs(30);

async fn wait_healthy(
    port: u16,
    path: &str,
    process: &App,
    timeout: Duration,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}{path}");
    eventually(timeout, || {
        let req = client.get(&url).timeout(Duration::from_millis(500)).send();
        async move {
            req.await
                .ok()
                .filter(|r| r.status().as_u16() == 204)
                .map(|_| ())
        }
    })
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "sidecar on port {port} not healthy at {path}; output:\n{}",
            process.output()
        )
    })
}

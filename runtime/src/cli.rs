//! The `jetway` command line: daprd's flag names, plus NATS connection flags.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jetway_broker::Credentials;

use crate::settings::{AppHealth, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "jetway",
    version,
    about = "A Dapr-compatible application runtime on NATS JetStream"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a sidecar beside an app (daprd's flags).
    Sidecar(SidecarArgs),
    /// Start a sidecar and an app together, like `dapr run`.
    Run(RunArgs),
    /// Measure Jetway against raw NATS and direct HTTP (starts its own nats-server).
    Bench(crate::bench::BenchArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub sidecar: SidecarArgs,
    /// The app's command line.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SidecarArgs {
    /// The app's id: invocation target, state key prefix, consumer group.
    #[arg(long, env = "APP_ID", default_value = "")]
    pub app_id: String,
    /// The port the app listens on; none means no app channel.
    #[arg(long, env = "APP_PORT")]
    pub app_port: Option<u16>,
    /// How to talk to the app: `http` or `grpc`.
    #[arg(long, default_value = "http")]
    pub app_protocol: String,
    /// Host used to reach the app.
    #[arg(long, default_value = "127.0.0.1")]
    pub app_channel_address: String,
    /// Port of the Dapr HTTP API.
    #[arg(long, env = "DAPR_HTTP_PORT", default_value_t = 3500)]
    pub dapr_http_port: u16,
    /// Port of the Dapr gRPC API.
    #[arg(long, env = "DAPR_GRPC_PORT", default_value_t = 50001)]
    pub dapr_grpc_port: u16,
    /// Addresses the API listens on, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    pub dapr_listen_addresses: Vec<IpAddr>,
    /// Directory (or file) of resource YAML; repeatable.
    #[arg(long, alias = "components-path")]
    pub resources_path: Vec<PathBuf>,
    /// Configuration YAML (accepted; not applied yet).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Port of the Prometheus metrics endpoint.
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// `debug`, `info`, `warn` or `error`.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Log JSON lines.
    #[arg(long)]
    pub log_as_json: bool,
    /// Probe the app's health and pause when it fails.
    #[arg(long)]
    pub enable_app_health_check: bool,
    #[arg(long, default_value = "/healthz")]
    pub app_health_check_path: String,
    /// Seconds between probes.
    #[arg(long, default_value_t = 5)]
    pub app_health_probe_interval: u64,
    /// Milliseconds a probe may take.
    #[arg(long, default_value_t = 500)]
    pub app_health_probe_timeout: u64,
    /// Consecutive failures before the app counts as unhealthy.
    #[arg(long, default_value_t = 3)]
    pub app_health_threshold: u32,
    /// In-flight calls to the app at most; -1 for no limit.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub app_max_concurrency: i64,
    /// Seconds to drain in-flight work on shutdown.
    #[arg(long, default_value_t = 5)]
    pub dapr_graceful_shutdown_seconds: u64,
    /// NATS server URL(s); without one, the embedded local server is used.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// A NATS `.creds` file (JWT and seed).
    #[arg(long, env = "NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// An nkey seed file.
    #[arg(long, env = "NATS_NKEY")]
    pub nats_nkey: Option<PathBuf>,
    /// Root CA (PEM) for `tls://` servers.
    #[arg(long, env = "NATS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Control-plane flags of daprd; accepted and ignored (NATS does their job).
    #[arg(long, hide = true)]
    pub placement_host_address: Option<String>,
    #[arg(long, hide = true)]
    pub scheduler_host_address: Option<String>,
    #[arg(long, hide = true)]
    pub mode: Option<String>,
    #[arg(long, hide = true)]
    pub enable_mtls: bool,
    #[arg(long, hide = true)]
    pub sentry_address: Option<String>,
}

/// A setting that cannot work, found before anything starts.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl SidecarArgs {
    /// Resolves flags and the environment (`lookup`) into settings.
    pub fn settings(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, Invalid> {
        let app_protocol = crate::app::Protocol::parse(&self.app_protocol).ok_or_else(|| {
            Invalid(format!(
                "--app-protocol {} is not supported (use http or grpc)",
                self.app_protocol
            ))
        })?;
        let credentials = match (
            &self.nats_user,
            &self.nats_password,
            &self.nats_token,
            &self.nats_creds,
            &self.nats_nkey,
        ) {
            (None, None, None, None, None) => Credentials::None,
            (Some(u), Some(p), None, None, None) => Credentials::UserPassword(u.clone(), p.clone()),
            (None, None, Some(t), None, None) => Credentials::Token(t.clone()),
            (None, None, None, Some(f), None) => Credentials::CredsFile(f.clone()),
            (None, None, None, None, Some(f)) => Credentials::Nkey(
                std::fs::read_to_string(f)
                    .map_err(|e| Invalid(format!("--nats-nkey {}: {e}", f.display())))?
                    .trim()
                    .to_owned(),
            ),
            _ => return Err(Invalid(
                "give one kind of NATS credentials: user and password, token, creds file or nkey"
                    .into(),
            )),
        };
        let nonempty = |k: &str| lookup(k).filter(|v| !v.is_empty());
        Ok(Settings {
            app_id: self.app_id.clone(),
            app_port: self.app_port,
            app_protocol,
            app_channel_address: self.app_channel_address.clone(),
            http_port: self.dapr_http_port,
            grpc_port: self.dapr_grpc_port,
            listen_addresses: self.dapr_listen_addresses.clone(),
            resources_paths: self.resources_path.clone(),
            config: self.config.clone(),
            metrics_port: self.metrics_port,
            app_health: self.enable_app_health_check.then(|| AppHealth {
                path: self.app_health_check_path.clone(),
                interval: Duration::from_secs(self.app_health_probe_interval.max(1)),
                timeout: Duration::from_millis(self.app_health_probe_timeout.max(1)),
                threshold: self.app_health_threshold.max(1),
            }),
            nats_url: self.nats_url.clone().filter(|u| !u.is_empty()),
            nats_credentials: credentials,
            nats_tls_ca: self.nats_tls_ca.clone(),
            api_token: nonempty("DAPR_API_TOKEN"),
            app_token: nonempty("APP_API_TOKEN"),
            namespace: nonempty("NAMESPACE"),
            env_keys: nonempty("DAPR_ENV_KEYS")
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default(),
            graceful_shutdown: Duration::from_secs(self.dapr_graceful_shutdown_seconds),
            invoke_timeout: crate::invoke::DEFAULT_TIMEOUT,
            app_max_concurrency: usize::try_from(self.app_max_concurrency)
                .ok()
                .filter(|n| *n > 0),
        })
    }
}

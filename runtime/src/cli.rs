//! The `jetway` command line: daprd's flag names, plus NATS connection flags.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jetway_broker::Credentials;

use jetway_api::settings::{AppHealth, Settings};

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
    Bench(jetway_bench::BenchArgs),
    /// Seal a secret for a `secretstores.jetstream` store that has an
    /// encryption key: reads the value on stdin, prints what to put in the
    /// bucket under NAME.
    Seal(SealArgs),
}

#[derive(Args, Debug)]
pub struct SealArgs {
    /// The secret's name (the KV key it is stored under; it is bound to it).
    pub name: String,
    /// The file holding the store's key (32 bytes, base64).
    #[arg(long)]
    pub key_file: std::path::PathBuf,
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
    /// Host used to reach the app: an IP address (IPv6 with or without
    /// brackets) or a DNS name.
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
    /// `debug`, `info`, `warn`, `error` or `fatal`.
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
    /// The largest request body taken, in bytes or as a quantity (`16Mi`);
    /// bodies beyond one NATS message travel staged in an object store.
    #[arg(long, default_value = "4Mi")]
    pub max_body_size: String,
    /// daprd's older form of --max-body-size, in MB (-1: not given).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub dapr_http_max_request_size: i64,
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
    /// The `tracing` level of `--log-level` (daprd's `fatal` is `error`).
    pub fn log_level(&self) -> Result<&'static str, Invalid> {
        match self.log_level.to_ascii_lowercase().as_str() {
            "debug" => Ok("debug"),
            "info" => Ok("info"),
            "warn" | "warning" => Ok("warn"),
            "error" | "fatal" => Ok("error"),
            _ => Err(Invalid(format!(
                "--log-level {} is not a level (use debug, info, warn, error or fatal)",
                self.log_level
            ))),
        }
    }

    /// Resolves flags and the environment (`lookup`) into settings; a value
    /// that could only fail later (a bad address, path, port or URL) is
    /// refused here.
    pub fn settings(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, Invalid> {
        self.log_level()?;
        let app_channel_address = uri_host(&self.app_channel_address).ok_or_else(|| {
            Invalid(format!(
                "--app-channel-address {} is not an IP address or a DNS name",
                self.app_channel_address
            ))
        })?;
        if self.enable_mtls {
            return Err(Invalid(
                "--enable-mtls: Jetway has no sidecar-to-sidecar mTLS yet (sidecars talk through NATS: \
                 secure that link with --nats-tls-ca and NATS credentials); refusing to start rather \
                 than run unprotected"
                    .into(),
            ));
        }
        if self.app_port == Some(0) {
            return Err(Invalid(
                "--app-port 0 is not a port the app can listen on".into(),
            ));
        }
        if !self.app_health_check_path.starts_with('/')
            || self
                .app_health_check_path
                .parse::<http::uri::PathAndQuery>()
                .is_err()
        {
            return Err(Invalid(format!(
                "--app-health-check-path {} is not a path (it starts with /)",
                self.app_health_check_path
            )));
        }
        if self.app_max_concurrency < -1 {
            return Err(Invalid(format!(
                "--app-max-concurrency {} is not a limit (a positive number, or -1 for none)",
                self.app_max_concurrency
            )));
        }
        let ports = [
            ("--dapr-http-port", Some(self.dapr_http_port)),
            ("--dapr-grpc-port", Some(self.dapr_grpc_port)),
            ("--metrics-port", self.metrics_port),
        ];
        for (i, (a, port)) in ports.iter().enumerate() {
            if let Some((b, _)) = ports[i + 1..]
                .iter()
                .find(|(_, other)| port.is_some_and(|p| p != 0 && *other == Some(p)))
            {
                return Err(Invalid(format!(
                    "{a} and {b} are both {}: give each its own port",
                    port.unwrap_or_default()
                )));
            }
        }
        let nats_url = self.nats_url.clone().filter(|u| !u.is_empty());
        if let Some(url) = &nats_url {
            jetway_broker::check_urls(url).map_err(|e| Invalid(format!("--nats-url: {e}")))?;
        }
        let app_protocol =
            jetway_api::app::Protocol::parse(&self.app_protocol).ok_or_else(|| {
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
            app_channel_address,
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
            nats_url,
            nats_credentials: credentials,
            nats_tls_ca: self.nats_tls_ca.clone(),
            api_token: nonempty("DAPR_API_TOKEN"),
            app_token: nonempty("APP_API_TOKEN"),
            namespace: nonempty("NAMESPACE"),
            env_keys: nonempty("DAPR_ENV_KEYS")
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default(),
            graceful_shutdown: Duration::from_secs(self.dapr_graceful_shutdown_seconds),
            invoke_timeout: jetway_blocks::invoke::DEFAULT_TIMEOUT,
            app_max_concurrency: usize::try_from(self.app_max_concurrency)
                .ok()
                .filter(|n| *n > 0),
            max_body: self.max_body()?,
        })
    }

    /// `--max-body-size`, or `--dapr-http-max-request-size` when that is given.
    fn max_body(&self) -> Result<usize, Invalid> {
        const MAX: usize = 1 << 30;
        if self.dapr_http_max_request_size > 0 {
            return usize::try_from(self.dapr_http_max_request_size)
                .ok()
                .and_then(|mb| mb.checked_mul(1 << 20))
                .filter(|n| *n <= MAX)
                .ok_or_else(|| {
                    Invalid("--dapr-http-max-request-size is more than 1024 MB".into())
                });
        }
        quantity(&self.max_body_size)
            .filter(|n| (1..=MAX).contains(n))
            .ok_or_else(|| {
                Invalid(format!(
                    "--max-body-size {} is not a size from 1 byte to 1Gi (bytes, or a quantity such as 4Mi or 16M)",
                    self.max_body_size
                ))
            })
    }
}

/// A Kubernetes-style quantity of bytes: digits, then `Ki`, `Mi`, `Gi`
/// (powers of 1024) or `k`, `M`, `G` (powers of 1000), or nothing.
fn quantity(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: usize = digits.parse().ok()?;
    let scale: usize = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// `address` as the host of a URI: an IP address (IPv6 in brackets) or a
/// DNS name; `None` when it is neither.
fn uri_host(address: &str) -> Option<String> {
    let bare = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => Some(format!("[{ip}]")),
        Ok(ip) => Some(ip.to_string()),
        Err(_) => match url::Host::parse(address) {
            Ok(url::Host::Domain(name)) if !name.is_empty() => Some(name),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> SidecarArgs {
        let mut argv = vec!["jetway", "sidecar", "--app-id", "a"];
        argv.extend(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Sidecar(a) => a,
            _ => unreachable!(),
        }
    }

    fn settings(extra: &[&str]) -> Result<Settings, String> {
        args(extra).settings(|_| None).map_err(|e| e.0)
    }

    #[test]
    fn app_channel_addresses_become_uri_hosts() {
        for (given, host) in [
            ("127.0.0.1", "127.0.0.1"),
            ("::1", "[::1]"),
            ("[::1]", "[::1]"),
            ("app.svc.local", "app.svc.local"),
        ] {
            let s = settings(&["--app-channel-address", given]).unwrap();
            assert_eq!(s.app_channel_address, host, "{given}");
            let uri = format!("http://{}:6000/", s.app_channel_address);
            assert!(uri.parse::<http::Uri>().is_ok(), "{uri}");
        }
        for bad in ["", "not a host", "[::1", "a/b", "1.2.3.4:80"] {
            let e = settings(&["--app-channel-address", bad]).unwrap_err();
            assert!(e.contains("--app-channel-address"), "{bad}: {e}");
        }
    }

    #[test]
    fn values_that_would_fail_later_are_refused_up_front() {
        for (extra, flag) in [
            (&["--app-port", "0"][..], "--app-port"),
            (
                &["--app-health-check-path", "healthz"],
                "--app-health-check-path",
            ),
            (
                &["--app-health-check-path", "/a b"],
                "--app-health-check-path",
            ),
            (&["--app-max-concurrency", "-5"], "--app-max-concurrency"),
            (&["--log-level", "loud"], "--log-level"),
            (
                &["--dapr-grpc-port", "3500"],
                "--dapr-http-port and --dapr-grpc-port",
            ),
            (
                &["--metrics-port", "50001"],
                "--dapr-grpc-port and --metrics-port",
            ),
            (&["--nats-url", "nats://host:port"], "--nats-url"),
        ] {
            let e = settings(extra).unwrap_err();
            assert!(e.starts_with(flag), "{extra:?}: {e}");
        }
        let ok = settings(&[
            "--log-level",
            "FATAL",
            "--app-max-concurrency",
            "-1",
            "--nats-url",
            "nats://127.0.0.1:4222,nats://127.0.0.1:4223",
        ])
        .unwrap();
        assert_eq!(ok.app_max_concurrency, None);
        assert_eq!(
            settings(&["--app-max-concurrency", "8"])
                .unwrap()
                .app_max_concurrency,
            Some(8)
        );
    }

    #[test]
    fn body_sizes() {
        assert_eq!(super::quantity("4Mi"), Some(4 << 20));
        assert_eq!(super::quantity("16M"), Some(16_000_000));
        assert_eq!(super::quantity("1024"), Some(1024));
        assert_eq!(super::quantity("4 MB"), None);
        assert_eq!(super::quantity("Mi"), None);
        assert_eq!(args(&[]).max_body().unwrap(), 4 << 20);
        assert_eq!(
            args(&["--max-body-size", "16Mi"]).max_body().unwrap(),
            16 << 20
        );
        assert_eq!(
            args(&["--dapr-http-max-request-size", "8"])
                .max_body()
                .unwrap(),
            8 << 20
        );
        assert!(args(&["--max-body-size", "2Gi"]).max_body().is_err());
    }
}

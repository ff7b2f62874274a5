//! The node's settings, as parsed from daprd's flags and environment.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use jetway_broker::Credentials;

pub use crate::app::{AppHealth, Protocol};

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub app_id: String,
    /// The app's port; `None` means no app channel (no deliveries, no invocations served).
    pub app_port: Option<u16>,
    pub app_protocol: Protocol,
    /// The app's host as it goes into a URI (IPv6 in brackets).
    pub app_channel_address: String,
    pub http_port: u16,
    pub grpc_port: u16,
    pub listen_addresses: Vec<IpAddr>,
    pub resources_paths: Vec<PathBuf>,
    pub config: Option<PathBuf>,
    pub metrics_port: Option<u16>,
    pub app_health: Option<AppHealth>,
    /// `None`: start or reuse the embedded local NATS server.
    pub nats_url: Option<String>,
    pub nats_credentials: Credentials,
    pub nats_tls_ca: Option<PathBuf>,
    /// `DAPR_API_TOKEN`: required on API calls when set.
    pub api_token: Option<String>,
    /// `APP_API_TOKEN`: sent to the app when set.
    pub app_token: Option<String>,
    /// `NAMESPACE`.
    pub namespace: Option<String>,
    /// `DAPR_ENV_KEYS`: variables component `envRef`s may read.
    pub env_keys: Vec<String>,
    pub graceful_shutdown: Duration,
    /// Deadline of a service invocation.
    pub invoke_timeout: Duration,
    /// In-flight calls to the app at most (`--app-max-concurrency`); `None`
    /// when not set ([`DEFAULT_APP_CONCURRENCY`] then).
    pub app_max_concurrency: Option<usize>,
    /// The largest request body taken (`--max-body-size`).
    pub max_body: usize,
}

/// Invocations, and events of each subscription, handed to the app at once
/// when `--app-max-concurrency` is not set: more wait their turn.
pub const DEFAULT_APP_CONCURRENCY: usize = 256;

impl Settings {
    /// Calls handed to the app at once.
    pub fn app_concurrency(&self) -> usize {
        self.app_max_concurrency.unwrap_or(DEFAULT_APP_CONCURRENCY)
    }
}

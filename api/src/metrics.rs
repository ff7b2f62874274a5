//! Prometheus metrics, served on `--metrics-port` at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one node. Cheap to update from any task.
#[derive(Default)]
pub struct Metrics {
    /// (api, status) → requests served by the Dapr HTTP API.
    http: Mutex<BTreeMap<(&'static str, u16), u64>>,
    invocations_served: AtomicU64,
    deliveries: [AtomicU64; 3],
}

pub use jetway_blocks::pubsub::Delivery;

/// The API family of a request path, for a bounded label set.
pub fn api_of(path: &str) -> &'static str {
    let rest = path.split_once('/').map(|(_, r)| r).unwrap_or(path);
    let rest = rest.split_once('/').map(|(_, r)| r).unwrap_or("");
    match rest.split('/').next().unwrap_or("") {
        "invoke" => "invoke",
        "state" => "state",
        "publish" => "publish",
        "healthz" => "healthz",
        "metadata" => "metadata",
        "shutdown" => "shutdown",
        _ => "other",
    }
}

impl jetway_blocks::pubsub::Deliveries for Metrics {
    fn delivered(&self, outcome: Delivery) {
        self.deliveries[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }
}

impl jetway_blocks::invoke::Invocations for Metrics {
    fn served(&self) {
        self.invocations_served.fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn http_request(&self, api: &'static str, status: u16) {
        *self
            .http
            .lock()
            .expect("metrics lock")
            .entry((api, status))
            .or_default() += 1;
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP jetway_http_server_requests_total Requests served by the Dapr HTTP API.\n",
        );
        out.push_str("# TYPE jetway_http_server_requests_total counter\n");
        for ((api, status), n) in self.http.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "jetway_http_server_requests_total{{api=\"{api}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP jetway_invocations_served_total Invocations of this app served through NATS.\n",
        );
        out.push_str("# TYPE jetway_invocations_served_total counter\n");
        let _ = writeln!(
            out,
            "jetway_invocations_served_total {}",
            self.invocations_served.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP jetway_pubsub_deliveries_total Events delivered to the app, by outcome.\n",
        );
        out.push_str("# TYPE jetway_pubsub_deliveries_total counter\n");
        for (outcome, counter) in ["acked", "retried", "dropped"].iter().zip(&self.deliveries) {
            let _ = writeln!(
                out,
                "jetway_pubsub_deliveries_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_rendering() {
        assert_eq!(api_of("/v1.0/state/store/k"), "state");
        assert_eq!(api_of("/v1.0-alpha1/publish/bulk/p/t"), "publish");
        assert_eq!(api_of("/anything"), "other");
        let m = Metrics::default();
        m.http_request("state", 204);
        m.http_request("state", 204);
        jetway_blocks::pubsub::Deliveries::delivered(&m, Delivery::Retried);
        let text = m.render();
        assert!(
            text.contains("jetway_http_server_requests_total{api=\"state\",status=\"204\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("jetway_pubsub_deliveries_total{outcome=\"retried\"} 1"),
            "{text}"
        );
    }
}

//! A small HTTP app that records what the sidecar sends it and answers as told.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};

/// What the app received on one path.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) body: Bytes,
    pub(crate) headers: HeaderMap,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct Shared {
    subscriptions: Value,
    received: Vec<Received>,
    /// path → (status, body) to answer deliveries with.
    replies: HashMap<String, (u16, String)>,
    /// path → how long to take before answering.
    delays: HashMap<String, Duration>,
    /// Requests being answered now, and the most at once since last asked.
    in_flight: usize,
    max_in_flight: usize,
}

/// A running test app, stopped when dropped.
pub(crate) struct TestApp {
    pub(crate) port: u16,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// Starts on a free port, answering `/dapr/subscribe` with `subscriptions`.
    pub(crate) async fn start(subscriptions: Value) -> TestApp {
        let shared = Arc::new(Mutex::new(Shared {
            subscriptions,
            ..Default::default()
        }));
        Self::serve(0, shared).await
    }

    async fn serve(port: u16, shared: Arc<Mutex<Shared>>) -> TestApp {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind test app");
        let port = listener.local_addr().unwrap().port();
        let router = Router::new()
            .route("/dapr/subscribe", get(subscribe))
            .fallback(handle)
            // Large-payload tests send bodies past axum's 2 MiB default.
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve test app");
        });
        TestApp {
            port,
            shared,
            server,
        }
    }

    /// Stops listening (the app is down) but keeps what it recorded.
    pub(crate) fn stop(&self) {
        self.server.abort();
    }

    /// Listens again on the same port.
    pub(crate) async fn restart(&mut self) {
        self.server.abort();
        let mut again = Self::serve(self.port, self.shared.clone()).await;
        std::mem::swap(&mut self.server, &mut again.server);
    }

    /// Answers requests to `path` with `status` and `body` from now on.
    pub(crate) fn reply(&self, path: &str, status: u16, body: &str) {
        self.shared
            .lock()
            .unwrap()
            .replies
            .insert(path.into(), (status, body.into()));
    }

    /// Takes `delay` before answering requests to `path` from now on.
    pub(crate) fn delay(&self, path: &str, delay: Duration) {
        self.shared
            .lock()
            .unwrap()
            .delays
            .insert(path.into(), delay);
    }

    /// Requests being answered now.
    pub(crate) fn in_flight(&self) -> usize {
        self.shared.lock().unwrap().in_flight
    }

    /// The most requests answered at once since the last call.
    pub(crate) fn take_max_in_flight(&self) -> usize {
        std::mem::take(&mut self.shared.lock().unwrap().max_in_flight)
    }

    /// Everything received on `path` so far.
    pub(crate) fn received(&self, path: &str) -> Vec<Received> {
        self.shared
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` received at least `n` requests.
    pub(crate) async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        jetway_testkit::eventually(timeout, || async {
            let got = self.received(path);
            (got.len() >= n).then_some(got)
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{path}: expected {n} requests, got {}",
                self.received(path).len()
            )
        })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn subscribe(State(shared): State<Arc<Mutex<Shared>>>) -> Response {
    let subs = shared.lock().unwrap().subscriptions.clone();
    if subs.is_null() {
        StatusCode::NOT_FOUND.into_response()
    } else {
        axum::Json(subs).into_response()
    }
}

/// Records every request. `/echo...` answers with what it got (status from
/// `?status=`); `/bulk...` answers a bulk message entry by entry; other paths
/// answer as configured (default 200, empty), after the configured delay.
async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let (response, delay) = {
        let mut s = shared.lock().unwrap();
        s.received.push(Received {
            method: method.clone(),
            path: path.clone(),
            body: body.clone(),
            headers: headers.clone(),
        });
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        (
            respond(&s, &method, &uri, &headers, &body),
            s.delays.get(&path).copied(),
        )
    };
    // Counted out when answered, or when the caller gave up and hung up.
    let _answering = Answering(shared);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

struct Answering(Arc<Mutex<Shared>>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

fn respond(s: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
    let path = uri.path();
    if path.starts_with("/echo") {
        let status = uri
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("status=")))
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        let hdrs: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or(""))))
            .collect();
        let echo = json!({
            "method": method.as_str(),
            "path": path,
            "query": uri.query().unwrap_or(""),
            "headers": hdrs,
            "body": String::from_utf8_lossy(body),
        });
        let mut r = (StatusCode::from_u16(status).unwrap(), axum::Json(echo)).into_response();
        r.headers_mut().insert("x-echo", "yes".parse().unwrap());
        return r;
    }
    if path.starts_with("/bulk") {
        return bulk_statuses(body);
    }
    match s.replies.get(path) {
        Some((status, body)) => {
            (StatusCode::from_u16(*status).unwrap(), body.clone()).into_response()
        }
        None => StatusCode::OK.into_response(),
    }
}

/// Answers a bulk message: each entry's status is its event's `data.status`
/// (SUCCESS when absent).
fn bulk_statuses(body: &Bytes) -> Response {
    let message: Value = serde_json::from_slice(body).unwrap_or_default();
    let statuses: Vec<Value> = message["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let status = e["event"]["data"]["status"].as_str().unwrap_or("SUCCESS");
            json!({"entryId": e["entryId"], "status": status})
        })
        .collect();
    axum::Json(json!({ "statuses": statuses })).into_response()
}

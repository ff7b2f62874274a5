use std::path::PathBuf;
use std::time::Duration;

use jetway_broker::server::{self, Binary, Options};

use crate::process::workspace_root;

/// A `nats-server` (2.12 or newer) with JetStream, on 127.0.0.1 and a port the
/// server picked, storing under its own temporary directory.
pub struct NatsServer {
    child: Option<tokio::process::Child>,
    url: String,
    binary: Binary,
    store: tempfile::TempDir,
}

impl NatsServer {
    pub async fn start() -> NatsServer {
        Self::start_with_config("").await
    }

    /// Starts with `config` as the server's configuration file (e.g. an
    /// `authorization` block); the harness still sets address, port and store.
    pub async fn start_with_config(config: &str) -> NatsServer {
        let binary = binary();
        let store = tempfile::tempdir().expect("temp dir");
        std::fs::write(store.path().join("nats.conf"), config).expect("write nats.conf");
        let started = server::start(&binary, &options(&store, None), Duration::from_secs(10))
            .await
            .expect("start nats-server");
        NatsServer {
            child: Some(started.child),
            url: started.url,
            binary,
            store,
        }
    }

    /// The server process's id (it changes on `restart`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// The client port's address, for a relay in front of the server.
    pub fn addr(&self) -> std::net::SocketAddr {
        let port = self.url.rsplit(':').next().and_then(|p| p.parse().ok());
        std::net::SocketAddr::from(([127, 0, 0, 1], port.expect("a port in the URL")))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Store directory, for tests that inspect what survived.
    pub fn store_dir(&self) -> PathBuf {
        self.store.path().to_owned()
    }

    /// Stops the server abruptly (SIGKILL) and starts it again on the same port
    /// and store, as after a crash.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.start_again().await;
    }

    /// Starts a killed server again on its port and store.
    pub async fn start_again(&mut self) {
        let port = self.url.rsplit(':').next().and_then(|p| p.parse().ok());
        let started = server::start(
            &self.binary,
            &options(&self.store, port),
            Duration::from_secs(10),
        )
        .await
        .expect("restart nats-server");
        self.child = Some(started.child);
    }

    /// Stops the server abruptly (SIGKILL); [`NatsServer::start_again`] brings it back.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

fn options(store: &tempfile::TempDir, port: Option<u16>) -> Options {
    Options {
        port,
        store_dir: store.path().join("js"),
        detached: false,
        log_file: Some(store.path().join("nats.log")),
        pid_file: None,
        config_file: Some(store.path().join("nats.conf")),
    }
}

/// The server binary: `JETWAY_NATS_SERVER`, else a 2.12+ one on PATH, else the
/// one `.ci/run` installs into the workspace's `.venv`.
fn binary() -> Binary {
    let explicit = std::env::var_os("JETWAY_NATS_SERVER").map(PathBuf::from);
    server::find(explicit.as_deref())
        .or_else(|_| server::find(Some(&workspace_root().join(".venv/bin/nats-server"))))
        .unwrap_or_else(|e| panic!("{e}"))
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// A cluster of `nats-server`s with JetStream on loopback, routed to each
/// other, each with its own store.
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` servers and waits until JetStream takes replicated
    /// streams.
    pub async fn start(size: usize) -> NatsCluster {
        let routes: Vec<u16> = (0..size).map(|_| crate::free_port()).collect();
        let route_urls: Vec<String> = routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let mut nodes = Vec::with_capacity(size);
        for (i, port) in routes.iter().enumerate() {
            let config = format!(
                "server_name: n{i}\ncluster {{\n  name: jetway-test\n  listen: 127.0.0.1:{port}\n  routes: [{}]\n}}\n",
                route_urls.join(", ")
            );
            nodes.push(NatsServer::start_with_config(&config).await);
        }
        let cluster = NatsCluster { nodes };
        cluster.wait_for_jetstream(size).await;
        cluster
    }

    /// Every node's client URL, comma separated, as `--nats-url` takes them.
    pub fn urls(&self) -> String {
        let urls: Vec<&str> = self.nodes.iter().map(|n| n.url()).collect();
        urls.join(",")
    }

    /// Which node leads `stream` now.
    pub async fn leader_of(&self, stream: &str) -> usize {
        let mut info = self
            .jetstream()
            .await
            .get_stream(stream)
            .await
            .expect("the stream");
        let info = info.info().await.expect("stream info");
        let leader = info
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .expect("a leader");
        leader
            .trim_start_matches('n')
            .parse()
            .expect("a node's name")
    }

    async fn jetstream(&self) -> async_nats::jetstream::Context {
        let urls: Vec<async_nats::ServerAddr> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.url().parse().expect("a URL"))
            .collect();
        let client = async_nats::connect(urls)
            .await
            .expect("connect to the cluster");
        async_nats::jetstream::new(client)
    }

    async fn wait_for_jetstream(&self, replicas: usize) {
        let js = self.jetstream().await;
        let probe = async_nats::jetstream::stream::Config {
            name: "harness_probe".into(),
            subjects: vec!["harness.probe".into()],
            num_replicas: replicas,
            ..Default::default()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if js.get_or_create_stream(probe.clone()).await.is_ok() {
                let _ = js.delete_stream("harness_probe").await;
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the cluster's JetStream did not come up"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

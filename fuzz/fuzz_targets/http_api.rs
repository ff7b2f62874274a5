//! The HTTP API as a client reaches it: raw bytes on a TCP connection to a
//! real sidecar (on the real nats-server at `JETWAY_FUZZ_NATS_URL`, which
//! scripts/fuzz starts and stops), which must answer or close, and never
//! panic: a panic anywhere in the process aborts the run.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;
use jetway_runtime::cli::{Cli, Command};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Sidecar {
    runtime: tokio::runtime::Runtime,
    port: u16,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

const COMPONENTS: &str = "\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: store}
spec: {type: state.in-memory, version: v1}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: kv}
spec:
  type: state.jetstream
  version: v1
  metadata: [{name: actorStateStore, value: \"true\"}]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pubsub}
spec: {type: pubsub.jetstream, version: v1}
";

fn sidecar() -> &'static Sidecar {
    static SIDECAR: OnceLock<Sidecar> = OnceLock::new();
    SIDECAR.get_or_init(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}");
            std::process::abort();
        }));
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let dir = Box::leak(Box::new(tempfile::tempdir().expect("a temp dir")));
        std::fs::write(dir.path().join("components.yaml"), COMPONENTS).expect("components");
        let port = free_port();
        let nats_url = std::env::var("JETWAY_FUZZ_NATS_URL")
            .expect("JETWAY_FUZZ_NATS_URL: run this target through scripts/fuzz");
        runtime.block_on(async {
            let cli = Cli::try_parse_from([
                "jetway",
                "sidecar",
                "--app-id",
                "fuzz",
                "--dapr-http-port",
                &port.to_string(),
                "--dapr-grpc-port",
                &free_port().to_string(),
                "--nats-url",
                &nats_url,
                "--resources-path",
                &dir.path().display().to_string(),
            ])
            .expect("sidecar flags");
            let Command::Sidecar(args) = cli.command else {
                unreachable!("a sidecar command line")
            };
            let settings = args.settings(|_| None).expect("settings");
            let running = jetway_runtime::node::start(settings, Default::default())
                .await
                .expect("the sidecar starts");
            Box::leak(Box::new(running));
        });
        Sidecar { runtime, port }
    })
}

fuzz_target!(|request: &[u8]| {
    // Stopping the sidecar is no finding.
    if request
        .windows(8)
        .any(|w| w.eq_ignore_ascii_case(b"shutdown"))
    {
        return;
    }
    let sidecar = sidecar();
    sidecar.runtime.block_on(async {
        let Ok(mut conn) = tokio::net::TcpStream::connect(("127.0.0.1", sidecar.port)).await else {
            return;
        };
        if conn.write_all(request).await.is_err() {
            return;
        }
        let _ = conn.shutdown().await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.read_to_end(&mut answer)).await;
    });
});

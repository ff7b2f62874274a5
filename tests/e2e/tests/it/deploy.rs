//! The nats-server configurations in `deploy/nats/`: valid, serving clients on
//! loopback only, and requiring authentication.

use std::path::Path;

use jetway_testkit::{NatsServer, workspace_root};

const CONFIGS: [&str; 3] = ["single.conf", "cluster.conf", "leaf.conf"];

/// `config` with its TLS files and store under `dir` instead of `/etc/nats`
/// and `/var/lib/nats`.
fn localized(config: &str, dir: &Path) -> String {
    let text = std::fs::read_to_string(workspace_root().join("deploy/nats").join(config)).unwrap();
    text.replace("/etc/nats/", &format!("{}/", dir.display()))
        .replace("/var/lib/nats/", &format!("{}/", dir.display()))
}

#[tokio::test]
async fn deploy_configs_are_valid_listen_on_loopback_and_require_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    std::fs::create_dir(&tls).unwrap();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=n1"])
        .arg("-keyout")
        .arg(tls.join("route-key.pem"))
        .arg("-out")
        .arg(tls.join("route.pem"))
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::copy(tls.join("route.pem"), tls.join("ca.pem")).unwrap();

    let server = std::env::var("JETWAY_NATS_SERVER").unwrap_or_else(|_| {
        workspace_root()
            .join(".venv/bin/nats-server")
            .display()
            .to_string()
    });
    for config in CONFIGS {
        let text = localized(config, dir.path());
        let listens: Vec<&str> = text.lines().filter(|l| l.starts_with("listen:")).collect();
        assert_eq!(listens, ["listen: 127.0.0.1:4222"], "{config}");
        assert!(text.contains("password: $JETWAY_NATS_PASSWORD"), "{config}");
        let path = dir.path().join(config);
        std::fs::write(&path, text).unwrap();
        let checked = std::process::Command::new(&server)
            .arg("-c")
            .arg(&path)
            .arg("-t")
            .env("JETWAY_NATS_PASSWORD", "pw")
            .env("NATS_CLUSTER_HOST", "127.0.0.1")
            .output()
            .expect("nats-server");
        assert!(
            checked.status.success(),
            "{config}: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }

    // The single server, running (on the harness's port and store): no
    // password, no entry.
    let single = localized("single.conf", dir.path())
        .replace("listen: 127.0.0.1:4222\n", "")
        .replace(
            &format!("  store_dir: {}/jetstream\n", dir.path().display()),
            "",
        )
        .replace("$JETWAY_NATS_PASSWORD", "\"pw\"");
    let nats = NatsServer::start_with_config(&single).await;
    assert!(async_nats::connect(nats.url()).await.is_err());
    async_nats::ConnectOptions::with_user_and_password("jetway".into(), "pw".into())
        .connect(nats.url())
        .await
        .expect("the jetway user gets in");
}

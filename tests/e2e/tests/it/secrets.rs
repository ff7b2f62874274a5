//! Secret stores (local file, environment, JetStream KV sealed at rest) over
//! HTTP and through the official Python SDK (gRPC), with a Configuration's
//! secret scopes.

use std::time::Duration;

use base64::Engine;
use jetway_testkit::{NatsServer, Resources, Sidecar, jetway_binary, python};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::sdk::app_script;

const RESOURCES: &str = "apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: filestore}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - {name: secretsFile, value: 'SECRETS_FILE'}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: envstore}
spec:
  type: secretstores.local.env
  version: v1
  metadata:
  - {name: prefix, value: JWTEST_}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: kvstore}
spec:
  type: secretstores.jetstream
  version: v1
  metadata:
  - {name: bucket, value: app-secrets}
  - {name: encryptionKeyFile, value: 'KEY_FILE'}
---
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: secretscopes}
spec:
  secrets:
    scopes:
    - storeName: filestore
      defaultAccess: allow
      deniedSecrets: [admin]
    - storeName: kvstore
      defaultAccess: deny
      allowedSecrets: [db-password]
";

/// `jetway seal NAME --key-file KEY` of `value`.
async fn seal(key_file: &std::path::Path, name: &str, value: &str) -> String {
    let mut child = tokio::process::Command::new(jetway_binary())
        .args(["seal", name, "--key-file"])
        .arg(key_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{value}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn get(url: String) -> (u16, Value) {
    let r = crate::client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn secret_stores_over_http_and_the_python_sdk() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secrets_file = dir.path().join("secrets.json");
    std::fs::write(
        &secrets_file,
        r#"{"db": {"password": "pw1", "user": "app"}, "admin": "root", "port": 5432}"#,
    )
    .unwrap();
    let key_file = dir.path().join("secrets.key");
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    std::fs::write(&key_file, &key).unwrap();
    let yaml = RESOURCES
        .replace("SECRETS_FILE", &secrets_file.display().to_string())
        .replace("KEY_FILE", &key_file.display().to_string());
    let res = Resources::new().with("resources.yaml", &yaml);
    let sidecar = Sidecar::builder("secrets")
        .nats(&nats)
        .resources(&res)
        .env("JWTEST_TOKEN", "abc")
        .env("OTHER_VAR", "hidden")
        .start()
        .await
        .unwrap();

    // Values sealed by `jetway seal`, written as any NATS client writes them.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value("app-secrets").await.unwrap();
    for (name, value) in [("db-password", "s3cret"), ("api-key", "k")] {
        let sealed = seal(&key_file, name, value).await;
        kv.put(name, sealed.into()).await.unwrap();
    }
    // A sealed value copied under another name does not open.
    let moved = seal(&key_file, "api-key", "x").await;
    kv.put("db-password-copy", moved.into()).await.unwrap();

    let url = |path: &str| format!("{}/v1.0/secrets/{path}", sidecar.url());
    assert_eq!(
        get(url("filestore/db:password")).await,
        (200, json!({"db:password": "pw1"}))
    );
    assert_eq!(
        get(url("filestore/port")).await,
        (200, json!({"port": "5432"}))
    );
    let (status, body) = get(url("filestore/admin")).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (403, &json!("ERR_PERMISSION_DENIED"))
    );
    let (status, bulk) = get(url("filestore/bulk")).await;
    assert_eq!(status, 200);
    assert_eq!(bulk, bulk_file(), "the scoped-out secret is left out");
    let (status, body) = get(url("filestore/nope")).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (500, &json!("ERR_SECRET_GET"))
    );
    let (status, body) = get(url("nostore/x")).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (401, &json!("ERR_SECRET_STORE_NOT_FOUND"))
    );

    assert_eq!(
        get(url("envstore/TOKEN")).await,
        (200, json!({"TOKEN": "abc"}))
    );
    let (status, _) = get(url("envstore/OTHER_VAR")).await;
    assert_eq!(status, 500, "outside the prefix");
    let (_, bulk) = get(url("envstore/bulk")).await;
    assert_eq!(bulk, json!({"TOKEN": {"TOKEN": "abc"}}));

    assert_eq!(
        get(url("kvstore/db-password")).await,
        (200, json!({"db-password": "s3cret"}))
    );
    let (status, _) = get(url("kvstore/api-key")).await;
    assert_eq!(status, 403, "only the allowed secret");
    let (_, bulk) = get(url("kvstore/bulk")).await;
    assert_eq!(bulk, json!({"db-password": {"db-password": "s3cret"}}));

    // The same through the Python SDK, over gRPC.
    let sdk = |args: &[&str]| {
        let mut command = tokio::process::Command::new(python());
        command
            .arg(app_script("secrets_client.py"))
            .args(args)
            .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
            .env("DAPR_HTTP_PORT", sidecar.http_port.to_string());
        command
    };
    let seen = crate::last_json(
        &crate::run_to_end(
            &mut sdk(&["filestore", "db:user", "admin"]),
            Duration::from_secs(60),
        )
        .await,
    );
    assert_eq!(seen["secret"], json!({"db:user": "app"}));
    assert_eq!(seen["bulk"], bulk_file());
    assert_eq!(seen["unknown_store"]["code"], "INVALID_ARGUMENT");
    assert_eq!(seen["missing"]["code"], "INTERNAL");
    assert_eq!(seen["denied"]["code"], "PERMISSION_DENIED");
    let seen = crate::last_json(
        &crate::run_to_end(
            &mut sdk(&["kvstore", "db-password"]),
            Duration::from_secs(60),
        )
        .await,
    );
    assert_eq!(seen["secret"], json!({"db-password": "s3cret"}));
    assert_eq!(
        seen["bulk"],
        json!({"db-password": {"db-password": "s3cret"}})
    );
}

fn bulk_file() -> Value {
    json!({"db:password": {"db:password": "pw1"}, "db:user": {"db:user": "app"}, "port": {"port": "5432"}})
}

/// A sealed value stored under another name, or a store without a key
/// reading a sealed value, is an error, never the wrong secret.
#[tokio::test]
async fn a_sealed_value_opens_only_under_its_own_name() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k");
    std::fs::write(
        &key_file,
        base64::engine::general_purpose::STANDARD.encode([1u8; 32]),
    )
    .unwrap();
    let res = Resources::new().component(
        "kvstore",
        "secretstores.jetstream",
        &[("encryptionKeyFile", &key_file.display().to_string())],
    );
    let sidecar = Sidecar::builder("sealed")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value("kvstore").await.unwrap();
    kv.put("a", seal(&key_file, "b", "for b").await.into())
        .await
        .unwrap();
    kv.put("plain", "not sealed".into()).await.unwrap();
    for name in ["a", "plain"] {
        let (status, body) = get(format!("{}/v1.0/secrets/kvstore/{name}", sidecar.url())).await;
        assert_eq!(
            (status, &body["errorCode"]),
            (500, &json!("ERR_SECRET_GET")),
            "{body}"
        );
    }
    let (status, _) = get(format!("{}/v1.0/secrets/kvstore/bulk", sidecar.url())).await;
    assert_eq!(status, 500);
}

/// A bad scope or key names its file and field, and stops the node.
#[tokio::test]
async fn bad_secret_configuration_stops_the_node() {
    let nats = NatsServer::start().await;
    let config = "apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: c}
spec:
  secrets:
    scopes:
    - {storeName: s, defaultAccess: maybe}
";
    let res = Resources::new().with("config.yaml", config);
    let (code, output) = Sidecar::builder("bad")
        .nats(&nats)
        .resources(&res)
        .start_fails()
        .await;
    assert_eq!(code, Some(78), "{output}");
    assert!(
        output.contains("config.yaml") && output.contains("spec.secrets.scopes[0].defaultAccess"),
        "{output}"
    );

    let res = Resources::new().component(
        "kvstore",
        "secretstores.jetstream",
        &[("encryptionKeyEnv", "JWTEST_NO_SUCH_KEY")],
    );
    let (code, output) = Sidecar::builder("bad")
        .nats(&nats)
        .resources(&res)
        .start_fails()
        .await;
    assert_eq!(code, Some(78), "{output}");
    assert!(
        output.contains("kvstore.yaml")
            && output.contains("encryptionKeyEnv")
            && output.contains("JWTEST_NO_SUCH_KEY is not set"),
        "{output}"
    );
}

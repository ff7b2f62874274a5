//! Connecting to NATS: credentials, and components on their own server.

use jetway_testkit::{NatsServer, Resources, Sidecar};
use serde_json::json;

use crate::client;

const EXIT_UNAVAILABLE: i32 = 69;

async fn saves_state(s: &Sidecar) {
    let r = client()
        .post(format!("{}/v1.0/state/store", s.url()))
        .json(&json!([{"key": "k", "value": 1}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn user_password_token_and_nkey_credentials() {
    let res = Resources::new().component("store", "state.jetstream", &[]);

    let nats =
        NatsServer::start_with_config("authorization { user: jetway, password: s3cret }").await;
    let s = Sidecar::builder("app")
        .nats(&nats)
        .resources(&res)
        .arg("--nats-user")
        .arg("jetway")
        .arg("--nats-password")
        .arg("s3cret")
        .start()
        .await
        .unwrap();
    saves_state(&s).await;
    let (code, output) = Sidecar::builder("app")
        .nats(&nats)
        .resources(&res)
        .start_fails()
        .await;
    assert_eq!(code, Some(EXIT_UNAVAILABLE), "{output}");
    assert!(output.contains("cannot connect to NATS"), "{output}");

    let nats = NatsServer::start_with_config("authorization { token: t0ken }").await;
    let s = Sidecar::builder("app")
        .nats(&nats)
        .resources(&res)
        .env("NATS_TOKEN", "t0ken")
        .start()
        .await
        .unwrap();
    saves_state(&s).await;

    let user = nkeys::KeyPair::new_user();
    let nats = NatsServer::start_with_config(&format!(
        "authorization {{ users: [ {{ nkey: {} }} ] }}",
        user.public_key()
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("user.nk");
    std::fs::write(&seed, user.seed().unwrap()).unwrap();
    let s = Sidecar::builder("app")
        .nats(&nats)
        .resources(&res)
        .arg("--nats-nkey")
        .arg(&seed.display().to_string())
        .start()
        .await
        .unwrap();
    saves_state(&s).await;
}

#[tokio::test]
async fn a_component_can_live_on_its_own_nats_server() {
    let (node_nats, store_nats) = (NatsServer::start().await, NatsServer::start().await);
    // The component names its server; the node is connected elsewhere.
    let res = Resources::new().component(
        "store",
        "state.jetstream",
        &[("natsURL", store_nats.url()), ("keyPrefix", "none")],
    );
    let s = Sidecar::builder("app")
        .nats(&node_nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    saves_state(&s).await;
    // A node on the component's server sees the key; one on the node's server does not.
    let plain = Resources::new().component("store", "state.jetstream", &[("keyPrefix", "none")]);
    let there = Sidecar::builder("reader")
        .nats(&store_nats)
        .resources(&plain)
        .start()
        .await
        .unwrap();
    let here = Sidecar::builder("reader")
        .nats(&node_nats)
        .resources(&plain)
        .start()
        .await
        .unwrap();
    let get = |s: &Sidecar| {
        client()
            .get(format!("{}/v1.0/state/store/k", s.url()))
            .send()
    };
    assert_eq!(get(&there).await.unwrap().status(), 200);
    assert_eq!(get(&here).await.unwrap().status(), 204);
}

/// A NATS JWT signed by `issuer` (decentralised auth, as `nsc` would write it).
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = json!({
        "jti": format!("{subject}{name}"),
        "iat": 1_700_000_000,
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    let payload = b64(claims.to_string().as_bytes());
    let signature = issuer
        .sign(format!("{header}.{payload}").as_bytes())
        .unwrap();
    format!("{header}.{payload}.{}", b64(&signature))
}

#[tokio::test]
async fn creds_file_credentials() {
    let (operator, account, user) = (
        nkeys::KeyPair::new_operator(),
        nkeys::KeyPair::new_account(),
        nkeys::KeyPair::new_user(),
    );
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "op",
        json!({"type": "operator", "version": 2}),
    );
    let limits = json!({"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
        "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1});
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "app",
        json!({"type": "account", "version": 2, "limits": limits}),
    );
    let user_jwt = jwt(
        &account,
        &user.public_key(),
        "jetway",
        json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}),
    );
    // JetStream in operator mode needs a system account too.
    let system = nkeys::KeyPair::new_account();
    let system_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        json!({"type": "account", "version": 2}),
    );
    let config = format!(
        "operator: {operator_jwt}\nsystem_account: {sys}\nresolver: MEMORY\nresolver_preload: {{ {sys}: {system_jwt}, {acc}: {account_jwt} }}\n",
        sys = system.public_key(),
        acc = account.public_key()
    );
    let nats = NatsServer::start_with_config(&config).await;

    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("user.creds");
    std::fs::write(
        &creds,
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        ),
    )
    .unwrap();
    let res = Resources::new().component("store", "state.jetstream", &[]);
    let s = Sidecar::builder("app")
        .nats(&nats)
        .resources(&res)
        .arg("--nats-creds")
        .arg(&creds.display().to_string())
        .start()
        .await
        .unwrap();
    saves_state(&s).await;
    let (code, _) = Sidecar::builder("app")
        .nats(&nats)
        .resources(&res)
        .start_fails()
        .await;
    assert_eq!(
        code,
        Some(EXIT_UNAVAILABLE),
        "no credentials, no connection"
    );
}

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

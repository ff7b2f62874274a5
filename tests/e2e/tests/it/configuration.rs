//! Configuration (`configuration.jetstream`) over HTTP, with updates posted
//! to the app, and through the Python SDK's streaming subscription (gRPC).

use std::time::Duration;

use http::Method;
use jetway_testkit::{NatsServer, Resources, Sidecar, python};
use serde_json::{Value, json};

use crate::app::TestApp;

async fn get(url: String) -> (u16, Value) {
    let r = crate::client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn configuration_items_are_read_and_watched() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component(
        "config",
        "configuration.jetstream",
        &[("bucket", "appconfig")],
    );
    let app = TestApp::start(Value::Null).await;
    let sidecar = Sidecar::builder("configured")
        .nats(&nats)
        .resources(&res)
        .app_port(app.port)
        .start()
        .await
        .unwrap();
    // Items are written by any NATS client (here, as `nats kv put` would).
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value("appconfig").await.unwrap();
    let rev_size = kv.put("orderSize", "10".into()).await.unwrap();
    kv.put("feature.beta", "on".into()).await.unwrap();

    let base = |path: &str| format!("{}/v1.0/configuration/config{path}", sidecar.url());
    let (status, items) = get(base("?key=orderSize&key=missing")).await;
    assert_eq!(status, 200);
    assert_eq!(
        items,
        json!({"orderSize": {"value": "10", "version": rev_size.to_string(), "metadata": {}}})
    );
    let (_, all) = get(base("")).await;
    assert_eq!(all.as_object().unwrap().len(), 2);
    assert_eq!(all["feature.beta"]["value"], "on");
    let (_, alpha) = get(format!(
        "{}/v1.0-alpha1/configuration/config?key=orderSize",
        sidecar.url()
    ))
    .await;
    assert_eq!(alpha, items);
    let (status, body) = get(format!("{}/v1.0/configuration/nostore", sidecar.url())).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (400, &json!("ERR_CONFIGURATION_STORE_NOT_FOUND"))
    );

    // Subscribe: the id at once, then each change posted to the app.
    let (status, sub) = get(base("/subscribe?key=orderSize")).await;
    assert_eq!(status, 200);
    let id = sub["id"].as_str().unwrap().to_owned();
    let rev = kv.put("orderSize", "20".into()).await.unwrap();
    kv.put("feature.beta", "off".into()).await.unwrap();
    kv.delete("orderSize").await.unwrap();
    let path = "/configuration/config/orderSize";
    let got = app.wait_for(path, 2, Duration::from_secs(10)).await;
    assert!(got.iter().all(|r| r.method == Method::POST));
    assert_eq!(
        got[0].json(),
        json!({"id": id, "items": {"orderSize": {"value": "20", "version": rev.to_string(), "metadata": {}}}})
    );
    assert_eq!(
        got[1].json()["items"]["orderSize"]["value"],
        "",
        "a deleted key has an empty value"
    );
    assert!(
        app.received("/configuration/config/feature.beta")
            .is_empty(),
        "only the keys subscribed to"
    );
    let (status, body) = get(base(&format!("/{id}/unsubscribe"))).await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    kv.put("orderSize", "30".into()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.received(path).len(), 2, "nothing after unsubscribing");
    let (status, body) = get(base(&format!("/{id}/unsubscribe"))).await;
    assert_eq!((status, body["ok"].clone()), (500, json!(false)));

    // The Python SDK over gRPC: get, a streaming subscription, unsubscribe.
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut command = tokio::process::Command::new(python());
    command
        .arg(crate::sdk::app_script("config_client.py"))
        .args(["config", "feature.beta"])
        .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
        .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
        .env("READY_FILE", &ready);
    let client =
        tokio::spawn(async move { crate::run_to_end(&mut command, Duration::from_secs(60)).await });
    jetway_testkit::eventually(Duration::from_secs(30), || async {
        ready.exists().then_some(())
    })
    .await
    .expect("the SDK subscribed");
    let rev = kv.put("feature.beta", "on again".into()).await.unwrap();
    let seen = crate::last_json(&client.await.unwrap());
    assert_eq!(seen["get"]["feature.beta"]["value"], "off", "{seen}");
    assert_eq!(seen["updated"], true, "{seen}");
    assert_eq!(
        seen["updates"][0]["feature.beta"],
        json!({"value": "on again", "version": rev.to_string()})
    );
    assert_eq!(seen["unsubscribed"], true);
}

/// The JavaScript SDK: locks over HTTP and gRPC, configuration reads and a
/// streaming subscription over gRPC (its HTTP client has none).
#[tokio::test]
async fn js_sdk_takes_locks_and_watches_configuration() {
    let nats = NatsServer::start().await;
    let res = Resources::new()
        .component(
            "config",
            "configuration.jetstream",
            &[("bucket", "jsconfig")],
        )
        .component("lockstore", "lock.jetstream", &[]);
    let sidecar = Sidecar::builder("js-config")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value("jsconfig").await.unwrap();
    let first = kv.put("level", "1".into()).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(crate::grpc::js_dir().join("lock_config_client.mjs"))
        .args(["lockstore", "config", "level"])
        .env("DAPR_HTTP_PORT", sidecar.http_port.to_string())
        .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
        .env("READY_FILE", &ready);
    let client =
        tokio::spawn(async move { crate::run_to_end(&mut command, Duration::from_secs(60)).await });
    jetway_testkit::eventually(Duration::from_secs(30), || async {
        ready.exists().then_some(())
    })
    .await
    .expect("the SDK subscribed");
    let second = kv.put("level", "2".into()).await.unwrap();
    let seen = crate::last_json(&client.await.unwrap());
    let locks = json!({"first": true, "second": false, "unlockOther": 2, "unlockOwner": 0, "unlockAgain": 1});
    assert_eq!(seen["http"], locks, "{seen}");
    assert_eq!(seen["grpc"], locks, "{seen}");
    assert_eq!(
        seen["get"],
        json!({"value": "1", "version": first.to_string()})
    );
    assert_eq!(
        seen["update"],
        json!({"value": "2", "version": second.to_string()})
    );
}

//! The state API, run against every state component type (a shared conformance suite).

use std::time::Duration;

use jetway_testkit::{NatsServer, Resources, Sidecar};
use serde_json::{Value, json};

use crate::client;

const KINDS: &[&str] = &["state.jetstream", "state.in-memory"];

async fn sidecar(
    nats: &NatsServer,
    kind: &str,
    app_id: &str,
    metadata: &[(&str, &str)],
) -> (Sidecar, Resources) {
    let res = Resources::new().component("store", kind, metadata);
    let s = Sidecar::builder(app_id)
        .nats(nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    (s, res)
}

async fn save(s: &Sidecar, items: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1.0/state/store", s.url()))
        .json(&items)
        .send()
        .await
        .unwrap()
}

async fn get(s: &Sidecar, key: &str) -> (u16, Option<String>, String) {
    let r = client()
        .get(format!("{}/v1.0/state/store/{key}", s.url()))
        .send()
        .await
        .unwrap();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), etag, r.text().await.unwrap())
}

async fn error_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["errorCode"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn save_get_delete_with_etags() {
    let nats = NatsServer::start().await;
    for kind in KINDS {
        let (s, _res) = sidecar(&nats, kind, "app", &[]).await;
        assert_eq!(
            save(
                &s,
                json!([{"key": "k", "value": {"n": 1}}, {"key": "s", "value": "text"}])
            )
            .await
            .status(),
            204
        );
        let (status, etag, body) = get(&s, "k").await;
        assert_eq!((status, body.as_str()), (200, r#"{"n":1}"#), "{kind}");
        let etag = etag.expect("ETag header");
        assert_eq!(
            get(&s, "s").await.2,
            "\"text\"",
            "{kind}: JSON strings keep their quotes"
        );
        assert_eq!(get(&s, "absent").await.0, 204);

        // Compare-and-set with the current ETag, then a stale one.
        assert_eq!(
            save(&s, json!([{"key": "k", "value": 2, "etag": etag}]))
                .await
                .status(),
            204
        );
        let (_, etag2, body) = get(&s, "k").await;
        assert_eq!(body, "2");
        assert_ne!(
            etag2.as_deref(),
            Some(etag.as_str()),
            "{kind}: the ETag changes on every write"
        );
        assert_eq!(
            error_code(save(&s, json!([{"key": "k", "value": 3, "etag": etag}])).await).await,
            (409, "ERR_STATE_SAVE".into())
        );
        assert_eq!(
            error_code(
                save(
                    &s,
                    json!([{"key": "k", "value": 3, "etag": "not-a-revision"}])
                )
                .await
            )
            .await,
            (400, "ERR_STATE_SAVE".into())
        );

        // first-write without an ETag only creates.
        let fw = json!([{"key": "k", "value": 9, "options": {"concurrency": "first-write"}}]);
        assert_eq!(error_code(save(&s, fw).await).await.0, 409);
        let fw = json!([{"key": "fresh", "value": 9, "options": {"concurrency": "first-write"}}]);
        assert_eq!(save(&s, fw).await.status(), 204);
        // last-write (default) overwrites.
        assert_eq!(
            save(&s, json!([{"key": "k", "value": 4}])).await.status(),
            204
        );

        let del = |etag: &str| {
            client()
                .delete(format!("{}/v1.0/state/store/k", s.url()))
                .header("if-match", etag)
                .send()
        };
        assert_eq!(del("1").await.unwrap().status(), 409);
        let (_, current, _) = get(&s, "k").await;
        assert_eq!(del(&current.unwrap()).await.unwrap().status(), 204);
        assert_eq!(get(&s, "k").await.0, 204);
        let r = client()
            .delete(format!("{}/v1.0/state/store/never-was", s.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
}

#[tokio::test]
async fn bulk_get_and_transactions_are_all_or_nothing() {
    let nats = NatsServer::start().await;
    for kind in KINDS {
        let (s, _res) = sidecar(&nats, kind, "app", &[]).await;
        save(
            &s,
            json!([{"key": "a", "value": "A"}, {"key": "b", "value": {"x": [1, 2]}}]),
        )
        .await;
        let r = client()
            .post(format!("{}/v1.0/state/store/bulk", s.url()))
            .json(&json!({"keys": ["a", "b", "zz"], "parallelism": 2}))
            .send()
            .await
            .unwrap();
        let items: Value = r.json().await.unwrap();
        assert_eq!(items[0]["data"], "A", "{kind}");
        assert_eq!(items[1]["data"], json!({"x": [1, 2]}));
        assert!(items[1]["etag"].is_string());
        assert_eq!(items[2], json!({"key": "zz"}));

        let (_, etag_a, _) = get(&s, "a").await;
        let tx = |ops: Value| {
            client()
                .post(format!("{}/v1.0/state/store/transaction", s.url()))
                .json(&json!({"operations": ops}))
                .send()
        };
        let ok = json!([
            {"operation": "upsert", "request": {"key": "a", "value": "A2", "etag": etag_a}},
            {"operation": "delete", "request": {"key": "b"}},
            {"operation": "upsert", "request": {"key": "c", "value": "C"}},
        ]);
        assert_eq!(tx(ok).await.unwrap().status(), 204, "{kind}");
        assert_eq!(get(&s, "a").await.2, "\"A2\"");
        assert_eq!(get(&s, "b").await.0, 204);

        // The stale ETag (of "a" before the last transaction) fails everything.
        let stale = json!([
            {"operation": "upsert", "request": {"key": "c", "value": "C2"}},
            {"operation": "upsert", "request": {"key": "d", "value": "D"}},
            {"operation": "upsert", "request": {"key": "a", "value": "A3", "etag": etag_a}},
        ]);
        assert_eq!(
            error_code(tx(stale).await.unwrap()).await,
            (500, "ERR_STATE_TRANSACTION".into())
        );
        assert_eq!(
            get(&s, "c").await.2,
            "\"C\"",
            "{kind}: nothing of a failed transaction is applied"
        );
        assert_eq!(get(&s, "d").await.0, 204);

        let bad = json!([{"operation": "merge", "request": {"key": "a"}}]);
        assert_eq!(
            error_code(tx(bad).await.unwrap()).await,
            (400, "ERR_NOT_SUPPORTED_STATE_OPERATION".into())
        );
        assert_eq!(tx(json!([])).await.unwrap().status(), 204);
        if *kind == "state.jetstream" {
            // One atomic batch holds at most 1,000 writes.
            let ops: Vec<Value> = (0..1001)
                .map(|i| json!({"operation": "upsert", "request": {"key": format!("k{i}"), "value": i}}))
                .collect();
            assert_eq!(
                error_code(tx(json!(ops)).await.unwrap()).await,
                (400, "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS".into())
            );
        }
    }
}

#[tokio::test]
async fn ttl_expires_keys() {
    let nats = NatsServer::start().await;
    for kind in KINDS {
        let (s, _res) = sidecar(&nats, kind, "app", &[]).await;
        save(&s, json!([{"key": "t", "value": 1, "metadata": {"ttlInSeconds": "1"}}, {"key": "keep", "value": 1, "metadata": {"ttlInSeconds": "-1"}}])).await;
        let r = client()
            .get(format!("{}/v1.0/state/store/t", s.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("metadata.ttlExpireTime"), "{kind}");
        jetway_testkit::eventually(Duration::from_secs(5), || async {
            (get(&s, "t").await.0 == 204).then_some(())
        })
        .await
        .unwrap_or_else(|_| panic!("{kind}: key with a TTL did not expire"));
        assert_eq!(get(&s, "keep").await.0, 200);
        // A TTL'd key can be overwritten with another TTL, and without one.
        save(
            &s,
            json!([{"key": "t", "value": 2, "metadata": {"ttlInSeconds": "60"}}]),
        )
        .await;
        save(&s, json!([{"key": "t", "value": 3}])).await;
        assert_eq!(get(&s, "t").await.2, "3");
        let r = save(
            &s,
            json!([{"key": "t", "value": 1, "metadata": {"ttlInSeconds": "soon"}}]),
        )
        .await;
        assert_eq!(error_code(r).await, (400, "ERR_MALFORMED_REQUEST".into()));
    }
}

#[tokio::test]
async fn key_prefixes_and_any_characters_in_keys() {
    let nats = NatsServer::start().await;
    // Two apps with the default (appid) prefix do not see each other's keys.
    let (one, _r1) = sidecar(&nats, "state.jetstream", "one", &[("bucket", "shared")]).await;
    let (two, _r2) = sidecar(&nats, "state.jetstream", "two", &[("bucket", "shared")]).await;
    save(&one, json!([{"key": "k", "value": "from-one"}])).await;
    assert_eq!(get(&two, "k").await.0, 204);
    assert_eq!(get(&one, "k").await.2, "\"from-one\"");

    // keyPrefix none / name: shared across apps.
    for prefix in ["none", "name"] {
        let bucket = format!("p{prefix}");
        let (x, _rx) = sidecar(
            &nats,
            "state.jetstream",
            "x",
            &[("bucket", &bucket), ("keyPrefix", prefix)],
        )
        .await;
        let (y, _ry) = sidecar(
            &nats,
            "state.jetstream",
            "y",
            &[("bucket", &bucket), ("keyPrefix", prefix)],
        )
        .await;
        save(&x, json!([{"key": "common", "value": prefix}])).await;
        assert_eq!(
            get(&y, "common").await.2,
            format!("\"{prefix}\""),
            "keyPrefix {prefix}"
        );
    }

    // Keys with characters NATS forbids round-trip and stay distinct.
    let keys = [
        "a b",
        "a.b",
        "a=2Eb",
        "ü/🚀",
        "star*",
        "gt>",
        "x:y@z",
        "tab\there",
        "%",
    ];
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            save(&one, json!([{"key": key, "value": i}])).await.status(),
            204,
            "{key}"
        );
    }
    let r = client()
        .post(format!("{}/v1.0/state/store/bulk", one.url()))
        .json(&json!({"keys": keys}))
        .send()
        .await
        .unwrap();
    let items: Value = r.json().await.unwrap();
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            (items[i]["key"].as_str(), items[i]["data"].as_i64()),
            (Some(*key), Some(i as i64))
        );
    }
    let r = save(&one, json!([{"key": "bad||key", "value": 1}])).await;
    assert_eq!(error_code(r).await, (400, "ERR_MALFORMED_REQUEST".into()));
}

#[tokio::test]
async fn request_errors_use_daprs_codes() {
    let nats = NatsServer::start().await;
    // A component scoped to other apps is not loaded here.
    let scoped = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: theirs}\nspec: {type: state.in-memory, version: v1}\nscopes: [other-app]\n";
    let res = Resources::new()
        .component("store", "state.in-memory", &[])
        .with("theirs.yaml", scoped);
    let s = Sidecar::builder("app")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let r = client()
        .get(format!("{}/v1.0/state/theirs/k", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (400, "ERR_STATE_STORE_NOT_FOUND".into())
    );
    let r = client()
        .get(format!("{}/v1.0/state/nostore/k", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (400, "ERR_STATE_STORE_NOT_FOUND".into())
    );
    let r = client()
        .post(format!("{}/v1.0/state/store", s.url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (400, "ERR_MALFORMED_REQUEST".into()));
    let r = save(&s, json!([{"value": 1}])).await;
    assert_eq!(error_code(r).await, (400, "ERR_MALFORMED_REQUEST".into()));
    let none = Sidecar::builder("bare")
        .nats(&nats)
        .resources(&Resources::new())
        .start()
        .await
        .unwrap();
    let r = client()
        .get(format!("{}/v1.0/state/store/k", none.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (500, "ERR_STATE_STORE_NOT_CONFIGURED".into())
    );
}

#[tokio::test]
async fn a_repeated_key_in_one_save_keeps_the_last_value() {
    let nats = NatsServer::start().await;
    let (s, _res) = sidecar(&nats, "state.jetstream", "app", &[]).await;
    let items: Vec<Value> = (0..20)
        .map(|i| json!({"key": "same", "value": i}))
        .collect();
    assert_eq!(save(&s, Value::Array(items)).await.status(), 204);
    assert_eq!(get(&s, "same").await.2, "19");
}

#[tokio::test]
async fn namespace_key_prefix_separates_namespaces() {
    let nats = NatsServer::start().await;
    let meta = [("bucket", "ns"), ("keyPrefix", "namespace")];
    let res = Resources::new().component("store", "state.jetstream", &meta);
    let start = |ns: &'static str| {
        Sidecar::builder("app")
            .nats(&nats)
            .resources(&res)
            .env("NAMESPACE", ns)
            .start()
    };
    let (prod, prod_again, dev) = (
        start("prod").await.unwrap(),
        start("prod").await.unwrap(),
        start("dev").await.unwrap(),
    );
    save(&prod, json!([{"key": "k", "value": "prod"}])).await;
    assert_eq!(
        get(&prod_again, "k").await.2,
        "\"prod\"",
        "same namespace and app id share keys"
    );
    assert_eq!(
        get(&dev, "k").await.0,
        204,
        "another namespace does not see them"
    );
}

/// `secretKeyRef` metadata is read from a secret store component, which is
/// built before the components that refer to it wherever it is declared.
#[tokio::test]
async fn component_metadata_is_read_from_a_secret_store() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, r#"{"store": {"prefix": "none"}}"#).unwrap();
    let resources = |secret: &str| {
        let yaml = format!(
            "apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: statestore}}
spec:
  type: state.jetstream
  version: v1
  metadata:
  - name: keyPrefix
    secretKeyRef: {{name: '{secret}', key: '{secret}'}}
auth:
  secretStore: localsecrets
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: localsecrets}}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - {{name: secretsFile, value: '{}'}}
",
            secrets.display()
        );
        Resources::new().with("components.yaml", &yaml)
    };
    let a = Sidecar::builder("a")
        .nats(&nats)
        .resources(&resources("store:prefix"))
        .start()
        .await
        .unwrap();
    let plain =
        Resources::new().component("statestore", "state.jetstream", &[("keyPrefix", "none")]);
    let b = Sidecar::builder("b")
        .nats(&nats)
        .resources(&plain)
        .start()
        .await
        .unwrap();
    let http = crate::client();
    let r = http
        .post(format!("{}/v1.0/state/statestore", a.url()))
        .json(&serde_json::json!([{"key": "k", "value": "from a"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Both use no key prefix: app a's only because its secret said so.
    let r = http
        .get(format!("{}/v1.0/state/statestore/k", b.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), r#""from a""#);

    let (code, output) = Sidecar::builder("c")
        .nats(&nats)
        .resources(&resources("store:missing"))
        .start_fails()
        .await;
    assert_eq!(code, Some(78), "{output}");
    assert!(
        output.contains("field 'spec.metadata[0].secretKeyRef'")
            && output.contains("secret 'store:missing' has no key"),
        "{output}"
    );
}

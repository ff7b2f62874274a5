//! Distributed locks (`lock.jetstream`) over HTTP and through the Python SDK
//! (gRPC), across two replicas of one app id and two apps.

use std::time::Duration;

use jetway_testkit::{NatsServer, Resources, Sidecar, python};
use serde_json::{Value, json};

async fn post(sidecar: &Sidecar, path: &str, body: Value) -> (u16, Value) {
    let r = crate::client()
        .post(format!("{}/v1.0-alpha1/{path}", sidecar.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn lock(resource: &str, owner: &str, expiry: i64) -> Value {
    json!({"resourceId": resource, "lockOwner": owner, "expiryInSeconds": expiry})
}

fn unlock(resource: &str, owner: &str) -> Value {
    json!({"resourceId": resource, "lockOwner": owner})
}

#[tokio::test]
async fn locks_are_exclusive_expire_and_belong_to_their_owner() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component("lockstore", "lock.jetstream", &[]);
    let start = |app: &'static str| {
        let (nats, res) = (&nats, &res);
        async move {
            Sidecar::builder(app)
                .nats(nats)
                .resources(res)
                .start()
                .await
                .unwrap()
        }
    };
    let (a1, a2, b) = (
        start("orders").await,
        start("orders").await,
        start("billing").await,
    );

    // Two replicas of one app id contend for one lock.
    assert_eq!(
        post(&a1, "lock/lockstore", lock("r1", "x", 60)).await,
        (200, json!({"success": true}))
    );
    assert_eq!(
        post(&a2, "lock/lockstore", lock("r1", "y", 60)).await,
        (200, json!({"success": false}))
    );
    // Another app's locks are its own (keyPrefix is the app id).
    assert_eq!(
        post(&b, "lock/lockstore", lock("r1", "z", 60)).await,
        (200, json!({"success": true}))
    );
    // Only the owner unlocks.
    assert_eq!(
        post(&a2, "unlock/lockstore", unlock("r1", "y")).await,
        (200, json!({"status": 2}))
    );
    assert_eq!(
        post(&a2, "unlock/lockstore", unlock("r1", "x")).await,
        (200, json!({"status": 0}))
    );
    assert_eq!(
        post(&a1, "unlock/lockstore", unlock("r1", "x")).await,
        (200, json!({"status": 1}))
    );
    assert_eq!(
        post(&a2, "lock/lockstore", lock("r1", "y", 60)).await,
        (200, json!({"success": true}))
    );

    // An expired lock is free again.
    assert_eq!(
        post(&a1, "lock/lockstore", lock("short", "x", 1)).await.1,
        json!({"success": true})
    );
    assert_eq!(
        post(&a2, "lock/lockstore", lock("short", "y", 1)).await.1,
        json!({"success": false})
    );
    let freed = jetway_testkit::eventually(Duration::from_secs(10), || async {
        (post(&a2, "lock/lockstore", lock("short", "y", 60)).await.1 == json!({"success": true}))
            .then_some(())
    })
    .await;
    assert!(freed.is_ok(), "the lock expired");

    // daprd's validation and codes.
    for (body, what) in [
        (lock("", "x", 1), "ResourceId is empty"),
        (lock("r", "", 1), "LockOwner is empty"),
        (lock("r", "x", 0), "ExpiryInSeconds is not positive"),
    ] {
        let (status, body) = post(&a1, "lock/lockstore", body).await;
        assert_eq!(
            (status, &body["errorCode"]),
            (400, &json!("ERR_MALFORMED_REQUEST"))
        );
        assert!(
            body["message"].as_str().unwrap().starts_with(what),
            "{body}"
        );
    }
    let (status, body) = post(&a1, "lock/nostore", lock("r", "x", 1)).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (400, &json!("ERR_LOCK_STORE_NOT_FOUND"))
    );
    let bare = Sidecar::builder("bare").nats(&nats).start().await.unwrap();
    let (status, body) = post(&bare, "lock/lockstore", lock("r", "x", 1)).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (500, &json!("ERR_LOCK_STORE_NOT_CONFIGURED"))
    );

    // The Python SDK over gRPC.
    let mut command = tokio::process::Command::new(python());
    command
        .arg(crate::sdk::app_script("lock_client.py"))
        .args(["lockstore", "py-resource"])
        .env("DAPR_GRPC_PORT", a1.grpc_port.to_string())
        .env("DAPR_HTTP_PORT", a1.http_port.to_string());
    let seen = crate::last_json(&crate::run_to_end(&mut command, Duration::from_secs(60)).await);
    assert_eq!(
        seen,
        json!({
            "first": true,
            "second": false,
            "unlock_other": "lock_belongs_to_others",
            "unlock_owner": "success",
            "unlock_again": "lock_does_not_exist",
            "after": true,
            "bad_expiry": seen["bad_expiry"].clone(),
        })
    );
    assert!(
        matches!(
            seen["bad_expiry"].as_str(),
            Some("INVALID_ARGUMENT" | "refused by the SDK")
        ),
        "{seen}"
    );
}

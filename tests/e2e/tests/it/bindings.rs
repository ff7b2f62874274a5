//! Bindings: the API over HTTP and gRPC, output bindings served to other
//! nodes over NATS within their scopes, input bindings feeding the app.

use std::time::Duration;

use http::Method;
use jetway_testkit::{NatsServer, Resources, Sidecar};
use serde_json::{Value, json};

use crate::app::TestApp;

/// A stream `ORDERS` on `orders.>`.
async fn orders_stream(nats: &NatsServer) -> async_nats::jetstream::Context {
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "ORDERS".into(),
        subjects: vec!["orders.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    js
}

async fn call(sidecar: &Sidecar, name: &str, body: Value) -> reqwest::Response {
    crate::client()
        .post(format!("{}/v1.0/bindings/{name}", sidecar.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Waits for `n` POSTs (events, not probes) to `path`.
async fn wait_posts(app: &TestApp, path: &str, n: usize) -> Vec<crate::app::Received> {
    jetway_testkit::eventually(Duration::from_secs(15), || async {
        let got: Vec<_> = app
            .received(path)
            .into_iter()
            .filter(|r| r.method == Method::POST)
            .collect();
        (got.len() >= n).then_some(got)
    })
    .await
    .unwrap_or_else(|_| panic!("{path}: fewer than {n} events"))
}

/// Runs `calls` through the Python SDK's `invoke_binding` (gRPC); what each returned.
async fn sdk_calls(sidecar: &Sidecar, calls: Value) -> Value {
    let mut command = tokio::process::Command::new(jetway_testkit::python());
    command
        .arg(crate::sdk::app_script("bindings_client.py"))
        .arg(calls.to_string())
        .env("DAPR_GRPC_PORT", sidecar.grpc_port.to_string())
        .env("DAPR_HTTP_PORT", sidecar.http_port.to_string());
    crate::last_json(&crate::run_to_end(&mut command, Duration::from_secs(60)).await)
}

fn posts(app: &TestApp, path: &str) -> Vec<Value> {
    app.received(path)
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .map(|r| r.json())
        .collect()
}

#[tokio::test]
async fn jetstream_binding_publishes_and_feeds_the_app() {
    let nats = NatsServer::start().await;
    let js = orders_stream(&nats).await;
    let app = TestApp::start(Value::Null).await;
    let res = Resources::new().with(
        "orders.yaml",
        "apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: orders}
spec:
  type: bindings.jetstream
  version: v1
  metadata:
  - {name: subject, value: orders.new}
  - {name: streamName, value: ORDERS}
  - {name: retryDelay, value: 200ms}
scopes: [binder, caller]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: ignored}
spec:
  type: bindings.jetstream
  version: v1
  metadata:
  - {name: streamName, value: ORDERS}
",
    );
    // The app answers the probe of `ignored` with 404: it takes none of its events.
    app.reply("/ignored", 404, "");
    let binder = Sidecar::builder("binder")
        .nats(&nats)
        .resources(&res)
        .app_port(app.port)
        .start()
        .await
        .unwrap();

    // The app fails its first event: it comes again.
    app.reply("/orders", 500, "");
    let r = call(
        &binder,
        "orders",
        json!({"operation": "create", "data": {"id": 1}}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["metadata.stream"], "ORDERS");
    assert_eq!(r.headers()["metadata.sequence"], "1");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while posts(&app, "/orders").is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.reply("/orders", 200, "");
    jetway_testkit::eventually(Duration::from_secs(10), || async {
        (posts(&app, "/orders").len() >= 2).then_some(())
    })
    .await
    .expect("the refused event is delivered again");
    assert!(
        posts(&app, "/orders")
            .iter()
            .all(|e| *e == json!({"id": 1}))
    );
    // Acked once taken: the consumer has nothing pending.
    let stream = js.get_stream("ORDERS").await.unwrap();
    let settled = jetway_testkit::eventually(Duration::from_secs(5), || async {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("binder-orders").await.ok()?;
        let info = consumer.info().await.ok()?;
        (info.num_ack_pending == 0 && info.num_pending == 0).then_some(())
    })
    .await;
    assert!(settled.is_ok(), "the event stays unacked");
    assert!(
        stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>("binder-ignored")
            .await
            .is_err(),
        "a binding the app's probe declines is not read"
    );
    assert_eq!(app.received("/ignored")[0].method, Method::OPTIONS);

    // A string goes as JSON, quotes and all (as daprd sends it); a request
    // subject overrides the component's.
    let r = call(
        &binder,
        "orders",
        json!({"operation": "create", "data": "plain", "metadata": {"subject": "orders.other"}}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let stored = js
        .get_stream("ORDERS")
        .await
        .unwrap()
        .get_last_raw_message_by_subject("orders.other")
        .await
        .unwrap();
    assert_eq!(&stored.payload[..], br#""plain""#);

    let r = call(&binder, "orders", json!({"operation": "delete"})).await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_INVOKE_OUTPUT_BINDING");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .ends_with("does not support operation delete. supported operations:create"),
        "{body}"
    );
    let r = call(&binder, "nosuchbinding", json!({"operation": "create"})).await;
    assert_eq!(r.status(), 500);

    // A node without the component reaches it over NATS, within its scopes.
    let caller = Sidecar::builder("caller")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let r = call(
        &caller,
        "orders",
        json!({"operation": "create", "data": {"id": 2}}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["metadata.sequence"], "3");
    let outsider = Sidecar::builder("outsider")
        .nats(&nats)
        .start()
        .await
        .unwrap();
    let r = call(
        &outsider,
        "orders",
        json!({"operation": "create", "data": {"id": 3}}),
    )
    .await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_INVOKE_OUTPUT_BINDING");
    let info = js
        .get_stream("ORDERS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.state.messages, 3, "the refused call published nothing");

    // The same binding through the Python SDK, over gRPC: bytes as they are.
    let calls = json!([{"name": "orders", "operation": "create", "data": "from python"}]);
    let seen = sdk_calls(&caller, calls).await;
    assert_eq!(seen[0]["metadata"]["stream"], "ORDERS", "{seen}");
    assert_eq!(seen[0]["metadata"]["sequence"], "4");
    let got = wait_posts(&app, "/orders", 5).await;
    assert_eq!(got.last().unwrap().body, "from python");
}

/// A cron binding fires once per schedule across the replicas of its app, on
/// its `route`, and keeps firing when the replica that fired it stops.
#[tokio::test]
async fn cron_fires_once_per_schedule_across_replicas() {
    let nats = NatsServer::start().await;
    let res = Resources::new().component(
        "tick",
        "bindings.cron",
        &[
            ("schedule", "@every 1s"),
            ("direction", "input"),
            ("route", "cron/tick"),
        ],
    );
    let (a, b) = (
        TestApp::start(Value::Null).await,
        TestApp::start(Value::Null).await,
    );
    let mut first = Sidecar::builder("ticker")
        .nats(&nats)
        .resources(&res)
        .app_port(a.port)
        .start()
        .await
        .unwrap();
    let _second = Sidecar::builder("ticker")
        .nats(&nats)
        .resources(&res)
        .app_port(b.port)
        .start()
        .await
        .unwrap();
    let count = || posts(&a, "/cron/tick").len() + posts(&b, "/cron/tick").len();
    jetway_testkit::eventually(Duration::from_secs(15), || async {
        (count() >= 1).then_some(())
    })
    .await
    .expect("the schedule fires");
    let start = count();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let fired = count() - start;
    assert!(
        (3..=6).contains(&fired),
        "{fired} triggers in 5 s of @every 1s on two replicas"
    );
    assert!(
        a.received("/cron/tick")
            .iter()
            .all(|r| r.method == Method::POST),
        "no probe: direction says input"
    );

    // The replica that fires stops: the other takes the lease and fires.
    let (holder, other) = if posts(&a, "/cron/tick").len() > posts(&b, "/cron/tick").len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let holder_is_first = std::ptr::eq(holder, &a);
    if holder_is_first {
        first.kill().await;
    } else {
        drop(_second);
    }
    let before = posts(other, "/cron/tick").len();
    jetway_testkit::eventually(Duration::from_secs(20), || async {
        (posts(other, "/cron/tick").len() >= before + 2).then_some(())
    })
    .await
    .expect("the other replica fires after the holder stopped");
}

/// `bindings.localstorage`, `bindings.http` and `bindings.redis` (the
/// machine's Redis on its standard port) over HTTP, and through the Python
/// SDK over gRPC.
#[tokio::test]
async fn output_bindings_reach_real_services() {
    let nats = NatsServer::start().await;
    let web = TestApp::start(Value::Null).await;
    let files = tempfile::tempdir().unwrap();
    let key = format!("jetway-test-{}", uuid_like());
    let res = Resources::new()
        .component(
            "files",
            "bindings.localstorage",
            &[("rootPath", &files.path().display().to_string())],
        )
        .component(
            "web",
            "bindings.http",
            &[("url", &format!("http://127.0.0.1:{}", web.port))],
        )
        .component(
            "cache",
            "bindings.redis",
            &[("redisHost", "127.0.0.1:6379")],
        );
    let sidecar = Sidecar::builder("outputs")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();

    // Local storage: a JSON string is written as its text.
    let r = call(
        &sidecar,
        "files",
        json!({"operation": "create", "data": "hello", "metadata": {"fileName": "dir/greeting.txt"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"fileName": "dir/greeting.txt"})
    );
    let r = call(
        &sidecar,
        "files",
        json!({"operation": "get", "metadata": {"fileName": "dir/greeting.txt"}}),
    )
    .await;
    assert_eq!(r.text().await.unwrap(), "hello");
    let r = call(&sidecar, "files", json!({"operation": "list"})).await;
    let listed: Vec<String> = r.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].ends_with("/dir/greeting.txt"), "{listed:?}");
    let r = call(
        &sidecar,
        "files",
        json!({"operation": "create", "data": 1, "metadata": {"fileName": "../escape"}}),
    )
    .await;
    assert_eq!(r.status(), 500);
    assert!(!files.path().parent().unwrap().join("escape").exists());
    let r = call(
        &sidecar,
        "files",
        json!({"operation": "delete", "metadata": {"fileName": "dir/greeting.txt"}}),
    )
    .await;
    assert_eq!(r.status(), 204);

    // HTTP: the path is appended, capitalised metadata become headers.
    let r = call(
        &sidecar,
        "web",
        json!({"operation": "post", "data": {"a": 1}, "metadata": {"path": "/echo/x", "X-Custom": "v", "lower": "no"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["metadata.statusCode"], "200");
    assert_eq!(r.headers()["metadata.x-echo"], "yes");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/x");
    assert_eq!(echo["body"], r#"{"a":1}"#);
    assert_eq!(echo["headers"]["x-custom"], "v");
    assert!(echo["headers"].get("lower").is_none());
    let r = call(
        &sidecar,
        "web",
        json!({"operation": "get", "metadata": {"path": "echo?status=404"}}),
    )
    .await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["message"],
        "error invoking output binding web: received status code 404"
    );

    // Redis: TTLs expire; a missing key is an empty 200.
    let r = call(
        &sidecar,
        "cache",
        json!({"operation": "create", "data": {"n": 1}, "metadata": {"key": key, "ttlInSeconds": "1"}}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = call(
        &sidecar,
        "cache",
        json!({"operation": "get", "metadata": {"key": key}}),
    )
    .await;
    assert_eq!(r.text().await.unwrap(), r#"{"n":1}"#);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = call(
        &sidecar,
        "cache",
        json!({"operation": "get", "metadata": {"key": key}}),
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, String::new())
    );
    let r = call(&sidecar, "cache", json!({"operation": "create", "data": 1})).await;
    assert_eq!(r.status(), 500, "no key");

    // The same through the Python SDK, over gRPC.
    let calls = json!([
        {"name": "cache", "operation": "create", "data": "from python", "metadata": {"key": key}},
        {"name": "cache", "operation": "get", "metadata": {"key": key}},
        {"name": "cache", "operation": "increment", "metadata": {"key": format!("{key}-n")}},
        {"name": "cache", "operation": "get", "metadata": {"key": format!("{key}-n"), "delete": "true"}},
        {"name": "cache", "operation": "delete", "metadata": {"key": key}},
        {"name": "files", "operation": "create", "data": "raw bytes", "metadata": {"fileName": "py.txt"}},
        {"name": "files", "operation": "get", "metadata": {"fileName": "py.txt"}},
        {"name": "web", "operation": "get", "metadata": {"path": "/echo/py"}},
        {"name": "cache", "operation": "list"},
        {"name": "nosuch", "operation": "create"},
    ]);
    let seen = sdk_calls(&sidecar, calls).await;
    assert_eq!(
        seen[1]["data"], "from python",
        "gRPC data goes as its bytes: {seen}"
    );
    assert_eq!(seen[3]["data"], "1");
    assert_eq!(seen[6]["data"], "raw bytes");
    assert_eq!(seen[7]["metadata"]["statusCode"], "200");
    assert!(seen[7]["data"].as_str().unwrap().contains("/echo/py"));
    assert_eq!(seen[8]["code"], "INTERNAL");
    assert!(
        seen[8]["message"]
            .as_str()
            .unwrap()
            .contains("does not support operation list")
    );
    assert_eq!(seen[9]["code"], "INTERNAL");
    assert!(
        seen[9]["message"]
            .as_str()
            .unwrap()
            .contains("couldn't find output binding nosuch")
    );
}

/// A name no other run of this test uses (the machine's Redis is shared).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// `bindings.postgresql` and `bindings.mysql` against the machine's
/// PostgreSQL and MariaDB: exec with parameters, query rows as daprd renders
/// them, errors, close.
#[tokio::test]
async fn sql_bindings_run_statements_with_parameters() {
    let nats = NatsServer::start().await;
    let table = format!("jetway_{}", uuid_like().replace('-', "_"));
    let res = Resources::new()
        .component(
            "pg",
            "bindings.postgresql",
            &[(
                "connectionString",
                "host=127.0.0.1 port=5432 user=postgres dbname=test",
            )],
        )
        .component(
            "my",
            "bindings.mysql",
            &[("url", "root:@tcp(127.0.0.1:3306)/test")],
        );
    let sidecar = Sidecar::builder("sql")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let exec = |name: &'static str, sql: String, params: Value| {
        let sidecar = &sidecar;
        async move {
            let metadata = json!({"sql": sql, "params": params.to_string()});
            call(
                sidecar,
                name,
                json!({"operation": "exec", "metadata": metadata}),
            )
            .await
        }
    };
    let query = |name: &'static str, sql: String| {
        let sidecar = &sidecar;
        async move {
            call(
                sidecar,
                name,
                json!({"operation": "query", "metadata": {"sql": sql}}),
            )
            .await
        }
    };

    // PostgreSQL: parameters take the statement's types.
    let r = exec("pg", format!("CREATE TABLE {table} (id int PRIMARY KEY, name text, price numeric(10,2), at timestamptz, doc jsonb, ok bool)"), json!([])).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = exec(
        "pg",
        format!(
            "INSERT INTO {table} VALUES ($1, $2, $3, $4, $5, $6), (2, 'b', NULL, NULL, NULL, NULL)"
        ),
        json!([1, "a", "12.50", "2026-12-04T01:02:03Z", {"k": [1]}, true]),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["metadata.rows-affected"], "2");
    assert_eq!(r.headers()["metadata.operation"], "exec");
    assert!(r.headers().contains_key("metadata.duration"));
    let r = query(
        "pg",
        format!("SELECT id, name, price, at, doc, ok FROM {table} ORDER BY id"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let rows: Value = r.json().await.unwrap();
    assert_eq!(
        rows,
        json!([[1, "a", 12.50, "2026-12-04T01:02:03Z", {"k": [1]}, true], [2, "b", null, null, null, null]])
    );
    let r = query("pg", format!("SELECT * FROM {table}_missing")).await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("error invoking output binding pg: error executing query"),
        "{body}"
    );
    let r = exec("pg", format!("DROP TABLE {table}"), json!([])).await;
    assert_eq!(r.status(), 200);

    // MySQL: rows are objects; NULL columns are left out, DECIMAL is a string.
    let r = exec("my", format!("CREATE TABLE {table} (id int PRIMARY KEY, name varchar(20), price decimal(10,2), at datetime)"), json!([])).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = exec(
        "my",
        format!("INSERT INTO {table} VALUES (?, ?, ?, ?), (2, 'b', NULL, NULL)"),
        json!([1, "a", 12.5, "2026-12-04 01:02:03"]),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["metadata.rows-affected"], "2");
    let r = query("my", format!("SELECT * FROM {table} ORDER BY id")).await;
    let rows: Value = r.json().await.unwrap();
    assert_eq!(
        rows,
        json!([{"id": 1, "name": "a", "price": "12.50", "at": "2026-12-04T01:02:03Z"}, {"id": 2, "name": "b"}])
    );
    let r = query("my", format!("SELECT * FROM {table} WHERE id > 5")).await;
    assert_eq!(r.text().await.unwrap(), "null", "no rows, as daprd answers");

    // Through the Python SDK over gRPC, then close.
    let calls = json!([
        {"name": "my", "operation": "query", "metadata": {"sql": format!("SELECT name FROM {table} WHERE id = ?"), "params": "[2]"}},
        {"name": "pg", "operation": "query", "metadata": {"sql": "SELECT $1::int + 1", "params": "[41]"}},
        {"name": "my", "operation": "exec", "metadata": {"sql": format!("DROP TABLE {table}")}},
        {"name": "pg", "operation": "close"},
        {"name": "pg", "operation": "query", "metadata": {"sql": "SELECT 1"}},
    ]);
    let seen = sdk_calls(&sidecar, calls).await;
    assert_eq!(seen[0]["data"], r#"[{"name":"b"}]"#, "{seen}");
    assert_eq!(seen[1]["data"], "[[42]]");
    assert_eq!(seen[2]["metadata"]["operation"], "exec");
    assert_eq!(seen[4]["code"], "INTERNAL");
    assert!(
        seen[4]["message"]
            .as_str()
            .unwrap()
            .contains("component is closed"),
        "{seen}"
    );
}

/// `bindings.rabbitmq` against the machine's RabbitMQ: a published message
/// reaches the app, a refused one is requeued and comes again, and a queue's
/// TTL expires what nobody took.
#[tokio::test]
async fn rabbitmq_binding_round_trip() {
    let nats = NatsServer::start().await;
    let app = TestApp::start(Value::Null).await;
    let queue = format!("jetway-{}", uuid_like());
    let host = ("host", "amqp://guest:guest@127.0.0.1:5672");
    let ttl_queue = format!("{queue}-ttl");
    // A queue whose messages expire after 1 s, one side of it.
    let expiring = |direction| {
        [
            host,
            ("queueName", ttl_queue.as_str()),
            ("ttlInSeconds", "1"),
            ("deleteWhenUnused", "true"),
            ("direction", direction),
        ]
    };
    let res = Resources::new()
        .component(
            "jobs",
            "bindings.rabbitmq",
            &[
                host,
                ("queueName", &queue),
                ("durable", "true"),
                ("deleteWhenUnused", "true"),
                ("retryDelay", "200ms"),
            ],
        )
        .component("expiring", "bindings.rabbitmq", &expiring("output"));
    let sidecar = Sidecar::builder("rabbit")
        .nats(&nats)
        .resources(&res)
        .app_port(app.port)
        .start()
        .await
        .unwrap();
    // The consumer starts once the app is connected.
    sidecar.wait_ready(Duration::from_secs(20)).await.unwrap();
    app.reply("/jobs", 500, "");
    let r = call(
        &sidecar,
        "jobs",
        json!({"operation": "create", "data": {"n": 1}, "metadata": {"messageID": "m-1"}}),
    )
    .await;
    assert_eq!(r.status(), 204);
    jetway_testkit::eventually(Duration::from_secs(10), || async {
        (!posts(&app, "/jobs").is_empty()).then_some(())
    })
    .await
    .expect("delivered");
    app.reply("/jobs", 200, "");
    let got = wait_posts(&app, "/jobs", 2).await;
    assert_eq!(got[0].json(), json!({"n": 1}));
    assert_eq!(
        got[1].headers["messageid"], "m-1",
        "request metadata travels as AMQP headers"
    );

    // A message on a queue with a TTL of 1 s that nobody takes expires.
    let r = call(
        &sidecar,
        "expiring",
        json!({"operation": "create", "data": "gone"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let late = TestApp::start(Value::Null).await;
    let res = Resources::new().component("expiring", "bindings.rabbitmq", &expiring("input"));
    let reader = Sidecar::builder("rabbit-late")
        .nats(&nats)
        .resources(&res)
        .app_port(late.port)
        .start()
        .await
        .unwrap();
    reader.wait_ready(Duration::from_secs(20)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        posts(&late, "/expiring").is_empty(),
        "the expired message is not delivered"
    );
    let r = call(
        &sidecar,
        "expiring",
        json!({"operation": "create", "data": "fresh"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let fresh = wait_posts(&late, "/expiring", 1).await;
    assert_eq!(fresh[0].body, r#""fresh""#);

    // Through the Python SDK, over gRPC.
    let calls = json!([{"name": "jobs", "operation": "create", "data": "from python", "metadata": {"priority": "1"}}]);
    let seen = sdk_calls(&sidecar, calls).await;
    assert!(seen[0].get("code").is_none(), "{seen}");
    let got = wait_posts(&app, "/jobs", 3).await;
    assert_eq!(got.last().unwrap().body, "from python");
}

/// A mosquitto of the test's own on a free loopback port.
fn mosquitto(port: u16, dir: &std::path::Path) -> jetway_testkit::App {
    let config = dir.join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    jetway_testkit::App::spawn(
        "mosquitto",
        std::path::Path::new("/usr/sbin/mosquitto"),
        &["-c", &config.display().to_string()],
        &[],
    )
}

/// `bindings.mqtt3` against a mosquitto the test runs: a publish reaches the
/// app with its topic, and the input resumes after the broker restarts.
#[tokio::test]
async fn mqtt_binding_round_trip_and_resume() {
    let nats = NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = jetway_testkit::free_port();
    let mut broker = mosquitto(port, dir.path());
    jetway_testkit::wait_for_port(port, Duration::from_secs(10))
        .await
        .unwrap();
    let app = TestApp::start(Value::Null).await;
    let url = format!("tcp://127.0.0.1:{port}");
    let res = Resources::new().component(
        "sensors",
        "bindings.mqtt3",
        &[
            ("url", &url),
            ("topic", "sensors/+"),
            ("consumerID", "jetway-test"),
            ("backOffMaxRetries", "1"),
            ("retryDelay", "200ms"),
        ],
    );
    let sidecar = Sidecar::builder("mqtt")
        .nats(&nats)
        .resources(&res)
        .app_port(app.port)
        .start()
        .await
        .unwrap();
    sidecar.wait_ready(Duration::from_secs(20)).await.unwrap();
    let publish = |data: &'static str| {
        let sidecar = &sidecar;
        async move {
            let body =
                json!({"operation": "create", "data": data, "metadata": {"topic": "sensors/t1"}});
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            loop {
                let r = call(sidecar, "sensors", body.clone()).await;
                if r.status() == 204 || std::time::Instant::now() > deadline {
                    return r.status();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // The app refuses once: the retry (backOffMaxRetries 1) delivers it.
    app.reply("/sensors", 500, "");
    assert_eq!(publish("21.5").await, 204);
    jetway_testkit::eventually(Duration::from_secs(10), || async {
        (!posts(&app, "/sensors").is_empty()).then_some(())
    })
    .await
    .expect("delivered");
    app.reply("/sensors", 200, "");
    let got = wait_posts(&app, "/sensors", 2).await;
    assert_eq!(got[0].body, r#""21.5""#);
    assert_eq!(got[1].headers["topic"], "sensors/t1");

    // Through the Python SDK, over gRPC, to a topic of the request's.
    let calls = json!([{"name": "sensors", "operation": "create", "data": "from python", "metadata": {"topic": "sensors/t2"}}]);
    let seen = sdk_calls(&sidecar, calls).await;
    assert!(seen[0].get("code").is_none(), "{seen}");
    let got = wait_posts(&app, "/sensors", 3).await;
    assert_eq!(
        (&got[2].body[..], got[2].headers["topic"].to_str().unwrap()),
        (&b"from python"[..], "sensors/t2")
    );

    // A retained publish reaches a subscriber that comes later; a consumer
    // with a clean session gets it as well.
    let retained = Resources::new().component(
        "status",
        "bindings.mqtt3",
        &[
            ("url", &url),
            ("topic", "status/dev1"),
            ("consumerID", "jetway-status"),
            ("retain", "true"),
            ("direction", "output"),
        ],
    );
    let publisher = Sidecar::builder("mqtt-status")
        .nats(&nats)
        .resources(&retained)
        .start()
        .await
        .unwrap();
    let r = call(
        &publisher,
        "status",
        json!({"operation": "create", "data": "online"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let late = TestApp::start(Value::Null).await;
    let reader = Resources::new().component(
        "status",
        "bindings.mqtt3",
        &[
            ("url", &url),
            ("topic", "status/#"),
            ("consumerID", "jetway-late"),
            ("cleanSession", "true"),
            ("direction", "input"),
        ],
    );
    let _reader = Sidecar::builder("mqtt-late")
        .nats(&nats)
        .resources(&reader)
        .app_port(late.port)
        .start()
        .await
        .unwrap();
    let got = wait_posts(&late, "/status", 1).await;
    assert_eq!(got[0].body, r#""online""#);

    // The broker restarts; the input binding resumes by itself.
    broker.kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _broker = mosquitto(port, dir.path());
    jetway_testkit::wait_for_port(port, Duration::from_secs(10))
        .await
        .unwrap();
    let before = posts(&app, "/sensors").len();
    // Published until the consumer is back and subscribed (a QoS 1 message to
    // a topic nobody subscribes to is not kept).
    let resumed = jetway_testkit::eventually(Duration::from_secs(30), || async {
        assert_eq!(publish("22.0").await, 204);
        tokio::time::sleep(Duration::from_millis(300)).await;
        (posts(&app, "/sensors").len() > before).then_some(())
    })
    .await;
    assert!(
        resumed.is_ok(),
        "the input binding resumed after the broker restarted"
    );
}

/// A gRPC app (the Python SDK's `dapr.ext.grpc`) lists its input bindings
/// and gets their events through `OnBindingEvent`; an event it fails comes
/// again, and a binding it does not list is not read.
#[tokio::test]
async fn a_grpc_app_receives_input_binding_events() {
    let nats = NatsServer::start().await;
    let js = orders_stream(&nats).await;
    let binding = |name: &str, subject: &str| {
        format!(
            "apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: {name}}}
spec:
  type: bindings.jetstream
  version: v1
  metadata:
  - {{name: streamName, value: ORDERS}}
  - {{name: filterSubject, value: {subject}}}
  - {{name: retryDelay, value: 200ms}}
---
"
        )
    };
    let yaml = binding("grpc-orders-in", "orders.in") + &binding("unlisted", "orders.unlisted");
    let res = Resources::new().with("bindings.yaml", &yaml);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let port = jetway_testkit::free_port();
    let sidecar = Sidecar::builder("grpc-binder")
        .app_port(port)
        .arg("--app-protocol")
        .arg("grpc")
        .nats(&nats)
        .resources(&res)
        .outbound_only()
        .start()
        .await
        .unwrap();
    let _app = crate::grpc::grpc_app(port, &events);
    sidecar.wait_ready(Duration::from_secs(30)).await.unwrap();
    for data in ["\"flaky\"", "{\"id\":7}"] {
        js.publish("orders.in", data.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    js.publish("orders.unlisted", "x".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let got = jetway_testkit::eventually(Duration::from_secs(20), || async {
        let got = crate::sdk::read_events(&events);
        (got.len() >= 2).then_some(got)
    })
    .await
    .expect("both events reach the app");
    let data: Vec<&str> = got.iter().map(|e| e["data"].as_str().unwrap()).collect();
    assert!(
        data.contains(&"\"flaky\"") && data.contains(&"{\"id\":7}"),
        "{got:?}"
    );
    assert!(
        got.iter().all(|e| e["metadata"]["subject"] == "orders.in"),
        "{got:?}"
    );
    let stream = js.get_stream("ORDERS").await.unwrap();
    assert!(
        stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>("grpc-binder-unlisted")
            .await
            .is_err(),
        "the binding the app does not list is not read"
    );
}

/// A Redis of the test's own on a free loopback port, keeping nothing on disk.
fn redis_server(port: u16) -> jetway_testkit::App {
    jetway_testkit::App::spawn(
        "redis-server",
        std::path::Path::new("/usr/bin/redis-server"),
        &[
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        &[],
    )
}

/// When the service behind an output binding goes away, calls fail with
/// daprd's error, and work again once it is back, with no restart.
#[tokio::test]
async fn an_output_binding_fails_cleanly_while_its_service_is_down() {
    let nats = NatsServer::start().await;
    let port = jetway_testkit::free_port();
    let mut redis = redis_server(port);
    jetway_testkit::wait_for_port(port, Duration::from_secs(10))
        .await
        .unwrap();
    let res = Resources::new().component(
        "cache",
        "bindings.redis",
        &[
            ("redisHost", &format!("127.0.0.1:{port}")),
            ("readTimeout", "1s"),
            ("dialTimeout", "1s"),
        ],
    );
    let sidecar = Sidecar::builder("redis-down")
        .nats(&nats)
        .resources(&res)
        .start()
        .await
        .unwrap();
    let set = json!({"operation": "create", "data": "v", "metadata": {"key": "k"}});
    assert_eq!(call(&sidecar, "cache", set.clone()).await.status(), 204);
    redis.kill().await;
    let r = call(&sidecar, "cache", set.clone()).await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "ERR_INVOKE_OUTPUT_BINDING", "{body}");
    let _redis = redis_server(port);
    jetway_testkit::wait_for_port(port, Duration::from_secs(10))
        .await
        .unwrap();
    let back = jetway_testkit::eventually(Duration::from_secs(20), || async {
        (call(&sidecar, "cache", set.clone()).await.status() == 204).then_some(())
    })
    .await;
    assert!(back.is_ok(), "calls work again once Redis is back");
}

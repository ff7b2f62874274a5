//! Binding measurements: output binding calls through the sidecar beside the
//! same call made with the connector's client crate (reqwest for
//! `bindings.http`, tokio-postgres for `bindings.postgresql`), and input
//! binding events delivered to the app beside a raw JetStream consumer that
//! posts each message to the same app and acks it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use futures::StreamExt;
use http::{Method, StatusCode};

use super::{BenchArgs, Sidecar, call, http_client, measure, raw_row, row};

/// A PostgreSQL to measure against, when one answers here.
const POSTGRES: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// An app that echoes `/echo` and counts posts to `/events`.
async fn start_app(events: Arc<AtomicU64>) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let router = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/events",
            post(move || async move {
                events.fetch_add(1, Ordering::Relaxed);
                StatusCode::OK
            })
            .options(|| async { StatusCode::OK }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

pub(super) async fn bench(
    args: &BenchArgs,
    nats_url: &str,
    store: &std::path::Path,
) -> anyhow::Result<()> {
    let events = Arc::new(AtomicU64::new(0));
    let app_port = start_app(events.clone()).await?;
    let postgres = tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls)
        .await
        .ok();
    let resources = store.join("bindings");
    std::fs::create_dir_all(&resources)?;
    let mut yaml = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: web}}\nspec: {{type: bindings.http, version: v1, metadata: [{{name: url, value: 'http://127.0.0.1:{app_port}'}}]}}\n---\n\
         apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: events}}\nspec: {{type: bindings.jetstream, version: v1, metadata: [{{name: streamName, value: BENCH_EVENTS}}, {{name: direction, value: input}}]}}\n"
    );
    if postgres.is_some() {
        yaml.push_str(&format!(
            "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: pg}}\nspec: {{type: bindings.postgresql, version: v1, metadata: [{{name: connectionString, value: '{POSTGRES}'}}]}}\n"
        ));
    }
    std::fs::write(resources.join("bindings.yaml"), yaml)?;
    let client = http_client();
    let nc = async_nats::connect(nats_url).await?;
    let js = async_nats::jetstream::new(nc.clone());
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH_EVENTS".into(),
        subjects: vec!["bench.events.>".into()],
        ..Default::default()
    })
    .await?;
    let sidecar = Sidecar::start(
        nats_url,
        "binder",
        Some((app_port, "http")),
        &resources,
        &client,
    )
    .await?;

    println!(
        "\n{:<28} {:>9} {:>9} {:>10} {:>8} {:>7} {:>8}",
        "", "p50 µs", "p99 µs", "ops/s", "p50/raw", "/direct", "raw/tput"
    );

    // --- bindings.http: the sidecar's call beside reqwest's ---
    let payload = Bytes::from_static(br#"{"order":{"id":42,"note":"benchmark payload"}}"#);
    let direct = {
        let (http, url, body) = (
            reqwest::Client::new(),
            format!("http://127.0.0.1:{app_port}/echo"),
            payload.clone(),
        );
        measure(args, move |_| {
            let (http, url, body) = (http.clone(), url.clone(), body.clone());
            async move {
                let r = http.post(url).body(body).send().await?.error_for_status()?;
                r.bytes().await.map(drop).map_err(Into::into)
            }
        })
        .await?
    };
    let through = binding_call(
        args,
        &client,
        sidecar.port,
        "web",
        format!(
            r#"{{"operation":"post","data":{payload},"metadata":{{"path":"/echo"}}}}"#,
            payload = String::from_utf8_lossy(&payload)
        ),
    )
    .await?;
    raw_row("binding http: reqwest", &direct);
    row("binding http: jetway", &through, &direct, None);

    // --- bindings.postgresql: the sidecar's query beside tokio-postgres's ---
    match postgres {
        Some((pg, connection)) => {
            tokio::spawn(connection);
            let pg = Arc::new(pg);
            let direct = measure(args, move |i| {
                let pg = pg.clone();
                async move {
                    let n = (i % 1000) as i32;
                    pg.query("SELECT $1::int + 1", &[&n])
                        .await
                        .map(drop)
                        .map_err(Into::into)
                }
            })
            .await?;
            let through = binding_call(
                args,
                &client,
                sidecar.port,
                "pg",
                r#"{"operation":"query","metadata":{"sql":"SELECT $1::int + 1","params":"[41]"}}"#
                    .into(),
            )
            .await?;
            raw_row("binding pg: tokio-postgres", &direct);
            row("binding pg: jetway", &through, &direct, None);
        }
        None => println!("binding pg: skipped (no PostgreSQL answers at {POSTGRES})"),
    }

    // --- input: events to the app, beside a raw consumer posting them ---
    let n = (args.requests as u64 * 5).max(1000);
    let publish = |subject: &'static str| {
        let js = js.clone();
        async move {
            let acks: Vec<_> = futures::stream::iter(0..n)
                .map(|i| {
                    let js = js.clone();
                    async move {
                        js.publish(subject, format!(r#"{{"i":{i}}}"#).into())
                            .await?
                            .await
                    }
                })
                .buffer_unordered(256)
                .collect()
                .await;
            acks.into_iter().collect::<Result<Vec<_>, _>>().map(drop)
        }
    };
    let before = events.load(Ordering::Relaxed);
    let started = Instant::now();
    publish("bench.events.jetway").await?;
    wait(&events, before + n).await?;
    let jetway_rate = n as f64 / started.elapsed().as_secs_f64();

    let stream = js.get_stream("BENCH_EVENTS").await?;
    let consumer = stream
        .get_or_create_consumer(
            "raw",
            async_nats::jetstream::consumer::pull::Config {
                durable_name: Some("raw".into()),
                filter_subject: "bench.events.raw".into(),
                ..Default::default()
            },
        )
        .await?;
    let before = events.load(Ordering::Relaxed);
    let started = Instant::now();
    publish("bench.events.raw").await?;
    let mut messages = consumer.messages().await?;
    let url = format!("http://127.0.0.1:{app_port}/events");
    for _ in 0..n {
        let Some(m) = messages.next().await else {
            bail!("the raw consumer ended")
        };
        let m = m.map_err(|e| anyhow::anyhow!("{e}"))?;
        call(&client, Method::POST, &url, m.payload.clone()).await?;
        m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    wait(&events, before + n).await?;
    let raw_rate = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "input events/s              jetway {jetway_rate:>8.0}  raw consumer {raw_rate:>8.0}  ratio {:.2}x  ({n} events)",
        raw_rate / jetway_rate
    );
    sidecar.stop().await;
    Ok(())
}

/// Calls output binding `name` with `body` through the sidecar's HTTP API.
async fn binding_call(
    args: &BenchArgs,
    client: &super::HttpClient,
    port: u16,
    name: &str,
    body: String,
) -> anyhow::Result<super::Measure> {
    let (client, url, body) = (
        client.clone(),
        format!("http://127.0.0.1:{port}/v1.0/bindings/{name}"),
        Bytes::from(body),
    );
    measure(args, move |_| {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        async move { call(&client, Method::POST, &url, body).await.map(drop) }
    })
    .await
}

async fn wait(events: &AtomicU64, until: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while events.load(Ordering::Relaxed) < until {
        if Instant::now() > deadline {
            bail!(
                "{} of {until} events reached the app",
                events.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

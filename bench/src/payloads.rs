//! Large payloads: a 16 MiB invocation (staged in the object store both ways)
//! beside the same bytes put into and read back from a JetStream object store
//! with raw async-nats, and beside the direct HTTP call to the app.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use http::Method;
use tokio::io::AsyncReadExt;

use super::{Sidecar, call, http_client, percentiles, start_app};

/// The body sent each way.
const SIZE: usize = 16 << 20;
/// Round trips timed per path.
const ROUNDS: usize = 20;

/// The p50 and p99 of `ROUNDS` runs of `op`, after one untimed run.
async fn time<F, Fut>(mut op: F) -> anyhow::Result<(Duration, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    op().await?;
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        op().await?;
        samples.push(t.elapsed());
    }
    Ok(percentiles(samples))
}

pub(super) async fn bench(nats_url: &str, store: &std::path::Path) -> anyhow::Result<()> {
    let resources = store.join("payload-resources");
    std::fs::create_dir_all(&resources)?;
    let client = http_client();
    let app_port = start_app(None).await?;
    let app = Sidecar::start(
        nats_url,
        "big-app",
        Some((app_port, "http")),
        &resources,
        &client,
    )
    .await?;
    let caller = Sidecar::start(nats_url, "big-caller", None, &resources, &client).await?;
    let body = Bytes::from((0..SIZE).map(|i| (i % 251) as u8).collect::<Vec<u8>>());

    let url = format!(
        "http://127.0.0.1:{}/v1.0/invoke/big-app/method/echo",
        caller.port
    );
    let jetway = time(|| {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        async move {
            let echoed = call(&client, Method::POST, &url, body.clone()).await?;
            anyhow::ensure!(echoed == body, "the echo differs");
            Ok(())
        }
    })
    .await?;
    let direct_url = format!("http://127.0.0.1:{app_port}/echo");
    let direct = time(|| {
        let (client, url, body) = (client.clone(), direct_url.clone(), body.clone());
        async move { call(&client, Method::POST, &url, body).await.map(drop) }
    })
    .await?;
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await?);
    let objects = js
        .create_object_store(async_nats::jetstream::object_store::Config {
            bucket: "bench_objects".into(),
            ..Default::default()
        })
        .await?;
    let raw = time(|| {
        let (objects, body) = (objects.clone(), body.clone());
        async move {
            // There and back, as the invocation's request and its reply.
            for name in ["request", "reply"] {
                objects.put(name, &mut body.as_ref()).await?;
                let mut read = Vec::with_capacity(SIZE);
                objects.get(name).await?.read_to_end(&mut read).await?;
                anyhow::ensure!(read.len() == SIZE, "short read");
                objects.delete(name).await?;
            }
            Ok(())
        }
    })
    .await?;
    println!(
        "\n{:<44} {:>9} {:>9} {:>8}",
        "16 MiB there and back", "p50 ms", "p99 ms", "p50/raw"
    );
    for (name, (p50, p99)) in [
        ("raw object store put+get+delete, twice", raw),
        ("direct HTTP to the app", direct),
        ("invoke through Jetway (staged both ways)", jetway),
    ] {
        println!(
            "{name:<44} {:>9.1} {:>9.1} {:>7.2}x",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            p50.as_secs_f64() / raw.0.as_secs_f64()
        );
    }
    caller.stop().await;
    app.stop().await;
    Ok(())
}

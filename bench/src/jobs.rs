//! Jobs and locks: job schedules and triggers with many jobs (all due at one
//! instant, on two replicas of one app), and lock acquire/release pairs beside
//! the same KV create and delete done with raw async-nats.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use http::{Method, StatusCode};

use super::{Arrivals, BenchArgs, Sidecar, call, http_client, measure, rate};

/// An app that takes every job trigger.
async fn start_job_app(triggers: Arc<Arrivals>) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let router = Router::new().route(
        "/job/{name}",
        post(move || async move {
            triggers.record();
            StatusCode::OK
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

pub(super) async fn bench(
    args: &BenchArgs,
    nats_url: &str,
    store: &std::path::Path,
) -> anyhow::Result<()> {
    let resources = store.join("jobs-resources");
    std::fs::create_dir_all(&resources)?;
    std::fs::write(
        resources.join("components.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: lockstore}\nspec: {type: lock.jetstream, version: v1, metadata: [{name: bucket, value: bench_locks}]}\n",
    )?;
    let client = http_client();
    let triggers = Arc::new(Arrivals::default());
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let port = start_job_app(triggers.clone()).await?;
        replicas.push(
            Sidecar::start(
                nats_url,
                "jobs-bench",
                Some((port, "http")),
                &resources,
                &client,
            )
            .await?,
        );
    }

    // Locks: one acquire and its release per operation, on distinct resources.
    println!(
        "\n{:<32} {:>9} {:>9} {:>10} {:>8}",
        "", "p50 µs", "p99 µs", "pairs/s", "p50/raw"
    );
    let lock_url = format!("http://127.0.0.1:{}/v1.0-alpha1", replicas[0].port);
    let locks = {
        let (client, base) = (client.clone(), lock_url.clone());
        measure(args, move |i| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let body =
                    format!(r#"{{"resourceId":"r-{i}","lockOwner":"o","expiryInSeconds":60}}"#);
                let taken = call(
                    &client,
                    Method::POST,
                    &format!("{base}/lock/lockstore"),
                    body.into(),
                )
                .await?;
                if !taken.starts_with(br#"{"success":true"#) {
                    bail!(
                        "lock r-{i} was not taken: {}",
                        String::from_utf8_lossy(&taken)
                    );
                }
                let body = format!(r#"{{"resourceId":"r-{i}","lockOwner":"o"}}"#);
                call(
                    &client,
                    Method::POST,
                    &format!("{base}/unlock/lockstore"),
                    body.into(),
                )
                .await
                .map(drop)
            }
        })
        .await?
    };
    let raw = {
        let js = async_nats::jetstream::new(async_nats::connect(nats_url).await?);
        let kv = js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: "bench_raw_locks".into(),
                ..Default::default()
            })
            .await?;
        measure(args, move |i| {
            let kv = kv.clone();
            async move {
                let key = format!("r-{i}");
                let revision = kv.create(&key, Bytes::from_static(b"o")).await?;
                kv.delete_expect_revision(&key, Some(revision)).await?;
                Ok(())
            }
        })
        .await?
    };
    let row = |name: &str, m: &super::Measure| {
        println!(
            "{name:<32} {:>9.0} {:>9.0} {:>10.0} {:>7.2}x",
            m.p50.as_secs_f64() * 1e6,
            m.p99.as_secs_f64() * 1e6,
            m.per_sec,
            m.p50.as_secs_f64() / raw.p50.as_secs_f64(),
        );
    };
    row("locks: raw KV create + delete", &raw);
    row("locks: lock + unlock (HTTP)", &locks);

    // Jobs, scheduled through both replicas' sidecars, all due at one instant
    // after the last schedule should be done.
    let n = args.jobs as u64;
    let due_in = Duration::from_secs(10) + Duration::from_millis(n / 4);
    let due = (chrono::Utc::now() + due_in).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let urls: Vec<String> = replicas
        .iter()
        .map(|r| format!("http://127.0.0.1:{}/v1.0-alpha1/jobs", r.port))
        .collect();
    let scheduled_by = Instant::now() + due_in;
    let schedules = {
        let (client, urls) = (client.clone(), urls.clone());
        let body = Bytes::from(format!(r#"{{"dueTime":"{due}","data":"j"}}"#));
        rate(n, args.in_flight, move |i| {
            let (client, body) = (client.clone(), body.clone());
            let url = format!("{}/j-{i}", urls[i as usize % 2]);
            async move { call(&client, Method::POST, &url, body).await.map(drop) }
        })
        .await?
    };
    println!("jobs: schedules/s {schedules:>31.0}  ({n} jobs)");
    if Instant::now() > scheduled_by {
        println!("  (scheduling outlasted the due time: triggers below overlap it)");
    }
    let deadline = scheduled_by + Duration::from_secs(120);
    let span = triggers.all(n, deadline, "jobs").await?;
    println!(
        "jobs: triggers/s {:>32.0}  ({n} fired in {span:.2} s)",
        n as f64 / span
    );
    for r in replicas {
        r.stop().await;
    }
    Ok(())
}

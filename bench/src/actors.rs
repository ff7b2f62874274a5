//! Actor measurements: calls over 1,000 actors on two hosts, activations, and
//! reminder registrations and triggers with many reminders registered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post, put};
use http::{Method, StatusCode};

use super::{Arrivals, BenchArgs, Measure, Sidecar, call, http_client, measure, rate, raw_request};

/// An actor host app: `BenchActor` methods echo their body; reminders are counted.
async fn start_actor_app(triggers: Arc<Arrivals>) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let config = serde_json::json!({"entities": ["BenchActor"], "actorIdleTimeout": "1h"});
    let router = Router::new()
        .route(
            "/dapr/config",
            get(move || async move { axum::Json(config) }),
        )
        .route(
            "/actors/{actor_type}/{id}/method/{method}",
            put(|body: Bytes| async move { body }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/actors/{actor_type}/{id}/method/remind/{name}",
            put(move || async move {
                triggers.record();
                StatusCode::OK
            }),
        )
        .route(
            "/actors/{actor_type}/{id}",
            axum::routing::delete(|| async { StatusCode::OK }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

pub(super) async fn bench(
    args: &BenchArgs,
    nats_url: &str,
    store: &std::path::Path,
) -> anyhow::Result<()> {
    let resources = store.join("actor-resources");
    std::fs::create_dir_all(&resources)?;
    std::fs::write(
        resources.join("components.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: actorstore}\nspec: {type: state.jetstream, version: v1, metadata: [{name: actorStateStore, value: \"true\"}, {name: bucket, value: bench_actors}]}\n",
    )?;
    let client = http_client();
    let triggers = Arc::new(Arrivals::default());
    let mut hosts = Vec::new();
    for name in ["actors-1", "actors-2"] {
        let port = start_actor_app(triggers.clone()).await?;
        hosts
            .push(Sidecar::start(nats_url, name, Some((port, "http")), &resources, &client).await?);
    }
    let caller = Sidecar::start(nats_url, "actor-caller", None, &resources, &client).await?;
    let nc = async_nats::connect(nats_url).await?;
    let payload = Bytes::from_static(br#"{"order":{"id":42,"items":["a","b","c"]}}"#);
    let base = format!("http://127.0.0.1:{}/v1.0/actors/BenchActor", caller.port);

    // Both hosts hold partitions before anything is measured.
    let settle = Instant::now();
    loop {
        let url = format!("{base}/warm/method/echo");
        if call(&client, Method::POST, &url, Bytes::new())
            .await
            .is_ok()
        {
            break;
        }
        if settle.elapsed() > Duration::from_secs(30) {
            bail!("actor hosts did not come up");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    println!(
        "\n{:<32} {:>9} {:>9} {:>10} {:>8}",
        "", "p50 µs", "p99 µs", "ops/s", "p50/raw"
    );
    let raw = raw_request(args, &nc, payload.clone()).await?;
    let invoke = {
        let (client, base, body) = (client.clone(), base.clone(), payload.clone());
        measure(args, move |i| {
            let (client, body) = (client.clone(), body.clone());
            let url = format!("{base}/a-{}/method/echo", i % 1000);
            async move { call(&client, Method::POST, &url, body).await.map(drop) }
        })
        .await?
    };
    let service = {
        let (client, body) = (client.clone(), payload.clone());
        let url = format!(
            "http://127.0.0.1:{}/v1.0/invoke/actors-1/method/echo",
            caller.port
        );
        measure(args, move |_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            async move { call(&client, Method::POST, &url, body).await.map(drop) }
        })
        .await?
    };
    actor_row("actors: raw NATS request", &raw, &raw);
    actor_row("actors: service invoke, same app", &service, &raw);
    actor_row("actors: invoke, 1,000 actors", &invoke, &raw);

    let activations = {
        let (client, base) = (client.clone(), base.clone());
        rate(20_000, args.in_flight, move |i| {
            let client = client.clone();
            let url = format!("{base}/new-{i}/method/echo");
            async move {
                call(&client, Method::POST, &url, Bytes::new())
                    .await
                    .map(drop)
            }
        })
        .await?
    };
    println!("actors: activations/s {activations:>27.0}");

    // Reminders, registered through the hosts' sidecars, all due at one instant
    // after the last registration should be done.
    let n = args.reminders as u64;
    let due_in = Duration::from_secs(10) + Duration::from_millis(n / 2);
    let due_at = chrono::Utc::now() + due_in;
    let due = due_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let host_urls: Vec<String> = hosts
        .iter()
        .map(|h| format!("http://127.0.0.1:{}/v1.0/actors/BenchActor", h.port))
        .collect();
    let registered_by = Instant::now() + due_in;
    let registrations = {
        let (client, host_urls) = (client.clone(), host_urls.clone());
        let body = Bytes::from(format!(r#"{{"dueTime":"{due}","period":"1h","data":"r"}}"#));
        rate(n, args.in_flight, move |i| {
            let (client, body) = (client.clone(), body.clone());
            let url = format!("{}/r-{i}/reminders/bench", host_urls[i as usize % 2]);
            async move { call(&client, Method::POST, &url, body).await.map(drop) }
        })
        .await?
    };
    println!("actors: reminder registrations/s {registrations:>15.0}  ({n} reminders)");
    if Instant::now() > registered_by {
        println!("  (registration outlasted the due time: triggers below overlap it)");
    }
    let deadline = registered_by + Duration::from_secs(60);
    let span = triggers.all(n, deadline, "reminders").await?;
    println!(
        "actors: reminder triggers/s {:>20.0}  ({n} fired in {span:.2} s)",
        n as f64 / span
    );
    caller.stop().await;
    for h in hosts {
        h.stop().await;
    }
    Ok(())
}

fn actor_row(name: &str, m: &Measure, raw: &Measure) {
    println!(
        "{name:<32} {:>9.0} {:>9.0} {:>10.0} {:>7.2}x",
        m.p50.as_secs_f64() * 1e6,
        m.p99.as_secs_f64() * 1e6,
        m.per_sec,
        m.p50.as_secs_f64() / raw.p50.as_secs_f64(),
    );
}

//! `bindings.mqtt3` (and `bindings.mqtt`): output publishes to `topic` (or
//! the request's `topic`) at QoS 1 and answers once the broker acked it;
//! input subscribes to `topic` at QoS 1 with manual acks, acking a message
//! only after the app took it. Client ids are `<consumerID>-producer` and
//! `<consumerID>-consumer`, as daprd names them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::{
    Backoff, Error, Event as BindingEvent, Handler, Input, Metadata, Output, Request, Response,
    pause,
};

pub const KEYS: &[&str] = &[
    "url",
    "topic",
    "consumerID",
    "qos",
    "retain",
    "cleanSession",
    "backOffMaxRetries",
    "retryDelay",
];

/// How long a publish waits for the broker's ack.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Events handed to the app at once.
const IN_FLIGHT: usize = 32;

struct Settings {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    topic: String,
    consumer_id: String,
    retain: bool,
    clean_session: bool,
    /// Deliveries after the first for a refused message; -1 is forever.
    retries: i64,
    retry_delay: Duration,
}

pub struct Mqtt {
    /// Shared with the tasks that hand messages to the app.
    settings: Arc<Settings>,
    producer: Mutex<Option<Producer>>,
}

/// The output's connection: its client, and the acks its event loop sees.
struct Producer {
    client: AsyncClient,
    acks: mpsc::Receiver<Outgoing>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Mqtt {
    pub fn new(metadata: &Metadata) -> Result<Mqtt, Error> {
        let raw = metadata.required("url")?;
        let url =
            url::Url::parse(raw).map_err(|e| Error::config("url", format!("'{raw}': {e}")))?;
        if !matches!(url.scheme(), "tcp" | "mqtt") {
            return Err(Error::config(
                "url",
                "a tcp:// or mqtt:// URL (TLS is not supported yet)",
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Error::config("url", "no host"))?
            .to_owned();
        let credentials = (!url.username().is_empty()).then(|| {
            (
                url.username().to_owned(),
                url.password().unwrap_or_default().to_owned(),
            )
        });
        if metadata.get("qos").is_some() {
            tracing::warn!("bindings.mqtt3 ignores 'qos': it always uses QoS 1, as daprd does.");
        }
        Ok(Mqtt {
            settings: Arc::new(Settings {
                host,
                port: url.port().unwrap_or(1883),
                credentials,
                topic: metadata.required("topic")?.to_owned(),
                consumer_id: metadata.required("consumerID")?.to_owned(),
                retain: metadata.flag("retain", false)?,
                clean_session: metadata.flag("cleanSession", false)?,
                retries: metadata.parse("backOffMaxRetries", 0)?,
                retry_delay: metadata
                    .duration("retryDelay")?
                    .unwrap_or(Duration::from_secs(5)),
            }),
            producer: Mutex::default(),
        })
    }

    fn options(&self, role: &str) -> MqttOptions {
        let s = &self.settings;
        let mut options = MqttOptions::new(format!("{}-{role}", s.consumer_id), &s.host, s.port);
        options
            .set_clean_session(s.clean_session)
            .set_keep_alive(Duration::from_secs(30));
        if let Some((user, password)) = &s.credentials {
            options.set_credentials(user, password);
        }
        options
    }

    fn producer(&self) -> Producer {
        let (client, mut events) = AsyncClient::new(self.options("producer"), 64);
        let (tx, acks) = mpsc::channel(64);
        let driver = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Outgoing(o @ Outgoing::Publish(_))) => {
                        let _ = tx.try_send(o);
                    }
                    Ok(Event::Incoming(Incoming::PubAck(ack))) => {
                        let _ = tx.try_send(Outgoing::PubAck(ack.pkid));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "MQTT producer connection failed; reconnecting.");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Producer {
            client,
            acks,
            driver,
        }
    }
}

#[async_trait::async_trait]
impl Output for Mqtt {
    fn operations(&self) -> &'static [&'static str] {
        &["create"]
    }

    async fn invoke(&self, request: Request) -> Result<Response, Error> {
        let topic = request
            .metadata
            .get("topic")
            .filter(|t| !t.is_empty())
            .unwrap_or(&self.settings.topic)
            .clone();
        // One publish at a time on the producer, so the next ack is ours.
        let mut slot = self.producer.lock().await;
        let producer = slot.get_or_insert_with(|| self.producer());
        while producer.acks.try_recv().is_ok() {}
        let published = async {
            producer
                .client
                .publish(
                    &topic,
                    QoS::AtLeastOnce,
                    self.settings.retain,
                    request.data.to_vec(),
                )
                .await
                .map_err(|e| format!("failed to publish: {e}"))?;
            let mut pkid = None;
            while let Some(event) = producer.acks.recv().await {
                match (event, pkid) {
                    (Outgoing::Publish(id), None) => pkid = Some(id),
                    (Outgoing::PubAck(id), Some(ours)) if id == ours => return Ok(()),
                    _ => {}
                }
            }
            Err("the producer connection ended".to_owned())
        };
        match tokio::time::timeout(ACK_TIMEOUT, published).await {
            Ok(Ok(())) => Ok(Response::default()),
            Ok(Err(e)) => {
                slot.take();
                Err(Error::Backend(e))
            }
            Err(_) => {
                // Start over on a fresh connection: this one may be stuck.
                slot.take();
                Err(Error::Backend(
                    "failed to publish: mqtt client timeout".into(),
                ))
            }
        }
    }
}

/// Hands one message to the app, retrying as `backOffMaxRetries` says; true
/// when the app took it.
async fn deliver(
    handler: &dyn Handler,
    settings: &Settings,
    event: BindingEvent,
    stop: &CancellationToken,
) -> bool {
    let mut attempt = 0i64;
    loop {
        match handler.handle(event.clone()).await {
            Ok(_) => return true,
            Err(refused) => {
                let more = settings.retries < 0 || attempt < settings.retries;
                tracing::warn!(topic = %settings.topic, error = %refused, retrying = more, "The app did not take an MQTT binding event.");
                if !more || !pause(stop, settings.retry_delay).await {
                    return false;
                }
                attempt += 1;
            }
        }
    }
}

async fn consume(
    settings: &Arc<Settings>,
    client: &AsyncClient,
    events: &mut EventLoop,
    handler: &Arc<dyn Handler>,
    stop: &CancellationToken,
    backoff: &mut Backoff,
) -> Result<(), rumqttc::ConnectionError> {
    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            e = events.poll() => e?,
        };
        match event {
            Event::Incoming(Incoming::ConnAck(_)) => {
                backoff.reset();
                // Subscribed on every connect: a clean session forgets it.
                if let Err(e) = client.subscribe(&settings.topic, QoS::AtLeastOnce).await {
                    tracing::warn!(topic = %settings.topic, error = %e, "MQTT subscribe failed.");
                }
            }
            Event::Incoming(Incoming::Publish(message)) => {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    return Ok(());
                };
                let (client, handler, settings, stop) = (
                    client.clone(),
                    handler.clone(),
                    settings.clone(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    let event = BindingEvent {
                        data: message.payload.clone(),
                        metadata: BTreeMap::from([("topic".to_owned(), message.topic.clone())]),
                    };
                    // A message the app never took stays unacked: the broker
                    // sends it again when the session resumes.
                    if deliver(handler.as_ref(), &settings, event, &stop).await
                        && let Err(e) = client.ack(&message).await
                    {
                        tracing::warn!(error = %e, "Acking an MQTT message failed.");
                    }
                    drop(permit);
                });
            }
            _ => {}
        }
    }
}

#[async_trait::async_trait]
impl Input for Mqtt {
    async fn run(&self, handler: Arc<dyn Handler>, stop: CancellationToken) {
        let mut options = self.options("consumer");
        options.set_manual_acks(true);
        let (client, mut events) = AsyncClient::new(options, 64);
        let mut backoff = Backoff::new();
        while !stop.is_cancelled() {
            if let Err(e) = consume(
                &self.settings,
                &client,
                &mut events,
                &handler,
                &stop,
                &mut backoff,
            )
            .await
            {
                tracing::warn!(topic = %self.settings.topic, error = %e, "MQTT input binding lost its connection; reconnecting.");
                if !pause(&stop, backoff.next()).await {
                    break;
                }
            }
        }
        let _ = client.disconnect().await;
    }
}

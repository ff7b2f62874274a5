//! Actors hosted by gRPC apps (`Dapr.SubscribeActorEventsAlpha1`). The app
//! opens the stream and names its actor types in the first message; the
//! sidecar hosts them while the stream stays open, sending the callbacks a
//! host makes (method calls, timers, reminders, deactivations) down the stream
//! and matching the app's answers to them by id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

use jetway_blocks::actors::{ActorApp, Actors, AppConfig, Callback, REMINDER_CANCEL};

use super::{AppError, AppResponse};
use jetway_protos::actors::{
    SubscribeActorEventsRequestAlpha1 as FromApp, SubscribeActorEventsResponseAlpha1 as ToApp,
    subscribe_actor_events_request_alpha1 as request,
    subscribe_actor_events_response_alpha1 as response,
};

/// What the sidecar sends the app.
pub type Events = tokio_stream::wrappers::ReceiverStream<Result<ToApp, Status>>;

/// The actor streams an app has open. Callbacks go to the newest; an older
/// one still answers the callbacks it was sent. The app hosts its actors
/// while one stream is open, as daprd lets it.
#[derive(Default)]
pub struct Streams {
    sessions: Mutex<Vec<Arc<Session>>>,
    /// Stops the host once the last stream closes.
    hosting: Mutex<Option<CancellationToken>>,
}

impl Streams {
    fn newest(&self) -> Result<Arc<Session>, AppError> {
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions
            .last()
            .cloned()
            .ok_or_else(|| AppError::Unreachable("the app has no actor stream open".into()))
    }

    /// Adds `session`; true when it is the only one.
    fn add(&self, session: Arc<Session>) -> bool {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.push(session);
        sessions.len() == 1
    }

    /// Removes `session`; the host stops when it was the last.
    fn remove(&self, session: &Arc<Session>) {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|s| !Arc::ptr_eq(s, session));
        if sessions.is_empty()
            && let Some(stop) = self.hosting.lock().expect("hosting lock").take()
        {
            tracing::info!("The app closed its last actor stream; its actors move to other hosts.");
            stop.cancel();
        }
    }
}

/// Opens an app's actor stream: reads its types and, unless one of its
/// streams already does, starts hosting them, until the app's last stream
/// closes or the node stops. A stream that names no types (an SDK probing
/// for support) is acknowledged and changes nothing.
pub async fn open(
    streams: Arc<Streams>,
    actors: Arc<Actors>,
    timeout: Duration,
    shutdown: CancellationToken,
    mut incoming: Streaming<FromApp>,
) -> Result<Events, Status> {
    let first = incoming.message().await?.ok_or_else(|| {
        Status::invalid_argument("the actor stream closed before its first message")
    })?;
    let Some(request::RequestType::InitialRequest(initial)) = first.request_type else {
        return Err(Status::invalid_argument(
            "the first message on the actor stream must be initial_request",
        ));
    };
    let config = AppConfig::parse(config_json(&initial).to_string().as_bytes())
        .map_err(Status::invalid_argument)?;
    let (tx, rx) = mpsc::channel(256);
    let initial_response = ToApp {
        response_type: Some(response::ResponseType::InitialResponse(
            response::Initial {},
        )),
    };
    let session = Arc::new(Session {
        tx: tx.clone(),
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        timeout,
    });
    let hosts = !config.types.is_empty();
    if hosts && streams.add(session.clone()) {
        let app: Arc<dyn ActorApp> = streams.clone();
        let host = match actors.start_hosting(app, config).await {
            Ok(host) => host,
            Err(e) => {
                streams.remove(&session);
                return Err(Status::failed_precondition(e));
            }
        };
        let stop = CancellationToken::new();
        *streams.hosting.lock().expect("hosting lock") = Some(stop.clone());
        tokio::spawn(async move { actors.run_host(host, stop).await });
    }
    let _ = tx.send(Ok(initial_response)).await;
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = incoming.message() => m,
            };
            match message {
                Ok(Some(m)) => {
                    if let Some(answer) = m.request_type {
                        session.answer(answer);
                    }
                }
                _ => break,
            }
        }
        if hosts {
            streams.remove(&session);
        }
    });
    Ok(Events::new(rx))
}

/// The initial request in `/dapr/config`'s JSON form.
fn config_json(initial: &request::Initial) -> Value {
    let settings = |idle: &Option<prost_types::Duration>,
                    drain: &Option<prost_types::Duration>,
                    rebalanced: Option<bool>,
                    reentrancy: &Option<request::Reentrancy>| {
        let millis = |d: &Option<prost_types::Duration>| {
            d.as_ref()
                .map(|d| format!("{}ms", d.seconds * 1000 + i64::from(d.nanos) / 1_000_000))
        };
        json!({
            "actorIdleTimeout": millis(idle),
            "drainOngoingCallTimeout": millis(drain),
            "drainRebalancedActors": rebalanced,
            "reentrancy": reentrancy.as_ref().map(|r| json!({
                "enabled": r.enabled,
                "maxStackDepth": r.max_stack_depth,
            })),
        })
    };
    let mut config = settings(
        &initial.actor_idle_timeout,
        &initial.drain_ongoing_call_timeout,
        initial.drain_rebalanced_actors,
        &initial.reentrancy,
    );
    config["entities"] = json!(initial.entities);
    config["entitiesConfig"] = initial
        .entities_config
        .iter()
        .map(|e| {
            let mut c = settings(
                &e.actor_idle_timeout,
                &e.drain_ongoing_call_timeout,
                e.drain_rebalanced_actors,
                &e.reentrancy,
            );
            c["entities"] = json!(e.entities);
            c
        })
        .collect();
    config
}

/// The sidecar's end of one app's actor stream.
struct Session {
    tx: mpsc::Sender<Result<ToApp, Status>>,
    pending: Mutex<HashMap<String, oneshot::Sender<request::RequestType>>>,
    next_id: AtomicU64,
    timeout: Duration,
}

impl Session {
    /// Sends the app a callback (built around a fresh id) and waits for its answer.
    async fn ask(
        &self,
        callback: impl FnOnce(String) -> response::ResponseType,
    ) -> Result<request::RequestType, AppError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("pending lock")
            .insert(id.clone(), tx);
        let message = ToApp {
            response_type: Some(callback(id.clone())),
        };
        let closed = || AppError::Unreachable("the app's actor stream is closed".into());
        let answer = match self.tx.send(Ok(message)).await {
            Ok(()) => match tokio::time::timeout(self.timeout, rx).await {
                Ok(answer) => answer.map_err(|_| closed()),
                Err(_) => Err(AppError::Timeout(self.timeout)),
            },
            Err(_) => Err(closed()),
        };
        self.pending.lock().expect("pending lock").remove(&id);
        answer
    }

    /// Hands an answer of the app to the callback waiting for it.
    fn answer(&self, answer: request::RequestType) {
        let id = match &answer {
            request::RequestType::InvokeResponse(r) => &r.id,
            request::RequestType::ReminderResponse(r) | request::RequestType::TimerResponse(r) => {
                &r.id
            }
            request::RequestType::DeactivateResponse(r) => &r.id,
            request::RequestType::RequestFailed(r) => &r.id,
            request::RequestType::InitialRequest(_) => return,
        };
        let waiting = self.pending.lock().expect("pending lock").remove(id);
        if let Some(waiting) = waiting {
            let _ = waiting.send(answer);
        }
    }
}

/// Callback data as daprd sends it: the JSON value in a `BytesValue`.
fn json_any(data: Option<&serde_json::value::RawValue>) -> Option<prost_types::Any> {
    let data = data?;
    let mut value = Vec::new();
    prost::encoding::bytes::encode(
        1,
        &Bytes::copy_from_slice(data.get().as_bytes()),
        &mut value,
    );
    Some(prost_types::Any {
        type_url: "type.googleapis.com/google.protobuf.BytesValue".into(),
        value,
    })
}

fn to_map(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// A failed callback, in HTTP terms: a missing actor or method is 404.
fn failed(f: request::Failed) -> AppResponse {
    let status = match tonic::Code::from(f.code as i32) {
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = json!({"errorCode": "ERR_ACTOR_INVOKE_METHOD", "message": f.message});
    AppResponse::new(status, HeaderMap::new(), Bytes::from(body.to_string()))
}

fn unexpected(answer: request::RequestType) -> AppError {
    AppError::Protocol(format!(
        "the app answered a callback with the wrong kind of message: {answer:?}"
    ))
}

#[async_trait::async_trait]
impl ActorApp for Streams {
    async fn call(
        &self,
        actor_type: &str,
        actor_id: &str,
        callback: Callback<'_>,
    ) -> Result<AppResponse, AppError> {
        let session = self.newest()?;
        session.call(actor_type, actor_id, callback).await
    }

    async fn deactivate(&self, actor_type: &str, actor_id: &str) -> Result<(), AppError> {
        let session = self.newest()?;
        session.deactivate(actor_type, actor_id).await
    }
}

#[async_trait::async_trait]
impl ActorApp for Session {
    async fn call(
        &self,
        actor_type: &str,
        actor_id: &str,
        callback: Callback<'_>,
    ) -> Result<AppResponse, AppError> {
        let (actor_type, actor_id) = (actor_type.to_owned(), actor_id.to_owned());
        let answer = match callback {
            Callback::Method {
                name,
                headers,
                body,
            } => {
                let method = name.to_owned();
                self.ask(|id| {
                    response::ResponseType::InvokeRequest(response::Invoke {
                        id,
                        actor_type,
                        actor_id,
                        method,
                        data: body.to_vec(),
                        metadata: to_map(&headers),
                    })
                })
                .await?
            }
            Callback::Timer {
                name,
                callback,
                due_time,
                period,
                data,
            } => {
                let timer = response::Timer {
                    id: String::new(),
                    actor_type,
                    actor_id,
                    name: name.to_owned(),
                    due_time: due_time.to_owned(),
                    period: period.to_owned(),
                    callback: callback.to_owned(),
                    data: json_any(data),
                    metadata: HashMap::new(),
                };
                self.ask(|id| response::ResponseType::TimerRequest(response::Timer { id, ..timer }))
                    .await?
            }
            Callback::Reminder {
                name,
                due_time,
                period,
                data,
            } => {
                let reminder = response::Reminder {
                    id: String::new(),
                    actor_type,
                    actor_id,
                    name: name.to_owned(),
                    due_time: due_time.to_owned(),
                    period: period.to_owned(),
                    data: json_any(data),
                    metadata: HashMap::new(),
                };
                self.ask(|id| {
                    response::ResponseType::ReminderRequest(response::Reminder { id, ..reminder })
                })
                .await?
            }
        };
        Ok(match answer {
            request::RequestType::InvokeResponse(r) => {
                let mut headers = HeaderMap::new();
                for (k, v) in &r.metadata {
                    if let (Ok(k), Ok(v)) =
                        (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
                    {
                        headers.insert(k, v);
                    }
                }
                let status = match r.error {
                    true => StatusCode::INTERNAL_SERVER_ERROR,
                    false => StatusCode::OK,
                };
                AppResponse::new(status, headers, r.data.into())
            }
            request::RequestType::ReminderResponse(r) | request::RequestType::TimerResponse(r) => {
                let mut headers = HeaderMap::new();
                if r.cancel {
                    headers.insert(REMINDER_CANCEL, HeaderValue::from_static("true"));
                }
                AppResponse::new(StatusCode::OK, headers, Bytes::new())
            }
            request::RequestType::RequestFailed(f) => failed(f),
            other => return Err(unexpected(other)),
        })
    }

    async fn deactivate(&self, actor_type: &str, actor_id: &str) -> Result<(), AppError> {
        let (actor_type, actor_id) = (actor_type.to_owned(), actor_id.to_owned());
        let answer = self
            .ask(|id| {
                response::ResponseType::DeactivateRequest(response::Deactivate {
                    id,
                    actor_type,
                    actor_id,
                })
            })
            .await?;
        match answer {
            request::RequestType::DeactivateResponse(_) => Ok(()),
            request::RequestType::RequestFailed(f) => Err(AppError::Protocol(f.message)),
            other => Err(unexpected(other)),
        }
    }
}

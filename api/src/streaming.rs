//! Streaming subscriptions (`SubscribeTopicEventsAlpha1`): the app opens a
//! bidirectional stream, names a topic, then receives its events on the stream
//! and answers each with its id and a status. Delivery runs through the same
//! subscriber as app-channel subscriptions: retries, dead letters, progress.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::Stream;
use jetway_protos::runtime as pb;
use pb::subscribe_topic_events_request_alpha1::SubscribeTopicEventsRequestType as Request;
use pb::subscribe_topic_events_response_alpha1::SubscribeTopicEventsResponseType as Response;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::app::grpc::topic_event;
use crate::node::{ActiveSubscription, Node, SubscriptionKind};
use jetway_blocks::pubsub::subscriber::{self, Event, Outcome, Target};
use jetway_blocks::pubsub::{Rule, Subscription};

/// Events for the app, as the rpc's response stream.
pub(super) type Events =
    Pin<Box<dyn Stream<Item = Result<pb::SubscribeTopicEventsResponseAlpha1, Status>> + Send>>;

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>;

/// A streaming subscription's consumer outlives its stream this long, so an
/// app that reconnects (a restart, a deploy) misses nothing; after that the
/// server deletes it, and a stream opened later starts as a new subscriber.
const FORGET_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Reads the initial request, starts delivering, and returns the event stream.
pub(super) async fn open(
    node: Arc<Node>,
    mut requests: Streaming<pb::SubscribeTopicEventsRequestAlpha1>,
) -> Result<Events, Status> {
    let initial = match requests
        .message()
        .await?
        .and_then(|r| r.subscribe_topic_events_request_type)
    {
        Some(Request::InitialRequest(initial)) => initial,
        _ => return Err(Status::invalid_argument("initial request is required")),
    };
    super::pubsub::component(&node, &initial.pubsub_name)?;
    super::pubsub::topic(&initial.pubsub_name, &initial.topic)?;
    let spec = Subscription {
        name: format!("{}/{}", initial.pubsub_name, initial.topic),
        pubsub: initial.pubsub_name,
        topic: initial.topic,
        rules: vec![Rule {
            matches: String::new(),
            path: "/".into(),
        }],
        metadata: initial.metadata.into_iter().collect(),
        dead_letter_topic: initial.dead_letter_topic.filter(|t| !t.is_empty()),
        scopes: Vec::new(),
        bulk: None,
    };
    let mut route = crate::node::route(&node, &spec).map_err(Status::invalid_argument)?;
    route.forget_after = Some(FORGET_AFTER);

    let (events, receiver) = mpsc::channel(64);
    let initial_response =
        Response::InitialResponse(pb::SubscribeTopicEventsResponseInitialAlpha1 {});
    let _ = events
        .send(Ok(pb::SubscribeTopicEventsResponseAlpha1 {
            subscribe_topic_events_response_type: Some(initial_response),
        }))
        .await;
    let pending = Pending::default();
    let stream = Arc::new(AppStream {
        events,
        pending: pending.clone(),
    });
    let active = ActiveSubscription {
        spec,
        kind: SubscriptionKind::Streaming,
    };
    node.subscriptions
        .write()
        .expect("subscriptions lock")
        .push(active.clone());

    let stop = node.shutdown.child_token();
    let delivering = tokio::spawn(subscriber::run(Arc::new(route), stream, stop.clone()));
    tokio::spawn(async move {
        read_answers(&mut requests, &pending, &stop).await;
        // The app is gone: stop delivering; unanswered events are retried.
        stop.cancel();
        pending.lock().expect("pending lock").clear();
        let _ = delivering.await;
        // Another stream may be open on the same topic: unlist this one only.
        let mut listed = node.subscriptions.write().expect("subscriptions lock");
        let this = |s: &ActiveSubscription| {
            s.kind == SubscriptionKind::Streaming && s.spec.name == active.spec.name
        };
        if let Some(i) = listed.iter().position(this) {
            listed.remove(i);
        }
    });
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

/// Settles events by the app's answers until the stream ends.
async fn read_answers(
    requests: &mut Streaming<pb::SubscribeTopicEventsRequestAlpha1>,
    pending: &Pending,
    stop: &tokio_util::sync::CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            m = requests.message() => m,
        };
        let processed = match next {
            Ok(Some(r)) => match r.subscribe_topic_events_request_type {
                Some(Request::EventProcessed(p)) => p,
                _ => {
                    tracing::warn!(
                        "A streaming subscription sent a second initial request; closed."
                    );
                    return;
                }
            },
            Ok(None) => return,
            Err(status) => {
                tracing::debug!(%status, "A streaming subscription ended.");
                return;
            }
        };
        let status = processed.status.map(|s| s.status).unwrap_or_default();
        let outcome = {
            use pb::topic_event_response::TopicEventResponseStatus as S;
            match S::try_from(status) {
                Ok(S::Success) => Outcome::Ack,
                Ok(S::Drop) => Outcome::Drop,
                _ => Outcome::Retry,
            }
        };
        match pending.lock().expect("pending lock").remove(&processed.id) {
            Some(waiting) => {
                let _ = waiting.send(outcome);
            }
            None => {
                tracing::debug!(id = %processed.id, "An answer for no event in flight; ignored.")
            }
        }
    }
}

/// The app's end of a streaming subscription, as a delivery target.
struct AppStream {
    events: mpsc::Sender<Result<pb::SubscribeTopicEventsResponseAlpha1, Status>>,
    pending: Pending,
}

#[async_trait::async_trait]
impl Target for AppStream {
    async fn deliver(&self, event: &Event<'_>) -> Outcome {
        let mut message = match topic_event(event) {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(%error, topic = %event.topic, "Event is not a JSON CloudEvent; not delivered.");
                return Outcome::Retry;
            }
        };
        if message.id.is_empty() {
            message.id = uuid::Uuid::new_v4().to_string();
        }
        let (answer, answered) = oneshot::channel();
        self.pending
            .lock()
            .expect("pending lock")
            .insert(message.id.clone(), answer);
        let sent = self
            .events
            .send(Ok(pb::SubscribeTopicEventsResponseAlpha1 {
                subscribe_topic_events_response_type: Some(Response::EventMessage(message)),
            }))
            .await;
        if sent.is_err() {
            return Outcome::Retry;
        }
        answered.await.unwrap_or(Outcome::Retry)
    }
}

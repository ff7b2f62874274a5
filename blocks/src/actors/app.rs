//! What a host asks of the app that hosts its actors: method calls, timer
//! and reminder callbacks, deactivations. The API edge implements it: an
//! HTTP app gets daprd's `/actors/...` requests, a gRPC app gets them over the
//! stream it opened (`SubscribeActorEventsAlpha1`).

use bytes::Bytes;
use http::HeaderMap;
use jetway_core::{AppError, AppResponse};
use serde_json::value::RawValue;

/// One callback into an actor.
#[derive(Clone)]
pub enum Callback<'a> {
    Method {
        name: &'a str,
        headers: HeaderMap,
        body: Bytes,
    },
    Timer {
        name: &'a str,
        callback: &'a str,
        due_time: &'a str,
        period: &'a str,
        data: Option<&'a RawValue>,
    },
    Reminder {
        name: &'a str,
        due_time: &'a str,
        period: &'a str,
        data: Option<&'a RawValue>,
    },
}

/// The app's answer header (or, over the stream, flag) that ends the reminder
/// that fired.
pub const REMINDER_CANCEL: &str = "x-daprremindercancel";

/// The app side of actor hosting.
#[async_trait::async_trait]
pub trait ActorApp: Send + Sync {
    /// Runs `callback` on an actor; the app's answer, in HTTP terms.
    async fn call(
        &self,
        actor_type: &str,
        actor_id: &str,
        callback: Callback<'_>,
    ) -> Result<AppResponse, AppError>;

    async fn deactivate(&self, actor_type: &str, actor_id: &str) -> Result<(), AppError>;
}

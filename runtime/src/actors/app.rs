//! What a host asks of the app that hosts its actors: method calls, timer
//! and reminder callbacks, deactivations. An HTTP app gets daprd's
//! `/actors/...` requests; a gRPC app gets them over the stream it opened
//! (`SubscribeActorEventsAlpha1`, in `api/actor_stream`).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::app::AppChannel;
use crate::app::AppResponse;

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
    ) -> Result<AppResponse, String>;

    async fn deactivate(&self, actor_type: &str, actor_id: &str) -> Result<(), String>;
}

/// Actors hosted by an HTTP app.
pub struct HttpActors(pub AppChannel);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimerBody<'a> {
    callback: &'a str,
    due_time: &'a str,
    period: &'a str,
    data: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReminderBody<'a> {
    due_time: &'a str,
    period: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
}

#[async_trait::async_trait]
impl ActorApp for HttpActors {
    async fn call(
        &self,
        actor_type: &str,
        actor_id: &str,
        callback: Callback<'_>,
    ) -> Result<AppResponse, String> {
        let base = format!(
            "/actors/{}/{}/method",
            segment(actor_type),
            segment(actor_id)
        );
        let json = |body: Vec<u8>| {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            (headers, Bytes::from(body))
        };
        let (path, (headers, body)) = match callback {
            Callback::Method {
                name,
                headers,
                body,
            } => (format!("{base}/{}", segment(name)), (headers, body)),
            Callback::Timer {
                name,
                callback,
                due_time,
                period,
                data,
            } => {
                let body = TimerBody {
                    callback,
                    due_time,
                    period,
                    data,
                };
                let body = serde_json::to_vec(&body).expect("timer bodies serialize");
                (format!("{base}/timer/{}", segment(name)), json(body))
            }
            Callback::Reminder {
                name,
                due_time,
                period,
                data,
            } => {
                let body = ReminderBody {
                    due_time,
                    period,
                    data,
                };
                let body = serde_json::to_vec(&body).expect("reminder bodies serialize");
                (format!("{base}/remind/{}", segment(name)), json(body))
            }
        };
        let r = self
            .0
            .call(Method::PUT, &path, headers, body)
            .await
            .map_err(|e| e.to_string())?;
        Ok(r)
    }

    async fn deactivate(&self, actor_type: &str, actor_id: &str) -> Result<(), String> {
        let path = format!("/actors/{}/{}", segment(actor_type), segment(actor_id));
        let r = self
            .0
            .call(Method::DELETE, &path, HeaderMap::new(), Bytes::new())
            .await
            .map_err(|e| e.to_string())?;
        match r.status.is_success() {
            true => Ok(()),
            false => Err(format!("the app answered {}", r.status)),
        }
    }
}

/// Percent-encodes one URL path segment.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments() {
        assert_eq!(super::segment("a b/c"), "a%20b%2Fc");
        assert_eq!(super::segment("Counter-1.x_y~"), "Counter-1.x_y~");
    }
}

//! Actors hosted by an HTTP app: daprd's `/actors/...` requests.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use jetway_blocks::actors::{ActorApp, Callback};
use jetway_core::{AppError, AppResponse};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{AppChannel, path_segment};

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
    ) -> Result<AppResponse, AppError> {
        let base = format!(
            "/actors/{}/{}/method",
            path_segment(actor_type),
            path_segment(actor_id)
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
            } => (format!("{base}/{}", path_segment(name)), (headers, body)),
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
                (format!("{base}/timer/{}", path_segment(name)), json(body))
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
                (format!("{base}/remind/{}", path_segment(name)), json(body))
            }
        };
        self.0.call(Method::PUT, &path, headers, body).await
    }

    async fn deactivate(&self, actor_type: &str, actor_id: &str) -> Result<(), AppError> {
        let path = format!(
            "/actors/{}/{}",
            path_segment(actor_type),
            path_segment(actor_id)
        );
        let r = self
            .0
            .call(Method::DELETE, &path, HeaderMap::new(), Bytes::new())
            .await?;
        match r.status.is_success() {
            true => Ok(()),
            false => Err(AppError::Protocol(format!("the app answered {}", r.status))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments() {
        assert_eq!(crate::app::path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(crate::app::path_segment("Counter-1.x_y~"), "Counter-1.x_y~");
    }
}

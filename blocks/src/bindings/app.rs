//! What an input binding asks of the app: whether it takes a binding's
//! events, and each event. The API edge implements it: an HTTP app gets
//! daprd's `OPTIONS` probe and `POST /<route>`, a gRPC app
//! `ListInputBindings` and `OnBindingEvent`.

use std::sync::Arc;

use bytes::Bytes;

use super::{Event, Refused};

/// The app side of input bindings.
#[async_trait::async_trait]
pub trait BindingApp: Send + Sync {
    /// Whether the app takes the events of binding `name` (posted to `route`).
    async fn wants(&self, name: &str, route: &str) -> bool;

    /// Delivers one event; the app's answer, or why it did not take it.
    async fn deliver(&self, name: &str, route: &str, event: Event) -> Result<Bytes, Refused>;
}

/// Hands one binding's events to the app.
pub(super) struct AppHandler {
    app: Arc<dyn BindingApp>,
    name: String,
    route: String,
}

impl AppHandler {
    pub(super) fn new(app: Arc<dyn BindingApp>, name: &str, route: &str) -> AppHandler {
        AppHandler {
            app,
            name: name.to_owned(),
            route: route.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl jetway_bindings::Handler for AppHandler {
    async fn handle(&self, event: Event) -> Result<Bytes, Refused> {
        self.app.deliver(&self.name, &self.route, event).await
    }
}

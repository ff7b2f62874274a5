//! Messages of Dapr's runtime protos that the `dapr` crate's generated code
//! does not have yet: `SubscribeActorEventsAlpha1` (actors hosted by gRPC
//! apps) and `GetActorTimer`.

use std::collections::HashMap;

/// App → sidecar.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubscribeActorEventsRequestAlpha1 {
    #[prost(oneof = "request::Type", tags = "1, 2, 3, 4, 5, 6")]
    pub request_type: Option<request::Type>,
}

pub mod request {
    use super::*;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Type {
        #[prost(message, tag = "1")]
        InitialRequest(Initial),
        #[prost(message, tag = "2")]
        InvokeResponse(InvokeResponse),
        #[prost(message, tag = "3")]
        ReminderResponse(CallbackResponse),
        #[prost(message, tag = "4")]
        TimerResponse(CallbackResponse),
        #[prost(message, tag = "5")]
        DeactivateResponse(DeactivateResponse),
        #[prost(message, tag = "6")]
        RequestFailed(Failed),
    }

    /// The actor types the app hosts, as `/dapr/config` gives them over HTTP.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Initial {
        #[prost(string, repeated, tag = "1")]
        pub entities: Vec<String>,
        #[prost(message, optional, tag = "2")]
        pub actor_idle_timeout: Option<prost_types::Duration>,
        #[prost(message, optional, tag = "3")]
        pub drain_ongoing_call_timeout: Option<prost_types::Duration>,
        #[prost(bool, optional, tag = "4")]
        pub drain_rebalanced_actors: Option<bool>,
        #[prost(message, optional, tag = "5")]
        pub reentrancy: Option<Reentrancy>,
        #[prost(message, repeated, tag = "6")]
        pub entities_config: Vec<EntityConfig>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntityConfig {
        #[prost(string, repeated, tag = "1")]
        pub entities: Vec<String>,
        #[prost(message, optional, tag = "2")]
        pub actor_idle_timeout: Option<prost_types::Duration>,
        #[prost(message, optional, tag = "3")]
        pub drain_ongoing_call_timeout: Option<prost_types::Duration>,
        #[prost(bool, optional, tag = "4")]
        pub drain_rebalanced_actors: Option<bool>,
        #[prost(message, optional, tag = "5")]
        pub reentrancy: Option<Reentrancy>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Reentrancy {
        #[prost(bool, tag = "1")]
        pub enabled: bool,
        #[prost(int32, optional, tag = "2")]
        pub max_stack_depth: Option<i32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InvokeResponse {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(bytes = "vec", tag = "2")]
        pub data: Vec<u8>,
        #[prost(map = "string, string", tag = "3")]
        pub metadata: HashMap<String, String>,
        /// The data is the actor's error.
        #[prost(bool, tag = "4")]
        pub error: bool,
    }

    /// A reminder's or a timer's answer.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CallbackResponse {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(bool, tag = "2")]
        pub cancel: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DeactivateResponse {
        #[prost(string, tag = "1")]
        pub id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Failed {
        #[prost(string, tag = "1")]
        pub id: String,
        /// A gRPC status code.
        #[prost(uint32, tag = "2")]
        pub code: u32,
        #[prost(string, tag = "3")]
        pub message: String,
    }
}

/// Sidecar → app.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubscribeActorEventsResponseAlpha1 {
    #[prost(oneof = "response::Type", tags = "1, 2, 3, 4, 5")]
    pub response_type: Option<response::Type>,
}

pub mod response {
    use super::*;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Type {
        #[prost(message, tag = "1")]
        InitialResponse(Initial),
        #[prost(message, tag = "2")]
        InvokeRequest(Invoke),
        #[prost(message, tag = "3")]
        ReminderRequest(Reminder),
        #[prost(message, tag = "4")]
        TimerRequest(Timer),
        #[prost(message, tag = "5")]
        DeactivateRequest(Deactivate),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Initial {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Invoke {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub actor_type: String,
        #[prost(string, tag = "3")]
        pub actor_id: String,
        #[prost(string, tag = "4")]
        pub method: String,
        #[prost(bytes = "vec", tag = "5")]
        pub data: Vec<u8>,
        #[prost(map = "string, string", tag = "6")]
        pub metadata: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Reminder {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub actor_type: String,
        #[prost(string, tag = "3")]
        pub actor_id: String,
        #[prost(string, tag = "4")]
        pub name: String,
        #[prost(string, tag = "5")]
        pub due_time: String,
        #[prost(string, tag = "6")]
        pub period: String,
        #[prost(message, optional, tag = "7")]
        pub data: Option<prost_types::Any>,
        #[prost(map = "string, string", tag = "8")]
        pub metadata: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timer {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub actor_type: String,
        #[prost(string, tag = "3")]
        pub actor_id: String,
        #[prost(string, tag = "4")]
        pub name: String,
        #[prost(string, tag = "5")]
        pub due_time: String,
        #[prost(string, tag = "6")]
        pub period: String,
        #[prost(string, tag = "7")]
        pub callback: String,
        #[prost(message, optional, tag = "8")]
        pub data: Option<prost_types::Any>,
        #[prost(map = "string, string", tag = "9")]
        pub metadata: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Deactivate {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub actor_type: String,
        #[prost(string, tag = "3")]
        pub actor_id: String,
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetActorTimerRequest {
    #[prost(string, tag = "1")]
    pub actor_type: String,
    #[prost(string, tag = "2")]
    pub actor_id: String,
    #[prost(string, tag = "3")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetActorTimerResponse {
    #[prost(string, tag = "1")]
    pub actor_type: String,
    #[prost(string, tag = "2")]
    pub actor_id: String,
    #[prost(string, optional, tag = "3")]
    pub due_time: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub period: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub ttl: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub callback: Option<String>,
    #[prost(message, optional, tag = "7")]
    pub data: Option<prost_types::Any>,
}

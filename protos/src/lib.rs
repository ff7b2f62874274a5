//! Jetway's generated gRPC code, in one place: the Dapr runtime and app
//! callback messages (from the `dapr` crate), the server trait of the part of
//! the Dapr service Jetway serves, and the messages newer than the `dapr`
//! crate's (from `proto/`).

pub use dapr::dapr::proto::common::v1 as common;
pub use dapr::dapr::proto::runtime::v1 as runtime;

/// `google.protobuf.Empty`, as the `dapr` crate spells it.
pub type Empty = ();

/// The actor messages newer than the `dapr` crate's.
#[allow(unreachable_pub, clippy::all)]
pub mod actors {
    include!(concat!(env!("OUT_DIR"), "/dapr.proto.runtime.v1.rs"));
}

/// The server of the Dapr service's rpcs Jetway serves, and their paths.
#[allow(unreachable_pub, clippy::all)]
pub mod dapr_service {
    include!(concat!(env!("OUT_DIR"), "/dapr.proto.runtime.v1.Dapr.rs"));
    include!(concat!(env!("OUT_DIR"), "/dapr_paths.rs"));
}

/// The server of the durabletask `TaskHubSidecarService` (workflows).
#[allow(unreachable_pub, clippy::all)]
pub mod task_hub {
    include!(concat!(env!("OUT_DIR"), "/.TaskHubSidecarService.rs"));
}

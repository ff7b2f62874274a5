//! Durable workflows for the durabletask workers of the official Dapr SDKs:
//! a pure state machine per instance ([`machine`]), the records its history
//! is kept in ([`record`]), the connected workers ([`workers`]) and the
//! JetStream driver that runs them all ([`engine`]).

mod commit;
pub mod engine;
pub mod machine;
pub mod record;
mod spill;
pub mod workers;

pub use dapr_durabletask_proto as proto;
pub use engine::{Config, Engine, Error};

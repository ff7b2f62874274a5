//! Durable workflows for the durabletask workers of the official Dapr SDKs.

pub mod machine;

pub use dapr_durabletask_proto as proto;

//! Jetway's building blocks: for each, the trait its components implement
//! (with the guarantees every implementation gives), its error kinds and its
//! components. No block knows an API framework: the API edge translates
//! requests into calls on these and their errors into Dapr's codes.

pub mod actors;
pub mod invoke;
pub mod pubsub;
pub mod registry;
pub mod secrets;
pub mod state;

pub use registry::Registry;

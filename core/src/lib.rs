//! Jetway's vocabulary, free of any transport: the Dapr error codes with the
//! statuses each API answers them with and the details daprd attaches,
//! component metadata read case-insensitively, Dapr's durations and
//! schedules, and the app port's response.
//! Building blocks speak it; the API edge renders it as HTTP or gRPC.

pub mod app;
pub mod duration;
pub mod error;
pub mod metadata;
pub mod schedule;

pub use app::AppResponse;
pub use error::{Details, Error, ErrorCode, FieldViolation, GrpcCode, Resource};
pub use metadata::Metadata;

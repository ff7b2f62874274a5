//! Jetway's vocabulary, free of any transport: the Dapr error codes with the
//! statuses each API answers them with and the details daprd attaches,
//! component metadata read case-insensitively, Dapr's durations and
//! schedules, the request context and the app port.
//! Building blocks speak it; the API edge renders it as HTTP or gRPC.

pub mod app;
pub mod context;
pub mod duration;
pub mod error;
pub mod metadata;
pub mod schedule;

pub use app::{App, AppError, AppRequest, AppResponse};
pub use context::Context;
pub use error::{Details, Error, ErrorCode, FieldViolation, GrpcCode, Resource};
pub use metadata::Metadata;

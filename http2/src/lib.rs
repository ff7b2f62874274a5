//! A lean HTTP/2 server, made for the gRPC API.
//!
//! Each connection is one task: it reads frames, polls the handlers of all
//! its streams and writes what they produced with one write. Header blocks
//! are decoded straight into `http` types, and responses are encoded without
//! the dynamic table, so the encoder keeps no state. Flow control, CONTINUATION,
//! trailers, streaming bodies, resets and graceful shutdown (GOAWAY) follow
//! RFC 9113; priorities are ignored, and server push is never used.

mod frame;
mod hpack;
mod server;

pub use frame::Reason;
pub use server::{Error, RecvBody, Reset, serve};

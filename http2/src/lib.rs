//! Lean HTTP/2 for gRPC: a server and a client.
//!
//! Each connection is one task: it reads frames, polls the futures of all its
//! streams (a server's handlers, a client's request bodies) and writes what
//! they produced with one write. Tasks that wait for what it reads are woken
//! once it has handled all it read, outside its lock. Header blocks are
//! decoded straight into `http` types and encoded, without the dynamic table,
//! straight into the output, so the encoder keeps no state. Flow control, CONTINUATION,
//! trailers, streaming bodies, resets and graceful shutdown (GOAWAY) follow
//! RFC 9113; priorities are ignored, and server push is never used.

mod client;
mod conn;
mod frame;
mod hpack;
mod server;

pub use client::{CallError, Channel, ResponseFuture};
pub use conn::{Error, RecvBody, Reset};
pub use frame::Reason;
pub use server::serve;

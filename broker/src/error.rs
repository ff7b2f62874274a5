use std::time::Duration;

/// What went wrong in a NATS operation, as the kinds callers act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A write's expected revision did not match the key's latest revision.
    #[error("wrong last revision")]
    WrongRevision,
    /// Nobody serves the subject (for invocation: no live replica of the app).
    #[error("no responders")]
    NoResponders,
    /// No stream holds the subject: it was never made, or the server lost it
    /// (memory storage after a restart) or someone deleted it.
    #[error("{0}: no stream holds the subject")]
    NoStream(&'static str),
    /// No answer within the deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The server holds as many atomic batches in flight as it allows.
    #[error("the NATS server has too many atomic batches in flight")]
    Busy,
    /// The message is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A name or setting NATS rejects.
    #[error("{0}")]
    Invalid(String),
    /// Any other failure of the connection or of JetStream.
    #[error("{context}: {source}")]
    Nats {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    pub(crate) fn nats(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Nats {
            context,
            source: source.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

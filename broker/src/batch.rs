//! JetStream atomic batches (nats-server 2.12+): messages on any subjects of
//! one stream, stored all or none. Every expected-sequence header in the batch
//! is checked against the stream as it was before the batch.

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;

use crate::connection::Broker;
use crate::error::{Error, Result};

const BATCH_ID: &str = "Nats-Batch-Id";
const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
const BATCH_COMMIT: &str = "Nats-Batch-Commit";
const TIMEOUT: Duration = Duration::from_secs(10);
/// JetStream's error codes for a failed expected-sequence check, and for a
/// subject that another in-flight write touches.
const WRONG_LAST_SEQUENCE: u64 = 10071;
const WRONG_LAST_SEQUENCE_CONSTANT: u64 = 10164;
/// JetStream's error code for a batch refused because too many are in flight.
const TOO_MANY_IN_FLIGHT: u64 = 10210;
/// How long a batch refused for that waits, at most, before it gives up.
const BUSY_PATIENCE: Duration = Duration::from_secs(5);
/// Largest atomic batch the server accepts by default.
pub const MAX_BATCH: usize = 1000;

/// One message of a batch.
#[derive(Clone)]
pub(crate) struct Message {
    pub(crate) subject: String,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Bytes,
}

/// Publishes `messages` as one atomic batch and returns the stream sequence
/// of the last; a failed expectation fails it whole with `WrongRevision`. A
/// batch the server refuses because too many are in flight (nothing of it is
/// stored) is sent again, after a growing pause, for up to 5 s.
pub(crate) async fn publish(broker: &Broker, messages: Vec<Message>) -> Result<u64> {
    let patience = tokio::time::Instant::now() + BUSY_PATIENCE;
    let mut pause = Duration::from_millis(1);
    loop {
        match publish_once(broker, messages.clone()).await {
            Err(Error::Busy) if tokio::time::Instant::now() + pause < patience => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

async fn publish_once(broker: &Broker, messages: Vec<Message>) -> Result<u64> {
    if messages.len() > MAX_BATCH {
        return Err(Error::Invalid(format!(
            "an atomic batch holds at most {MAX_BATCH} messages, got {}",
            messages.len()
        )));
    }
    let batch_id = nuid::next().to_string();
    let last = messages.len();
    let mut sequence = 0;
    for (i, mut m) in messages.into_iter().enumerate() {
        m.headers.insert(BATCH_ID, batch_id.as_str());
        m.headers
            .insert(BATCH_SEQUENCE, (i + 1).to_string().as_str());
        if i + 1 == last {
            m.headers.insert(BATCH_COMMIT, "1");
        }
        // The first message is a request so the server confirms the batch
        // started (an empty reply); the commit's reply is the batch's result.
        if i == 0 || i + 1 == last {
            let reply = broker
                .request_inline(m.subject, m.headers, m.payload, TIMEOUT)
                .await
                .map_err(|e| match e {
                    Error::NoResponders => Error::NoStream("atomic batch"),
                    other => other,
                })?;
            sequence = reply_result(&reply.payload)?;
        } else {
            broker
                .client()
                .publish_with_headers(m.subject, m.headers, m.payload)
                .await
                .map_err(|e| Error::nats("atomic batch publish", e))?;
        }
    }
    Ok(sequence)
}

#[derive(serde::Deserialize)]
struct Reply {
    error: Option<ApiError>,
    #[serde(default)]
    seq: u64,
}

#[derive(serde::Deserialize)]
struct ApiError {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// The sequence an acknowledgement names (0 for the empty reply that
/// confirms a batch started), or the batch's error.
fn reply_result(reply: &[u8]) -> Result<u64> {
    if reply.is_empty() {
        return Ok(0);
    }
    let reply: Reply = serde_json::from_slice(reply)
        .map_err(|e| Error::nats("reading the atomic batch reply", e))?;
    match reply.error {
        None => Ok(reply.seq),
        Some(e)
            if e.err_code == WRONG_LAST_SEQUENCE || e.err_code == WRONG_LAST_SEQUENCE_CONSTANT =>
        {
            Err(Error::WrongRevision)
        }
        Some(e) if e.err_code == TOO_MANY_IN_FLIGHT => Err(Error::Busy),
        Some(e) => Err(Error::nats(
            "atomic batch publish",
            format!("{} (error code {})", e.description, e.err_code),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_replies() {
        assert_eq!(reply_result(b"").ok(), Some(0));
        assert_eq!(
            reply_result(br#"{"stream":"KV_s","seq":5,"batch":"b","count":2}"#).ok(),
            Some(5)
        );
        assert!(matches!(
            reply_result(br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}"#),
            Err(Error::WrongRevision)
        ));
        assert!(reply_result(br#"{"error":{"code":400,"err_code":10174,"description":"atomic publish is disabled"}}"#).is_err());
        assert!(matches!(
            reply_result(br#"{"error":{"code":503,"err_code":10210,"description":"atomic publish too many inflight"}}"#),
            Err(Error::Busy)
        ));
    }
}

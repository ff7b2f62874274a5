//! Payloads larger than one NATS message (`max_payload`) go by reference:
//! their chunks are messages on a subject of the instance's own, published
//! in the same atomic batch as the message that refers to them, and read back
//! by whoever takes that message.

use bytes::{BufMut, Bytes, BytesMut};
use jetway_broker::naming::WorkflowNames;
use jetway_broker::stream::{Outgoing, Stream};

/// The first byte of a reference: no protobuf message starts with a zero
/// byte (field number 0 does not exist), so a reference is never mistaken
/// for a message.
const MARK: u8 = 0;
/// Largest payload carried by reference (16 chunks of a default server).
pub(crate) const MAX_SPILLED: usize = 16 << 20;

/// `message` as it is published: alone while it fits in `limit`, else its
/// chunks (on a blob subject of `instance`) followed by it with a reference.
pub(crate) fn spill(
    names: &WorkflowNames,
    instance: &str,
    mut message: Outgoing,
    limit: usize,
) -> Vec<Outgoing> {
    if message.payload.len() <= limit {
        return vec![message];
    }
    let subject = names.blob(instance, &uuid::Uuid::new_v4().simple().to_string());
    let mut out: Vec<Outgoing> = message
        .payload
        .chunks(limit.max(1))
        .map(|chunk| Outgoing {
            subject: subject.clone(),
            payload: message.payload.slice_ref(chunk),
            ..Default::default()
        })
        .collect();
    let mut reference = BytesMut::with_capacity(1 + subject.len());
    reference.put_u8(MARK);
    reference.put_slice(subject.as_bytes());
    message.payload = reference.freeze();
    out.push(message);
    out
}

/// The blob subject a payload refers to, if it is a reference.
pub(crate) fn reference(payload: &[u8]) -> Option<&str> {
    match payload.split_first() {
        Some((&MARK, subject)) => std::str::from_utf8(subject).ok(),
        _ => None,
    }
}

/// Why a reference gave no payload.
#[derive(Debug)]
pub(crate) enum Unresolved {
    /// Reading its chunks failed; reading again may succeed.
    Read(jetway_broker::Error),
    /// It refers to nothing this app may read.
    Broken(String),
}

/// The payload a message carries: itself, or the chunks it refers to.
pub(crate) async fn resolve(
    stream: &Stream,
    names: &WorkflowNames,
    payload: Bytes,
) -> Result<Bytes, Unresolved> {
    let Some(subject) = reference(&payload) else {
        return Ok(payload);
    };
    // Only this app's blobs: a reference is input like any other.
    if !names.is_blob(subject) {
        return Err(Unresolved::Broken(format!(
            "a reference to {subject:?} is not a workflow payload"
        )));
    }
    let chunks = stream
        .subject_messages(subject, 0)
        .await
        .map_err(Unresolved::Read)?;
    if chunks.is_empty() {
        return Err(Unresolved::Broken(format!(
            "the payload at {subject} is gone"
        )));
    }
    let size: usize = chunks.iter().map(|(_, c)| c.len()).sum();
    if size > MAX_SPILLED {
        return Err(Unresolved::Broken(format!(
            "the payload at {subject} is {size} bytes, more than {MAX_SPILLED}"
        )));
    }
    let mut whole = BytesMut::with_capacity(size);
    for (_, chunk) in chunks {
        whole.put_slice(&chunk);
    }
    Ok(whole.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_payload_becomes_chunks_and_a_reference() {
        let names = WorkflowNames::new("app");
        let small = Outgoing {
            subject: "s".into(),
            payload: Bytes::from_static(b"tiny"),
            ..Default::default()
        };
        assert_eq!(spill(&names, "i", small.clone(), 4), vec![small]);

        let big = Outgoing {
            subject: "s".into(),
            payload: Bytes::from(vec![7u8; 10]),
            expect_last: Some(3),
            ..Default::default()
        };
        let out = spill(&names, "i", big, 4);
        let sizes: Vec<_> = out.iter().map(|m| m.payload.len()).collect();
        assert_eq!(sizes[..3], [4, 4, 2]);
        let last = out.last().unwrap();
        assert_eq!((last.subject.as_str(), last.expect_last), ("s", Some(3)));
        let subject = reference(&last.payload).unwrap();
        assert!(names.is_blob(subject), "{subject}");
        assert!(out[..3].iter().all(|m| m.subject == subject));
        // A protobuf message is never read as a reference.
        assert_eq!(reference(b"\x08\x01"), None);
        assert_eq!(reference(b""), None);
        assert!(!names.is_blob("jetway.wf.other.blob.i.x"));
        assert!(!names.is_blob("jetway.wf.app.h.i"));
    }
}

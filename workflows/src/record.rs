//! The records of an instance's history subject, and the instance they
//! replay into.
//!
//! Each committed turn appends one record. A record with `reset` starts a new
//! execution (a new instance, a reused id, continue-as-new): replay begins at
//! the last one. A record also names the inbox messages its turn consumed, so
//! a message delivered again after a crash between commit and acknowledgement
//! is recognised and not shown twice.

use std::collections::HashSet;

use bytes::Bytes;
use prost::Message;

use crate::machine::Instance;
use crate::proto as pb;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    /// Starts a new execution: what the history held before is gone.
    #[prost(bool, tag = "1")]
    pub reset: bool,
    /// Events appended to the history, in order.
    #[prost(message, repeated, tag = "2")]
    pub history: Vec<pb::HistoryEvent>,
    /// Events the next turn shows before any inbox message (the new
    /// execution's `executionStarted` and carried-over events).
    #[prost(message, repeated, tag = "3")]
    pub pending: Vec<pb::HistoryEvent>,
    /// Stream sequences of the inbox messages the turn consumed.
    #[prost(uint64, repeated, tag = "4")]
    pub consumed: Vec<u64>,
    #[prost(string, optional, tag = "5")]
    pub custom_status: Option<String>,
    #[prost(uint32, tag = "6")]
    pub continued: u32,
}

impl Record {
    pub fn encode(&self) -> Bytes {
        self.encode_to_vec().into()
    }
}

/// An instance as its records leave it, and the inbox messages consumed by
/// its current execution.
#[derive(Debug, Default)]
pub struct Replayed {
    pub instance: Instance,
    pub consumed: HashSet<u64>,
    /// Whether any record exists (an instance, possibly finished).
    pub exists: bool,
}

/// Replays `records` (payloads of the history subject, in order) of instance
/// `id`; a record that does not decode is an error naming its position.
pub fn replay(id: &str, records: &[(u64, Bytes)]) -> Result<Replayed, String> {
    let mut decoded = Vec::with_capacity(records.len());
    for (seq, payload) in records {
        let record = Record::decode(payload.as_ref())
            .map_err(|e| format!("history record {seq} of workflow {id} is corrupt: {e}"))?;
        decoded.push(record);
    }
    let start = decoded.iter().rposition(|r| r.reset).unwrap_or(0);
    let mut replayed = Replayed {
        instance: Instance {
            id: id.to_owned(),
            ..Instance::default()
        },
        consumed: HashSet::new(),
        exists: !decoded.is_empty(),
    };
    for record in decoded.into_iter().skip(start) {
        apply(&mut replayed, record);
    }
    Ok(replayed)
}

/// Applies one committed record to what replay has built so far.
pub fn apply(replayed: &mut Replayed, record: Record) {
    let instance = &mut replayed.instance;
    if record.reset {
        instance.history.clear();
        replayed.consumed.clear();
    }
    instance.history.extend(record.history);
    instance.inbox = record.pending;
    if record.custom_status.is_some() {
        instance.custom_status = record.custom_status;
    }
    instance.continued = record.continued;
    replayed.consumed.extend(record.consumed);
    replayed.exists = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::event;
    use pb::history_event::EventType;
    use prost_types::Timestamp;

    fn started() -> pb::HistoryEvent {
        event(
            -1,
            Timestamp::default(),
            EventType::ExecutionStarted(pb::ExecutionStartedEvent {
                name: "w".into(),
                ..Default::default()
            }),
        )
    }

    #[test]
    fn replay_starts_at_the_last_reset() {
        let first = Record {
            reset: true,
            pending: vec![started()],
            ..Default::default()
        };
        let turn = Record {
            history: vec![started()],
            consumed: vec![7],
            custom_status: Some("s".into()),
            ..Default::default()
        };
        let again = Record {
            reset: true,
            pending: vec![started()],
            consumed: vec![9],
            continued: 1,
            ..Default::default()
        };
        let records: Vec<(u64, Bytes)> = [first.clone(), turn.clone(), again]
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 1, r.encode()))
            .collect();
        let replayed = replay("i", &records).unwrap();
        assert!(replayed.exists);
        assert!(replayed.instance.history.is_empty());
        assert_eq!(replayed.instance.inbox.len(), 1);
        assert_eq!(replayed.instance.continued, 1);
        assert_eq!(replayed.consumed, HashSet::from([9]));

        let replayed = replay("i", &records[..2]).unwrap();
        assert_eq!(replayed.instance.history.len(), 1);
        assert!(replayed.instance.inbox.is_empty());
        assert_eq!(replayed.instance.custom_status.as_deref(), Some("s"));
        assert_eq!(replayed.consumed, HashSet::from([7]));

        assert!(!replay("i", &[]).unwrap().exists);
        assert!(replay("i", &[(1, Bytes::from_static(b"\xff\xff"))]).is_err());
    }
}

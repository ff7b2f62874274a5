//! Group commit: every turn and start of one sidecar goes into the next
//! atomic batch. A batch on a file-backed stream has a fixed cost of
//! milliseconds (the server stages it in a store of its own) and the server
//! stores one at a time, so turns that share a batch share that cost.

use jetway_broker::stream::{Outgoing, Stream};
use tokio::sync::{mpsc, oneshot};

/// Messages of one batch at most, so one batch's wait stays short (a
/// message adds about as much as a hundredth of the fixed cost).
const BATCH_MESSAGES: usize = 256;
/// Payload bytes of one batch at most, besides a group larger on its own
/// (one with payloads by reference).
const BATCH_BYTES: usize = 8 << 20;
/// Groups waiting for a batch before their senders wait too.
const QUEUE: usize = 1024;

type Result<T> = std::result::Result<T, jetway_broker::Error>;

/// Messages stored all or none, and who waits for them.
struct Group {
    messages: Vec<Outgoing>,
    done: oneshot::Sender<Result<u64>>,
}

/// The batches of one stream, committed one at a time by a task of their
/// own that ends when the committer is dropped.
pub(crate) struct Committer {
    queue: mpsc::Sender<Group>,
}

impl Committer {
    pub(crate) fn start(stream: Stream) -> Committer {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(stream, waiting));
        Committer { queue }
    }

    /// Stores `messages` all or none, in one batch with whatever else waits,
    /// and returns the stream sequence of the last. A failed expectation
    /// fails only the group that holds it, with `WrongRevision`.
    pub(crate) async fn commit(&self, messages: Vec<Outgoing>) -> Result<u64> {
        let (done, result) = oneshot::channel();
        let stopped = || jetway_broker::Error::Invalid("the workflow engine stopped".into());
        self.queue
            .send(Group { messages, done })
            .await
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

async fn run(stream: Stream, mut waiting: mpsc::Receiver<Group>) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(group) => group,
            None => match waiting.recv().await {
                Some(group) => group,
                None => return,
            },
        };
        // (messages, bytes) of the batch so far.
        let mut size = measure(&first);
        let mut groups = vec![first];
        while let Ok(group) = waiting.try_recv() {
            let (messages, bytes) = measure(&group);
            if size.0 + messages > BATCH_MESSAGES || size.1 + bytes > BATCH_BYTES {
                next = Some(group);
                break;
            }
            size = (size.0 + messages, size.1 + bytes);
            groups.push(group);
        }
        commit(&stream, groups).await;
    }
}

fn measure(group: &Group) -> (usize, usize) {
    let bytes = group.messages.iter().map(|m| m.payload.len()).sum();
    (group.messages.len(), bytes)
}

async fn commit(stream: &Stream, mut groups: Vec<Group>) {
    if groups.len() == 1 {
        let group = groups.pop().expect("one group");
        let _ = group.done.send(publish(stream, group.messages).await);
        return;
    }
    let messages: Vec<Outgoing> = groups
        .iter()
        .flat_map(|g| g.messages.iter().cloned())
        .collect();
    let total = messages.len() as u64;
    match stream.publish_atomic(messages).await {
        Ok(last) => {
            // A batch's messages are stored one after another.
            let mut end = 0;
            for group in groups {
                end += group.messages.len() as u64;
                let _ = group.done.send(Ok(last + end - total));
            }
        }
        Err(_) => {
            // One group's expectation fails the batch: each alone, so only
            // that one fails.
            for group in groups {
                let _ = group.done.send(publish(stream, group.messages).await);
            }
        }
    }
}

/// Publishes one group; more than a batch holds go first in batches of their
/// own (work a crash could repeat, never lose), the last batch with the
/// group's last message, its history record.
async fn publish(stream: &Stream, mut messages: Vec<Outgoing>) -> Result<u64> {
    let max = jetway_broker::kv::MAX_BATCH;
    while messages.len() > max {
        let rest = messages.split_off(max - 1);
        stream
            .publish_atomic(std::mem::replace(&mut messages, rest))
            .await?;
    }
    stream.publish_atomic(messages).await
}

//! The workers connected to this sidecar (each a `GetWorkItems` stream), and
//! work items handed to them.
//!
//! [`Workers::run`] sends a work item to one connected worker and waits for
//! its answer; when that worker's stream closes first, the item goes to
//! another, and with none connected it waits for one. A workflow's turns go
//! back to the worker that ran its last one, and a worker that keeps the
//! histories it replayed (`WORKER_CAPABILITY_STATEFUL_HISTORY`) is sent only
//! the events it does not hold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::proto as pb;

/// Work items buffered per worker stream before sending waits.
const STREAM_BUFFER: usize = 256;

/// What a worker answers to a work item.
#[derive(Debug)]
pub enum Answer {
    Workflow(pb::WorkflowResponse),
    Activity(pb::ActivityResponse),
}

struct Worker {
    id: u64,
    items: mpsc::Sender<pb::WorkItem>,
    /// Keeps the past events of its turns between turns.
    stateful: bool,
}

/// The worker that ran an instance's last turn, and how many past events it
/// was shown (and so holds, if it keeps them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warm {
    worker: u64,
    events: usize,
}

struct Waiting {
    worker: u64,
    key: String,
    reply: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Inner {
    workers: Vec<Worker>,
    /// By completion token.
    waiting: HashMap<String, Waiting>,
    /// Completion tokens by what the answer names (see [`key`]), for workers
    /// that send no token back (the JavaScript SDK).
    tokens: HashMap<String, String>,
}

impl Inner {
    fn remove(&mut self, token: &str) -> Option<Waiting> {
        let waiting = self.waiting.remove(token)?;
        if self.tokens.get(&waiting.key).is_some_and(|t| t == token) {
            self.tokens.remove(&waiting.key);
        }
        Some(waiting)
    }
}

/// What an answer names its item by: the instance for a workflow turn, the
/// instance and task for an activity.
pub fn key(instance: &str, task: Option<i32>) -> String {
    match task {
        Some(task) => format!("{instance}/{task}"),
        None => instance.to_owned(),
    }
}

fn key_of(item: &pb::WorkItem) -> String {
    use pb::work_item::Request;
    match &item.request {
        Some(Request::WorkflowRequest(r)) => key(&r.instance_id, None),
        Some(Request::ActivityRequest(r)) => {
            let instance = r.workflow_instance.as_ref().map_or("", |w| &w.instance_id);
            key(instance, Some(r.task_id))
        }
        _ => String::new(),
    }
}

/// The connected workers. Cheap to share.
pub struct Workers {
    inner: Mutex<Inner>,
    next: AtomicU64,
    turn: AtomicUsize,
    joined: Notify,
    /// How many workers are connected.
    count: watch::Sender<usize>,
}

/// Removes a completion token from the waiting items when dropped.
struct Forget<'a>(&'a Workers, &'a str);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.inner.lock().expect("workers lock").remove(self.1);
    }
}

/// One worker's stream of work items; dropping it disconnects the worker.
pub struct Connection {
    workers: Arc<Workers>,
    id: u64,
    pub items: mpsc::Receiver<pb::WorkItem>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.workers.leave(self.id);
    }
}

impl Default for Workers {
    fn default() -> Self {
        Workers {
            inner: Mutex::default(),
            next: AtomicU64::new(1),
            turn: AtomicUsize::new(0),
            joined: Notify::new(),
            count: watch::channel(0).0,
        }
    }
}

impl Workers {
    /// Connects a worker; a `stateful` one keeps the histories it replays.
    pub fn join(self: &Arc<Self>, stateful: bool) -> Connection {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (items, receiver) = mpsc::channel(STREAM_BUFFER);
        let count = {
            let mut inner = self.inner.lock().expect("workers lock");
            inner.workers.push(Worker {
                id,
                items,
                stateful,
            });
            inner.workers.len()
        };
        self.count.send_replace(count);
        self.joined.notify_waiters();
        Connection {
            workers: self.clone(),
            id,
            items: receiver,
        }
    }

    /// Disconnects worker `id`: its unanswered items are handed to others.
    fn leave(&self, id: u64) {
        let count = {
            let mut inner = self.inner.lock().expect("workers lock");
            inner.workers.retain(|w| w.id != id);
            // Dropping the reply senders wakes their `run`s, which send again.
            let gone: Vec<String> = (inner.waiting.iter())
                .filter(|(_, w)| w.worker == id)
                .map(|(token, _)| token.clone())
                .collect();
            for token in gone {
                inner.remove(&token);
            }
            inner.workers.len()
        };
        self.count.send_replace(count);
    }

    /// Watches how many workers are connected.
    pub fn count(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    /// Sends `item` to a connected worker (waiting for one if none is) and
    /// returns its answer. A turn goes to the worker `warm` names while it is
    /// connected; the answer comes with who ran this turn.
    pub async fn run(&self, item: pb::WorkItem, warm: Option<Warm>) -> (Answer, Option<Warm>) {
        let key = key_of(&item);
        loop {
            let joined = self.joined.notified();
            let Some((worker, items, token)) = self.pick(warm.map(|w| w.worker)) else {
                joined.await;
                continue;
            };
            let (reply, answer) = oneshot::channel();
            let (mut sent, ran) = delta(&item, worker, warm);
            sent.completion_token = token.clone();
            {
                let mut inner = self.inner.lock().expect("workers lock");
                let key = key.clone();
                inner.tokens.insert(key.clone(), token.clone());
                inner.waiting.insert(
                    token.clone(),
                    Waiting {
                        worker: worker.id,
                        key,
                        reply,
                    },
                );
            }
            // However this ends (answered, left, or the caller gone), the
            // token waits no more.
            let _forget = Forget(self, &token);
            if items.send(sent).await.is_err() {
                continue;
            }
            match answer.await {
                Ok(answer) => return (answer, ran),
                // The worker left before answering.
                Err(_) => continue,
            }
        }
    }

    /// The worker `preferred` if it is connected, else the next in turn, and
    /// a fresh completion token.
    fn pick(&self, preferred: Option<u64>) -> Option<(Picked, mpsc::Sender<pb::WorkItem>, String)> {
        let inner = self.inner.lock().expect("workers lock");
        if inner.workers.is_empty() {
            return None;
        }
        let worker = match inner.workers.iter().find(|w| Some(w.id) == preferred) {
            Some(worker) => worker,
            None => {
                let n = self.turn.fetch_add(1, Ordering::Relaxed) % inner.workers.len();
                &inner.workers[n]
            }
        };
        let token = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        let picked = Picked {
            id: worker.id,
            stateful: worker.stateful,
        };
        Some((picked, worker.items.clone(), token))
    }

    /// Hands a worker's answer to the item it answers, found by its
    /// completion token or, without one, by its [`key`]; false when no item
    /// waits for it (answered already, or its worker left).
    pub fn answer(&self, token: &str, key: &str, answer: Answer) -> bool {
        let waiting = {
            let mut inner = self.inner.lock().expect("workers lock");
            let token = match token {
                "" => inner.tokens.get(key).cloned().unwrap_or_default(),
                token => token.to_owned(),
            };
            inner.remove(&token)
        };
        match waiting {
            Some(w) => w.reply.send(answer).is_ok(),
            None => false,
        }
    }
}

/// The worker an item goes to.
#[derive(Clone, Copy)]
struct Picked {
    id: u64,
    stateful: bool,
}

/// The item as `worker` is sent it: a turn without the past events the
/// worker holds from the instance's last turn (`cachedHistory` says how
/// many; on a miss it reads them with `GetInstanceHistory`); and who then
/// holds the instance's past events.
fn delta(item: &pb::WorkItem, worker: Picked, warm: Option<Warm>) -> (pb::WorkItem, Option<Warm>) {
    let mut item = item.clone();
    let Some(pb::work_item::Request::WorkflowRequest(turn)) = &mut item.request else {
        return (item, None);
    };
    if !worker.stateful {
        return (item, None);
    }
    let events = turn.past_events.len();
    if let Some(warm) = warm.filter(|w| w.worker == worker.id && w.events <= events) {
        turn.past_events.drain(..warm.events);
        turn.cached_history = Some(pb::CachedHistory {
            event_count: i32::try_from(warm.events).unwrap_or(i32::MAX),
        });
    }
    let ran = Warm {
        worker: worker.id,
        events,
    };
    (item, Some(ran))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(instance: &str) -> pb::WorkItem {
        pb::WorkItem {
            request: Some(pb::work_item::Request::WorkflowRequest(
                pb::WorkflowRequest {
                    instance_id: instance.into(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    fn answer(instance: &str) -> Answer {
        Answer::Workflow(pb::WorkflowResponse {
            instance_id: instance.into(),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn items_wait_for_a_worker_and_move_when_theirs_leaves() {
        let workers = Arc::new(Workers::default());
        let run = tokio::spawn({
            let workers = workers.clone();
            async move { workers.run(item("a"), None).await.0 }
        });
        tokio::task::yield_now().await;
        let mut first = workers.join(false);
        let sent = first.items.recv().await.unwrap();
        let mut second = workers.join(false);
        // The first worker leaves without answering: the item goes to the second.
        drop(first);
        let again = second.items.recv().await.unwrap();
        assert_ne!(again.completion_token, sent.completion_token);
        assert!(!workers.answer(&sent.completion_token, "a", answer("a")));
        assert!(workers.answer(&again.completion_token, "a", answer("a")));
        assert!(matches!(run.await.unwrap(), Answer::Workflow(r) if r.instance_id == "a"));
        assert_eq!(*workers.count().borrow(), 1);

        // A worker that sends no token back is answered by instance.
        let run = tokio::spawn({
            let workers = workers.clone();
            async move { workers.run(item("b"), None).await.0 }
        });
        second.items.recv().await.unwrap();
        assert!(!workers.answer("", "a", answer("a")));
        assert!(workers.answer("", "b", answer("b")));
        assert!(matches!(run.await.unwrap(), Answer::Workflow(r) if r.instance_id == "b"));
    }

    fn turn(instance: &str, past: usize) -> pb::WorkItem {
        let mut item = item(instance);
        if let Some(pb::work_item::Request::WorkflowRequest(r)) = &mut item.request {
            r.past_events = (0..past as i32)
                .map(|id| pb::HistoryEvent {
                    event_id: id,
                    ..Default::default()
                })
                .collect();
        }
        item
    }

    fn past(item: &pb::WorkItem) -> (Vec<i32>, Option<i32>) {
        let Some(pb::work_item::Request::WorkflowRequest(r)) = &item.request else {
            panic!("a turn");
        };
        let ids = r.past_events.iter().map(|e| e.event_id).collect();
        (ids, r.cached_history.as_ref().map(|c| c.event_count))
    }

    #[tokio::test]
    async fn a_stateful_worker_is_sent_only_the_events_it_does_not_hold() {
        let workers = Arc::new(Workers::default());
        let mut plain = workers.join(false);
        let mut stateful = workers.join(true);
        let ask = |item, warm| {
            let workers = workers.clone();
            tokio::spawn(async move { workers.run(item, warm).await })
        };
        // The first turn goes in turn to the plain worker: whole, and no one holds it.
        let first = ask(turn("a", 2), None);
        let sent = plain.items.recv().await.unwrap();
        assert_eq!(past(&sent), (vec![0, 1], None));
        workers.answer(&sent.completion_token, "a", answer("a"));
        assert_eq!(first.await.unwrap().1, None);

        // The next goes to the stateful one, whole; then it holds two events.
        let second = ask(turn("a", 2), None);
        let sent = stateful.items.recv().await.unwrap();
        assert_eq!(past(&sent), (vec![0, 1], None));
        workers.answer(&sent.completion_token, "a", answer("a"));
        let warm = second.await.unwrap().1;
        assert!(warm.is_some());

        // It gets the instance's next turn, with only what came since.
        let third = ask(turn("a", 5), warm);
        let sent = stateful.items.recv().await.unwrap();
        assert_eq!(past(&sent), (vec![2, 3, 4], Some(2)));
        workers.answer(&sent.completion_token, "a", answer("a"));
        let warm = third.await.unwrap().1;

        // Gone: the plain worker gets the whole history.
        drop(stateful);
        let fourth = ask(turn("a", 6), warm);
        let sent = plain.items.recv().await.unwrap();
        assert_eq!(past(&sent), ((0..6).collect(), None));
        workers.answer(&sent.completion_token, "a", answer("a"));
        assert_eq!(fourth.await.unwrap().1, None);
    }
}

//! The workers connected to this sidecar (each a `GetWorkItems` stream), and
//! work items handed to them.
//!
//! [`Workers::run`] sends a work item to one connected worker and waits for
//! its answer; when that worker's stream closes first, the item goes to
//! another, and with none connected it waits for one.

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
    /// Connects a worker.
    pub fn join(self: &Arc<Self>) -> Connection {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (items, receiver) = mpsc::channel(STREAM_BUFFER);
        let count = {
            let mut inner = self.inner.lock().expect("workers lock");
            inner.workers.push(Worker { id, items });
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
    /// returns its answer.
    pub async fn run(&self, mut item: pb::WorkItem) -> Answer {
        let key = key_of(&item);
        loop {
            let joined = self.joined.notified();
            let Some((worker, items, token)) = self.pick() else {
                joined.await;
                continue;
            };
            let (reply, answer) = oneshot::channel();
            item.completion_token = token.clone();
            {
                let mut inner = self.inner.lock().expect("workers lock");
                let key = key.clone();
                inner.tokens.insert(key.clone(), token.clone());
                inner
                    .waiting
                    .insert(token.clone(), Waiting { worker, key, reply });
            }
            // However this ends (answered, left, or the caller gone), the
            // token waits no more.
            let _forget = Forget(self, &token);
            if items.send(item.clone()).await.is_err() {
                continue;
            }
            match answer.await {
                Ok(answer) => return answer,
                // The worker left before answering.
                Err(_) => continue,
            }
        }
    }

    /// The next worker in turn, and a fresh completion token.
    fn pick(&self) -> Option<(u64, mpsc::Sender<pb::WorkItem>, String)> {
        let inner = self.inner.lock().expect("workers lock");
        if inner.workers.is_empty() {
            return None;
        }
        let n = self.turn.fetch_add(1, Ordering::Relaxed) % inner.workers.len();
        let worker = &inner.workers[n];
        let token = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        Some((worker.id, worker.items.clone(), token))
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
            async move { workers.run(item("a")).await }
        });
        tokio::task::yield_now().await;
        let mut first = workers.join();
        let sent = first.items.recv().await.unwrap();
        let mut second = workers.join();
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
            async move { workers.run(item("b")).await }
        });
        second.items.recv().await.unwrap();
        assert!(!workers.answer("", "a", answer("a")));
        assert!(workers.answer("", "b", answer("b")));
        assert!(matches!(run.await.unwrap(), Answer::Workflow(r) if r.instance_id == "b"));
    }
}

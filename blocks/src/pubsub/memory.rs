//! `pubsub.in-memory`: topics inside this process, for development and tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use jetway_core::Context;
use tokio::sync::mpsc;

use super::{Error, Incoming, Message, PubSub, Settle};

type Sender = mpsc::UnboundedSender<(bytes::Bytes, u32)>;

#[derive(Default)]
pub struct MemoryPubSub {
    /// topic → (group, sender)
    topics: Mutex<HashMap<String, Vec<(String, Sender)>>>,
}

struct Requeue {
    data: bytes::Bytes,
    delivered: u32,
    tx: Sender,
}

#[async_trait::async_trait]
impl Settle for Requeue {
    async fn ack(&self) {}

    async fn retry(&self, delay: Duration) {
        let (tx, data, next) = (self.tx.clone(), self.data.clone(), self.delivered + 1);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send((data, next));
        });
    }
}

#[async_trait::async_trait]
impl PubSub for MemoryPubSub {
    fn features(&self) -> &'static [&'static str] {
        &[]
    }

    async fn publish(&self, _: &Context, topic: &str, msg: Message) -> Result<(), Error> {
        let mut topics = self.topics.lock().expect("pubsub lock");
        if let Some(groups) = topics.get_mut(topic) {
            groups.retain(|(_, tx)| tx.send((msg.data.clone(), 1)).is_ok());
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        _forget_after: Option<std::time::Duration>,
    ) -> Result<BoxStream<'static, Incoming>, Error> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut topics = self.topics.lock().expect("pubsub lock");
        let groups = topics.entry(topic.to_owned()).or_default();
        groups.retain(|(g, _)| g != group);
        groups.push((group.to_owned(), tx.clone()));
        let tx = Arc::new(tx);
        Ok(futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(move |(data, delivered)| Incoming {
                data: data.clone(),
                delivered,
                settle: Box::new(Requeue {
                    data,
                    delivered,
                    tx: (*tx).clone(),
                }),
            })
            .boxed())
    }
}

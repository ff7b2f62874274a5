//! CloudEvent handling on both sides: completing a publisher's own event,
//! wrapping any body, and reading a stored event's head.
#![no_main]

use std::collections::BTreeMap;

use jetway_blocks::pubsub::cloudevent::{Publish, complete, expired, head, wrap, wrap_raw};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/cloudevents+json",
    "text/plain",
    "application/octet-stream",
    "application/xml; charset=utf-8",
];

fuzz_target!(|input: (u8, String, &[u8])| {
    let (kind, id, data) = input;
    let mut overrides = BTreeMap::new();
    overrides.insert("id".to_owned(), id.clone());
    let publish = Publish {
        app_id: "fuzz",
        pubsub: "pubsub",
        topic: "orders",
        data,
        content_type: Some(CONTENT_TYPES[kind as usize % CONTENT_TYPES.len()]),
        overrides: &overrides,
        traceparent: Some(&id),
        tracestate: None,
        expiration: Some(id.clone()),
    };
    let _ = complete(&publish);
    let (event, _) = wrap(&publish);
    let stored = head(&event).expect("a wrapped event has a head");
    let _ = expired(stored.expiration.as_deref());
    let _ = head(data);
    let _ = head(&wrap_raw("pubsub", "orders", data));
});

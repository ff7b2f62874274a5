//! Names of everything Jetway creates in NATS, defined in one place.
//!
//! Two nodes that load the same resources must derive the same subjects, streams,
//! buckets and consumers, so every name is a pure function of its inputs.

use crate::codec::{encode_name_part, encode_token};

/// Prefix of the subjects that carry service invocation.
pub const INVOKE_PREFIX: &str = "jetway.invoke";
/// Prefix of the subjects of pub/sub streams that Jetway provisions.
pub const PUBSUB_PREFIX: &str = "jetway.pubsub";

/// Prefix of the subjects that carry actor calls.
pub const ACTOR_PREFIX: &str = "jetway.actor";
/// Subject prefix of the beats of actor partition leases.
pub const ACTOR_LEASE_PREFIX: &str = "jetway.actorlease";
/// Stream of the actor partition leases.
pub const ACTOR_LEASE_STREAM: &str = "JETWAY_ACTOR_LEASES";
/// Bucket where actor hosts announce the types they host.
pub const ACTOR_HOSTS_BUCKET: &str = "jetway_actor_hosts";

/// Prefix of the subjects on which output bindings are served.
pub const BINDING_PREFIX: &str = "jetway.binding";
/// Subject prefix of the beats of input binding leases (one replica of an
/// app runs such a binding at a time).
pub const BINDING_LEASE_PREFIX: &str = "jetway.bindinglease";
/// Stream of the input binding leases.
pub const BINDING_LEASE_STREAM: &str = "JETWAY_BINDING_LEASES";

/// Stream of every app's workflows: histories, inboxes, activity work and
/// timers, so one atomic batch can commit a turn's all.
pub const WORKFLOW_STREAM: &str = "JETWAY_WORKFLOWS";
/// Prefix of the workflow stream's subjects.
pub const WORKFLOW_PREFIX: &str = "jetway.wf";
/// Bucket of workflow instances' status, keyed `<app id>.<instance id>`.
pub const WORKFLOW_STATUS_BUCKET: &str = "jetway_workflow_status";
/// Prefix of the (core NATS) subjects that tell waiters a status changed.
pub const WORKFLOW_CHANGED_PREFIX: &str = "jetway.wfchanged";

/// The subjects and names of one app's workflows.
#[derive(Clone, Debug)]
pub struct WorkflowNames {
    app: String,
}

impl WorkflowNames {
    pub fn new(app_id: &str) -> WorkflowNames {
        WorkflowNames {
            app: encode_token(app_id),
        }
    }

    /// The role its sidecars announce in placement to share the partitions.
    pub fn placement_role(&self) -> String {
        format!("{WORKFLOW_PREFIX}.{}", self.app)
    }

    /// Every subject of the app's workflows in the stream.
    pub fn all(&self) -> String {
        format!("{WORKFLOW_PREFIX}.{}.>", self.app)
    }

    /// The history of `instance`: one record per committed turn.
    pub fn history(&self, instance: &str) -> String {
        format!(
            "{WORKFLOW_PREFIX}.{}.h.{}",
            self.app,
            encode_token(instance)
        )
    }

    /// The inbox of `instance`, in its partition.
    pub fn inbox(&self, partition: u32, instance: &str) -> String {
        format!(
            "{WORKFLOW_PREFIX}.{}.in.{partition}.{}",
            self.app,
            encode_token(instance)
        )
    }

    /// Every inbox of `partition`.
    pub fn inbox_filter(&self, partition: u32) -> String {
        format!("{WORKFLOW_PREFIX}.{}.in.{partition}.*", self.app)
    }

    /// The instance an inbox subject belongs to.
    pub fn inbox_instance(subject: &str) -> Option<String> {
        crate::codec::decode(subject.rsplit('.').next()?)
    }

    /// The durable consumer of `partition`'s inboxes.
    pub fn inbox_consumer(&self, partition: u32) -> String {
        format!("wf_{}_in_{partition}", encode_name_part(&self.app))
    }

    /// Activity work of `instance`.
    pub fn activity(&self, instance: &str) -> String {
        format!(
            "{WORKFLOW_PREFIX}.{}.act.{}",
            self.app,
            encode_token(instance)
        )
    }

    /// Every activity of the app.
    pub fn activity_filter(&self) -> String {
        format!("{WORKFLOW_PREFIX}.{}.act.*", self.app)
    }

    /// The durable consumer of the app's activities, shared by its workers.
    pub fn activity_consumer(&self) -> String {
        format!("wf_{}_act", encode_name_part(&self.app))
    }

    /// The schedule of timer `timer` of `instance`.
    pub fn timer(&self, instance: &str, timer: i32) -> String {
        format!(
            "{WORKFLOW_PREFIX}.{}.t.{}.{timer}",
            self.app,
            encode_token(instance)
        )
    }

    /// Every timer schedule of `instance`.
    pub fn timers(&self, instance: &str) -> String {
        format!(
            "{WORKFLOW_PREFIX}.{}.t.{}.*",
            self.app,
            encode_token(instance)
        )
    }

    /// A payload of `instance` too large for one message, in chunks.
    pub fn blob(&self, instance: &str, name: &str) -> String {
        format!("{}.{name}", self.blob_prefix(instance))
    }

    /// Every chunked payload of `instance`.
    pub fn blobs(&self, instance: &str) -> String {
        format!("{}.*", self.blob_prefix(instance))
    }

    fn blob_prefix(&self, instance: &str) -> String {
        format!(
            "{WORKFLOW_PREFIX}.{}.blob.{}",
            self.app,
            encode_token(instance)
        )
    }

    /// Whether `subject` is a chunked payload of this app.
    pub fn is_blob(&self, subject: &str) -> bool {
        let prefix = format!("{WORKFLOW_PREFIX}.{}.blob.", self.app);
        subject
            .strip_prefix(&prefix)
            .is_some_and(|rest| rest.split('.').count() == 2 && !rest.contains(['*', '>']))
    }

    /// The status key of `instance`.
    pub fn status_key(&self, instance: &str) -> String {
        format!("{}.{}", self.app, encode_token(instance))
    }

    /// The prefix of every status key of the app.
    pub fn status_prefix(&self) -> String {
        format!("{}.", self.app)
    }

    /// Where a change of `instance`'s status is announced.
    pub fn changed(&self, instance: &str) -> String {
        format!(
            "{WORKFLOW_CHANGED_PREFIX}.{}.{}",
            self.app,
            encode_token(instance)
        )
    }
}

/// Subject on which the host of one partition of `actor_type` serves calls.
pub fn actor_subject(actor_type: &str, partition: u32) -> String {
    format!("{ACTOR_PREFIX}.{}.{partition}", encode_token(actor_type))
}

/// Name of the lease on one partition of `actor_type`.
pub fn actor_lease(actor_type: &str, partition: u32) -> String {
    format!("{actor_type}/{partition}")
}

/// The partition of `key` among `partitions`: the hash NATS's `partition()`
/// subject mapping uses (FNV-1a, 32 bits), so a stream transform agrees with it.
pub fn partition(key: &str, partitions: u32) -> u32 {
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % partitions.max(1)
}

/// Subject on which the replicas of `app_id` serve invocations.
pub fn invoke_subject(app_id: &str) -> String {
    format!("{INVOKE_PREFIX}.{}", encode_token(app_id))
}

/// Queue group shared by the replicas of `app_id`, so each call reaches one.
pub fn invoke_queue_group(app_id: &str) -> String {
    encode_token(app_id)
}

/// Subject on which the nodes that run output binding `name` serve it.
pub fn binding_subject(name: &str) -> String {
    format!("{BINDING_PREFIX}.{}", encode_token(name))
}

/// The lease of input binding `name` of `app_id`, held by one replica.
pub fn binding_lease(app_id: &str, name: &str) -> String {
    format!("{}_{}", encode_name_part(app_id), encode_name_part(name))
}

/// Subject prefix of the default stream of a pub/sub component.
pub fn pubsub_subject_prefix(component: &str) -> String {
    format!("{PUBSUB_PREFIX}.{}", encode_token(component))
}

/// Subject that carries `topic` under a stream's subject `prefix`.
pub fn topic_subject(prefix: &str, topic: &str) -> String {
    format!("{prefix}.{}", encode_token(topic))
}

/// KV subject of an (already prefixed) state key in `bucket`.
pub fn kv_subject(bucket: &str, key: &str) -> String {
    format!("$KV.{bucket}.{}", encode_token(key))
}

/// Durable consumer shared by the members of `group` (an app id) for `topic`.
///
/// `_` cannot occur inside an encoded part, so it separates the two unambiguously.
pub fn consumer_name(group: &str, topic: &str) -> String {
    format!("{}_{}", encode_name_part(group), encode_name_part(topic))
}

/// A stream or bucket name derived from a component name: characters that NATS
/// forbids there (anything outside `A-Z a-z 0-9 - _`) become `_`.
pub fn resource_name(component: &str) -> String {
    component
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `name` is usable as a stream or KV bucket name.
pub fn is_valid_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The longest subject Jetway sends. The server closes a connection whose
/// protocol line (verb, subject, reply subject, sizes) passes 4 KiB, which
/// would cut every other request on it; a longer subject fails alone instead.
pub const MAX_SUBJECT: usize = 2048;

/// Refuses a subject longer than [`MAX_SUBJECT`] before it reaches the wire.
pub fn check_subject(subject: &str) -> crate::Result<()> {
    match subject.len() > MAX_SUBJECT {
        true => Err(crate::Error::Invalid(format!(
            "the name is too long: its NATS subject would be {} bytes, at most {MAX_SUBJECT} are allowed",
            subject.len()
        ))),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_past_the_limit_are_refused() {
        assert!(check_subject(&"a".repeat(MAX_SUBJECT)).is_ok());
        assert!(matches!(
            check_subject(&"a".repeat(MAX_SUBJECT + 1)),
            Err(crate::Error::Invalid(_))
        ));
    }

    #[test]
    fn subjects_are_single_tokens_per_name() {
        assert_eq!(invoke_subject("orders"), "jetway.invoke.orders");
        assert_eq!(invoke_subject("a.b"), "jetway.invoke.a=2Eb");
        assert_eq!(
            topic_subject("jetway.pubsub.ps", "orders.new"),
            "jetway.pubsub.ps.orders=2Enew"
        );
        assert_eq!(kv_subject("state", "app||k 1"), "$KV.state.app=7C=7Ck=201");
    }

    #[test]
    fn partitions_match_nats() {
        // FNV-1a 32 of "a" is 0xe40c292c, of "foobar" 0xbf9cf968.
        assert_eq!(partition("a", 1 << 31), 0xe40c_292c % (1 << 31));
        assert_eq!(partition("foobar", 1000), 0xbf9c_f968 % 1000);
        assert_eq!(partition("anything", 0), 0);
        assert_eq!(actor_subject("my.Type", 7), "jetway.actor.my=2EType.7");
    }

    #[test]
    fn workflow_subjects_name_one_instance_each() {
        let names = WorkflowNames::new("my.app");
        assert_eq!(names.history("a.b"), "jetway.wf.my=2Eapp.h.a=2Eb");
        let inbox = names.inbox(3, "x:0001");
        assert_eq!(inbox, "jetway.wf.my=2Eapp.in.3.x=3A0001");
        assert_eq!(
            WorkflowNames::inbox_instance(&inbox).as_deref(),
            Some("x:0001")
        );
        assert_eq!(names.status_key("i d"), "my=2Eapp.i=20d");
        assert!(!names.inbox_consumer(1).contains(['.', '>', '*']));
    }

    #[test]
    fn consumer_names_do_not_collide() {
        assert_eq!(consumer_name("orders", "new"), "orders_new");
        assert_ne!(consumer_name("a_b", "c"), consumer_name("a", "b_c"));
        assert!(!consumer_name("x.y", "t>").contains(['.', '>', '*', ' ']));
    }

    #[test]
    fn resource_names() {
        assert_eq!(resource_name("my.store"), "my_store");
        assert!(is_valid_resource_name("KV-ok_1"));
        assert!(!is_valid_resource_name("bad.name"));
        assert!(!is_valid_resource_name(""));
    }
}

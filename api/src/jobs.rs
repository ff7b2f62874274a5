//! The jobs API shared by HTTP and gRPC, with daprd's codes, and the
//! conversions between Dapr's job messages (protobuf and JSON) and the
//! block's jobs.

use std::time::Duration;

use jetway_blocks::jobs::{self, Data, FailurePolicy, Job};
use jetway_protos::common;
use jetway_protos::runtime as pb;
use serde_json::{Value, json};

use super::{Error, ErrorCode};
use crate::app::grpc::{VALUE_TYPE, from_prost, to_prost};
use crate::node::Node;

const STRING_TYPE: &str = "type.googleapis.com/google.protobuf.StringValue";
const BYTES_TYPE: &str = "type.googleapis.com/google.protobuf.BytesValue";

/// daprd's answer to a failed schedule, get, delete or listing.
fn failed(e: jobs::Error, op: ErrorCode, verb: &str) -> Error {
    match e {
        jobs::Error::NameEmpty => Error::new(ErrorCode::JobNameEmpty, e.to_string()),
        jobs::Error::ScheduleEmpty => Error::new(ErrorCode::JobScheduleEmpty, e.to_string()),
        jobs::Error::Exists(_) => Error::new(
            ErrorCode::ScheduleJobExists,
            format!("failed to schedule job due to: {e}"),
        ),
        other => Error::new(op, format!("failed to {verb} job due to: {other}")),
    }
}

pub(crate) async fn schedule(node: &Node, job: Job, overwrite: bool) -> Result<(), Error> {
    node.jobs
        .schedule(job, overwrite)
        .await
        .map_err(|e| failed(e, ErrorCode::ScheduleJob, "schedule"))
}

pub(crate) async fn get(node: &Node, name: &str) -> Result<Job, Error> {
    node.jobs
        .get(name)
        .await
        .map_err(|e| failed(e, ErrorCode::GetJob, "get"))
}

pub(crate) async fn delete(node: &Node, name: &str) -> Result<(), Error> {
    node.jobs
        .delete(name)
        .await
        .map_err(|e| failed(e, ErrorCode::DeleteJob, "delete"))
}

pub(crate) async fn list(node: &Node) -> Result<Vec<Job>, Error> {
    node.jobs
        .list()
        .await
        .map_err(|e| failed(e, ErrorCode::ListJobs, "list"))
}

pub(crate) async fn delete_prefix(node: &Node, prefix: &str) -> Result<(), Error> {
    node.jobs
        .delete_prefix(prefix)
        .await
        .map_err(|e| failed(e, ErrorCode::DeleteJob, "delete"))
}

// === protobuf ===

pub(crate) fn from_proto(job: pb::Job) -> Result<Job, Error> {
    let failure_policy = match job.failure_policy.and_then(|p| p.policy) {
        None => None,
        Some(common::job_failure_policy::Policy::Drop(_)) => Some(FailurePolicy::Drop),
        Some(common::job_failure_policy::Policy::Constant(c)) => Some(FailurePolicy::Constant {
            interval: match c.interval {
                Some(d) => Duration::try_from(d)
                    .map_err(|e| Error::malformed(format!("bad failure policy interval: {e}")))?,
                None => Duration::ZERO,
            },
            max_retries: c.max_retries,
        }),
    };
    Ok(Job {
        name: job.name,
        schedule: job.schedule,
        repeats: job.repeats,
        due_time: job.due_time,
        ttl: job.ttl,
        data: job
            .data
            .map(|a| Data {
                type_url: a.type_url,
                value: a.value.into(),
            })
            .unwrap_or_default(),
        failure_policy,
    })
}

pub(crate) fn to_proto(job: Job) -> pb::Job {
    let policy = match job.failure_policy.unwrap_or(FailurePolicy::DEFAULT) {
        FailurePolicy::Drop => common::job_failure_policy::Policy::Drop(Default::default()),
        FailurePolicy::Constant {
            interval,
            max_retries,
        } => common::job_failure_policy::Policy::Constant(common::JobFailurePolicyConstant {
            interval: prost_types::Duration::try_from(interval).ok(),
            max_retries,
        }),
    };
    pb::Job {
        name: job.name,
        schedule: job.schedule,
        repeats: job.repeats,
        due_time: job.due_time,
        ttl: job.ttl,
        data: Some(prost_types::Any {
            type_url: job.data.type_url,
            value: job.data.value.to_vec(),
        }),
        failure_policy: Some(common::JobFailurePolicy {
            policy: Some(policy),
        }),
    }
}

// === JSON (HTTP) ===

/// The body of `POST /v1.0-alpha1/jobs/{name}`, in camelCase or snake_case.
#[derive(serde::Deserialize)]
struct Posted {
    #[serde(default)]
    name: Option<String>,
    schedule: Option<String>,
    repeats: Option<u32>,
    #[serde(alias = "due_time", rename = "dueTime")]
    due_time: Option<String>,
    ttl: Option<String>,
    data: Option<Value>,
    #[serde(default)]
    overwrite: bool,
    #[serde(alias = "failure_policy", rename = "failurePolicy")]
    failure_policy: Option<Value>,
}

/// A posted job and its `overwrite`.
pub(crate) fn from_json(name: &str, body: &[u8]) -> Result<(Job, bool), Error> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let posted: Posted = serde_json::from_slice(body)
        .map_err(|e| Error::malformed(format!("failed deserializing HTTP body: {e}")))?;
    if posted.name.is_some_and(|n| !n.is_empty()) {
        return Err(Error::new(
            ErrorCode::JobName,
            "Set the job name in the url only",
        ));
    }
    let failure_policy = posted
        .failure_policy
        .map(|p| policy_from_json(&p))
        .transpose()?;
    let data = match posted.data {
        Some(value) => Data {
            type_url: VALUE_TYPE.into(),
            value: prost::Message::encode_to_vec(&to_prost(value)).into(),
        },
        None => Data::default(),
    };
    let job = Job {
        name: name.trim().to_owned(),
        schedule: posted.schedule,
        repeats: posted.repeats,
        due_time: posted.due_time,
        ttl: posted.ttl,
        data,
        failure_policy,
    };
    Ok((job, posted.overwrite))
}

fn policy_from_json(p: &Value) -> Result<FailurePolicy, Error> {
    let bad = |why: &str| {
        Error::malformed(format!(
            "failed deserializing HTTP body: failurePolicy {why}"
        ))
    };
    if p.get("drop").is_some() {
        return Ok(FailurePolicy::Drop);
    }
    let Some(constant) = p.get("constant") else {
        return Err(bad("names neither drop nor constant"));
    };
    let interval = match constant.get("interval") {
        None => Duration::ZERO,
        Some(Value::String(text)) => text
            .parse::<prost_types::Duration>()
            .ok()
            .and_then(|d| Duration::try_from(d).ok())
            .ok_or_else(|| bad("interval is not a duration in seconds such as \"1.5s\""))?,
        Some(_) => return Err(bad("interval is not a string")),
    };
    let retries = constant
        .get("maxRetries")
        .or_else(|| constant.get("max_retries"));
    let max_retries = match retries {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("maxRetries is not a count"))?,
        ),
    };
    Ok(FailurePolicy::Constant {
        interval,
        max_retries,
    })
}

/// A job as daprd's GET answers it: the data as protojson renders an `Any`.
pub(crate) fn to_json(job: Job) -> Value {
    let policy = match job.failure_policy.unwrap_or(FailurePolicy::DEFAULT) {
        FailurePolicy::Drop => json!({"drop": {}}),
        FailurePolicy::Constant {
            interval,
            max_retries,
        } => {
            let mut c = json!({
                "interval": prost_types::Duration::try_from(interval)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            });
            if let Some(m) = max_retries {
                c["maxRetries"] = json!(m);
            }
            json!({"constant": c})
        }
    };
    let mut out = json!({"name": job.name, "data": data_json(&job.data), "failurePolicy": policy});
    for (field, value) in [
        ("schedule", job.schedule.map(Value::from)),
        ("repeats", job.repeats.map(Value::from)),
        ("dueTime", job.due_time.map(Value::from)),
        ("ttl", job.ttl.map(Value::from)),
    ] {
        if let Some(v) = value {
            out[field] = v;
        }
    }
    out
}

/// An `Any` in protojson's form; a type daprd would not know is shown as
/// its base64 bytes rather than refused.
fn data_json(data: &Data) -> Value {
    use base64::Engine;
    use prost::Message;
    if data.type_url.is_empty() && data.value.is_empty() {
        return json!({});
    }
    let value = match data.type_url.as_str() {
        VALUE_TYPE => prost_types::Value::decode(data.value.as_ref())
            .ok()
            .map(from_prost),
        STRING_TYPE => String::decode(data.value.as_ref()).ok().map(Value::from),
        _ => None,
    };
    let value = value.unwrap_or_else(|| {
        let bytes = match data.type_url.as_str() {
            BYTES_TYPE => Vec::<u8>::decode(data.value.as_ref()).unwrap_or_default(),
            _ => data.value.to_vec(),
        };
        Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
    });
    json!({"@type": data.type_url, "value": value})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_jobs() {
        let body = br#"{"schedule":"@every 1m","repeats":5,"due_time":"10s","data":{"v":"x"},
            "overwrite":true,"failurePolicy":{"constant":{"interval":"2.5s","maxRetries":4}}}"#;
        let (job, overwrite) = from_json(" j ", body).unwrap();
        assert!(overwrite);
        assert_eq!(job.name, "j");
        assert_eq!(job.due_time.as_deref(), Some("10s"));
        assert_eq!(
            job.failure_policy,
            Some(FailurePolicy::Constant {
                interval: Duration::from_millis(2500),
                max_retries: Some(4)
            })
        );
        let shown = to_json(job);
        assert_eq!(shown["data"]["value"], json!({"v": "x"}));
        assert_eq!(shown["data"]["@type"], VALUE_TYPE);
        assert_eq!(shown["failurePolicy"]["constant"]["interval"], "2.500s");
        assert!(from_json("j", br#"{"name":"j","schedule":"@daily"}"#).is_err());
        assert!(from_json("j", br#"{"failurePolicy":{"constant":{"interval":"1m"}}}"#).is_err());
        let (empty, _) = from_json("j", b"").unwrap();
        assert_eq!(empty.schedule, None);
        assert_eq!(to_json(empty)["failurePolicy"]["constant"]["maxRetries"], 3);
    }

    #[test]
    fn data_as_protojson_shows_it() {
        assert_eq!(data_json(&Data::default()), json!({}));
        let string = Data {
            type_url: STRING_TYPE.into(),
            value: bytes::Bytes::from_static(b"\n\x02hi"),
        };
        assert_eq!(
            data_json(&string),
            json!({"@type": STRING_TYPE, "value": "hi"})
        );
    }
}

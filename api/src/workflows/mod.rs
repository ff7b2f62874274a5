//! The workflow APIs: the durabletask service the SDKs' workers and clients
//! call ([`task_hub`]), and Dapr's workflow management API (HTTP
//! `/v1.0*/workflows/dapr/...` and the Dapr gRPC `*Workflow{Alpha1,Beta1}`
//! rpcs), whose operations are here once for both transports.

pub(crate) mod task_hub;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use jetway_workflows::engine::{self, Engine};
use jetway_workflows::proto as pb;
use pb::history_event::EventType;
use prost_types::Timestamp;

use crate::{Error, ErrorCode};

/// The only workflow component daprd has.
const COMPONENT: &str = "dapr";
/// The start option that delays a workflow's start (RFC 3339).
const START_TIME: &str = "dapr.workflow.start_time";

/// An instance as the management API reports it.
pub(crate) struct Workflow {
    pub(crate) instance_id: String,
    pub(crate) workflow_name: String,
    pub(crate) created_at: Option<Timestamp>,
    pub(crate) last_updated_at: Option<Timestamp>,
    pub(crate) runtime_status: String,
    pub(crate) properties: HashMap<String, String>,
}

impl Workflow {
    fn of(state: pb::WorkflowState) -> Workflow {
        let status = pb::OrchestrationStatus::try_from(state.workflow_status)
            .map(|s| s.as_str_name().trim_start_matches("ORCHESTRATION_STATUS_"))
            .unwrap_or("UNKNOWN");
        let mut properties = HashMap::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                properties.insert(format!("dapr.workflow.{key}"), v);
            }
        };
        put("input", state.input);
        put("output", state.output);
        put("custom_status", state.custom_status);
        if let Some(f) = state.failure_details {
            put("failure.error_type", Some(f.error_type));
            put("failure.error_message", Some(f.error_message));
            put("failure.stack_trace", f.stack_trace);
        }
        Workflow {
            instance_id: state.instance_id,
            workflow_name: state.name,
            created_at: state.created_timestamp,
            last_updated_at: state.last_updated_timestamp,
            runtime_status: status.to_owned(),
            properties,
        }
    }

    /// The HTTP API's JSON body.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let time = |t: &Option<Timestamp>| {
            t.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
                .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        };
        let properties: BTreeMap<&String, &String> = self.properties.iter().collect();
        serde_json::json!({
            "instanceID": self.instance_id,
            "workflowName": self.workflow_name,
            "createdAt": time(&self.created_at),
            "lastUpdatedAt": time(&self.last_updated_at),
            "runtimeStatus": self.runtime_status,
            "properties": properties,
        })
    }
}

fn check_component(component: &str) -> Result<(), Error> {
    match component {
        "" => Err(Error::new(
            ErrorCode::WorkflowComponentMissing,
            "no workflow component was provided",
        )),
        COMPONENT => Ok(()),
        other => Err(Error::new(
            ErrorCode::WorkflowComponentNotFound,
            format!(
                "workflow component '{other}' does not exist: the workflow component is '{COMPONENT}'"
            ),
        )),
    }
}

fn check_instance(id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::new(
            ErrorCode::InstanceIdProvidedMissing,
            "no instance ID was provided",
        ));
    }
    engine::check_id(id).map_err(|e| match e {
        engine::Error::IdTooLong(_) => Error::new(ErrorCode::InstanceIdTooLong, e.to_string()),
        _ => Error::new(ErrorCode::InstanceIdInvalid, e.to_string()),
    })
}

/// An engine error as the management API reports it under `code`.
fn failed(code: ErrorCode, error: engine::Error) -> Error {
    Error::new(code, error.to_string())
}

/// The payload verbatim, as the workflow's JSON text (none when empty).
fn text(payload: &[u8], code: ErrorCode) -> Result<Option<String>, Error> {
    if payload.is_empty() {
        return Ok(None);
    }
    String::from_utf8(payload.to_vec())
        .map(Some)
        .map_err(|_| Error::new(code, "the payload is not UTF-8 text"))
}

/// Starts workflow `name`; returns the instance id (generated when empty).
pub(crate) async fn start(
    engine: &Engine,
    component: &str,
    name: &str,
    instance_id: &str,
    input: &[u8],
    options: &HashMap<String, String>,
) -> Result<String, Error> {
    check_component(component)?;
    if name.is_empty() {
        return Err(Error::new(
            ErrorCode::WorkflowNameMissing,
            "no workflow name was provided",
        ));
    }
    if !instance_id.is_empty() {
        check_instance(instance_id)?;
    }
    let scheduled = match options.get(START_TIME) {
        Some(at) => {
            let at = DateTime::parse_from_rfc3339(at).map_err(|e| {
                Error::new(
                    ErrorCode::StartWorkflow,
                    format!("option {START_TIME} '{at}' is not an RFC 3339 time: {e}"),
                )
            })?;
            Some(Timestamp {
                seconds: at.timestamp(),
                nanos: at.timestamp_subsec_nanos() as i32,
            })
        }
        None => None,
    };
    let request = pb::CreateInstanceRequest {
        instance_id: instance_id.to_owned(),
        name: name.to_owned(),
        input: text(input, ErrorCode::StartWorkflow)?,
        scheduled_start_timestamp: scheduled,
        ..Default::default()
    };
    engine
        .start_instance(request)
        .await
        .map_err(|e| failed(ErrorCode::StartWorkflow, e))
}

pub(crate) async fn get(engine: &Engine, component: &str, id: &str) -> Result<Workflow, Error> {
    check_component(component)?;
    check_instance(id)?;
    match engine.get(id, true).await {
        Ok(Some(state)) => Ok(Workflow::of(state)),
        Ok(None) => Err(failed(
            ErrorCode::GetWorkflow,
            engine::Error::NotFound(id.to_owned()),
        )),
        Err(e) => Err(failed(ErrorCode::GetWorkflow, e)),
    }
}

/// What the management API can do to a running instance.
pub(crate) enum Change<'a> {
    Terminate,
    Pause,
    Resume,
    Raise { event: &'a str, data: &'a [u8] },
}

pub(crate) async fn change(
    engine: &Engine,
    component: &str,
    id: &str,
    change: Change<'_>,
) -> Result<(), Error> {
    check_component(component)?;
    check_instance(id)?;
    let (code, kind) = match change {
        // daprd terminates the children too.
        Change::Terminate => (
            ErrorCode::TerminateWorkflow,
            EventType::ExecutionTerminated(pb::ExecutionTerminatedEvent {
                input: None,
                recurse: true,
            }),
        ),
        Change::Pause => (
            ErrorCode::PauseWorkflow,
            EventType::ExecutionSuspended(pb::ExecutionSuspendedEvent { input: None }),
        ),
        Change::Resume => (
            ErrorCode::ResumeWorkflow,
            EventType::ExecutionResumed(pb::ExecutionResumedEvent { input: None }),
        ),
        Change::Raise { event, data } => {
            if event.is_empty() {
                return Err(Error::new(
                    ErrorCode::WorkflowEventNameMissing,
                    "no event name was provided",
                ));
            }
            let code = ErrorCode::RaiseEventWorkflow;
            let raised = pb::EventRaisedEvent {
                name: event.to_owned(),
                input: text(data, code)?,
            };
            (code, EventType::EventRaised(raised))
        }
    };
    engine.deliver(id, kind).await.map_err(|e| failed(code, e))
}

/// Purges a finished instance and its children.
pub(crate) async fn purge(engine: &Engine, component: &str, id: &str) -> Result<(), Error> {
    check_component(component)?;
    check_instance(id)?;
    match engine.purge(id, true, false).await {
        Ok(0) => Err(failed(
            ErrorCode::PurgeWorkflow,
            engine::Error::NotFound(id.to_owned()),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(failed(ErrorCode::PurgeWorkflow, e)),
    }
}

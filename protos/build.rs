//! Generates Jetway's gRPC code, all of it here:
//!
//! - the server trait for the part of `dapr.proto.runtime.v1.Dapr` that Jetway
//!   serves. The messages come from the `dapr` crate, whose own generated
//!   server trait has no default methods, so it cannot serve a subset: the rpcs
//!   are listed below, and every other path answers UNIMPLEMENTED;
//! - the messages newer than the `dapr` crate's, from `proto/` (compiled by
//!   protox, so no `protoc` is needed);
//! - the server trait of the durabletask `TaskHubSidecarService` the workflow
//!   SDKs call, over the messages of the `dapr-durabletask-proto` crate (which
//!   generates only a client). Its proto has no package.

use tonic_build::manual::{Builder, Method, Service};

const RUNTIME: &str = "::dapr::dapr::proto::runtime::v1";
const COMMON: &str = "::dapr::dapr::proto::common::v1";

/// Which sides of an rpc stream.
#[derive(Clone, Copy, PartialEq)]
enum Streams {
    Unary,
    /// The server answers with a stream.
    Server,
    /// Both send streams.
    Both,
}

use Streams::{Both, Server, Unary};

/// (rust name, rpc name, input, output, streams)
const RPCS: &[(&str, &str, &str, &str, Streams)] = &[
    (
        "invoke_service",
        "InvokeService",
        "InvokeServiceRequest",
        "common:InvokeResponse",
        Unary,
    ),
    (
        "get_state",
        "GetState",
        "GetStateRequest",
        "GetStateResponse",
        Unary,
    ),
    (
        "get_bulk_state",
        "GetBulkState",
        "GetBulkStateRequest",
        "GetBulkStateResponse",
        Unary,
    ),
    ("save_state", "SaveState", "SaveStateRequest", "()", Unary),
    (
        "delete_state",
        "DeleteState",
        "DeleteStateRequest",
        "()",
        Unary,
    ),
    (
        "delete_bulk_state",
        "DeleteBulkState",
        "DeleteBulkStateRequest",
        "()",
        Unary,
    ),
    (
        "execute_state_transaction",
        "ExecuteStateTransaction",
        "ExecuteStateTransactionRequest",
        "()",
        Unary,
    ),
    (
        "publish_event",
        "PublishEvent",
        "PublishEventRequest",
        "()",
        Unary,
    ),
    (
        "bulk_publish_event",
        "BulkPublishEvent",
        "BulkPublishRequest",
        "BulkPublishResponse",
        Unary,
    ),
    (
        "bulk_publish_event_alpha1",
        "BulkPublishEventAlpha1",
        "BulkPublishRequest",
        "BulkPublishResponse",
        Unary,
    ),
    (
        "subscribe_topic_events_alpha1",
        "SubscribeTopicEventsAlpha1",
        "SubscribeTopicEventsRequestAlpha1",
        "SubscribeTopicEventsResponseAlpha1",
        Both,
    ),
    (
        "get_configuration",
        "GetConfiguration",
        "GetConfigurationRequest",
        "GetConfigurationResponse",
        Unary,
    ),
    (
        "get_configuration_alpha1",
        "GetConfigurationAlpha1",
        "GetConfigurationRequest",
        "GetConfigurationResponse",
        Unary,
    ),
    (
        "subscribe_configuration",
        "SubscribeConfiguration",
        "SubscribeConfigurationRequest",
        "SubscribeConfigurationResponse",
        Server,
    ),
    (
        "subscribe_configuration_alpha1",
        "SubscribeConfigurationAlpha1",
        "SubscribeConfigurationRequest",
        "SubscribeConfigurationResponse",
        Server,
    ),
    (
        "unsubscribe_configuration",
        "UnsubscribeConfiguration",
        "UnsubscribeConfigurationRequest",
        "UnsubscribeConfigurationResponse",
        Unary,
    ),
    (
        "unsubscribe_configuration_alpha1",
        "UnsubscribeConfigurationAlpha1",
        "UnsubscribeConfigurationRequest",
        "UnsubscribeConfigurationResponse",
        Unary,
    ),
    (
        "schedule_job_alpha1",
        "ScheduleJobAlpha1",
        "ScheduleJobRequest",
        "ScheduleJobResponse",
        Unary,
    ),
    (
        "schedule_job",
        "ScheduleJob",
        "ScheduleJobRequest",
        "ScheduleJobResponse",
        Unary,
    ),
    (
        "get_job_alpha1",
        "GetJobAlpha1",
        "GetJobRequest",
        "GetJobResponse",
        Unary,
    ),
    (
        "get_job",
        "GetJob",
        "GetJobRequest",
        "GetJobResponse",
        Unary,
    ),
    (
        "delete_job_alpha1",
        "DeleteJobAlpha1",
        "DeleteJobRequest",
        "DeleteJobResponse",
        Unary,
    ),
    (
        "delete_job",
        "DeleteJob",
        "DeleteJobRequest",
        "DeleteJobResponse",
        Unary,
    ),
    (
        "delete_jobs_by_prefix_alpha1",
        "DeleteJobsByPrefixAlpha1",
        "DeleteJobsByPrefixRequestAlpha1",
        "DeleteJobsByPrefixResponseAlpha1",
        Unary,
    ),
    (
        "delete_jobs_by_prefix",
        "DeleteJobsByPrefix",
        "DeleteJobsByPrefixRequest",
        "DeleteJobsByPrefixResponse",
        Unary,
    ),
    (
        "list_jobs_alpha1",
        "ListJobsAlpha1",
        "ListJobsRequestAlpha1",
        "ListJobsResponseAlpha1",
        Unary,
    ),
    (
        "list_jobs",
        "ListJobs",
        "ListJobsRequest",
        "ListJobsResponse",
        Unary,
    ),
    (
        "try_lock_alpha1",
        "TryLockAlpha1",
        "TryLockRequest",
        "TryLockResponse",
        Unary,
    ),
    (
        "unlock_alpha1",
        "UnlockAlpha1",
        "UnlockRequest",
        "UnlockResponse",
        Unary,
    ),
    (
        "invoke_binding",
        "InvokeBinding",
        "InvokeBindingRequest",
        "InvokeBindingResponse",
        Unary,
    ),
    (
        "get_secret",
        "GetSecret",
        "GetSecretRequest",
        "GetSecretResponse",
        Unary,
    ),
    (
        "get_bulk_secret",
        "GetBulkSecret",
        "GetBulkSecretRequest",
        "GetBulkSecretResponse",
        Unary,
    ),
    (
        "get_metadata",
        "GetMetadata",
        "GetMetadataRequest",
        "GetMetadataResponse",
        Unary,
    ),
    (
        "set_metadata",
        "SetMetadata",
        "SetMetadataRequest",
        "()",
        Unary,
    ),
    ("shutdown", "Shutdown", "ShutdownRequest", "()", Unary),
    (
        "invoke_actor",
        "InvokeActor",
        "InvokeActorRequest",
        "InvokeActorResponse",
        Unary,
    ),
    (
        "get_actor_state",
        "GetActorState",
        "GetActorStateRequest",
        "GetActorStateResponse",
        Unary,
    ),
    (
        "execute_actor_state_transaction",
        "ExecuteActorStateTransaction",
        "ExecuteActorStateTransactionRequest",
        "()",
        Unary,
    ),
    (
        "register_actor_timer",
        "RegisterActorTimer",
        "RegisterActorTimerRequest",
        "()",
        Unary,
    ),
    (
        "unregister_actor_timer",
        "UnregisterActorTimer",
        "UnregisterActorTimerRequest",
        "()",
        Unary,
    ),
    (
        "register_actor_reminder",
        "RegisterActorReminder",
        "RegisterActorReminderRequest",
        "()",
        Unary,
    ),
    (
        "unregister_actor_reminder",
        "UnregisterActorReminder",
        "UnregisterActorReminderRequest",
        "()",
        Unary,
    ),
    (
        "subscribe_actor_events_alpha1",
        "SubscribeActorEventsAlpha1",
        "local:SubscribeActorEventsRequestAlpha1",
        "local:SubscribeActorEventsResponseAlpha1",
        Both,
    ),
    (
        "get_actor_timer",
        "GetActorTimer",
        "local:GetActorTimerRequest",
        "local:GetActorTimerResponse",
        Unary,
    ),
    (
        "get_actor_reminder",
        "GetActorReminder",
        "GetActorReminderRequest",
        "GetActorReminderResponse",
        Unary,
    ),
    (
        "start_workflow_alpha1",
        "StartWorkflowAlpha1",
        "StartWorkflowRequest",
        "StartWorkflowResponse",
        Unary,
    ),
    (
        "get_workflow_alpha1",
        "GetWorkflowAlpha1",
        "GetWorkflowRequest",
        "GetWorkflowResponse",
        Unary,
    ),
    (
        "purge_workflow_alpha1",
        "PurgeWorkflowAlpha1",
        "PurgeWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "terminate_workflow_alpha1",
        "TerminateWorkflowAlpha1",
        "TerminateWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "pause_workflow_alpha1",
        "PauseWorkflowAlpha1",
        "PauseWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "resume_workflow_alpha1",
        "ResumeWorkflowAlpha1",
        "ResumeWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "raise_event_workflow_alpha1",
        "RaiseEventWorkflowAlpha1",
        "RaiseEventWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "start_workflow_beta1",
        "StartWorkflowBeta1",
        "StartWorkflowRequest",
        "StartWorkflowResponse",
        Unary,
    ),
    (
        "get_workflow_beta1",
        "GetWorkflowBeta1",
        "GetWorkflowRequest",
        "GetWorkflowResponse",
        Unary,
    ),
    (
        "purge_workflow_beta1",
        "PurgeWorkflowBeta1",
        "PurgeWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "terminate_workflow_beta1",
        "TerminateWorkflowBeta1",
        "TerminateWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "pause_workflow_beta1",
        "PauseWorkflowBeta1",
        "PauseWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "resume_workflow_beta1",
        "ResumeWorkflowBeta1",
        "ResumeWorkflowRequest",
        "()",
        Unary,
    ),
    (
        "raise_event_workflow_beta1",
        "RaiseEventWorkflowBeta1",
        "RaiseEventWorkflowRequest",
        "()",
        Unary,
    ),
];

const DURABLETASK: &str = "::dapr_durabletask_proto";

/// The durabletask rpcs: (rust name, rpc name, input, output, server stream).
/// `CompleteOrchestratorTask` is the old name of `CompleteWorkflowTask`.
const TASK_HUB_RPCS: &[(&str, &str, &str, &str, Streams)] = &[
    ("hello", "Hello", "()", "()", Unary),
    (
        "start_instance",
        "StartInstance",
        "CreateInstanceRequest",
        "CreateInstanceResponse",
        Unary,
    ),
    (
        "get_instance",
        "GetInstance",
        "GetInstanceRequest",
        "GetInstanceResponse",
        Unary,
    ),
    (
        "wait_for_instance_start",
        "WaitForInstanceStart",
        "GetInstanceRequest",
        "GetInstanceResponse",
        Unary,
    ),
    (
        "wait_for_instance_completion",
        "WaitForInstanceCompletion",
        "GetInstanceRequest",
        "GetInstanceResponse",
        Unary,
    ),
    (
        "raise_event",
        "RaiseEvent",
        "RaiseEventRequest",
        "RaiseEventResponse",
        Unary,
    ),
    (
        "terminate_instance",
        "TerminateInstance",
        "TerminateRequest",
        "TerminateResponse",
        Unary,
    ),
    (
        "suspend_instance",
        "SuspendInstance",
        "SuspendRequest",
        "SuspendResponse",
        Unary,
    ),
    (
        "resume_instance",
        "ResumeInstance",
        "ResumeRequest",
        "ResumeResponse",
        Unary,
    ),
    (
        "purge_instances",
        "PurgeInstances",
        "PurgeInstancesRequest",
        "PurgeInstancesResponse",
        Unary,
    ),
    (
        "get_work_items",
        "GetWorkItems",
        "GetWorkItemsRequest",
        "WorkItem",
        Server,
    ),
    (
        "complete_activity_task",
        "CompleteActivityTask",
        "ActivityResponse",
        "CompleteTaskResponse",
        Unary,
    ),
    (
        "complete_orchestrator_task",
        "CompleteOrchestratorTask",
        "WorkflowResponse",
        "CompleteTaskResponse",
        Unary,
    ),
    (
        "complete_workflow_task",
        "CompleteWorkflowTask",
        "WorkflowResponse",
        "CompleteTaskResponse",
        Unary,
    ),
    (
        "rerun_workflow_from_event",
        "RerunWorkflowFromEvent",
        "RerunWorkflowFromEventRequest",
        "RerunWorkflowFromEventResponse",
        Unary,
    ),
    (
        "list_instance_ids",
        "ListInstanceIDs",
        "ListInstanceIDsRequest",
        "ListInstanceIDsResponse",
        Unary,
    ),
    (
        "get_instance_history",
        "GetInstanceHistory",
        "GetInstanceHistoryRequest",
        "GetInstanceHistoryResponse",
        Unary,
    ),
];

fn durabletask_path(name: &str) -> String {
    match name {
        "()" => "crate::Empty".into(),
        _ => format!("{DURABLETASK}::{name}"),
    }
}

fn type_path(name: &str) -> String {
    match name {
        // `()` is not a path: the API module names it `Empty`.
        "()" => "crate::Empty".into(),
        _ => match name.split_once(':') {
            Some(("common", common)) => format!("{COMMON}::{common}"),
            // Messages newer than the `dapr` crate's, from `proto/`.
            Some(("local", message)) => format!("crate::actors::{message}"),
            _ => format!("{RUNTIME}::{name}"),
        },
    }
}

fn main() {
    println!("cargo:rerun-if-changed=proto");
    let newer = protox::compile(["actors_alpha.proto"], ["proto"]).expect("compile proto/");
    prost_build::Config::new()
        .compile_fds(newer)
        .expect("generate the messages of proto/");

    let mut dapr = Service::builder()
        .name("Dapr")
        .package("dapr.proto.runtime.v1");
    for &(name, route, input, output, streaming) in RPCS {
        let mut method = Method::builder()
            .name(name)
            .route_name(route)
            .input_type(type_path(input))
            .output_type(type_path(output))
            .codec_path("::tonic_prost::ProstCodec");
        if streaming == Both {
            method = method.client_streaming();
        }
        if streaming != Unary {
            method = method.server_streaming();
        }
        dapr = dapr.method(method.build());
    }
    let mut task_hub = Service::builder().name("TaskHubSidecarService").package("");
    for &(name, route, input, output, streaming) in TASK_HUB_RPCS {
        let mut method = Method::builder()
            .name(name)
            .route_name(route)
            .input_type(durabletask_path(input))
            .output_type(durabletask_path(output))
            .codec_path("::tonic_prost::ProstCodec");
        if streaming == Both {
            method = method.client_streaming();
        }
        if streaming != Unary {
            method = method.server_streaming();
        }
        task_hub = task_hub.method(method.build());
    }
    Builder::new()
        .build_client(false)
        .build_transport(false)
        .compile(&[dapr.build(), task_hub.build()]);
    // The paths served, for routing: every other path answers UNIMPLEMENTED.
    let paths: Vec<String> = RPCS
        .iter()
        .map(|(_, route, ..)| format!("    \"/dapr.proto.runtime.v1.Dapr/{route}\",\n"))
        .collect();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out.join("dapr_paths.rs"),
        format!("pub const SERVED: &[&str] = &[\n{}];\n", paths.concat()),
    )
    .expect("write the served paths");
}

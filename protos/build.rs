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

/// (rust name, rpc name, input, output, bidirectional stream)
const RPCS: &[(&str, &str, &str, &str, bool)] = &[
    (
        "invoke_service",
        "InvokeService",
        "InvokeServiceRequest",
        "common:InvokeResponse",
        false,
    ),
    (
        "get_state",
        "GetState",
        "GetStateRequest",
        "GetStateResponse",
        false,
    ),
    (
        "get_bulk_state",
        "GetBulkState",
        "GetBulkStateRequest",
        "GetBulkStateResponse",
        false,
    ),
    ("save_state", "SaveState", "SaveStateRequest", "()", false),
    (
        "delete_state",
        "DeleteState",
        "DeleteStateRequest",
        "()",
        false,
    ),
    (
        "delete_bulk_state",
        "DeleteBulkState",
        "DeleteBulkStateRequest",
        "()",
        false,
    ),
    (
        "execute_state_transaction",
        "ExecuteStateTransaction",
        "ExecuteStateTransactionRequest",
        "()",
        false,
    ),
    (
        "publish_event",
        "PublishEvent",
        "PublishEventRequest",
        "()",
        false,
    ),
    (
        "bulk_publish_event",
        "BulkPublishEvent",
        "BulkPublishRequest",
        "BulkPublishResponse",
        false,
    ),
    (
        "bulk_publish_event_alpha1",
        "BulkPublishEventAlpha1",
        "BulkPublishRequest",
        "BulkPublishResponse",
        false,
    ),
    (
        "subscribe_topic_events_alpha1",
        "SubscribeTopicEventsAlpha1",
        "SubscribeTopicEventsRequestAlpha1",
        "SubscribeTopicEventsResponseAlpha1",
        true,
    ),
    (
        "try_lock_alpha1",
        "TryLockAlpha1",
        "TryLockRequest",
        "TryLockResponse",
        false,
    ),
    (
        "unlock_alpha1",
        "UnlockAlpha1",
        "UnlockRequest",
        "UnlockResponse",
        false,
    ),
    (
        "invoke_binding",
        "InvokeBinding",
        "InvokeBindingRequest",
        "InvokeBindingResponse",
        false,
    ),
    (
        "get_secret",
        "GetSecret",
        "GetSecretRequest",
        "GetSecretResponse",
        false,
    ),
    (
        "get_bulk_secret",
        "GetBulkSecret",
        "GetBulkSecretRequest",
        "GetBulkSecretResponse",
        false,
    ),
    (
        "get_metadata",
        "GetMetadata",
        "GetMetadataRequest",
        "GetMetadataResponse",
        false,
    ),
    (
        "set_metadata",
        "SetMetadata",
        "SetMetadataRequest",
        "()",
        false,
    ),
    ("shutdown", "Shutdown", "ShutdownRequest", "()", false),
    (
        "invoke_actor",
        "InvokeActor",
        "InvokeActorRequest",
        "InvokeActorResponse",
        false,
    ),
    (
        "get_actor_state",
        "GetActorState",
        "GetActorStateRequest",
        "GetActorStateResponse",
        false,
    ),
    (
        "execute_actor_state_transaction",
        "ExecuteActorStateTransaction",
        "ExecuteActorStateTransactionRequest",
        "()",
        false,
    ),
    (
        "register_actor_timer",
        "RegisterActorTimer",
        "RegisterActorTimerRequest",
        "()",
        false,
    ),
    (
        "unregister_actor_timer",
        "UnregisterActorTimer",
        "UnregisterActorTimerRequest",
        "()",
        false,
    ),
    (
        "register_actor_reminder",
        "RegisterActorReminder",
        "RegisterActorReminderRequest",
        "()",
        false,
    ),
    (
        "unregister_actor_reminder",
        "UnregisterActorReminder",
        "UnregisterActorReminderRequest",
        "()",
        false,
    ),
    (
        "subscribe_actor_events_alpha1",
        "SubscribeActorEventsAlpha1",
        "local:SubscribeActorEventsRequestAlpha1",
        "local:SubscribeActorEventsResponseAlpha1",
        true,
    ),
    (
        "get_actor_timer",
        "GetActorTimer",
        "local:GetActorTimerRequest",
        "local:GetActorTimerResponse",
        false,
    ),
    (
        "get_actor_reminder",
        "GetActorReminder",
        "GetActorReminderRequest",
        "GetActorReminderResponse",
        false,
    ),
    (
        "start_workflow_alpha1",
        "StartWorkflowAlpha1",
        "StartWorkflowRequest",
        "StartWorkflowResponse",
        false,
    ),
    (
        "get_workflow_alpha1",
        "GetWorkflowAlpha1",
        "GetWorkflowRequest",
        "GetWorkflowResponse",
        false,
    ),
    (
        "purge_workflow_alpha1",
        "PurgeWorkflowAlpha1",
        "PurgeWorkflowRequest",
        "()",
        false,
    ),
    (
        "terminate_workflow_alpha1",
        "TerminateWorkflowAlpha1",
        "TerminateWorkflowRequest",
        "()",
        false,
    ),
    (
        "pause_workflow_alpha1",
        "PauseWorkflowAlpha1",
        "PauseWorkflowRequest",
        "()",
        false,
    ),
    (
        "resume_workflow_alpha1",
        "ResumeWorkflowAlpha1",
        "ResumeWorkflowRequest",
        "()",
        false,
    ),
    (
        "raise_event_workflow_alpha1",
        "RaiseEventWorkflowAlpha1",
        "RaiseEventWorkflowRequest",
        "()",
        false,
    ),
    (
        "start_workflow_beta1",
        "StartWorkflowBeta1",
        "StartWorkflowRequest",
        "StartWorkflowResponse",
        false,
    ),
    (
        "get_workflow_beta1",
        "GetWorkflowBeta1",
        "GetWorkflowRequest",
        "GetWorkflowResponse",
        false,
    ),
    (
        "purge_workflow_beta1",
        "PurgeWorkflowBeta1",
        "PurgeWorkflowRequest",
        "()",
        false,
    ),
    (
        "terminate_workflow_beta1",
        "TerminateWorkflowBeta1",
        "TerminateWorkflowRequest",
        "()",
        false,
    ),
    (
        "pause_workflow_beta1",
        "PauseWorkflowBeta1",
        "PauseWorkflowRequest",
        "()",
        false,
    ),
    (
        "resume_workflow_beta1",
        "ResumeWorkflowBeta1",
        "ResumeWorkflowRequest",
        "()",
        false,
    ),
    (
        "raise_event_workflow_beta1",
        "RaiseEventWorkflowBeta1",
        "RaiseEventWorkflowRequest",
        "()",
        false,
    ),
];

const DURABLETASK: &str = "::dapr_durabletask_proto";

/// The durabletask rpcs: (rust name, rpc name, input, output, server stream).
/// `CompleteOrchestratorTask` is the old name of `CompleteWorkflowTask`.
const TASK_HUB_RPCS: &[(&str, &str, &str, &str, bool)] = &[
    ("hello", "Hello", "()", "()", false),
    (
        "start_instance",
        "StartInstance",
        "CreateInstanceRequest",
        "CreateInstanceResponse",
        false,
    ),
    (
        "get_instance",
        "GetInstance",
        "GetInstanceRequest",
        "GetInstanceResponse",
        false,
    ),
    (
        "wait_for_instance_start",
        "WaitForInstanceStart",
        "GetInstanceRequest",
        "GetInstanceResponse",
        false,
    ),
    (
        "wait_for_instance_completion",
        "WaitForInstanceCompletion",
        "GetInstanceRequest",
        "GetInstanceResponse",
        false,
    ),
    (
        "raise_event",
        "RaiseEvent",
        "RaiseEventRequest",
        "RaiseEventResponse",
        false,
    ),
    (
        "terminate_instance",
        "TerminateInstance",
        "TerminateRequest",
        "TerminateResponse",
        false,
    ),
    (
        "suspend_instance",
        "SuspendInstance",
        "SuspendRequest",
        "SuspendResponse",
        false,
    ),
    (
        "resume_instance",
        "ResumeInstance",
        "ResumeRequest",
        "ResumeResponse",
        false,
    ),
    (
        "purge_instances",
        "PurgeInstances",
        "PurgeInstancesRequest",
        "PurgeInstancesResponse",
        false,
    ),
    (
        "get_work_items",
        "GetWorkItems",
        "GetWorkItemsRequest",
        "WorkItem",
        true,
    ),
    (
        "complete_activity_task",
        "CompleteActivityTask",
        "ActivityResponse",
        "CompleteTaskResponse",
        false,
    ),
    (
        "complete_orchestrator_task",
        "CompleteOrchestratorTask",
        "WorkflowResponse",
        "CompleteTaskResponse",
        false,
    ),
    (
        "complete_workflow_task",
        "CompleteWorkflowTask",
        "WorkflowResponse",
        "CompleteTaskResponse",
        false,
    ),
    (
        "rerun_workflow_from_event",
        "RerunWorkflowFromEvent",
        "RerunWorkflowFromEventRequest",
        "RerunWorkflowFromEventResponse",
        false,
    ),
    (
        "list_instance_ids",
        "ListInstanceIDs",
        "ListInstanceIDsRequest",
        "ListInstanceIDsResponse",
        false,
    ),
    (
        "get_instance_history",
        "GetInstanceHistory",
        "GetInstanceHistoryRequest",
        "GetInstanceHistoryResponse",
        false,
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
        if streaming {
            method = method.client_streaming().server_streaming();
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
        if streaming {
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

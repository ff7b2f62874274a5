//! Dapr's API errors: one code per condition, each with the HTTP status, the
//! gRPC code and the `ErrorInfo` reason daprd answers it with, and the rich
//! details (`ResourceInfo`, `BadRequest` field violations, metadata) it attaches.

use std::collections::BTreeMap;
use std::fmt;

use http::StatusCode;

/// gRPC status codes, numbered as gRPC numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

/// One table: variant, then (`errorCode`, HTTP status, gRPC code, reason).
/// A reason that starts with `DAPR_` marks one of daprd's rich errors, whose
/// HTTP body carries its details too.
macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident => ($code:literal, $status:literal, $grpc:ident, $reason:literal),)*) => {
        /// Every error the Dapr API answers with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, for tables and tests.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$name),*];

            /// The `errorCode` of the HTTP body.
            pub const fn code(self) -> &'static str {
                match self { $(ErrorCode::$name => $code,)* }
            }

            pub const fn http_status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$name => match StatusCode::from_u16($status) {
                        Ok(s) => s,
                        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    },)*
                }
            }

            pub const fn grpc(self) -> GrpcCode {
                match self { $(ErrorCode::$name => GrpcCode::$grpc,)* }
            }

            /// The `google.rpc.ErrorInfo` reason (domain `dapr.io`).
            pub const fn reason(self) -> &'static str {
                match self { $(ErrorCode::$name => $reason,)* }
            }
        }
    };
}

codes! {
    MalformedRequest => ("ERR_MALFORMED_REQUEST", 400, InvalidArgument, "ERR_MALFORMED_REQUEST"),
    HealthNotReady => ("ERR_HEALTH_NOT_READY", 500, Internal, "ERR_HEALTH_NOT_READY"),
    HealthAppIdNotMatch => ("ERR_HEALTH_APPID_NOT_MATCH", 500, Internal, "ERR_HEALTH_APPID_NOT_MATCH"),
    OutboundHealthNotReady => ("ERR_OUTBOUND_HEALTH_NOT_READY", 500, Internal, "ERR_OUTBOUND_HEALTH_NOT_READY"),

    StateStoreNotConfigured => ("ERR_STATE_STORE_NOT_CONFIGURED", 500, FailedPrecondition, "DAPR_STATE_NOT_CONFIGURED"),
    StateStoreNotFound => ("ERR_STATE_STORE_NOT_FOUND", 400, InvalidArgument, "DAPR_STATE_NOT_FOUND"),
    /// A key (or key prefix) with `||`, or one the store cannot hold.
    StateIllegalKey => ("ERR_MALFORMED_REQUEST", 400, InvalidArgument, "DAPR_STATE_ILLEGAL_KEY"),
    StateGet => ("ERR_STATE_GET", 500, Internal, "ERR_STATE_GET"),
    StateBulkGet => ("ERR_STATE_BULK_GET", 500, Internal, "ERR_STATE_BULK_GET"),
    StateSave => ("ERR_STATE_SAVE", 500, Internal, "ERR_STATE_SAVE"),
    StateSaveEtagMismatch => ("ERR_STATE_SAVE", 409, Aborted, "ERR_STATE_SAVE"),
    StateSaveInvalidEtag => ("ERR_STATE_SAVE", 400, InvalidArgument, "ERR_STATE_SAVE"),
    StateDelete => ("ERR_STATE_DELETE", 500, Internal, "ERR_STATE_DELETE"),
    StateDeleteEtagMismatch => ("ERR_STATE_DELETE", 409, Aborted, "ERR_STATE_DELETE"),
    StateDeleteInvalidEtag => ("ERR_STATE_DELETE", 400, InvalidArgument, "ERR_STATE_DELETE"),
    StateTransaction => ("ERR_STATE_TRANSACTION", 500, Internal, "ERR_STATE_TRANSACTION"),
    StateTooManyTransactions => ("ERR_STATE_STORE_TOO_MANY_TRANSACTIONS", 400, InvalidArgument, "DAPR_STATE_TOO_MANY_TRANSACTIONS"),
    StateOperationNotSupported => ("ERR_NOT_SUPPORTED_STATE_OPERATION", 400, Unimplemented, "ERR_NOT_SUPPORTED_STATE_OPERATION"),

    PubsubNotConfigured => ("ERR_PUBSUB_NOT_CONFIGURED", 400, FailedPrecondition, "DAPR_PUBSUB_NOT_CONFIGURED"),
    PubsubEmpty => ("ERR_PUBSUB_EMPTY", 404, InvalidArgument, "DAPR_PUBSUB_NAME_EMPTY"),
    PubsubNotFound => ("ERR_PUBSUB_NOT_FOUND", 404, InvalidArgument, "DAPR_PUBSUB_NOT_FOUND"),
    TopicNameEmpty => ("ERR_TOPIC_NAME_EMPTY", 404, InvalidArgument, "DAPR_PUBSUB_TOPIC_NAME_EMPTY"),
    PubsubPublishMessage => ("ERR_PUBSUB_PUBLISH_MESSAGE", 500, Internal, "DAPR_PUBSUB_PUBLISH_MESSAGE"),
    PubsubEventsSer => ("ERR_PUBSUB_EVENTS_SER", 400, InvalidArgument, "DAPR_PUBSUB_MARSHAL_EVENTS"),
    PubsubRequestMetadata => ("ERR_PUBSUB_REQUEST_METADATA", 400, InvalidArgument, "DAPR_PUBSUB_METADATA_DESERIALIZATION"),
    PubsubCloudEventsSer => ("ERR_PUBSUB_CLOUD_EVENTS_SER", 500, InvalidArgument, "DAPR_PUBSUB_CLOUD_EVENT_CREATION"),

    DirectInvoke => ("ERR_DIRECT_INVOKE", 500, Internal, "ERR_DIRECT_INVOKE"),
    /// Neither the path nor `dapr-app-id` names the target.
    DirectInvokeNoAppId => ("ERR_DIRECT_INVOKE", 404, NotFound, "ERR_DIRECT_INVOKE"),
    /// No sidecar serves the target app id.
    DirectInvokeNoTarget => ("ERR_DIRECT_INVOKE", 500, Unavailable, "ERR_DIRECT_INVOKE"),
    DirectInvokeTooLarge => ("ERR_DIRECT_INVOKE", 413, ResourceExhausted, "ERR_DIRECT_INVOKE"),

    ActorRuntimeNotFound => ("ERR_ACTOR_RUNTIME_NOT_FOUND", 500, Internal, "ERR_ACTOR_RUNTIME_NOT_FOUND"),
    ActorInstanceMissing => ("ERR_ACTOR_INSTANCE_MISSING", 400, Internal, "ERR_ACTOR_INSTANCE_MISSING"),
    ActorInvokeMethod => ("ERR_ACTOR_INVOKE_METHOD", 500, Internal, "ERR_ACTOR_INVOKE_METHOD"),
    ActorStackDepth => ("ERR_ACTOR_STACK_DEPTH", 500, ResourceExhausted, "ERR_ACTOR_STACK_DEPTH"),
    ActorStateGet => ("ERR_ACTOR_STATE_GET", 500, Internal, "ERR_ACTOR_STATE_GET"),
    ActorStateTransactionSave => ("ERR_ACTOR_STATE_TRANSACTION_SAVE", 500, Internal, "ERR_ACTOR_STATE_TRANSACTION_SAVE"),
    ActorReminderNonHosted => ("ERR_ACTOR_REMINDER_NON_HOSTED", 403, PermissionDenied, "ERR_ACTOR_REMINDER_NON_HOSTED"),
    ActorReminderCreate => ("ERR_ACTOR_REMINDER_CREATE", 500, Internal, "ERR_ACTOR_REMINDER_CREATE"),
    ActorReminderGet => ("ERR_ACTOR_REMINDER_GET", 500, Internal, "ERR_ACTOR_REMINDER_GET"),
    ActorReminderDelete => ("ERR_ACTOR_REMINDER_DELETE", 500, Internal, "ERR_ACTOR_REMINDER_DELETE"),
    ActorReminderNotFound => ("ERR_ACTOR_REMINDER_NOT_FOUND", 404, NotFound, "ERR_ACTOR_REMINDER_NOT_FOUND"),
    ActorReminderAlreadyExists => ("ERR_ACTOR_REMINDER_ALREADY_EXISTS", 409, AlreadyExists, "ERR_ACTOR_REMINDER_ALREADY_EXISTS"),
    ActorTimerCreate => ("ERR_ACTOR_TIMER_CREATE", 500, Internal, "ERR_ACTOR_TIMER_CREATE"),
    ActorTimerNotFound => ("ERR_ACTOR_TIMER_NOT_FOUND", 404, NotFound, "ERR_ACTOR_TIMER_NOT_FOUND"),

    StartWorkflow => ("ERR_START_WORKFLOW", 500, Internal, "ERR_START_WORKFLOW"),
    GetWorkflow => ("ERR_GET_WORKFLOW", 500, Internal, "ERR_GET_WORKFLOW"),
    TerminateWorkflow => ("ERR_TERMINATE_WORKFLOW", 500, Internal, "ERR_TERMINATE_WORKFLOW"),
    RaiseEventWorkflow => ("ERR_RAISE_EVENT_WORKFLOW", 500, Internal, "ERR_RAISE_EVENT_WORKFLOW"),
    PauseWorkflow => ("ERR_PAUSE_WORKFLOW", 500, Internal, "ERR_PAUSE_WORKFLOW"),
    ResumeWorkflow => ("ERR_RESUME_WORKFLOW", 500, Internal, "ERR_RESUME_WORKFLOW"),
    PurgeWorkflow => ("ERR_PURGE_WORKFLOW", 500, Internal, "ERR_PURGE_WORKFLOW"),
    InstanceIdProvidedMissing => ("ERR_INSTANCE_ID_PROVIDED_MISSING", 400, InvalidArgument, "ERR_INSTANCE_ID_PROVIDED_MISSING"),
    InstanceIdInvalid => ("ERR_INSTANCE_ID_INVALID", 400, InvalidArgument, "ERR_INSTANCE_ID_INVALID"),
    InstanceIdTooLong => ("ERR_INSTANCE_ID_TOO_LONG", 400, InvalidArgument, "ERR_INSTANCE_ID_TOO_LONG"),
    WorkflowNameMissing => ("ERR_WORKFLOW_NAME_MISSING", 400, InvalidArgument, "ERR_WORKFLOW_NAME_MISSING"),
    WorkflowEventNameMissing => ("ERR_WORKFLOW_EVENT_NAME_MISSING", 400, InvalidArgument, "ERR_WORKFLOW_EVENT_NAME_MISSING"),
    WorkflowComponentMissing => ("ERR_WORKFLOW_COMPONENT_MISSING", 400, InvalidArgument, "ERR_WORKFLOW_COMPONENT_MISSING"),
    WorkflowComponentNotFound => ("ERR_WORKFLOW_COMPONENT_NOT_FOUND", 400, InvalidArgument, "ERR_WORKFLOW_COMPONENT_NOT_FOUND"),

    SecretStoresNotConfigured => ("ERR_SECRET_STORES_NOT_CONFIGURED", 500, FailedPrecondition, "ERR_SECRET_STORES_NOT_CONFIGURED"),
    /// daprd answers an unknown secret store with 401, not 404.
    SecretStoreNotFound => ("ERR_SECRET_STORE_NOT_FOUND", 401, InvalidArgument, "ERR_SECRET_STORE_NOT_FOUND"),
    /// The Configuration's `secrets.scopes` deny the key.
    SecretPermissionDenied => ("ERR_PERMISSION_DENIED", 403, PermissionDenied, "ERR_PERMISSION_DENIED"),
    SecretGet => ("ERR_SECRET_GET", 500, Internal, "ERR_SECRET_GET"),

    /// An unknown output binding, or one that failed.
    OutputBinding => ("ERR_INVOKE_OUTPUT_BINDING", 500, Internal, "ERR_INVOKE_OUTPUT_BINDING"),
    /// The binding's node refused the calling app (not in its `scopes`).
    OutputBindingDenied => ("ERR_INVOKE_OUTPUT_BINDING", 403, PermissionDenied, "ERR_INVOKE_OUTPUT_BINDING"),

    LockStoreNotConfigured => ("ERR_LOCK_STORE_NOT_CONFIGURED", 500, FailedPrecondition, "ERR_LOCK_STORE_NOT_CONFIGURED"),
    LockStoreNotFound => ("ERR_LOCK_STORE_NOT_FOUND", 400, InvalidArgument, "ERR_LOCK_STORE_NOT_FOUND"),
    TryLock => ("ERR_TRY_LOCK", 500, Internal, "ERR_TRY_LOCK"),
    Unlock => ("ERR_UNLOCK", 500, Internal, "ERR_UNLOCK"),

    ConfigurationStoreNotConfigured => ("ERR_CONFIGURATION_STORE_NOT_CONFIGURED", 500, FailedPrecondition, "ERR_CONFIGURATION_STORE_NOT_CONFIGURED"),
    ConfigurationStoreNotFound => ("ERR_CONFIGURATION_STORE_NOT_FOUND", 400, InvalidArgument, "ERR_CONFIGURATION_STORE_NOT_FOUND"),
    ConfigurationGet => ("ERR_CONFIGURATION_GET", 500, Internal, "ERR_CONFIGURATION_GET"),
    ConfigurationSubscribe => ("ERR_CONFIGURATION_SUBSCRIBE", 500, Internal, "ERR_CONFIGURATION_SUBSCRIBE"),
    ConfigurationUnsubscribe => ("ERR_CONFIGURATION_UNSUBSCRIBE", 500, Internal, "ERR_CONFIGURATION_UNSUBSCRIBE"),

    JobEmpty => ("DAPR_SCHEDULER_EMPTY", 400, InvalidArgument, "DAPR_SCHEDULER_EMPTY"),
    JobNameEmpty => ("DAPR_SCHEDULER_JOB_NAME_EMPTY", 400, InvalidArgument, "DAPR_SCHEDULER_JOB_NAME_EMPTY"),
    JobName => ("DAPR_SCHEDULER_JOB_NAME", 400, InvalidArgument, "DAPR_SCHEDULER_JOB_NAME"),
    JobScheduleEmpty => ("DAPR_SCHEDULER_SCHEDULE_EMPTY", 400, InvalidArgument, "DAPR_SCHEDULER_SCHEDULE_EMPTY"),
    ScheduleJob => ("DAPR_SCHEDULER_SCHEDULE_JOB", 500, Internal, "DAPR_SCHEDULER_SCHEDULE_JOB"),
    ScheduleJobExists => ("DAPR_SCHEDULER_SCHEDULE_JOB", 409, AlreadyExists, "DAPR_SCHEDULER_SCHEDULE_JOB"),
    GetJob => ("DAPR_SCHEDULER_GET_JOB", 500, Internal, "DAPR_SCHEDULER_GET_JOB"),
    DeleteJob => ("DAPR_SCHEDULER_DELETE_JOB", 500, Internal, "DAPR_SCHEDULER_DELETE_JOB"),
    ListJobs => ("DAPR_SCHEDULER_LIST_JOBS", 500, Internal, "DAPR_SCHEDULER_LIST_JOBS"),
}

impl ErrorCode {
    /// One of daprd's rich errors: its HTTP body lists its details as well.
    pub fn is_rich(self) -> bool {
        self.reason().starts_with("DAPR_")
    }
}

/// The resource an error is about (`google.rpc.ResourceInfo`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resource {
    /// `state`, `pubsub`, ...
    pub kind: &'static str,
    pub name: String,
    pub owner: String,
    pub description: String,
}

/// A request field that was wrong (`google.rpc.BadRequest.FieldViolation`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// What daprd attaches to an error besides its reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    pub violations: Vec<FieldViolation>,
    pub resource: Option<Resource>,
    /// `ErrorInfo` metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A Dapr API error: its code, message and details.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// Boxed: most errors have none, and errors travel in every `Result`.
    pub details: Option<Box<Details>>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            details: None,
        }
    }

    fn details_mut(&mut self) -> &mut Details {
        self.details.get_or_insert_default()
    }

    pub fn malformed(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::MalformedRequest, message)
    }

    /// The same error, about `name` of `kind` (a component, say).
    pub fn about(mut self, kind: &'static str, name: impl Into<String>) -> Error {
        self.details_mut().resource = Some(Resource {
            kind,
            name: name.into(),
            ..Resource::default()
        });
        self
    }

    /// The same error, naming the request field that was wrong.
    pub fn field(mut self, field: impl Into<String>, description: impl Into<String>) -> Error {
        self.details_mut().violations.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
        self
    }

    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Error {
        self.details_mut().metadata.insert(key.into(), value.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code, as daprd answers it: HTTP status, gRPC code, reason.
    #[test]
    fn every_code_has_its_statuses_and_reason() {
        use ErrorCode as E;
        use GrpcCode as G;
        let table: &[(ErrorCode, &str, u16, GrpcCode, &str)] = &[
            (
                E::MalformedRequest,
                "ERR_MALFORMED_REQUEST",
                400,
                G::InvalidArgument,
                "ERR_MALFORMED_REQUEST",
            ),
            (
                E::HealthNotReady,
                "ERR_HEALTH_NOT_READY",
                500,
                G::Internal,
                "ERR_HEALTH_NOT_READY",
            ),
            (
                E::HealthAppIdNotMatch,
                "ERR_HEALTH_APPID_NOT_MATCH",
                500,
                G::Internal,
                "ERR_HEALTH_APPID_NOT_MATCH",
            ),
            (
                E::OutboundHealthNotReady,
                "ERR_OUTBOUND_HEALTH_NOT_READY",
                500,
                G::Internal,
                "ERR_OUTBOUND_HEALTH_NOT_READY",
            ),
            (
                E::StateStoreNotConfigured,
                "ERR_STATE_STORE_NOT_CONFIGURED",
                500,
                G::FailedPrecondition,
                "DAPR_STATE_NOT_CONFIGURED",
            ),
            (
                E::StateStoreNotFound,
                "ERR_STATE_STORE_NOT_FOUND",
                400,
                G::InvalidArgument,
                "DAPR_STATE_NOT_FOUND",
            ),
            (
                E::StateIllegalKey,
                "ERR_MALFORMED_REQUEST",
                400,
                G::InvalidArgument,
                "DAPR_STATE_ILLEGAL_KEY",
            ),
            (
                E::StateGet,
                "ERR_STATE_GET",
                500,
                G::Internal,
                "ERR_STATE_GET",
            ),
            (
                E::StateBulkGet,
                "ERR_STATE_BULK_GET",
                500,
                G::Internal,
                "ERR_STATE_BULK_GET",
            ),
            (
                E::StateSave,
                "ERR_STATE_SAVE",
                500,
                G::Internal,
                "ERR_STATE_SAVE",
            ),
            (
                E::StateSaveEtagMismatch,
                "ERR_STATE_SAVE",
                409,
                G::Aborted,
                "ERR_STATE_SAVE",
            ),
            (
                E::StateSaveInvalidEtag,
                "ERR_STATE_SAVE",
                400,
                G::InvalidArgument,
                "ERR_STATE_SAVE",
            ),
            (
                E::StateDelete,
                "ERR_STATE_DELETE",
                500,
                G::Internal,
                "ERR_STATE_DELETE",
            ),
            (
                E::StateDeleteEtagMismatch,
                "ERR_STATE_DELETE",
                409,
                G::Aborted,
                "ERR_STATE_DELETE",
            ),
            (
                E::StateDeleteInvalidEtag,
                "ERR_STATE_DELETE",
                400,
                G::InvalidArgument,
                "ERR_STATE_DELETE",
            ),
            (
                E::StateTransaction,
                "ERR_STATE_TRANSACTION",
                500,
                G::Internal,
                "ERR_STATE_TRANSACTION",
            ),
            (
                E::StateTooManyTransactions,
                "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS",
                400,
                G::InvalidArgument,
                "DAPR_STATE_TOO_MANY_TRANSACTIONS",
            ),
            (
                E::StateOperationNotSupported,
                "ERR_NOT_SUPPORTED_STATE_OPERATION",
                400,
                G::Unimplemented,
                "ERR_NOT_SUPPORTED_STATE_OPERATION",
            ),
            (
                E::PubsubNotConfigured,
                "ERR_PUBSUB_NOT_CONFIGURED",
                400,
                G::FailedPrecondition,
                "DAPR_PUBSUB_NOT_CONFIGURED",
            ),
            (
                E::PubsubEmpty,
                "ERR_PUBSUB_EMPTY",
                404,
                G::InvalidArgument,
                "DAPR_PUBSUB_NAME_EMPTY",
            ),
            (
                E::PubsubNotFound,
                "ERR_PUBSUB_NOT_FOUND",
                404,
                G::InvalidArgument,
                "DAPR_PUBSUB_NOT_FOUND",
            ),
            (
                E::TopicNameEmpty,
                "ERR_TOPIC_NAME_EMPTY",
                404,
                G::InvalidArgument,
                "DAPR_PUBSUB_TOPIC_NAME_EMPTY",
            ),
            (
                E::PubsubPublishMessage,
                "ERR_PUBSUB_PUBLISH_MESSAGE",
                500,
                G::Internal,
                "DAPR_PUBSUB_PUBLISH_MESSAGE",
            ),
            (
                E::PubsubEventsSer,
                "ERR_PUBSUB_EVENTS_SER",
                400,
                G::InvalidArgument,
                "DAPR_PUBSUB_MARSHAL_EVENTS",
            ),
            (
                E::PubsubRequestMetadata,
                "ERR_PUBSUB_REQUEST_METADATA",
                400,
                G::InvalidArgument,
                "DAPR_PUBSUB_METADATA_DESERIALIZATION",
            ),
            (
                E::PubsubCloudEventsSer,
                "ERR_PUBSUB_CLOUD_EVENTS_SER",
                500,
                G::InvalidArgument,
                "DAPR_PUBSUB_CLOUD_EVENT_CREATION",
            ),
            (
                E::DirectInvoke,
                "ERR_DIRECT_INVOKE",
                500,
                G::Internal,
                "ERR_DIRECT_INVOKE",
            ),
            (
                E::DirectInvokeNoAppId,
                "ERR_DIRECT_INVOKE",
                404,
                G::NotFound,
                "ERR_DIRECT_INVOKE",
            ),
            (
                E::DirectInvokeNoTarget,
                "ERR_DIRECT_INVOKE",
                500,
                G::Unavailable,
                "ERR_DIRECT_INVOKE",
            ),
            (
                E::DirectInvokeTooLarge,
                "ERR_DIRECT_INVOKE",
                413,
                G::ResourceExhausted,
                "ERR_DIRECT_INVOKE",
            ),
            (
                E::ActorRuntimeNotFound,
                "ERR_ACTOR_RUNTIME_NOT_FOUND",
                500,
                G::Internal,
                "ERR_ACTOR_RUNTIME_NOT_FOUND",
            ),
            (
                E::ActorInstanceMissing,
                "ERR_ACTOR_INSTANCE_MISSING",
                400,
                G::Internal,
                "ERR_ACTOR_INSTANCE_MISSING",
            ),
            (
                E::ActorInvokeMethod,
                "ERR_ACTOR_INVOKE_METHOD",
                500,
                G::Internal,
                "ERR_ACTOR_INVOKE_METHOD",
            ),
            (
                E::ActorStackDepth,
                "ERR_ACTOR_STACK_DEPTH",
                500,
                G::ResourceExhausted,
                "ERR_ACTOR_STACK_DEPTH",
            ),
            (
                E::ActorStateGet,
                "ERR_ACTOR_STATE_GET",
                500,
                G::Internal,
                "ERR_ACTOR_STATE_GET",
            ),
            (
                E::ActorStateTransactionSave,
                "ERR_ACTOR_STATE_TRANSACTION_SAVE",
                500,
                G::Internal,
                "ERR_ACTOR_STATE_TRANSACTION_SAVE",
            ),
            (
                E::ActorReminderNonHosted,
                "ERR_ACTOR_REMINDER_NON_HOSTED",
                403,
                G::PermissionDenied,
                "ERR_ACTOR_REMINDER_NON_HOSTED",
            ),
            (
                E::ActorReminderCreate,
                "ERR_ACTOR_REMINDER_CREATE",
                500,
                G::Internal,
                "ERR_ACTOR_REMINDER_CREATE",
            ),
            (
                E::ActorReminderGet,
                "ERR_ACTOR_REMINDER_GET",
                500,
                G::Internal,
                "ERR_ACTOR_REMINDER_GET",
            ),
            (
                E::ActorReminderDelete,
                "ERR_ACTOR_REMINDER_DELETE",
                500,
                G::Internal,
                "ERR_ACTOR_REMINDER_DELETE",
            ),
            (
                E::ActorReminderNotFound,
                "ERR_ACTOR_REMINDER_NOT_FOUND",
                404,
                G::NotFound,
                "ERR_ACTOR_REMINDER_NOT_FOUND",
            ),
            (
                E::ActorReminderAlreadyExists,
                "ERR_ACTOR_REMINDER_ALREADY_EXISTS",
                409,
                G::AlreadyExists,
                "ERR_ACTOR_REMINDER_ALREADY_EXISTS",
            ),
            (
                E::ActorTimerCreate,
                "ERR_ACTOR_TIMER_CREATE",
                500,
                G::Internal,
                "ERR_ACTOR_TIMER_CREATE",
            ),
            (
                E::ActorTimerNotFound,
                "ERR_ACTOR_TIMER_NOT_FOUND",
                404,
                G::NotFound,
                "ERR_ACTOR_TIMER_NOT_FOUND",
            ),
            (
                E::StartWorkflow,
                "ERR_START_WORKFLOW",
                500,
                G::Internal,
                "ERR_START_WORKFLOW",
            ),
            (
                E::GetWorkflow,
                "ERR_GET_WORKFLOW",
                500,
                G::Internal,
                "ERR_GET_WORKFLOW",
            ),
            (
                E::TerminateWorkflow,
                "ERR_TERMINATE_WORKFLOW",
                500,
                G::Internal,
                "ERR_TERMINATE_WORKFLOW",
            ),
            (
                E::RaiseEventWorkflow,
                "ERR_RAISE_EVENT_WORKFLOW",
                500,
                G::Internal,
                "ERR_RAISE_EVENT_WORKFLOW",
            ),
            (
                E::PauseWorkflow,
                "ERR_PAUSE_WORKFLOW",
                500,
                G::Internal,
                "ERR_PAUSE_WORKFLOW",
            ),
            (
                E::ResumeWorkflow,
                "ERR_RESUME_WORKFLOW",
                500,
                G::Internal,
                "ERR_RESUME_WORKFLOW",
            ),
            (
                E::PurgeWorkflow,
                "ERR_PURGE_WORKFLOW",
                500,
                G::Internal,
                "ERR_PURGE_WORKFLOW",
            ),
            (
                E::InstanceIdProvidedMissing,
                "ERR_INSTANCE_ID_PROVIDED_MISSING",
                400,
                G::InvalidArgument,
                "ERR_INSTANCE_ID_PROVIDED_MISSING",
            ),
            (
                E::InstanceIdInvalid,
                "ERR_INSTANCE_ID_INVALID",
                400,
                G::InvalidArgument,
                "ERR_INSTANCE_ID_INVALID",
            ),
            (
                E::InstanceIdTooLong,
                "ERR_INSTANCE_ID_TOO_LONG",
                400,
                G::InvalidArgument,
                "ERR_INSTANCE_ID_TOO_LONG",
            ),
            (
                E::WorkflowNameMissing,
                "ERR_WORKFLOW_NAME_MISSING",
                400,
                G::InvalidArgument,
                "ERR_WORKFLOW_NAME_MISSING",
            ),
            (
                E::WorkflowEventNameMissing,
                "ERR_WORKFLOW_EVENT_NAME_MISSING",
                400,
                G::InvalidArgument,
                "ERR_WORKFLOW_EVENT_NAME_MISSING",
            ),
            (
                E::WorkflowComponentMissing,
                "ERR_WORKFLOW_COMPONENT_MISSING",
                400,
                G::InvalidArgument,
                "ERR_WORKFLOW_COMPONENT_MISSING",
            ),
            (
                E::WorkflowComponentNotFound,
                "ERR_WORKFLOW_COMPONENT_NOT_FOUND",
                400,
                G::InvalidArgument,
                "ERR_WORKFLOW_COMPONENT_NOT_FOUND",
            ),
            (
                E::SecretStoresNotConfigured,
                "ERR_SECRET_STORES_NOT_CONFIGURED",
                500,
                G::FailedPrecondition,
                "ERR_SECRET_STORES_NOT_CONFIGURED",
            ),
            (
                E::SecretStoreNotFound,
                "ERR_SECRET_STORE_NOT_FOUND",
                401,
                G::InvalidArgument,
                "ERR_SECRET_STORE_NOT_FOUND",
            ),
            (
                E::SecretPermissionDenied,
                "ERR_PERMISSION_DENIED",
                403,
                G::PermissionDenied,
                "ERR_PERMISSION_DENIED",
            ),
            (
                E::SecretGet,
                "ERR_SECRET_GET",
                500,
                G::Internal,
                "ERR_SECRET_GET",
            ),
            (
                E::OutputBinding,
                "ERR_INVOKE_OUTPUT_BINDING",
                500,
                G::Internal,
                "ERR_INVOKE_OUTPUT_BINDING",
            ),
            (
                E::OutputBindingDenied,
                "ERR_INVOKE_OUTPUT_BINDING",
                403,
                G::PermissionDenied,
                "ERR_INVOKE_OUTPUT_BINDING",
            ),
            (
                E::LockStoreNotConfigured,
                "ERR_LOCK_STORE_NOT_CONFIGURED",
                500,
                G::FailedPrecondition,
                "ERR_LOCK_STORE_NOT_CONFIGURED",
            ),
            (
                E::LockStoreNotFound,
                "ERR_LOCK_STORE_NOT_FOUND",
                400,
                G::InvalidArgument,
                "ERR_LOCK_STORE_NOT_FOUND",
            ),
            (E::TryLock, "ERR_TRY_LOCK", 500, G::Internal, "ERR_TRY_LOCK"),
            (E::Unlock, "ERR_UNLOCK", 500, G::Internal, "ERR_UNLOCK"),
            (
                E::ConfigurationStoreNotConfigured,
                "ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
                500,
                G::FailedPrecondition,
                "ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
            ),
            (
                E::ConfigurationStoreNotFound,
                "ERR_CONFIGURATION_STORE_NOT_FOUND",
                400,
                G::InvalidArgument,
                "ERR_CONFIGURATION_STORE_NOT_FOUND",
            ),
            (
                E::ConfigurationGet,
                "ERR_CONFIGURATION_GET",
                500,
                G::Internal,
                "ERR_CONFIGURATION_GET",
            ),
            (
                E::ConfigurationSubscribe,
                "ERR_CONFIGURATION_SUBSCRIBE",
                500,
                G::Internal,
                "ERR_CONFIGURATION_SUBSCRIBE",
            ),
            (
                E::ConfigurationUnsubscribe,
                "ERR_CONFIGURATION_UNSUBSCRIBE",
                500,
                G::Internal,
                "ERR_CONFIGURATION_UNSUBSCRIBE",
            ),
            (
                E::JobEmpty,
                "DAPR_SCHEDULER_EMPTY",
                400,
                G::InvalidArgument,
                "DAPR_SCHEDULER_EMPTY",
            ),
            (
                E::JobNameEmpty,
                "DAPR_SCHEDULER_JOB_NAME_EMPTY",
                400,
                G::InvalidArgument,
                "DAPR_SCHEDULER_JOB_NAME_EMPTY",
            ),
            (
                E::JobName,
                "DAPR_SCHEDULER_JOB_NAME",
                400,
                G::InvalidArgument,
                "DAPR_SCHEDULER_JOB_NAME",
            ),
            (
                E::JobScheduleEmpty,
                "DAPR_SCHEDULER_SCHEDULE_EMPTY",
                400,
                G::InvalidArgument,
                "DAPR_SCHEDULER_SCHEDULE_EMPTY",
            ),
            (
                E::ScheduleJob,
                "DAPR_SCHEDULER_SCHEDULE_JOB",
                500,
                G::Internal,
                "DAPR_SCHEDULER_SCHEDULE_JOB",
            ),
            (
                E::ScheduleJobExists,
                "DAPR_SCHEDULER_SCHEDULE_JOB",
                409,
                G::AlreadyExists,
                "DAPR_SCHEDULER_SCHEDULE_JOB",
            ),
            (
                E::GetJob,
                "DAPR_SCHEDULER_GET_JOB",
                500,
                G::Internal,
                "DAPR_SCHEDULER_GET_JOB",
            ),
            (
                E::DeleteJob,
                "DAPR_SCHEDULER_DELETE_JOB",
                500,
                G::Internal,
                "DAPR_SCHEDULER_DELETE_JOB",
            ),
            (
                E::ListJobs,
                "DAPR_SCHEDULER_LIST_JOBS",
                500,
                G::Internal,
                "DAPR_SCHEDULER_LIST_JOBS",
            ),
        ];
        assert_eq!(
            table.len(),
            ErrorCode::ALL.len(),
            "the table names every code"
        );
        for &(code, text, status, grpc, reason) in table {
            assert_eq!(code.code(), text, "{code:?}");
            assert_eq!(code.http_status().as_u16(), status, "{code:?}");
            assert_eq!(code.grpc(), grpc, "{code:?}");
            assert_eq!(code.reason(), reason, "{code:?}");
        }
    }

    #[test]
    fn details_are_kept_in_the_order_given() {
        let e = Error::new(
            ErrorCode::StateIllegalKey,
            "input key/keyPrefix 'a||b' can't contain '||'",
        )
        .field("a||b", "input key/keyPrefix 'a||b' can't contain '||'")
        .about("state", "statestore");
        assert!(e.code.is_rich());
        let details = e.details.unwrap();
        assert_eq!(details.violations[0].field, "a||b");
        assert_eq!(details.resource.unwrap().name, "statestore");
        assert!(!ErrorCode::StateSave.is_rich());
    }
}

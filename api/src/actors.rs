//! The actor API's errors in Dapr's terms, and the node's actor runtime.

use std::sync::Arc;

use jetway_blocks::actors::{ActorError, Actors};

use super::{Error, ErrorCode};
use crate::node::Node;

/// The node's actor runtime, which exists when a state store is marked
/// `actorStateStore`.
pub fn runtime(node: &Node) -> Result<&Arc<Actors>, Error> {
    node.actors.as_ref().ok_or_else(|| {
        Error::new(
            ErrorCode::ActorRuntimeNotFound,
            "the actor runtime is not configured: it needs a state store with metadata actorStateStore: \"true\"",
        )
    })
}

fn code(e: &ActorError) -> Option<ErrorCode> {
    use ActorError as E;
    use ErrorCode as C;
    Some(match e {
        E::Unavailable(_) => C::ActorRuntimeNotFound,
        E::MissingInstance => C::ActorInstanceMissing,
        E::NotHosted { .. } => C::ActorReminderNonHosted,
        E::StackDepth => C::ActorStackDepth,
        E::Invoke(_) => C::ActorInvokeMethod,
        E::Invalid(_) => return None,
        E::UnsupportedOperation(_) => C::StateOperationNotSupported,
        E::StateGet(_) => C::ActorStateGet,
        E::StateTransaction(_) => C::ActorStateTransactionSave,
        E::ReminderCreate(_) => C::ActorReminderCreate,
        E::ReminderExists { .. } => C::ActorReminderAlreadyExists,
        E::ReminderGet(_) => C::ActorReminderGet,
        E::ReminderNotFound { .. } => C::ActorReminderNotFound,
        E::ReminderDelete(_) => C::ActorReminderDelete,
        E::TimerCreate(_) => C::ActorTimerCreate,
        E::TimerNotFound { .. } => C::ActorTimerNotFound,
    })
}

impl From<ActorError> for Error {
    fn from(e: ActorError) -> Error {
        match code(&e) {
            Some(code) => Error::new(code, e.to_string()),
            None => Error::malformed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_daprd_code() {
        let s = || "x".to_owned();
        let cases = [
            (
                ActorError::Unavailable(s()),
                "ERR_ACTOR_RUNTIME_NOT_FOUND",
                500,
            ),
            (
                ActorError::MissingInstance,
                "ERR_ACTOR_INSTANCE_MISSING",
                400,
            ),
            (
                ActorError::NotHosted {
                    actor_type: s(),
                    app_id: s(),
                },
                "ERR_ACTOR_REMINDER_NON_HOSTED",
                403,
            ),
            (ActorError::StackDepth, "ERR_ACTOR_STACK_DEPTH", 500),
            (ActorError::Invoke(s()), "ERR_ACTOR_INVOKE_METHOD", 500),
            (ActorError::Invalid(s()), "ERR_MALFORMED_REQUEST", 400),
            (
                ActorError::UnsupportedOperation(s()),
                "ERR_NOT_SUPPORTED_STATE_OPERATION",
                400,
            ),
            (ActorError::StateGet(s()), "ERR_ACTOR_STATE_GET", 500),
            (
                ActorError::StateTransaction(s()),
                "ERR_ACTOR_STATE_TRANSACTION_SAVE",
                500,
            ),
            (
                ActorError::ReminderCreate(s()),
                "ERR_ACTOR_REMINDER_CREATE",
                500,
            ),
            (
                ActorError::ReminderExists {
                    name: s(),
                    actor: s(),
                },
                "ERR_ACTOR_REMINDER_ALREADY_EXISTS",
                409,
            ),
            (ActorError::ReminderGet(s()), "ERR_ACTOR_REMINDER_GET", 500),
            (
                ActorError::ReminderNotFound {
                    name: s(),
                    actor: s(),
                },
                "ERR_ACTOR_REMINDER_NOT_FOUND",
                404,
            ),
            (
                ActorError::ReminderDelete(s()),
                "ERR_ACTOR_REMINDER_DELETE",
                500,
            ),
            (ActorError::TimerCreate(s()), "ERR_ACTOR_TIMER_CREATE", 500),
            (
                ActorError::TimerNotFound {
                    name: s(),
                    actor: s(),
                },
                "ERR_ACTOR_TIMER_NOT_FOUND",
                404,
            ),
        ];
        for (kind, code, status) in cases {
            let message = kind.to_string();
            let e = Error::from(kind);
            assert_eq!(e.code().code(), code, "{message}");
            assert_eq!(e.code().http_status().as_u16(), status, "{message}");
            assert_eq!(e.0.message, message);
        }
    }
}

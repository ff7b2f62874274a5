//! Why an actor operation failed, as kinds the API edge maps to daprd's codes.

/// An actor operation's failure; each message is daprd's.
#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    /// The actor runtime's NATS resources cannot be reached.
    #[error("the actor runtime cannot reach NATS: {0}")]
    Unavailable(String),
    #[error("actor type and id must not be empty")]
    MissingInstance,
    /// Reminders and timers are set through a sidecar whose app hosts the type.
    #[error(
        "operations on actor reminders and timers are only possible on hosted actor types; {actor_type} is not hosted by app {app_id}"
    )]
    NotHosted { actor_type: String, app_id: String },
    /// A reentrant call chain went deeper than the type allows.
    #[error("maximum stack depth exceeded")]
    StackDepth,
    /// The method could not be run: no host, a timeout, the app unreachable.
    #[error("{0}")]
    Invoke(String),
    /// A request the actor runtime cannot take (an empty state key, a bad TTL).
    #[error("{0}")]
    Invalid(String),
    #[error("operation type {0} not supported")]
    UnsupportedOperation(String),
    #[error("error getting actor state: {0}")]
    StateGet(String),
    #[error("error saving actor transaction state: {0}")]
    StateTransaction(String),
    #[error("error creating actor reminder: {0}")]
    ReminderCreate(String),
    #[error("reminder {name} already exists for actor {actor}")]
    ReminderExists { name: String, actor: String },
    #[error("error getting actor reminder: {0}")]
    ReminderGet(String),
    #[error("reminder {name} not found for actor {actor}")]
    ReminderNotFound { name: String, actor: String },
    #[error("error deleting actor reminder: {0}")]
    ReminderDelete(String),
    #[error("error creating actor timer: {0}")]
    TimerCreate(String),
    #[error("timer {name} not found for actor {actor}")]
    TimerNotFound { name: String, actor: String },
}

impl ActorError {
    /// A failed method call: `detail` says which call when known (` m on t/i`),
    /// then why.
    pub(crate) fn invoke(detail: &str, why: impl std::fmt::Display) -> ActorError {
        ActorError::Invoke(format!("error invoke actor method{detail}: {why}"))
    }
}

//! One workflow instance as a pure state machine.
//!
//! An instance holds the committed history of its current execution and an
//! inbox of events not yet shown to the worker. [`Instance::turn`] builds the
//! worker's next work item: the history as `pastEvents`, and `workflowStarted`
//! (whose timestamp is the workflow's "now") followed by the inbox as
//! `newEvents`. [`Instance::complete`] commits that turn with the worker's
//! answer: the shown events join the history, each action adds its record, and
//! the work the actions start is returned for the driver to carry out. The
//! driver commits the new history, the consumed inbox and the outgoing work
//! together, so a crash never duplicates or loses a step.

use dapr_durabletask_proto as pb;
use pb::history_event::EventType;
use pb::workflow_action::WorkflowActionType as Action;
use prost_types::Timestamp;

pub use pb::OrchestrationStatus as Status;

/// The `fireAt` of the timer the Python SDK creates for an indefinite wait:
/// recorded, never scheduled.
const NEVER: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// A workflow instance: the current execution's history and its inbox.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Instance {
    pub id: String,
    /// Committed history of the current execution, in order.
    pub history: Vec<pb::HistoryEvent>,
    /// Events waiting for the next turn, in arrival order.
    pub inbox: Vec<pb::HistoryEvent>,
    /// The custom status the worker last reported.
    pub custom_status: Option<String>,
    /// Executions before this one (continue-as-new).
    pub continued: u32,
}

/// A work item for the worker, and how much of the inbox it consumes.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    pub request: pb::WorkflowRequest,
    /// The inbox events the turn shows the worker (the first `consumed`).
    pub consumed: usize,
}

/// Work a committed turn starts, for the driver to carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    /// Run an activity on a worker of this app.
    Activity(pb::ActivityRequest),
    /// Deliver `timerFired` for timer `id` of this instance at `fire_at`.
    Timer { id: i32, fire_at: Timestamp },
    /// Start a child workflow.
    StartChild(pb::CreateInstanceRequest, pb::ParentInstanceInfo),
    /// Add `event` to the inbox of instance `instance`.
    Deliver {
        instance: String,
        event: pb::HistoryEvent,
    },
    /// Terminate instance `instance` (and its children, if `recurse`).
    Terminate {
        instance: String,
        reason: Option<String>,
        recurse: bool,
    },
    /// The instance reached a terminal state: wake those waiting for it.
    Finished(Status),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("the answer is for instance {0}, not this one")]
    WrongInstance(String),
    #[error("instance {0} has finished and takes no more turns")]
    Finished(String),
    #[error("action {0} carries no action")]
    EmptyAction(i32),
}

impl Instance {
    /// A new instance, waiting for its first turn.
    pub fn start(
        request: &pb::CreateInstanceRequest,
        parent: Option<pb::ParentInstanceInfo>,
        now: Timestamp,
    ) -> Instance {
        let started = pb::ExecutionStartedEvent {
            name: request.name.clone(),
            version: request.version.clone(),
            input: request.input.clone(),
            workflow_instance: Some(pb::WorkflowInstance {
                instance_id: request.instance_id.clone(),
                execution_id: request.execution_id.clone(),
            }),
            parent_instance: parent,
            scheduled_start_timestamp: request.scheduled_start_timestamp,
            parent_trace_context: request.parent_trace_context.clone(),
            workflow_span_id: None,
            tags: request.tags.clone(),
        };
        Instance {
            id: request.instance_id.clone(),
            inbox: vec![event(-1, now, EventType::ExecutionStarted(started))],
            ..Instance::default()
        }
    }

    /// The `executionStarted` of the current execution.
    pub fn started(&self) -> Option<&pb::ExecutionStartedEvent> {
        self.history
            .iter()
            .chain(&self.inbox)
            .find_map(|e| match &e.event_type {
                Some(EventType::ExecutionStarted(s)) => Some(s),
                _ => None,
            })
    }

    /// The `executionCompleted` record, once the instance has finished.
    pub fn completed(&self) -> Option<&pb::ExecutionCompletedEvent> {
        self.history.iter().rev().find_map(|e| match &e.event_type {
            Some(EventType::ExecutionCompleted(c)) => Some(c),
            _ => None,
        })
    }

    pub fn status(&self) -> Status {
        if let Some(done) = self.completed() {
            return Status::try_from(done.workflow_status).unwrap_or(Status::Completed);
        }
        if self.history.is_empty() && self.continued == 0 {
            return Status::Pending;
        }
        let suspended = self.history.iter().rev().find_map(|e| match e.event_type {
            Some(EventType::ExecutionSuspended(_)) => Some(true),
            Some(EventType::ExecutionResumed(_)) => Some(false),
            _ => None,
        });
        if suspended == Some(true) {
            Status::Suspended
        } else {
            Status::Running
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(
            self.status(),
            Status::Completed | Status::Failed | Status::Terminated | Status::Canceled
        )
    }

    /// The child workflows this execution started, for recursive terminate
    /// and purge.
    pub fn children(&self) -> Vec<&str> {
        self.history
            .iter()
            .filter_map(|e| match &e.event_type {
                Some(EventType::ChildWorkflowInstanceCreated(c)) => Some(c.instance_id.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The instance as `GetInstance` reports it; inputs, outputs and the
    /// custom status only `with_payloads`.
    pub fn state(&self, with_payloads: bool) -> pb::WorkflowState {
        let started = self.started();
        let done = self.completed();
        let created = self
            .history
            .iter()
            .chain(&self.inbox)
            .find(|e| matches!(e.event_type, Some(EventType::ExecutionStarted(_))));
        let last = self.inbox.last().or(self.history.last());
        let payload = |p: Option<&String>| p.filter(|_| with_payloads).cloned();
        pb::WorkflowState {
            instance_id: self.id.clone(),
            name: started.map(|s| s.name.clone()).unwrap_or_default(),
            version: started.and_then(|s| s.version.clone()),
            workflow_status: self.status() as i32,
            scheduled_start_timestamp: started.and_then(|s| s.scheduled_start_timestamp),
            created_timestamp: created.and_then(|e| e.timestamp),
            last_updated_timestamp: last.and_then(|e| e.timestamp),
            input: payload(started.and_then(|s| s.input.as_ref())),
            output: payload(done.and_then(|d| d.result.as_ref())),
            custom_status: payload(self.custom_status.as_ref()),
            failure_details: done.and_then(|d| d.failure_details.clone()),
            execution_id: started.and_then(|s| s.workflow_instance.as_ref()?.execution_id.clone()),
            completed_timestamp: done.and(self.history.last()).and_then(|e| e.timestamp),
            parent_instance_id: started
                .and_then(|s| s.parent_instance.as_ref()?.workflow_instance.as_ref())
                .map(|w| w.instance_id.clone()),
            tags: started.map(|s| s.tags.clone()).unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Adds `event` to the inbox; a finished instance takes none (false).
    pub fn deliver(&mut self, event: pb::HistoryEvent) -> bool {
        if self.is_finished() {
            return false;
        }
        self.inbox.push(event);
        true
    }

    /// The committed history as a worker replays it: without the records
    /// it does not know.
    pub fn past_events(&self) -> Vec<pb::HistoryEvent> {
        self.history.iter().filter(|e| shown(e)).cloned().collect()
    }

    /// The next work item, when the inbox holds anything to show; `None` while
    /// a scheduled start lies ahead of `now`.
    pub fn turn(&self, now: Timestamp) -> Option<Turn> {
        if self.inbox.is_empty() || self.is_finished() {
            return None;
        }
        if self.history.is_empty()
            && let Some(at) = self.started().and_then(|s| s.scheduled_start_timestamp)
            && when(&at) > when(&now)
        {
            return None;
        }
        let mut new_events = vec![event(
            -1,
            now,
            EventType::WorkflowStarted(Default::default()),
        )];
        new_events.extend(self.inbox.iter().filter(|e| shown(e)).cloned());
        Some(Turn {
            request: pb::WorkflowRequest {
                instance_id: self.id.clone(),
                execution_id: self
                    .started()
                    .and_then(|s| s.workflow_instance.as_ref()?.execution_id.clone()),
                past_events: self.past_events(),
                new_events,
                ..Default::default()
            },
            consumed: self.inbox.len(),
        })
    }

    /// Commits `turn` with the worker's `answer`: the events it showed join
    /// the history, then each action's record; returns the work they start.
    pub fn complete(
        &mut self,
        turn: Turn,
        answer: pb::WorkflowResponse,
        now: Timestamp,
    ) -> Result<Vec<Work>, Error> {
        if answer.instance_id != self.id {
            return Err(Error::WrongInstance(answer.instance_id));
        }
        if self.is_finished() {
            return Err(Error::Finished(self.id.clone()));
        }
        let workflow_started = turn.request.new_events.into_iter().next();
        self.history.extend(workflow_started);
        let shown_from = self.history.len();
        self.history.extend(self.inbox.drain(..turn.consumed));
        // A recursive terminate reaches the children too.
        let recurse = self.history[shown_from..]
            .iter()
            .find_map(|e| match &e.event_type {
                Some(EventType::ExecutionTerminated(t)) if t.recurse => Some(t.input.clone()),
                _ => None,
            });
        if answer.custom_status.is_some() {
            self.custom_status = answer.custom_status;
        }
        let mut work = Vec::new();
        for action in answer.actions {
            let id = action.id;
            let Some(kind) = action.workflow_action_type else {
                return Err(Error::EmptyAction(id));
            };
            if let Action::CompleteWorkflow(done) = kind {
                self.finish(done, now, &mut work);
                // Actions after the completion are not carried out.
                break;
            }
            self.act(id, kind, now, &mut work);
        }
        if let Some(reason) = recurse {
            for child in self.children() {
                work.push(Work::Terminate {
                    instance: child.to_owned(),
                    reason: reason.clone(),
                    recurse: true,
                });
            }
        }
        Ok(work)
    }

    /// Records one action and the work it starts.
    fn act(&mut self, id: i32, action: Action, now: Timestamp, work: &mut Vec<Work>) {
        let me = Some(pb::WorkflowInstance {
            instance_id: self.id.clone(),
            execution_id: self
                .started()
                .and_then(|s| s.workflow_instance.as_ref()?.execution_id.clone()),
        });
        let record = match action {
            Action::ScheduleTask(task) => {
                work.push(Work::Activity(pb::ActivityRequest {
                    name: task.name.clone(),
                    version: task.version.clone(),
                    input: task.input.clone(),
                    workflow_instance: me,
                    task_id: id,
                    task_execution_id: task.task_execution_id.clone(),
                    ..Default::default()
                }));
                EventType::TaskScheduled(pb::TaskScheduledEvent {
                    name: task.name,
                    version: task.version,
                    input: task.input,
                    task_execution_id: task.task_execution_id,
                    history_propagation_scope: task.history_propagation_scope,
                    ..Default::default()
                })
            }
            Action::CreateTimer(timer) => {
                let fire_at = timer.fire_at.unwrap_or(now);
                if fire_at.seconds < NEVER {
                    work.push(Work::Timer { id, fire_at });
                }
                EventType::TimerCreated(pb::TimerCreatedEvent {
                    fire_at: Some(fire_at),
                    name: timer.name,
                    origin: timer.origin.map(timer_origin),
                    ..Default::default()
                })
            }
            Action::CreateChildWorkflow(child) => {
                let parent = pb::ParentInstanceInfo {
                    task_scheduled_id: id,
                    name: self.started().map(|s| s.name.clone()),
                    version: self.started().and_then(|s| s.version.clone()),
                    workflow_instance: me,
                    ..Default::default()
                };
                let request = pb::CreateInstanceRequest {
                    instance_id: child.instance_id.clone(),
                    name: child.name.clone(),
                    version: child.version.clone(),
                    input: child.input.clone(),
                    ..Default::default()
                };
                work.push(Work::StartChild(request, parent));
                EventType::ChildWorkflowInstanceCreated(pb::ChildWorkflowInstanceCreatedEvent {
                    instance_id: child.instance_id,
                    name: child.name,
                    version: child.version,
                    input: child.input,
                    ..Default::default()
                })
            }
            Action::SendEvent(send) => {
                let target = send.instance.map(|i| i.instance_id).unwrap_or_default();
                let raised = EventType::EventRaised(pb::EventRaisedEvent {
                    name: send.name.clone(),
                    input: send.data.clone(),
                });
                work.push(Work::Deliver {
                    instance: target.clone(),
                    event: event(-1, now, raised),
                });
                EventType::EventSent(pb::EventSentEvent {
                    instance_id: target,
                    name: send.name,
                    input: send.data,
                })
            }
            Action::TerminateWorkflow(t) => {
                work.push(Work::Terminate {
                    instance: t.instance_id,
                    reason: t.reason,
                    recurse: t.recurse,
                });
                return;
            }
            Action::CompleteWorkflow(_)
            | Action::WorkflowVersionNotAvailable(_)
            | Action::CreateDetachedWorkflow(_) => return,
        };
        self.history.push(event(id, now, record));
    }

    /// Ends the execution as `done` says: finished (the parent told), or
    /// continued as new.
    fn finish(&mut self, done: pb::CompleteWorkflowAction, now: Timestamp, work: &mut Vec<Work>) {
        let status = Status::try_from(done.workflow_status).unwrap_or(Status::Completed);
        if status == Status::ContinuedAsNew {
            self.continue_as_new(done, now);
            return;
        }
        let parent = self.started().and_then(|s| s.parent_instance.clone());
        self.history.push(event(
            -1,
            now,
            EventType::ExecutionCompleted(pb::ExecutionCompletedEvent {
                workflow_status: status as i32,
                result: done.result.clone(),
                failure_details: done.failure_details.clone(),
            }),
        ));
        if let Some(parent) = parent
            && let Some(instance) = parent.workflow_instance
        {
            let notice = if status == Status::Completed {
                EventType::ChildWorkflowInstanceCompleted(pb::ChildWorkflowInstanceCompletedEvent {
                    task_scheduled_id: parent.task_scheduled_id,
                    result: done.result,
                    ..Default::default()
                })
            } else {
                let failure = done
                    .failure_details
                    .unwrap_or_else(|| pb::TaskFailureDetails {
                        error_type: format!("{status:?}"),
                        error_message: format!("the child workflow ended {}", status.as_str_name()),
                        ..Default::default()
                    });
                EventType::ChildWorkflowInstanceFailed(pb::ChildWorkflowInstanceFailedEvent {
                    task_scheduled_id: parent.task_scheduled_id,
                    failure_details: Some(failure),
                    ..Default::default()
                })
            };
            work.push(Work::Deliver {
                instance: instance.instance_id,
                event: event(-1, now, notice),
            });
        }
        work.push(Work::Finished(status));
    }

    /// Starts the next execution: a fresh history whose first turn sees
    /// `executionStarted` with the new input, then the carried-over events and
    /// whatever arrived during this turn.
    fn continue_as_new(&mut self, done: pb::CompleteWorkflowAction, now: Timestamp) {
        let Some(mut started) = self.started().cloned() else {
            return;
        };
        started.input = done.result;
        if let Some(version) = done.new_version {
            started.version = Some(version);
        }
        let mut inbox = vec![event(-1, now, EventType::ExecutionStarted(started))];
        inbox.extend(done.carryover_events);
        inbox.append(&mut self.inbox);
        self.history.clear();
        self.inbox = inbox;
        self.continued += 1;
    }
}

/// What `RerunWorkflowFromEvent` asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rerun {
    /// The activity, timer or child workflow to run again (its event id).
    pub event_id: i32,
    /// The instance that runs again.
    pub new_id: String,
    /// The rerun activity's or child's input instead of its own, if set.
    pub input: Option<Option<String>>,
    /// The rerun child's instance id, instead of `<new id>:<event id in hex>`.
    pub child_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RerunError {
    #[error("workflow {0} does not have history event with ID {1}")]
    EventNotFound(String, i32),
    #[error("event {0} is not an activity, timer or child workflow: only those can be rerun")]
    NotRerunnable(i32),
    #[error("event {0} is a timer: it takes no input")]
    TimerInput(i32),
    #[error("event {0} is not a child workflow: it takes no child instance ID")]
    ChildId(i32),
}

impl Instance {
    /// A new instance (Dapr's rerun) whose history is this finished one's up
    /// to event `rerun.event_id`; that activity, timer or child workflow, and
    /// every one not finished by then, runs again. Returns the instance and
    /// the work that starts them again.
    pub fn rerun(
        &self,
        rerun: &Rerun,
        now: Timestamp,
    ) -> Result<(Instance, Vec<Work>), RerunError> {
        let mut history = Vec::new();
        // Started and not finished before the target, by event id.
        let mut open: std::collections::BTreeMap<i32, pb::HistoryEvent> = Default::default();
        let mut target = None;
        for e in &self.history {
            let mut e = e.clone();
            if e.event_id == rerun.event_id && e.event_id >= 0 {
                target = Some(e);
                break;
            }
            let finishes = match &mut e.event_type {
                Some(EventType::ExecutionStarted(s)) => {
                    if let Some(w) = &mut s.workflow_instance {
                        w.instance_id = rerun.new_id.clone();
                    }
                    None
                }
                Some(
                    EventType::TaskScheduled(_)
                    | EventType::TimerCreated(_)
                    | EventType::ChildWorkflowInstanceCreated(_),
                ) => {
                    open.insert(e.event_id, e);
                    continue;
                }
                Some(EventType::TaskCompleted(c)) => Some(c.task_scheduled_id),
                Some(EventType::TaskFailed(f)) => Some(f.task_scheduled_id),
                Some(EventType::TimerFired(f)) => Some(f.timer_id),
                Some(EventType::ChildWorkflowInstanceCompleted(c)) => Some(c.task_scheduled_id),
                Some(EventType::ChildWorkflowInstanceFailed(f)) => Some(f.task_scheduled_id),
                _ => None,
            };
            // A finished task's record goes just before its outcome.
            history.extend(finishes.and_then(|id| open.remove(&id)));
            history.push(e);
        }
        let mut target =
            target.ok_or_else(|| RerunError::EventNotFound(self.id.clone(), rerun.event_id))?;
        let from = Some(pb::RerunParentInstanceInfo {
            instance_id: self.id.clone(),
        });
        match &mut target.event_type {
            Some(EventType::TaskScheduled(t)) => {
                if rerun.child_id.is_some() {
                    return Err(RerunError::ChildId(rerun.event_id));
                }
                t.rerun_parent_instance_info = from;
                if let Some(input) = &rerun.input {
                    t.input = input.clone();
                }
            }
            Some(EventType::TimerCreated(t)) => {
                if rerun.input.is_some() {
                    return Err(RerunError::TimerInput(rerun.event_id));
                }
                if rerun.child_id.is_some() {
                    return Err(RerunError::ChildId(rerun.event_id));
                }
                t.rerun_parent_instance_info = from;
            }
            Some(EventType::ChildWorkflowInstanceCreated(c)) => {
                c.rerun_parent_instance_info = from;
                if let Some(id) = &rerun.child_id {
                    c.instance_id = id.clone();
                }
                if let Some(input) = &rerun.input {
                    c.input = input.clone();
                }
            }
            _ => return Err(RerunError::NotRerunnable(rerun.event_id)),
        }
        let target_id = target.event_id;
        let mut instance = Instance {
            id: rerun.new_id.clone(),
            history,
            ..Instance::default()
        };
        let mut work = Vec::new();
        for mut e in open.into_values().chain([target]) {
            if let Some(EventType::ChildWorkflowInstanceCreated(c)) = &mut e.event_type
                && !(e.event_id == target_id && rerun.child_id.is_some())
            {
                c.instance_id = format!("{}:{:04x}", rerun.new_id, e.event_id);
            }
            let Some(action) = e.event_type.as_ref().and_then(again) else {
                continue;
            };
            instance.act(e.event_id, action, now, &mut work);
            // The original record keeps what an action does not carry (the
            // timer's origin, the rerun's source).
            if let Some(record) = instance.history.last_mut() {
                record.event_type = e.event_type;
            }
        }
        Ok((instance, work))
    }
}

/// The action that does again what a task's record says was done.
fn again(record: &EventType) -> Option<Action> {
    Some(match record.clone() {
        EventType::TaskScheduled(t) => Action::ScheduleTask(pb::ScheduleTaskAction {
            name: t.name,
            version: t.version,
            input: t.input,
            task_execution_id: t.task_execution_id,
            ..Default::default()
        }),
        EventType::TimerCreated(t) => Action::CreateTimer(pb::CreateTimerAction {
            fire_at: t.fire_at,
            name: t.name,
            ..Default::default()
        }),
        EventType::ChildWorkflowInstanceCreated(c) => {
            Action::CreateChildWorkflow(pb::CreateChildWorkflowAction {
                instance_id: c.instance_id,
                name: c.name,
                version: c.version,
                input: c.input,
                ..Default::default()
            })
        }
        _ => return None,
    })
}

/// Whether the worker may see `event`: the Python worker fails a workflow on
/// kinds it does not know, and those are the sidecar's own records.
fn shown(event: &pb::HistoryEvent) -> bool {
    !matches!(
        event.event_type,
        None | Some(
            EventType::WorkflowCompleted(_)
                | EventType::EventSent(_)
                | EventType::ContinueAsNew(_)
                | EventType::ExecutionCompleted(_)
                | EventType::DetachedWorkflowInstanceCreated(_)
        )
    )
}

fn timer_origin(origin: pb::create_timer_action::Origin) -> pb::timer_created_event::Origin {
    use pb::create_timer_action::Origin as From;
    use pb::timer_created_event::Origin as To;
    match origin {
        From::CreateTimer(o) => To::CreateTimer(o),
        From::ExternalEvent(o) => To::ExternalEvent(o),
        From::ActivityRetry(o) => To::ActivityRetry(o),
        From::ChildWorkflowRetry(o) => To::ChildWorkflowRetry(o),
    }
}

/// A history event.
pub fn event(id: i32, at: Timestamp, kind: EventType) -> pb::HistoryEvent {
    pb::HistoryEvent {
        event_id: id,
        timestamp: Some(at),
        router: None,
        event_type: Some(kind),
    }
}

/// A timestamp as a key that orders like time.
fn when(t: &Timestamp) -> (i64, i32) {
    (t.seconds, t.nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp { seconds, nanos: 0 }
    }

    fn create(id: &str) -> pb::CreateInstanceRequest {
        pb::CreateInstanceRequest {
            instance_id: id.into(),
            name: "chain".into(),
            input: Some("1".into()),
            ..Default::default()
        }
    }

    fn answer(id: &str, actions: Vec<(i32, Action)>) -> pb::WorkflowResponse {
        pb::WorkflowResponse {
            instance_id: id.into(),
            actions: actions
                .into_iter()
                .map(|(id, a)| pb::WorkflowAction {
                    id,
                    router: None,
                    workflow_action_type: Some(a),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn schedule(name: &str) -> Action {
        Action::ScheduleTask(pb::ScheduleTaskAction {
            name: name.into(),
            input: Some("\"x\"".into()),
            ..Default::default()
        })
    }

    fn done(status: Status, result: &str) -> Action {
        Action::CompleteWorkflow(pb::CompleteWorkflowAction {
            workflow_status: status as i32,
            result: Some(result.into()),
            ..Default::default()
        })
    }

    fn kinds(events: &[pb::HistoryEvent]) -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match &e.event_type {
                Some(EventType::WorkflowStarted(_)) => "workflowStarted",
                Some(EventType::ExecutionStarted(_)) => "executionStarted",
                Some(EventType::TaskScheduled(_)) => "taskScheduled",
                Some(EventType::TaskCompleted(_)) => "taskCompleted",
                Some(EventType::TimerCreated(_)) => "timerCreated",
                Some(EventType::TimerFired(_)) => "timerFired",
                Some(EventType::EventRaised(_)) => "eventRaised",
                Some(EventType::EventSent(_)) => "eventSent",
                Some(EventType::ExecutionCompleted(_)) => "executionCompleted",
                Some(EventType::ExecutionSuspended(_)) => "executionSuspended",
                Some(EventType::ExecutionResumed(_)) => "executionResumed",
                Some(EventType::ChildWorkflowInstanceCreated(_)) => "childWorkflowInstanceCreated",
                _ => "other",
            })
            .collect()
    }

    fn raised(name: &str) -> pb::HistoryEvent {
        let raised = pb::EventRaisedEvent {
            name: name.into(),
            input: Some("true".into()),
        };
        event(-1, at(1), EventType::EventRaised(raised))
    }

    fn completed(task: i32, result: &str) -> pb::HistoryEvent {
        event(
            -1,
            at(0),
            EventType::TaskCompleted(pb::TaskCompletedEvent {
                task_scheduled_id: task,
                result: Some(result.into()),
                ..Default::default()
            }),
        )
    }

    #[test]
    fn a_chain_runs_turn_by_turn_and_finishes() {
        let mut wf = Instance::start(&create("i1"), None, at(10));
        assert_eq!(wf.status(), Status::Pending);

        // First turn: workflowStarted (the workflow's now), then executionStarted.
        let turn = wf.turn(at(11)).unwrap();
        assert!(turn.request.past_events.is_empty());
        assert_eq!(
            kinds(&turn.request.new_events),
            ["workflowStarted", "executionStarted"]
        );
        assert_eq!(turn.request.new_events[0].timestamp, Some(at(11)));
        let work = wf
            .complete(turn, answer("i1", vec![(1, schedule("a"))]), at(11))
            .unwrap();
        let [Work::Activity(activity)] = work.as_slice() else {
            panic!("{work:?}")
        };
        assert_eq!((activity.name.as_str(), activity.task_id), ("a", 1));
        assert_eq!(
            activity.workflow_instance.as_ref().unwrap().instance_id,
            "i1"
        );
        assert_eq!(wf.status(), Status::Running);
        assert_eq!(
            wf.history.last().unwrap().event_id,
            1,
            "taskScheduled carries the action id"
        );
        assert_eq!(wf.turn(at(12)), None, "nothing new, no turn");

        // The activity's result opens the next turn, after the whole history.
        assert!(wf.deliver(completed(1, "2")));
        let turn = wf.turn(at(13)).unwrap();
        assert_eq!(
            kinds(&turn.request.past_events),
            ["workflowStarted", "executionStarted", "taskScheduled"]
        );
        assert_eq!(
            kinds(&turn.request.new_events),
            ["workflowStarted", "taskCompleted"]
        );
        let work = wf
            .complete(
                turn,
                answer("i1", vec![(-1, done(Status::Completed, "2"))]),
                at(13),
            )
            .unwrap();
        assert_eq!(work, [Work::Finished(Status::Completed)]);
        assert_eq!(wf.status(), Status::Completed);
        assert_eq!(wf.completed().unwrap().result.as_deref(), Some("2"));
        assert!(
            !wf.deliver(completed(1, "late")),
            "a finished instance takes nothing"
        );
        assert_eq!(wf.turn(at(14)), None);

        let state = wf.state(true);
        assert_eq!(state.name, "chain");
        assert_eq!(state.workflow_status, Status::Completed as i32);
        assert_eq!(
            (state.input.as_deref(), state.output.as_deref()),
            (Some("1"), Some("2"))
        );
        assert_eq!(state.created_timestamp, Some(at(10)));
        assert_eq!(state.last_updated_timestamp, Some(at(13)));
        assert_eq!(state.completed_timestamp, Some(at(13)));
        let bare = wf.state(false);
        assert_eq!((bare.input, bare.output), (None, None));
    }

    #[test]
    fn events_that_arrive_during_a_turn_wait_for_the_next() {
        let mut wf = Instance::start(&create("i2"), None, at(0));
        let turn = wf.turn(at(1)).unwrap();
        wf.deliver(raised("approval"));
        wf.complete(turn, answer("i2", vec![]), at(1)).unwrap();
        assert_eq!(kinds(&wf.inbox), ["eventRaised"]);
        let turn = wf.turn(at(2)).unwrap();
        assert_eq!(
            kinds(&turn.request.new_events),
            ["workflowStarted", "eventRaised"]
        );
    }

    #[test]
    fn timers_are_scheduled_except_the_indefinite_one() {
        let mut wf = Instance::start(&create("i3"), None, at(0));
        let turn = wf.turn(at(1)).unwrap();
        let timer = |seconds| {
            Action::CreateTimer(pb::CreateTimerAction {
                fire_at: Some(at(seconds)),
                name: None,
                origin: Some(pb::create_timer_action::Origin::CreateTimer(
                    Default::default(),
                )),
            })
        };
        let work = wf
            .complete(
                turn,
                answer("i3", vec![(1, timer(60)), (2, timer(NEVER))]),
                at(1),
            )
            .unwrap();
        assert_eq!(
            work,
            [Work::Timer {
                id: 1,
                fire_at: at(60)
            }]
        );
        assert_eq!(kinds(&wf.history[2..]), ["timerCreated", "timerCreated"]);
        let Some(EventType::TimerCreated(created)) = &wf.history[2].event_type else {
            panic!()
        };
        assert!(matches!(
            created.origin,
            Some(pb::timer_created_event::Origin::CreateTimer(_))
        ));
    }

    #[test]
    fn a_child_reports_to_its_parent() {
        let mut parent = Instance::start(&create("p"), None, at(0));
        let turn = parent.turn(at(1)).unwrap();
        let child = Action::CreateChildWorkflow(pb::CreateChildWorkflowAction {
            instance_id: "p:0001".into(),
            name: "child".into(),
            input: Some("5".into()),
            ..Default::default()
        });
        let work = parent
            .complete(turn, answer("p", vec![(1, child)]), at(1))
            .unwrap();
        let [Work::StartChild(request, info)] = work.as_slice() else {
            panic!("{work:?}")
        };
        assert_eq!(parent.children(), ["p:0001"]);
        assert_eq!(
            (request.instance_id.as_str(), info.task_scheduled_id),
            ("p:0001", 1)
        );

        for (status, notice) in [(Status::Completed, "completed"), (Status::Failed, "failed")] {
            let mut child = Instance::start(request, Some(info.clone()), at(2));
            assert_eq!(child.state(false).parent_instance_id.as_deref(), Some("p"));
            assert_eq!(
                child.started().unwrap().parent_instance.as_ref(),
                Some(info)
            );
            let turn = child.turn(at(3)).unwrap();
            let work = child
                .complete(turn, answer("p:0001", vec![(-1, done(status, "6"))]), at(3))
                .unwrap();
            let [Work::Deliver { instance, event }, Work::Finished(s)] = work.as_slice() else {
                panic!("{work:?}")
            };
            assert_eq!((instance.as_str(), *s), ("p", status));
            match (&event.event_type, notice) {
                (Some(EventType::ChildWorkflowInstanceCompleted(c)), "completed") => {
                    assert_eq!((c.task_scheduled_id, c.result.as_deref()), (1, Some("6")))
                }
                (Some(EventType::ChildWorkflowInstanceFailed(f)), "failed") => {
                    assert_eq!(f.task_scheduled_id, 1);
                    assert!(f.failure_details.is_some());
                }
                other => panic!("{other:?}"),
            }
        }

        // A recursive terminate of the parent reaches the child.
        let terminated = pb::ExecutionTerminatedEvent {
            input: Some("\"stop\"".into()),
            recurse: true,
        };
        assert!(parent.deliver(event(-1, at(4), EventType::ExecutionTerminated(terminated))));
        let turn = parent.turn(at(4)).unwrap();
        let work = parent
            .complete(
                turn,
                answer("p", vec![(-1, done(Status::Terminated, ""))]),
                at(4),
            )
            .unwrap();
        assert!(
            work.contains(&Work::Terminate {
                instance: "p:0001".into(),
                reason: Some("\"stop\"".into()),
                recurse: true
            }),
            "{work:?}"
        );
        assert_eq!(parent.status(), Status::Terminated);
    }

    #[test]
    fn continue_as_new_starts_a_fresh_history_with_carried_events() {
        let mut wf = Instance::start(&create("i4"), None, at(0));
        let turn = wf.turn(at(1)).unwrap();
        let carried = raised("more");
        let again = Action::CompleteWorkflow(pb::CompleteWorkflowAction {
            workflow_status: Status::ContinuedAsNew as i32,
            result: Some("2".into()),
            carryover_events: vec![carried],
            ..Default::default()
        });
        let work = wf
            .complete(
                turn,
                answer("i4", vec![(-1, again), (5, schedule("ignored"))]),
                at(1),
            )
            .unwrap();
        assert!(
            work.is_empty(),
            "actions after the completion are not carried out: {work:?}"
        );
        assert!(wf.history.is_empty());
        assert_eq!(wf.status(), Status::Running);
        let turn = wf.turn(at(2)).unwrap();
        assert!(turn.request.past_events.is_empty());
        assert_eq!(
            kinds(&turn.request.new_events),
            ["workflowStarted", "executionStarted", "eventRaised"]
        );
        assert_eq!(wf.started().unwrap().input.as_deref(), Some("2"));
    }

    #[test]
    fn the_worker_never_sees_the_sidecars_own_records() {
        let mut wf = Instance::start(&create("i5"), None, at(0));
        let turn = wf.turn(at(1)).unwrap();
        let send = Action::SendEvent(pb::SendEventAction {
            instance: Some(pb::WorkflowInstance {
                instance_id: "other".into(),
                execution_id: None,
            }),
            name: "ping".into(),
            data: None,
        });
        let work = wf
            .complete(turn, answer("i5", vec![(1, send)]), at(1))
            .unwrap();
        assert!(matches!(&work[..], [Work::Deliver { instance, .. }] if instance == "other"));
        assert_eq!(kinds(&wf.history[2..]), ["eventSent"]);
        wf.deliver(completed(9, "x"));
        let turn = wf.turn(at(2)).unwrap();
        assert_eq!(
            kinds(&turn.request.past_events),
            ["workflowStarted", "executionStarted"]
        );
    }

    #[test]
    fn suspend_resume_scheduled_start_and_wrong_answers() {
        let mut request = create("i6");
        request.scheduled_start_timestamp = Some(at(100));
        let mut wf = Instance::start(&request, None, at(0));
        assert_eq!(wf.turn(at(99)), None, "not before its start time");
        let turn = wf.turn(at(100)).unwrap();
        assert_eq!(
            wf.clone()
                .complete(turn.clone(), answer("other", vec![]), at(100)),
            Err(Error::WrongInstance("other".into()))
        );
        wf.complete(turn, answer("i6", vec![]), at(100)).unwrap();

        let suspended = event(
            -1,
            at(101),
            EventType::ExecutionSuspended(Default::default()),
        );
        wf.deliver(suspended);
        let turn = wf.turn(at(101)).unwrap();
        wf.complete(turn, answer("i6", vec![]), at(101)).unwrap();
        assert_eq!(wf.status(), Status::Suspended);
        wf.deliver(event(
            -1,
            at(102),
            EventType::ExecutionResumed(Default::default()),
        ));
        let turn = wf.turn(at(102)).unwrap();
        wf.complete(turn, answer("i6", vec![]), at(102)).unwrap();
        assert_eq!(wf.status(), Status::Running);
    }

    #[test]
    fn turns_replay_the_same_way() {
        let run = || {
            let mut wf = Instance::start(&create("i7"), None, at(0));
            let mut requests = Vec::new();
            for step in 1..=3 {
                let turn = wf.turn(at(step)).unwrap();
                requests.push(turn.request.clone());
                wf.complete(
                    turn,
                    answer("i7", vec![(step as i32, schedule("a"))]),
                    at(step),
                )
                .unwrap();
                wf.deliver(completed(step as i32, "ok"));
            }
            (wf, requests)
        };
        assert_eq!(run(), run());
    }

    /// Runs one turn of `wf` with `actions` as the worker's answer.
    fn step(wf: &mut Instance, actions: Vec<(i32, Action)>, t: i64) -> Vec<Work> {
        let turn = wf.turn(at(t)).unwrap();
        let id = wf.id.clone();
        wf.complete(turn, answer(&id, actions), at(t)).unwrap()
    }

    #[test]
    fn a_rerun_copies_the_history_up_to_its_event_and_runs_again_what_was_open() {
        // Tasks 1 and 2 fan out; task 3 follows 1; 2 finishes only after 3 started.
        let mut wf = Instance::start(&create("src"), None, at(10));
        step(&mut wf, vec![(1, schedule("a")), (2, schedule("b"))], 11);
        wf.deliver(completed(1, "A"));
        step(&mut wf, vec![(3, schedule("c"))], 12);
        wf.deliver(completed(2, "B"));
        wf.deliver(completed(3, "C"));
        step(&mut wf, vec![(4, done(Status::Completed, "ABC"))], 13);
        assert!(wf.is_finished());

        let rerun = Rerun {
            event_id: 3,
            new_id: "again".into(),
            input: Some(Some("\"new\"".into())),
            child_id: None,
        };
        let (mut again, work) = wf.rerun(&rerun, at(20)).unwrap();
        assert_eq!(again.id, "again");
        assert_eq!(again.status(), Status::Running);
        assert_eq!(
            kinds(&again.history),
            [
                "workflowStarted",
                "executionStarted",
                "workflowStarted",
                "taskScheduled",
                "taskCompleted",
                "taskScheduled",
                "taskScheduled",
            ]
        );
        let started = again.started().unwrap();
        assert_eq!(
            started.workflow_instance.as_ref().unwrap().instance_id,
            "again"
        );
        let Some(EventType::TaskScheduled(target)) = &again.history[6].event_type else {
            panic!("the rerun task is last");
        };
        assert_eq!(target.input.as_deref(), Some("\"new\""));
        assert_eq!(
            target
                .rerun_parent_instance_info
                .as_ref()
                .unwrap()
                .instance_id,
            "src"
        );
        // Task 2, open at event 3, runs again too; task 1 does not.
        let runs: Vec<_> = work
            .iter()
            .map(|w| match w {
                Work::Activity(a) => (a.task_id, a.name.as_str(), a.input.as_deref()),
                other => panic!("only activities run again, not {other:?}"),
            })
            .collect();
        assert_eq!(runs, [(2, "b", Some("\"x\"")), (3, "c", Some("\"new\""))]);
        assert!(work.iter().all(|w| matches!(w, Work::Activity(a)
            if a.workflow_instance.as_ref().unwrap().instance_id == "again")));

        // The rerun instance goes on like any other.
        again.deliver(completed(2, "B2"));
        again.deliver(completed(3, "C2"));
        let turn = again.turn(at(21)).unwrap();
        assert_eq!(turn.request.instance_id, "again");
        assert_eq!(
            kinds(&turn.request.new_events),
            ["workflowStarted", "taskCompleted", "taskCompleted"]
        );
    }

    #[test]
    fn a_rerun_refuses_what_cannot_run_again() {
        let mut wf = Instance::start(&create("src"), None, at(10));
        let timer = Action::CreateTimer(pb::CreateTimerAction {
            fire_at: Some(at(100)),
            ..Default::default()
        });
        step(&mut wf, vec![(1, timer), (2, schedule("a"))], 11);
        let rerun = |event_id, input: Option<Option<String>>, child_id: Option<&str>| Rerun {
            event_id,
            new_id: "n".into(),
            input,
            child_id: child_id.map(Into::into),
        };
        assert_eq!(
            wf.rerun(&rerun(9, None, None), at(20)).unwrap_err(),
            RerunError::EventNotFound("src".into(), 9)
        );
        assert_eq!(
            wf.rerun(&rerun(1, Some(None), None), at(20)).unwrap_err(),
            RerunError::TimerInput(1)
        );
        assert_eq!(
            wf.rerun(&rerun(2, None, Some("c")), at(20)).unwrap_err(),
            RerunError::ChildId(2)
        );
        // A timer runs again at its own time.
        let (_, work) = wf.rerun(&rerun(1, None, None), at(20)).unwrap();
        assert_eq!(
            work,
            [Work::Timer {
                id: 1,
                fire_at: at(100)
            }]
        );
    }

    #[test]
    fn a_rerun_child_gets_a_new_instance_id() {
        let mut wf = Instance::start(&create("src"), None, at(10));
        let child = Action::CreateChildWorkflow(pb::CreateChildWorkflowAction {
            instance_id: "src:0001".into(),
            name: "kid".into(),
            ..Default::default()
        });
        step(&mut wf, vec![(1, child)], 11);
        let rerun = |child_id: Option<&str>| Rerun {
            event_id: 1,
            new_id: "n".into(),
            input: None,
            child_id: child_id.map(Into::into),
        };
        for (asked, expected) in [(None, "n:0001"), (Some("mine"), "mine")] {
            let (again, work) = wf.rerun(&rerun(asked), at(20)).unwrap();
            let [Work::StartChild(request, parent)] = work.as_slice() else {
                panic!("the child starts again: {work:?}");
            };
            assert_eq!(request.instance_id, expected);
            assert_eq!(parent.workflow_instance.as_ref().unwrap().instance_id, "n");
            assert_eq!(again.children(), [expected]);
        }
    }
}

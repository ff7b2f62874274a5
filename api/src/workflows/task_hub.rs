//! The durabletask `TaskHubSidecarService` on the gRPC API port: the workflow
//! SDKs' client calls and their workers' work item stream, translated into
//! calls of the workflow engine.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use jetway_protos::Empty;
use jetway_protos::task_hub::task_hub_sidecar_service_server::TaskHubSidecarService;
use jetway_workflows::engine::{self, Engine};
use jetway_workflows::machine::RerunError;
use jetway_workflows::proto as pb;
use jetway_workflows::workers::{self, Answer};
use pb::history_event::EventType;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;

/// Instance ids one `ListInstanceIDs` page holds at most.
const MAX_PAGE: usize = 1000;

pub(crate) struct TaskHub {
    pub(crate) engine: Arc<Engine>,
}

/// How often a worker that asks for them gets a health ping on its idle
/// work-item stream (so proxies keep it open).
const HEALTH_PING: std::time::Duration = std::time::Duration::from_secs(10);

fn status(error: engine::Error) -> Status {
    use engine::Error::*;
    match error {
        NotFound(_) => Status::not_found(error.to_string()),
        AlreadyExists(_) => Status::already_exists(error.to_string()),
        NotFinished(_) => Status::failed_precondition(error.to_string()),
        IdTooLong(_) | IdInvalid(_) | Invalid(_) => Status::invalid_argument(error.to_string()),
        Rerun(RerunError::EventNotFound(..) | RerunError::NotRerunnable(_)) => {
            Status::not_found(error.to_string())
        }
        Rerun(_) => Status::invalid_argument(error.to_string()),
        TooLarge(_) => Status::resource_exhausted(error.to_string()),
        Corrupt(_) => Status::data_loss(error.to_string()),
        Broker(_) => Status::unavailable(error.to_string()),
    }
}

fn found(state: Option<pb::WorkflowState>) -> pb::GetInstanceResponse {
    pb::GetInstanceResponse {
        exists: state.is_some(),
        workflow_state: state,
    }
}

/// The reply to a worker's answer: an error when no work item waits for it
/// any more (the worker tolerates the message daprd sends then).
fn answered(taken: bool) -> Reply<pb::CompleteTaskResponse> {
    match taken {
        true => Ok(Response::new(pb::CompleteTaskResponse {})),
        false => Err(Status::not_found("unknown instance ID/task ID combo")),
    }
}

impl TaskHub {
    /// Adds an event to an instance's inbox; the reply is empty.
    async fn deliver<T: Default>(&self, id: &str, kind: EventType) -> Reply<T> {
        self.engine.deliver(id, kind).await.map_err(status)?;
        Ok(Response::new(T::default()))
    }
}

#[tonic::async_trait]
impl TaskHubSidecarService for TaskHub {
    async fn hello(&self, _: Request<Empty>) -> Reply<Empty> {
        Ok(Response::new(()))
    }

    async fn start_instance(
        &self,
        request: Request<pb::CreateInstanceRequest>,
    ) -> Reply<pb::CreateInstanceResponse> {
        let instance_id = self
            .engine
            .start_instance(request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateInstanceResponse { instance_id }))
    }

    async fn get_instance(
        &self,
        request: Request<pb::GetInstanceRequest>,
    ) -> Reply<pb::GetInstanceResponse> {
        let r = request.into_inner();
        let state = self
            .engine
            .get(&r.instance_id, r.get_inputs_and_outputs)
            .await
            .map_err(status)?;
        Ok(Response::new(found(state)))
    }

    async fn wait_for_instance_start(
        &self,
        request: Request<pb::GetInstanceRequest>,
    ) -> Reply<pb::GetInstanceResponse> {
        let r = request.into_inner();
        let state = self
            .engine
            .wait(&r.instance_id, r.get_inputs_and_outputs, |s| {
                s.workflow_status != pb::OrchestrationStatus::Pending as i32
            })
            .await
            .map_err(status)?;
        Ok(Response::new(found(state)))
    }

    async fn wait_for_instance_completion(
        &self,
        request: Request<pb::GetInstanceRequest>,
    ) -> Reply<pb::GetInstanceResponse> {
        let r = request.into_inner();
        let state = self
            .engine
            .wait(
                &r.instance_id,
                r.get_inputs_and_outputs,
                engine::is_finished,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(found(state)))
    }

    async fn raise_event(
        &self,
        request: Request<pb::RaiseEventRequest>,
    ) -> Reply<pb::RaiseEventResponse> {
        let r = request.into_inner();
        let raised = EventType::EventRaised(pb::EventRaisedEvent {
            name: r.name,
            input: r.input,
        });
        self.deliver(&r.instance_id, raised).await
    }

    async fn terminate_instance(
        &self,
        request: Request<pb::TerminateRequest>,
    ) -> Reply<pb::TerminateResponse> {
        let r = request.into_inner();
        let terminated = EventType::ExecutionTerminated(pb::ExecutionTerminatedEvent {
            input: r.output,
            recurse: r.recursive,
        });
        self.deliver(&r.instance_id, terminated).await
    }

    async fn suspend_instance(
        &self,
        request: Request<pb::SuspendRequest>,
    ) -> Reply<pb::SuspendResponse> {
        let r = request.into_inner();
        let suspended =
            EventType::ExecutionSuspended(pb::ExecutionSuspendedEvent { input: r.reason });
        self.deliver(&r.instance_id, suspended).await
    }

    async fn resume_instance(
        &self,
        request: Request<pb::ResumeRequest>,
    ) -> Reply<pb::ResumeResponse> {
        let r = request.into_inner();
        let resumed = EventType::ExecutionResumed(pb::ExecutionResumedEvent { input: r.reason });
        self.deliver(&r.instance_id, resumed).await
    }

    async fn purge_instances(
        &self,
        request: Request<pb::PurgeInstancesRequest>,
    ) -> Reply<pb::PurgeInstancesResponse> {
        use pb::purge_instances_request::Request as Which;
        let r = request.into_inner();
        let force = r.force.unwrap_or(false);
        let engine = &self.engine;
        let (removed, complete) = match &r.request {
            Some(Which::InstanceId(id)) => {
                let removed = engine.purge(id, r.recursive, force).await;
                (removed.map_err(status)?, true)
            }
            Some(Which::PurgeInstanceFilter(filter)) => engine
                .purge_matching(filter, r.recursive, force)
                .await
                .map_err(status)?,
            None => return Err(Status::invalid_argument("name an instance ID or a filter")),
        };
        Ok(Response::new(pb::PurgeInstancesResponse {
            deleted_instance_count: removed as i32,
            is_complete: Some(complete),
        }))
    }

    type GetWorkItemsStream = Pin<Box<dyn Stream<Item = Result<pb::WorkItem, Status>> + Send>>;

    async fn get_work_items(
        &self,
        request: Request<pb::GetWorkItemsRequest>,
    ) -> Reply<Self::GetWorkItemsStream> {
        let can = |c: pb::WorkerCapability| request.get_ref().capabilities.contains(&(c as i32));
        let pings = can(pb::WorkerCapability::HealthPing);
        // The worker stays connected while the stream (and so the connection) lives.
        let connection = self
            .engine
            .workers()
            .join(can(pb::WorkerCapability::StatefulHistory));
        let ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + HEALTH_PING, HEALTH_PING);
        let items = futures::stream::unfold(
            (connection, ticks),
            move |(mut connection, mut ticks)| async move {
                let item = tokio::select! {
                    item = connection.items.recv() => item?,
                    _ = ticks.tick(), if pings => pb::WorkItem {
                        request: Some(pb::work_item::Request::HealthPing(pb::HealthPing {})),
                        ..Default::default()
                    },
                };
                Some((Ok(item), (connection, ticks)))
            },
        );
        Ok(Response::new(Box::pin(items)))
    }

    async fn complete_activity_task(
        &self,
        request: Request<pb::ActivityResponse>,
    ) -> Reply<pb::CompleteTaskResponse> {
        let r = request.into_inner();
        let token = r.completion_token.clone();
        let key = workers::key(&r.instance_id, Some(r.task_id));
        answered(
            self.engine
                .workers()
                .answer(&token, &key, Answer::Activity(r)),
        )
    }

    async fn complete_orchestrator_task(
        &self,
        request: Request<pb::WorkflowResponse>,
    ) -> Reply<pb::CompleteTaskResponse> {
        self.complete_workflow_task(request).await
    }

    async fn complete_workflow_task(
        &self,
        request: Request<pb::WorkflowResponse>,
    ) -> Reply<pb::CompleteTaskResponse> {
        let r = request.into_inner();
        let token = r.completion_token.clone();
        let key = workers::key(&r.instance_id, None);
        answered(
            self.engine
                .workers()
                .answer(&token, &key, Answer::Workflow(r)),
        )
    }

    async fn rerun_workflow_from_event(
        &self,
        request: Request<pb::RerunWorkflowFromEventRequest>,
    ) -> Reply<pb::RerunWorkflowFromEventResponse> {
        let new_instance_id = self
            .engine
            .rerun(request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RerunWorkflowFromEventResponse {
            new_instance_id,
        }))
    }

    async fn list_instance_ids(
        &self,
        request: Request<pb::ListInstanceIDsRequest>,
    ) -> Reply<pb::ListInstanceIDsResponse> {
        let r = request.into_inner();
        let size = r.page_size.map_or(100, |s| s as usize).clamp(1, MAX_PAGE);
        let (instance_ids, continuation_token) = self
            .engine
            .list(r.continuation_token.as_deref(), size)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListInstanceIDsResponse {
            instance_ids,
            continuation_token,
        }))
    }

    async fn get_instance_history(
        &self,
        request: Request<pb::GetInstanceHistoryRequest>,
    ) -> Reply<pb::GetInstanceHistoryResponse> {
        let events = self
            .engine
            .history(&request.into_inner().instance_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetInstanceHistoryResponse { events }))
    }
}

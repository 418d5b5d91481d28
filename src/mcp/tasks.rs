//! The server's side of tasks: whether a `tools/call` becomes a task, creating it in the
//! [`TaskStore`], the `tasks/*` methods of both revisions, and one run of a task's handler (what the
//! task's shard does with it).
//!
//! - 2026-07-28 (the tasks extension): the server decides; a client that declared the extension gets
//!   a task from a task-capable tool, the others run it synchronously (or are refused, -32021, for a
//!   task-only tool). `tasks/get`, `tasks/update` (answers to the task's questions), `tasks/cancel`
//!   need the extension; `tasks/result` and `tasks/list` do not exist.
//! - 2025-11-25: the client asks with a `task` param; `tasks/get`, `tasks/cancel` (refused on a
//!   finished task) and `tasks/result`, which waits for the end and, while the task waits for input,
//!   asks the client over its own stream and hands the answers to the task.
//!
//! Must not touch the runtime.

use std::rc::Rc;

use futures::channel::mpsc::UnboundedSender;
use serde_json::{json, Map, Value};

use super::backend::{InMemoryBackend, McpBackend};
use super::context::{Era, RequestContext};
use super::handlers::Params;
use super::jsonrpc::set_meta;
use super::server::{arguments, required_str, McpServer, ToolEntry};
use crate::error::{MeshError, Result};
use crate::tasks::wire::{self, RELATED_TASK_META};
use crate::tasks::{addressed_task, call_mode, CallMode, TaskOutcome, TaskRecord, TaskStatus, TaskSupport};

/// The longest `ttl` a 2025-11-25 client may ask for: a week.
pub const MAX_TASK_TTL_MS: u64 = 7 * 24 * 3_600_000;
/// The shortest: a task must stay readable long enough to be read.
pub const MIN_TASK_TTL_MS: u64 = 1_000;
/// How long a 2025-11-25 `tasks/result` waits for its task to end before it gives up.
pub const RESULT_WAIT_MS: u64 = 15 * 60_000;

impl<B: McpBackend> McpServer<B> {
    /// How a `tools/call` of `entry` runs. 2026-07-28: by the tool's support and the request's
    /// declaration of the extension (a `task` param is ignored). 2025-11-25: as a task when the
    /// client asked with a `task` param and the tool allows it; a task-only tool called without one
    /// is refused (-32601, as the revision says).
    pub(super) fn call_mode(&self, ctx: &RequestContext<B>, entry: &ToolEntry<B>, params: &Params) -> Result<CallMode> {
        match ctx.era {
            Era::Stateless => call_mode(entry.task_support, &ctx.client_capabilities),
            Era::Session => match (entry.task_support, params.get("task").is_some_and(Value::is_object)) {
                (TaskSupport::Required, false) => Err(MeshError::MethodNotFound(format!(
                    "tools/call of {} without a task: the tool runs only as a task",
                    entry.descriptor.name
                ))),
                (TaskSupport::Optional | TaskSupport::Required, true) => Ok(CallMode::Task),
                _ => Ok(CallMode::Synchronous),
            },
        }
    }

    /// Creates the task a `tools/call` asked for and answers its handle once it is stored. The
    /// tool's questions before a task are asked first, in the call.
    pub(super) async fn start_task(
        &self,
        ctx: RequestContext<B>,
        entry: &ToolEntry<B>,
        params: &Params,
    ) -> Result<Value> {
        if !entry.before_task.is_empty() {
            ctx.answers(entry.before_task.clone(), None)?;
        }
        let arguments = arguments(params)?;
        (entry.check_arguments)(arguments.clone())?;
        let now = ctx.backend.now_ms();
        let mut task = TaskRecord::new(ctx.backend.new_id(), ctx.owner.clone(), &entry.descriptor.name, arguments, now);
        task.client_capabilities = ctx.client_capabilities.clone();
        task.input_responses = ctx.input_responses.clone();
        if ctx.era == Era::Session {
            if let Some(ttl) = params.get("task").and_then(|t| t.get("ttl")).and_then(Value::as_u64) {
                task.ttl_ms = Some(ttl.clamp(MIN_TASK_TTL_MS, MAX_TASK_TTL_MS));
            }
        }
        ctx.backend.create_task(task.clone()).await?;
        Ok(match ctx.era {
            Era::Stateless => wire::create_result(&task),
            Era::Session => json!({ "task": wire::session_era_task(&task) }),
        })
    }

    /// `tasks/get`, `tasks/update`, `tasks/cancel` and (2025-11-25) `tasks/result`.
    pub(super) async fn task_request(&self, ctx: RequestContext<B>, method: &str, params: &Params) -> Result<Value> {
        let owner = ctx.owner.clone();
        let owner = owner.as_deref();
        match ctx.era {
            Era::Stateless => {
                if method == "tasks/result" {
                    return Err(MeshError::MethodNotFound(method.to_owned()));
                }
                let id = addressed_task(params, &ctx.client_capabilities)?;
                match method {
                    "tasks/get" => Ok(wire::get_result(&found(ctx.backend.load_task(id, owner).await?)?)),
                    "tasks/update" => {
                        found(ctx.backend.answer_task(id, owner, ctx.input_responses.clone()).await?)?;
                        Ok(wire::acknowledgement())
                    }
                    _ => {
                        found(ctx.backend.cancel_task(id, owner).await?)?;
                        Ok(wire::acknowledgement())
                    }
                }
            }
            Era::Session => {
                let id = required_str(params, "taskId")?;
                match method {
                    "tasks/get" => Ok(wire::session_era_task(&found(ctx.backend.load_task(id, owner).await?)?)),
                    "tasks/cancel" => match found(ctx.backend.cancel_task(id, owner).await?)? {
                        (task, true) => Ok(wire::session_era_task(&task)),
                        (task, false) => Err(MeshError::InvalidParams(format!(
                            "Cannot cancel task: it is already {}",
                            wire::session_era_task(&task)["status"].as_str().unwrap_or("finished")
                        ))),
                    },
                    "tasks/result" => session_era_result(&ctx, id).await,
                    _ => Err(MeshError::MethodNotFound(method.to_owned())),
                }
            }
        }
    }

    /// One run of `task`'s handler, as its shard runs it: the task's arguments, the capabilities its
    /// creator declared and every answer so far; its progress goes to `progress` (see
    /// [`wire::progress_message`]). Its outcome is what [`TaskRecord::finish`] takes.
    pub async fn run_task(&self, backend: Rc<B>, task: &TaskRecord, progress: UnboundedSender<String>) -> TaskOutcome {
        let entry = match self.tool_entry(&task.tool) {
            Ok(entry) => entry,
            Err(_) => {
                let message = format!("the tool {:?} is no longer registered", task.tool);
                return TaskOutcome::Failed { code: -32603, message };
            }
        };
        let ctx = RequestContext {
            backend,
            era: Era::Stateless,
            session: None,
            client_capabilities: task.client_capabilities.clone(),
            log_level: None,
            progress_token: Some(json!(task.task_id)),
            outbox: Some(progress),
            input_responses: task.input_responses.clone(),
            request_state: None,
            owner: task.owner.clone(),
        };
        let result = self.call_tool(ctx, entry, task.arguments.clone()).await;
        TaskOutcome::of(result.and_then(|result| Ok(serde_json::to_value(result)?)))
    }
}

impl McpServer<InMemoryBackend> {
    /// Runs every task due in `backend` (created, or resumed by answers) once, recording each
    /// outcome, until none is due: what the mesh's shards do as soon as a task is due.
    pub async fn run_due_tasks(&self, backend: &Rc<InMemoryBackend>) {
        loop {
            let Some(id) = ({
                let mut due = backend.due_tasks.borrow_mut();
                (!due.is_empty()).then(|| due.remove(0))
            }) else {
                return;
            };
            let Some(mut task) = backend.tasks.borrow().get(&id).cloned() else { continue };
            if task.status != TaskStatus::Working {
                continue;
            }
            task.runs += 1;
            let (progress, _) = futures::channel::mpsc::unbounded();
            let outcome = self.run_task(backend.clone(), &task, progress).await;
            if let Some(stored) = backend.tasks.borrow_mut().get_mut(&id) {
                stored.runs = task.runs;
                stored.finish(outcome, backend.clock_ms.get());
            }
        }
    }
}

/// The task, or the "not found" every missing, expired or foreign task gets (-32602).
fn found<T>(task: Option<T>) -> Result<T> {
    task.ok_or_else(|| MeshError::InvalidParams("Failed to retrieve task: Task not found".into()))
}

/// 2025-11-25's `tasks/result`: waits for the task to end and answers what the call would have
/// (with the task named in `_meta`), or its error. While the task waits for input, its questions go
/// to the client as requests on this call's stream and the answers go to the task.
async fn session_era_result<B: McpBackend>(ctx: &RequestContext<B>, id: &str) -> Result<Value> {
    let owner = ctx.owner.as_deref();
    let deadline = ctx.backend.now_ms().saturating_add(RESULT_WAIT_MS);
    loop {
        let task = found(ctx.backend.load_task(id, owner).await?)?;
        match task.status {
            TaskStatus::Completed => {
                let mut result = task.result.unwrap_or_else(|| json!({}));
                if let Value::Object(fields) = &mut result {
                    fields.remove("resultType");
                }
                set_meta(&mut result, RELATED_TASK_META, json!({ "taskId": id }));
                return Ok(result);
            }
            TaskStatus::Failed => {
                let error = task.error.unwrap_or_default();
                return Err(MeshError::TaskFailed {
                    code: error.get("code").and_then(Value::as_i64).map_or(-32603, |code| code as i32),
                    message: error.get("message").and_then(Value::as_str).unwrap_or("the task failed").to_owned(),
                });
            }
            TaskStatus::Cancelled => return Err(MeshError::InvalidRequest(format!("task {id} was cancelled"))),
            TaskStatus::InputRequired => {
                let mut answers = Map::new();
                for (key, question) in &task.pending_inputs {
                    let method = question.get("method").and_then(Value::as_str).unwrap_or_default();
                    let mut params = question.get("params").cloned().unwrap_or_else(|| json!({}));
                    set_meta(&mut params, RELATED_TASK_META, json!({ "taskId": id }));
                    answers.insert(key.clone(), ctx.ask_client(key, method, params).await?);
                }
                found(ctx.backend.answer_task(id, owner, answers).await?)?;
            }
            TaskStatus::Working => ctx.sleep(task.poll_interval_ms.clamp(50, 1_000) as u32).await,
        }
        if ctx.backend.now_ms() > deadline {
            return Err(MeshError::ClientTimeout(format!("tasks/result of {id}")));
        }
    }
}

#[cfg(test)]
mod tests;

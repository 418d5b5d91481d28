//! The 2026-07-28 rules for task requests, before any task is looked up: whether a `tools/call` runs
//! synchronously, becomes a task, or is refused for want of the extension (by the tool's declared
//! support); that `tasks/get`, `tasks/update` and `tasks/cancel` need the extension declared (checked
//! before the id, so an undeclared client learns nothing of which ids exist) and a `taskId`; and the
//! `Mcp-Name` those methods carry. Must not touch the runtime.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::{declares_tasks, TASKS_EXTENSION};
use crate::error::{MeshError, Result};

/// The methods that address one task by `params.taskId`.
pub const TASK_METHODS: &[&str] = &["tasks/get", "tasks/update", "tasks/cancel"];

/// What a tool declares of tasks (`execution.taskSupport` in `tools/list`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSupport {
    /// Always answered synchronously.
    #[default]
    Forbidden,
    /// A task for clients that declare the extension, synchronous for the others.
    Optional,
    /// Only as a task: clients without the extension are refused.
    Required,
}

/// How a `tools/call` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// Run and answer in the request.
    Synchronous,
    /// Store a task, answer its handle, run it on the task's shard.
    Task,
}

/// How a call of a tool with `support` is served for a client that declared `client_capabilities`;
/// the missing-extension error (-32021, naming the extension) for a task-only tool.
pub fn call_mode(support: TaskSupport, client_capabilities: &Value) -> Result<CallMode> {
    match (support, declares_tasks(client_capabilities)) {
        (TaskSupport::Forbidden, _) | (TaskSupport::Optional, false) => Ok(CallMode::Synchronous),
        (TaskSupport::Optional | TaskSupport::Required, true) => Ok(CallMode::Task),
        (TaskSupport::Required, false) => Err(MeshError::MissingClientCapability(TASKS_EXTENSION.to_owned())),
    }
}

/// The task a `tasks/*` request addresses, once the extension is known to be declared.
pub fn addressed_task<'a>(params: &'a Map<String, Value>, client_capabilities: &Value) -> Result<&'a str> {
    if !declares_tasks(client_capabilities) {
        return Err(MeshError::MissingClientCapability(TASKS_EXTENSION.to_owned()));
    }
    match params.get("taskId") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(MeshError::InvalidParams("taskId must be a non-empty string".into())),
    }
}

/// What `Mcp-Name` must repeat for `method`: the task id of a `tasks/*` request.
pub fn task_header_name<'a>(method: &str, params: &'a Map<String, Value>) -> Option<&'a str> {
    if TASK_METHODS.contains(&method) {
        params.get("taskId").and_then(Value::as_str)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn declared() -> Value {
        json!({ "extensions": { TASKS_EXTENSION: {} } })
    }

    #[test]
    fn a_tools_support_and_the_clients_declaration_decide_how_a_call_runs() {
        assert_eq!(call_mode(TaskSupport::Forbidden, &declared()).unwrap(), CallMode::Synchronous);
        assert_eq!(call_mode(TaskSupport::Optional, &declared()).unwrap(), CallMode::Task);
        assert_eq!(call_mode(TaskSupport::Optional, &json!({})).unwrap(), CallMode::Synchronous);
        assert_eq!(call_mode(TaskSupport::Required, &declared()).unwrap(), CallMode::Task);
        let refused = call_mode(TaskSupport::Required, &json!({})).unwrap_err();
        assert_eq!(refused.rpc_code(), -32021);
        assert_eq!(refused.rpc_data().unwrap()["requiredCapabilities"]["extensions"][TASKS_EXTENSION], json!({}));
        assert_eq!(serde_json::to_value(TaskSupport::Optional).unwrap(), "optional");
    }

    #[test]
    fn a_task_request_needs_the_extension_before_its_id_is_looked_at() {
        let params = json!({ "taskId": "gate-test" }).as_object().cloned().unwrap();
        assert_eq!(addressed_task(&params, &json!({})).unwrap_err().rpc_code(), -32021, "the extension first");
        assert_eq!(addressed_task(&params, &declared()).unwrap(), "gate-test");
        let empty = json!({ "taskId": "" }).as_object().cloned().unwrap();
        assert_eq!(addressed_task(&empty, &declared()).unwrap_err().rpc_code(), -32602);
        assert_eq!(addressed_task(&Map::new(), &declared()).unwrap_err().rpc_code(), -32602);
    }

    #[test]
    fn only_task_methods_name_their_task_in_the_header() {
        let params = json!({ "taskId": "t-9", "name": "x" }).as_object().cloned().unwrap();
        assert_eq!(task_header_name("tasks/cancel", &params), Some("t-9"));
        assert_eq!(task_header_name("tasks/result", &params), None, "removed in 2026-07-28");
        assert_eq!(task_header_name("tools/call", &params), None);
    }
}

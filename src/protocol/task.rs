//! The shard calls that keep and move tasks: each addresses a task on `shard_for(task_id)` with the
//! caller's owner, and is answered with the task as that owner may see it. Must not touch the
//! runtime.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::tasks::TaskRecord;

/// Stores a new task and starts its work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateTask {
    /// The task, `working`.
    pub task: TaskRecord,
}

/// Reads a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTask {
    /// The task's id.
    pub task_id: String,
    /// Who asks; another owner's task is not found.
    pub owner: Option<String>,
}

/// Answers a task's open questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerTask {
    /// The task's id.
    pub task_id: String,
    /// Who asks.
    pub owner: Option<String>,
    /// The answers, by question key.
    pub responses: Map<String, Value>,
}

/// Cancels a task and stops its work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelTask {
    /// The task's id.
    pub task_id: String,
    /// Who asks.
    pub owner: Option<String>,
}

/// Answer to the task calls: the task after the call (`None`: unknown, expired or another owner's),
/// and whether the call changed it (a cancel of a finished task does not).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskReply {
    /// The task, as its owner sees it.
    #[serde(default)]
    pub task: Option<TaskRecord>,
    /// Whether the call changed it.
    #[serde(default)]
    pub changed: bool,
    /// Why the call was refused as invalid params (a malformed answer): the caller's error, not
    /// the shard's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

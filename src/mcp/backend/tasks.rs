//! Where tasks live: each on its own shard (`shard_for(task_id)`), stored before its handle is
//! answered, seen only by its owner; the store runs the task's handler where the task lives (the
//! shard, in the mesh), so the work outlives the request that started it. Must not touch the
//! runtime.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::tasks::TaskRecord;

/// Tasks, durably.
#[allow(async_fn_in_trait)]
pub trait TaskStore {
    /// Stores a new `working` task and starts its work; returns once the task is stored, so a
    /// `tasks/get` sent after the handle finds it.
    async fn create_task(&self, record: TaskRecord) -> Result<()>;
    /// The task as `owner` may see it: `None` for an unknown id, an expired task or another owner's.
    async fn load_task(&self, id: &str, owner: Option<&str>) -> Result<Option<TaskRecord>>;
    /// Applies the client's answers to the task's open questions (see [`TaskRecord::answer`]) and
    /// resumes its work once none is open; the task after it, or `None` as for `load_task`.
    async fn answer_task(
        &self,
        id: &str,
        owner: Option<&str>,
        responses: Map<String, Value>,
    ) -> Result<Option<TaskRecord>>;
    /// Cancels the task and stops its work; the task after it and whether this call cancelled it
    /// (`false`: it had already finished), or `None` as for `load_task`.
    async fn cancel_task(&self, id: &str, owner: Option<&str>) -> Result<Option<(TaskRecord, bool)>>;
}

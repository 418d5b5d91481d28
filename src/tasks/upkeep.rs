//! What a task's shard does for a task it finds `working` with no run of its own (a restart cut the
//! run): run it again (its handler sees every answer so far) or, past [`MAX_RESUMES`], fail it with a
//! message saying why, so none stays `working` forever. (Expired tasks are deleted by the shard's
//! alarm, by their stored expiry: `TaskRecord::expired`.) Must not touch the runtime.

use super::record::{TaskRecord, TaskStatus};

/// How many runs cut by a restart a task survives: the next one fails it instead of running it again.
pub const MAX_RESUMES: u32 = 2;

/// What to do with a task found `working` with no run in this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Run its handler again.
    Resume,
    /// Fail it with this message.
    Abandon(String),
}

/// The recovery of `task` after a restart; `None` for a task that is not `working` (finished, or
/// waiting for answers, which resume it).
pub fn recovery(task: &TaskRecord) -> Option<Recovery> {
    if task.status != TaskStatus::Working {
        return None;
    }
    if task.restarts >= MAX_RESUMES {
        let times = task.restarts + 1;
        let message = format!("the server restarted while the task ran, {times} times; it was not run again");
        return Some(Recovery::Abandon(message));
    }
    Some(Recovery::Resume)
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::tasks::record::TaskOutcome;

    fn task(id: &str, created_ms: u64, ttl_ms: Option<u64>) -> TaskRecord {
        TaskRecord { ttl_ms, ..TaskRecord::new(id.into(), None, "tool", Map::new(), created_ms) }
    }

    #[test]
    fn a_task_left_working_is_resumed_until_restarts_cut_it_too_often() {
        let mut working = task("a", 0, None);
        working.runs = 9;
        assert_eq!(recovery(&working), Some(Recovery::Resume), "runs after answers are not restarts");
        working.restarts = MAX_RESUMES;
        let Some(Recovery::Abandon(message)) = recovery(&working) else { panic!("not abandoned") };
        assert!(message.contains("restarted while the task ran, 3 times"), "{message}");
        let mut done = task("b", 0, None);
        done.finish(TaskOutcome::Completed(serde_json::json!({})), 1);
        assert_eq!(recovery(&done), None, "a finished task is left alone");
    }
}

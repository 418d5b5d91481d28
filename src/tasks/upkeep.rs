//! What a task's shard does for its tasks when nobody asks: on waking after its runtime restarted,
//! each task left `working` is run again (its handler sees every answer so far) or, past
//! [`MAX_RUNS`], failed with a message saying why, so none stays `working` forever; and its alarm
//! forgets tasks past their time to live. Must not touch the runtime.

use super::record::{TaskRecord, TaskStatus};

/// How many times a task's handler may start before a restart fails it instead of running it again.
pub const MAX_RUNS: u32 = 3;

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
    if task.runs >= MAX_RUNS {
        let message = format!("the server restarted while the task ran, {} times; it was not run again", task.runs);
        return Some(Recovery::Abandon(message));
    }
    Some(Recovery::Resume)
}

/// The tasks the alarm forgets at `now_ms`, and when it must ring next (the earliest expiry of the
/// others), `None` when no kept task expires.
pub fn plan_task_expiry(tasks: &[TaskRecord], now_ms: u64) -> (Vec<String>, Option<u64>) {
    let mut expired = Vec::new();
    let mut next: Option<u64> = None;
    for task in tasks {
        let Some(ttl) = task.ttl_ms else { continue };
        let at = task.created_ms.saturating_add(ttl);
        if at <= now_ms {
            expired.push(task.task_id.clone());
        } else {
            next = Some(next.map_or(at, |earliest| earliest.min(at)));
        }
    }
    (expired, next)
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
    fn a_task_left_working_is_resumed_until_it_has_started_too_often() {
        let mut working = task("a", 0, None);
        working.runs = 1;
        assert_eq!(recovery(&working), Some(Recovery::Resume));
        working.runs = MAX_RUNS;
        let Some(Recovery::Abandon(message)) = recovery(&working) else { panic!("not abandoned") };
        assert!(message.contains("restarted"));
        let mut done = task("b", 0, None);
        done.finish(TaskOutcome::Completed(serde_json::json!({})), 1);
        assert_eq!(recovery(&done), None, "a finished task is left alone");
    }

    #[test]
    fn the_alarm_forgets_expired_tasks_and_rings_again_for_the_next() {
        let tasks = [
            task("old", 0, Some(100)),
            task("young", 50, Some(100)),
            task("later", 60, Some(500)),
            task("kept", 0, None),
        ];
        let (expired, next) = plan_task_expiry(&tasks, 120);
        assert_eq!(expired, ["old"]);
        assert_eq!(next, Some(150));
        assert_eq!(plan_task_expiry(&tasks[3..], 10_000), (Vec::new(), None));
    }
}

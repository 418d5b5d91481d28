//! A task on the wire of the 2026-07-28 tasks extension: the task-creating result (`resultType:
//! "task"`), `tasks/get`'s detailed task, the empty acknowledgements of `tasks/update` and
//! `tasks/cancel`, and the capability a client declares to use them. Field names as conformance
//! 0.2.0-alpha.12 checks them: `ttlMs` always present (null: kept until deleted), `pollIntervalMs`,
//! ISO 8601 times, never `ttl`, `pollInterval` or a nested `task`. Must not touch the runtime.

use serde_json::{json, Map, Value};

use super::record::{TaskRecord, TaskStatus};

/// The extension's id, under `capabilities.extensions` on both sides.
pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// Whether a request's client capabilities declare the tasks extension.
pub fn declares_tasks(client_capabilities: &Value) -> bool {
    client_capabilities
        .get("extensions")
        .and_then(|extensions| extensions.get(TASKS_EXTENSION))
        .is_some_and(Value::is_object)
}

/// The fields every form of a task carries.
fn base(task: &TaskRecord) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("taskId".into(), json!(task.task_id));
    fields.insert("status".into(), serde_json::to_value(task.status).unwrap_or(Value::Null));
    if let Some(message) = &task.status_message {
        fields.insert("statusMessage".into(), json!(message));
    }
    fields.insert("createdAt".into(), json!(iso_time(task.created_ms)));
    fields.insert("lastUpdatedAt".into(), json!(iso_time(task.updated_ms)));
    fields.insert("ttlMs".into(), task.ttl_ms.map_or(Value::Null, |ttl| json!(ttl)));
    fields.insert("pollIntervalMs".into(), json!(task.poll_interval_ms));
    fields
}

/// The answer to a `tools/call` that created `task`: the task, flat, and nothing of its outcome.
pub fn create_result(task: &TaskRecord) -> Value {
    let mut fields = base(task);
    fields.insert("resultType".into(), json!("task"));
    Value::Object(fields)
}

/// The task as `tasks/get` answers and `notifications/tasks` carries it: its open questions while
/// `input_required`, its result once completed (with `resultType`, as the call would have answered),
/// its error once failed.
pub fn detailed(task: &TaskRecord) -> Map<String, Value> {
    let mut fields = base(task);
    match task.status {
        TaskStatus::InputRequired => {
            fields.insert("inputRequests".into(), Value::Object(task.pending_inputs.clone()));
        }
        TaskStatus::Completed => {
            let mut result = task.result.clone().unwrap_or_else(|| json!({}));
            if let Value::Object(object) = &mut result {
                object.entry("resultType").or_insert(json!("complete"));
            }
            fields.insert("result".into(), result);
        }
        TaskStatus::Failed => {
            fields.insert(
                "error".into(),
                task.error.clone().unwrap_or_else(|| json!({ "code": -32603, "message": "failed" })),
            );
        }
        TaskStatus::Working | TaskStatus::Cancelled => {}
    }
    fields
}

/// `tasks/get`'s result.
pub fn get_result(task: &TaskRecord) -> Value {
    let mut fields = detailed(task);
    fields.insert("resultType".into(), json!("complete"));
    Value::Object(fields)
}

/// What `tasks/update` and `tasks/cancel` answer: nothing but that they were taken.
pub fn acknowledgement() -> Value {
    json!({ "resultType": "complete" })
}

/// `notifications/tasks`, the method that carries a task's change to the listen streams that named it.
pub const STATUS_NOTIFICATION: &str = "notifications/tasks";

/// What a `notifications/tasks` carries: the task as `tasks/get` would show it at that moment.
pub fn status_notification_params(task: &TaskRecord) -> Value {
    Value::Object(detailed(task))
}

/// Where the listen streams that named a task wait for its changes in the topic index. The space
/// keeps it apart from every resource URI a client could subscribe to.
pub fn task_topic(task_id: &str) -> String {
    format!("{TASK_TOPIC_PREFIX}{task_id}")
}

/// The prefix of [`task_topic`]s, which no client may subscribe to as a resource.
pub const TASK_TOPIC_PREFIX: &str = "task ";

/// What a person reads of a running task, from a `notifications/progress` its handler sent: the
/// message, else `progress/total` (or the bare progress).
pub fn progress_message(notification: &str) -> Option<String> {
    let message: Value = serde_json::from_str(notification).ok()?;
    if message.get("method").and_then(Value::as_str) != Some("notifications/progress") {
        return None;
    }
    let params = message.get("params")?;
    if let Some(text) = params.get("message").and_then(Value::as_str) {
        return Some(text.to_owned());
    }
    let progress = params.get("progress")?;
    Some(match params.get("total") {
        Some(total) => format!("{progress}/{total}"),
        None => progress.to_string(),
    })
}

/// A task as 2025-11-25 sends it (`tasks/get`, `tasks/cancel`, inside a created task): `ttl` and
/// `pollInterval`, and nothing of its outcome.
pub fn session_era_task(task: &TaskRecord) -> Value {
    let mut fields = base(task);
    for (name, session_era_name) in [("ttlMs", "ttl"), ("pollIntervalMs", "pollInterval")] {
        if let Some(value) = fields.remove(name) {
            fields.insert(session_era_name.into(), value);
        }
    }
    Value::Object(fields)
}

/// The `_meta` key tying a 2025-11-25 `tasks/result` to its task.
pub const RELATED_TASK_META: &str = "io.modelcontextprotocol/related-task";

/// `ms` since the epoch as ISO 8601 UTC with milliseconds (`2026-07-28T10:30:00.000Z`).
pub fn iso_time(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days as i64);
    let (hour, minute, second, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1_000 % 60, rest % 1_000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::record::TaskOutcome;

    fn task() -> TaskRecord {
        TaskRecord::new("t-1".into(), None, "slow_compute", Map::new(), 1_785_234_600_000)
    }

    #[test]
    fn times_are_iso_8601_utc() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_time(1_785_234_600_123), "2026-07-28T10:30:00.123Z");
    }

    #[test]
    fn a_created_task_carries_its_fields_and_nothing_of_its_outcome() {
        let created = create_result(&task());
        assert_eq!(created["resultType"], "task");
        assert_eq!(created["status"], "working");
        assert_eq!(created["ttlMs"], 3_600_000);
        assert_eq!(created["createdAt"], "2026-07-28T10:30:00.000Z");
        for absent in ["result", "error", "inputRequests", "ttl", "pollInterval", "task", "requestState"] {
            assert!(created.get(absent).is_none(), "{absent} in {created}");
        }
        let forever = TaskRecord { ttl_ms: None, ..task() };
        assert!(create_result(&forever)["ttlMs"].is_null(), "ttlMs is present, null when unlimited");
    }

    #[test]
    fn tasks_get_shows_what_each_status_has() {
        let mut asking = task();
        let question = json!({ "method": "elicitation/create", "params": {} });
        asking.finish(TaskOutcome::InputRequired([("confirm".to_owned(), question)].into_iter().collect()), 2);
        let got = get_result(&asking);
        assert_eq!((got["resultType"].as_str(), got["status"].as_str()), (Some("complete"), Some("input_required")));
        assert_eq!(got["inputRequests"]["confirm"]["method"], "elicitation/create");
        let mut done = task();
        done.finish(TaskOutcome::Completed(json!({ "content": [{ "type": "text", "text": "ok" }] })), 3);
        assert_eq!(get_result(&done)["result"]["resultType"], "complete");
        assert!(get_result(&done).get("inputRequests").is_none());
        let mut failed = task();
        failed.finish(TaskOutcome::Failed { code: -32603, message: "boom".into() }, 4);
        let got = get_result(&failed);
        assert_eq!(got["error"]["code"], -32603);
        assert!(got.get("result").is_none(), "a failed task has no result");
        assert_eq!(acknowledgement(), json!({ "resultType": "complete" }));
    }

    #[test]
    fn progress_reads_as_a_status_message_and_the_session_era_form_has_its_own_names() {
        let note = |params: Value| json!({ "jsonrpc": "2.0", "method": "notifications/progress", "params": params });
        let message = note(json!({ "progressToken": "t", "progress": 2, "total": 5, "message": "2 of 5" }));
        assert_eq!(progress_message(&message.to_string()).as_deref(), Some("2 of 5"));
        assert_eq!(progress_message(&note(json!({ "progress": 2, "total": 5 })).to_string()).as_deref(), Some("2/5"));
        assert_eq!(progress_message(r#"{"method":"notifications/message","params":{}}"#), None);
        let v1 = session_era_task(&task());
        assert_eq!((v1["ttl"].as_u64(), v1["pollInterval"].as_u64()), (Some(3_600_000), Some(500)));
        assert!(v1.get("ttlMs").is_none() && v1.get("resultType").is_none());
        assert!(task_topic("abc").starts_with(TASK_TOPIC_PREFIX));
    }

    #[test]
    fn the_extension_is_declared_in_the_request_capabilities() {
        assert!(declares_tasks(&json!({ "extensions": { TASKS_EXTENSION: {} } })));
        assert!(!declares_tasks(&json!({ "extensions": {} })));
        assert!(!declares_tasks(&json!({ "tasks": {} })), "2025-11-25's capability is not the extension");
        assert!(!declares_tasks(&Value::Null));
    }
}

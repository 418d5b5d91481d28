//! A task's durable state and the transitions the 2026-07-28 tasks extension allows: created
//! `working`; `input_required` while questions are open, back to `working` once every one is
//! answered; then `completed`, `failed` or `cancelled`, after which nothing changes it. The record is
//! what the task's shard stores; the handler's outcome, the client's answers and its cancel are the
//! only ways it moves. Must not touch the runtime.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::MeshError;

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// The work runs (or waits to be resumed).
    Working,
    /// The work waits for answers to its questions (`pending_inputs`).
    InputRequired,
    /// The work ended with a result (a tool result with `isError: true` included).
    Completed,
    /// The work ended with a JSON-RPC error.
    Failed,
    /// A client cancelled it.
    Cancelled,
}

impl TaskStatus {
    /// No transition leaves this status.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// How one run of a task's handler ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// A result (the `CallToolResult` the synchronous call would have returned).
    Completed(Value),
    /// Questions for the client, by key (`{method, params}` each).
    InputRequired(Map<String, Value>),
    /// A JSON-RPC error.
    Failed {
        /// Its code.
        code: i32,
        /// Its message.
        message: String,
    },
}

impl TaskOutcome {
    /// The outcome of a handler's answer: its result, the questions it asked (the stateless
    /// `InputRequired` error), or its error.
    pub fn of(result: Result<Value, MeshError>) -> Self {
        match result {
            Ok(result) => Self::Completed(result),
            Err(MeshError::InputRequired(request)) => Self::InputRequired(
                request
                    .questions
                    .into_iter()
                    .map(|(key, method, params)| (key, json!({ "method": method, "params": params })))
                    .collect(),
            ),
            Err(error) => Self::Failed { code: error.rpc_code(), message: error.to_string() },
        }
    }
}

/// What answering a task's questions did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// Keys that were not open questions (never asked, already answered): ignored, as the extension
    /// says.
    pub ignored: Vec<String>,
    /// Every question is answered now: the work resumes with all the answers.
    pub resume: bool,
}

/// A task, as its shard keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Server-minted and unguessable.
    pub task_id: String,
    /// Who created it (the session, or with authorization the principal); only they see it.
    pub owner: Option<String>,
    /// The task-capable tool it runs, and its arguments.
    pub tool: String,
    /// The tool's arguments.
    pub arguments: Map<String, Value>,
    /// The capabilities the creating request declared (the handler sees them on every run).
    pub client_capabilities: Value,
    /// Where it is.
    pub status: TaskStatus,
    /// A person's summary of where it is.
    pub status_message: Option<String>,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
    /// When it last changed.
    pub updated_ms: u64,
    /// How long after creation it is kept; `None`: until deleted.
    pub ttl_ms: Option<u64>,
    /// How often a client should poll.
    pub poll_interval_ms: u64,
    /// The result, once completed.
    pub result: Option<Value>,
    /// The JSON-RPC error, once failed.
    pub error: Option<Value>,
    /// Open questions by key (`{method, params}`).
    pub pending_inputs: Map<String, Value>,
    /// Every answer so far, by key: each run of the handler sees them all.
    pub input_responses: Map<String, Value>,
    /// How many times the handler started (after answers and after restarts included).
    pub runs: u32,
    /// How many of those starts resumed a run a restart had cut.
    #[serde(default)]
    pub restarts: u32,
}

impl TaskRecord {
    /// A new `working` task.
    pub fn new(task_id: String, owner: Option<String>, tool: &str, arguments: Map<String, Value>, now_ms: u64) -> Self {
        Self {
            task_id,
            owner,
            tool: tool.to_owned(),
            arguments,
            client_capabilities: Value::Null,
            status: TaskStatus::Working,
            status_message: None,
            created_ms: now_ms,
            updated_ms: now_ms,
            ttl_ms: Some(DEFAULT_TTL_MS),
            poll_interval_ms: DEFAULT_POLL_INTERVAL_MS,
            result: None,
            error: None,
            pending_inputs: Map::new(),
            input_responses: Map::new(),
            runs: 0,
            restarts: 0,
        }
    }

    /// Whether `owner` may see it: another owner's task does not exist, as far as they can tell.
    pub fn visible_to(&self, owner: Option<&str>) -> bool {
        self.owner.as_deref() == owner
    }

    /// Whether its time to live has run out at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.ttl_ms.is_some_and(|ttl| self.created_ms.saturating_add(ttl) <= now_ms)
    }

    /// Applies the client's answers: those to open questions are kept and close them, the rest are
    /// ignored. A finished task ignores every answer. An answer to an open question that is not the
    /// shape its method returns is refused (-32602) and nothing is applied.
    pub fn answer(&mut self, responses: Map<String, Value>, now_ms: u64) -> Result<Answered, MeshError> {
        if self.status != TaskStatus::InputRequired {
            return Ok(Answered { ignored: responses.into_iter().map(|(key, _)| key).collect(), resume: false });
        }
        for (key, response) in &responses {
            if let Some(question) = self.pending_inputs.get(key) {
                check_response(key, question, response)?;
            }
        }
        let mut ignored = Vec::new();
        for (key, response) in responses {
            if self.pending_inputs.remove(&key).is_some() {
                self.input_responses.insert(key, response);
            } else {
                ignored.push(key);
            }
        }
        let resume = self.pending_inputs.is_empty();
        if resume {
            self.status = TaskStatus::Working;
            self.status_message = None;
        }
        self.updated_ms = now_ms;
        Ok(Answered { ignored, resume })
    }

    /// Sets what a person reads of a running task (its handler's progress); only while it works.
    pub fn report_progress(&mut self, message: String, now_ms: u64) -> bool {
        if self.status != TaskStatus::Working || self.status_message.as_deref() == Some(message.as_str()) {
            return false;
        }
        self.status_message = Some(message);
        self.updated_ms = now_ms;
        true
    }

    /// Cancels it unless it has finished; whether it changed (a second cancel changes nothing).
    pub fn cancel(&mut self, now_ms: u64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = TaskStatus::Cancelled;
        self.status_message = Some("Cancelled by request".into());
        self.pending_inputs.clear();
        self.updated_ms = now_ms;
        true
    }

    /// Records a run's outcome; a task already finished (cancelled while it ran) keeps its status.
    pub fn finish(&mut self, outcome: TaskOutcome, now_ms: u64) {
        if self.status.is_terminal() {
            return;
        }
        match outcome {
            TaskOutcome::Completed(result) => {
                self.status = TaskStatus::Completed;
                self.status_message = None;
                self.result = Some(result);
            }
            TaskOutcome::InputRequired(questions) => {
                // A question already answered is not asked again: the next run sees its answer.
                self.pending_inputs =
                    questions.into_iter().filter(|(key, _)| !self.input_responses.contains_key(key)).collect();
                if self.pending_inputs.is_empty() {
                    self.status = TaskStatus::Failed;
                    self.error = Some(json!({ "code": -32603, "message": "the tool asked again for answers it has" }));
                } else {
                    self.status = TaskStatus::InputRequired;
                    self.status_message = Some("waiting for input".into());
                }
            }
            TaskOutcome::Failed { code, message } => {
                self.status = TaskStatus::Failed;
                self.status_message = Some(format!("Tool execution failed: {message}"));
                self.error = Some(json!({ "code": code, "message": message }));
            }
        }
        self.updated_ms = now_ms;
    }

    /// A run that cannot go on (the runtime restarted under it and it cannot be resumed): failed, with
    /// a message saying so, never left `working`.
    pub fn abandon(&mut self, why: &str, now_ms: u64) {
        self.finish(TaskOutcome::Failed { code: -32603, message: why.to_owned() }, now_ms);
    }
}

/// Whether `response` has the shape of what `question`'s method returns: an elicitation's `action`
/// (with an object `content` when accepted), a sampled message's `role` and `content`, a roots
/// list's `roots`.
fn check_response(key: &str, question: &Value, response: &Value) -> Result<(), MeshError> {
    let method = question.get("method").and_then(Value::as_str).unwrap_or_default();
    let well_formed = match method {
        "elicitation/create" => match response.get("action").and_then(Value::as_str) {
            Some("accept") => response.get("content").is_none_or(Value::is_object),
            Some("decline" | "cancel") => true,
            _ => false,
        },
        "sampling/createMessage" => {
            response.get("role").is_some_and(Value::is_string) && response.get("content").is_some()
        }
        "roots/list" => response.get("roots").is_some_and(Value::is_array),
        _ => response.is_object(),
    };
    if well_formed {
        Ok(())
    } else {
        Err(MeshError::InvalidParams(format!("inputResponses[{key:?}] is not a valid answer to {method}")))
    }
}

/// How long a task is kept by default: an hour (approval flows may set more).
pub const DEFAULT_TTL_MS: u64 = 3_600_000;
/// How often clients are asked to poll.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 500;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InputRequest;

    fn task() -> TaskRecord {
        TaskRecord::new("t1".into(), Some("alice".into()), "confirm", Map::new(), 1_000)
    }

    fn questions(keys: &[&str]) -> Map<String, Value> {
        keys.iter().map(|key| (key.to_string(), json!({ "method": "elicitation/create", "params": {} }))).collect()
    }

    #[test]
    fn answers_close_open_questions_one_at_a_time_and_unknown_keys_are_ignored() {
        let mut task = task();
        task.finish(TaskOutcome::InputRequired(questions(&["a", "b"])), 2_000);
        assert_eq!(task.status, TaskStatus::InputRequired);
        let malformed = task.answer([("a".into(), json!({ "action": "maybe" }))].into_iter().collect(), 2_500);
        assert_eq!(malformed.unwrap_err().rpc_code(), -32602);
        assert_eq!(task.pending_inputs.len(), 2, "a refused answer applies nothing");
        let first = task
            .answer(
                [("a".into(), json!({ "action": "accept" })), ("zzz".into(), json!(1))].into_iter().collect(),
                3_000,
            )
            .unwrap();
        assert_eq!(first, Answered { ignored: vec!["zzz".into()], resume: false });
        assert_eq!(task.pending_inputs.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(task.status, TaskStatus::InputRequired);
        let second = task.answer([("b".into(), json!({ "action": "accept" }))].into_iter().collect(), 4_000).unwrap();
        assert!(second.resume);
        assert_eq!(task.status, TaskStatus::Working);
        assert_eq!(task.input_responses.len(), 2);
        // The next run asks "a" again with a new question "c": only "c" is open.
        task.finish(TaskOutcome::InputRequired(questions(&["a", "c"])), 5_000);
        assert_eq!(task.pending_inputs.keys().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn a_finished_task_stays_finished_whatever_comes_after() {
        let mut task = task();
        assert!(task.cancel(2_000));
        assert!(!task.cancel(3_000), "a second cancel changes nothing");
        task.finish(TaskOutcome::Completed(json!({ "content": [] })), 4_000);
        assert_eq!(task.status, TaskStatus::Cancelled, "work that ends after a cancel does not revive it");
        assert_eq!(task.answer(questions(&["a"]), 5_000).unwrap().ignored, ["a"]);
        let mut done = self::task();
        done.finish(TaskOutcome::Completed(json!({ "isError": true, "content": [] })), 2_000);
        assert_eq!(done.status, TaskStatus::Completed, "a tool error completes the task");
        assert!(!done.cancel(3_000));
    }

    #[test]
    fn outcomes_come_from_the_handlers_answer() {
        let asked = MeshError::InputRequired(InputRequest {
            questions: vec![("name".into(), "elicitation/create".into(), json!({ "message": "?" }))],
            state: None,
        });
        let TaskOutcome::InputRequired(open) = TaskOutcome::of(Err(asked)) else { panic!("not input required") };
        assert_eq!(open["name"]["method"], "elicitation/create");
        let failed = TaskOutcome::of(Err(MeshError::InvalidParams("bad".into())));
        assert!(matches!(failed, TaskOutcome::Failed { code: -32602, .. }));
        let mut task = task();
        task.abandon("the server restarted while the task ran", 9_000);
        assert_eq!(task.status, TaskStatus::Failed);
        assert_eq!(task.error.as_ref().unwrap()["message"], "the server restarted while the task ran");
    }

    #[test]
    fn only_its_owner_sees_a_task_and_it_expires_after_its_ttl() {
        let task = task();
        assert!(task.visible_to(Some("alice")) && !task.visible_to(Some("bob")) && !task.visible_to(None));
        assert!(!task.expired(1_000 + DEFAULT_TTL_MS - 1) && task.expired(1_000 + DEFAULT_TTL_MS));
        let forever = TaskRecord { ttl_ms: None, ..self::task() };
        assert!(!forever.expired(u64::MAX));
    }
}

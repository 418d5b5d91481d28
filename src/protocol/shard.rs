//! The control calls a `SyncLayer` shard answers, each a type with its path and reply (see
//! [`super::ObjectCall`]), and [`ShardCalls`], the handler trait the shard implements. The send
//! ([`SendRequest`]) is answered headers first (see `crate::headers_first`): its status at once, its
//! [`SendReply`] as the body's end once the sockets are written and the event is in the replay log.
//! Must not touch the runtime.

use serde::{Deserialize, Serialize};

use super::session::{SessionRecord, UpdateSession};
use super::task::{AnswerTask, CancelTask, CreateTask, GetTask, TaskReply};
use super::Ack;
use crate::delivery::NotificationKind;
use crate::metrics::ShardCounters;

super::object_calls! {
    /// What a `SyncLayer` shard answers: one method per control call. The shard object implements it;
    /// [`dispatch_shard_call`] routes a POST to it.
    trait ShardCalls;
    /// Runs the shard handler a path names on a JSON body; `NotFound` for a path no call has.
    fn dispatch_shard_call;
    /// Every shard call's handler name and path.
    const SHARD_CALLS;

    /// Whether the shard holds a live stream for a session.
    has_stream(HasStream) -> HasReply = "/v3/stream/has";
    /// Closes a session's stream (the manager's `delete`); the record, if any, stays.
    close_stream(CloseStream) -> DeleteReply = "/v3/stream/close";
    /// Records an MCP session (created by `initialize`), replacing any record under its id.
    register_session(RegisterSession) -> Ack = "/v3/session/register";
    /// A session's record, and whether it has an open stream here.
    get_session(GetSession) -> SessionLookup = "/v3/session/get";
    /// Applies a partial update to a session's record.
    update_session(UpdateSession) -> Ack = "/v3/session/update";
    /// Forgets a session and closes its stream.
    end_session(EndSession) -> DeleteReply = "/v3/session/end";
    /// Adds a session (or listen stream) to the subscribers of a topic hashed onto this shard.
    subscribe(Subscribe) -> Ack = "/v3/topic/subscribe";
    /// Removes a session from a topic's subscribers.
    unsubscribe(Unsubscribe) -> Ack = "/v3/topic/unsubscribe";
    /// The subscribers of a topic hashed onto this shard.
    list_subscribers(ListSubscribers) -> TopicSubscribers = "/v3/topic/subscribers";
    /// The shard's live view of itself.
    get_status(GetStatus) -> ShardStatus = "/v3/status";
    /// The shard's gauges and counters, for `/mesh/metrics`.
    get_metrics(GetMetrics) -> ShardMetrics = "/v3/metrics";
    /// Hands a client's answer to a server→client request to its waiter.
    deliver_reply(ClientReply) -> ReplyAck = "/v3/reply";
    /// Stores a new task (durably, before answering) and starts its work on this shard.
    create_task(CreateTask) -> TaskReply = "/v3/task/create";
    /// A task as its owner sees it.
    get_task(GetTask) -> TaskReply = "/v3/task/get";
    /// Answers a task's open questions; its work resumes once none is open.
    answer_task(AnswerTask) -> TaskReply = "/v3/task/answer";
    /// Cancels a task and stops its work.
    cancel_task(CancelTask) -> TaskReply = "/v3/task/cancel";
}

/// Calls the shard class answers headers first, beside [`SHARD_CALLS`]: their (handler name, path).
pub const HEADERS_FIRST_SHARD_CALLS: &[(&str, &str)] =
    &[("send", <SendRequest as super::ObjectCall>::PATH), ("relay_send", <RelaySend as super::ObjectCall>::PATH)];

/// Answers its headers, then writes an event to the addressed streams (all of the shard's, or the
/// listed sessions'), logs it for replay, and ends the body with what it reached.
impl super::ObjectCall for SendRequest {
    const PATH: &'static str = "/v3/send";
    type Reply = SendReply;
}

/// Answered by a relay (an object of the shard class named `relay-<i>`, which holds no streams): its
/// headers at once, then it sends to each of its shards headers first and ends the body with their
/// reports summed, or fails it if any shard failed.
impl super::ObjectCall for RelaySend {
    const PATH: &'static str = "/v3/relay-send";
    type Reply = SendReply;
}

/// One shard's share of a send: `sessions: None` means every session on the shard (a broadcast).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardBatch {
    /// The shard's number.
    pub shard: u32,
    /// The targeted session ids, or `None` for all of the shard's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<String>>,
}

/// A send for a relay to make to its share of the shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelaySend {
    /// The shards the relay calls, each with its share.
    pub batches: Vec<ShardBatch>,
    /// What the streams receive.
    pub payload: Payload,
    /// As [`SendRequest::kind`].
    #[serde(default, skip_serializing_if = "NotificationKind::is_other")]
    pub kind: NotificationKind,
}

/// A send through a shard: `sessions: None` means every session the shard holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The targeted session ids, or `None` for a broadcast to every session on the shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<String>>,
    /// What the streams receive.
    pub payload: Payload,
    /// What kind of notification it is, which decides the streams that take it (log levels, listen
    /// filters); see [`crate::delivery`].
    #[serde(default, skip_serializing_if = "NotificationKind::is_other")]
    pub kind: NotificationKind,
}

/// What a send carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// A JSON-RPC message (an MCP notification): the shard frames it as the stream's SSE event.
    Message(String),
    /// An SSE event already framed by the sender (the manager API's `send`, tmcp's frames), written
    /// after the event id as it is.
    Event(String),
}

/// What a send reached. `delivered + failed` is the number of live sockets that were tried;
/// `missing` counts targeted ids with no live socket on the shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReport {
    /// Sockets the payload was written to.
    pub delivered: u64,
    /// Open sockets whose write failed; the shard closes them.
    pub failed: u64,
    /// Targeted ids with no live socket on the shard (always 0 for a broadcast).
    #[serde(default)]
    pub missing: u64,
}

impl SendReport {
    /// Adds another shard's counts to these.
    pub fn merge(&mut self, other: SendReport) {
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.missing += other.missing;
    }
}

/// A shard's answer to a send: the report, and which targeted ids it holds no stream for (so a
/// Worker in the middle of a resharding can try their previous shard).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReply {
    /// The counts; flattened, so the reply reads like a bare [`SendReport`].
    #[serde(flatten)]
    pub report: SendReport,
    /// The targeted ids counted in `report.missing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_ids: Vec<String>,
}

impl SendReply {
    /// Adds another shard's reply to this one.
    pub fn merge(&mut self, other: SendReply) {
        self.report.merge(other.report);
        self.missing_ids.extend(other.missing_ids);
    }
}

/// Asks whether a session has a live stream on the shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasStream {
    /// The session id.
    pub session: String,
}

/// Answer to [`HasStream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasReply {
    /// Whether the shard holds a live stream for the session.
    pub has: bool,
}

/// Closes a session's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseStream {
    /// The session id.
    pub session: String,
}

/// Answer to [`CloseStream`] and [`EndSession`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReply {
    /// Whether there was anything to delete (false makes the call a no-op, not an error).
    pub existed: bool,
}

/// Records a new MCP session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterSession {
    /// The new session's id.
    pub session: String,
    /// What to store for it.
    pub record: SessionRecord,
}

/// Looks a session's record up (and notes that the session is in use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetSession {
    /// The session id.
    pub session: String,
}

/// Answer to [`GetSession`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionLookup {
    /// The stored record, or `None` for an unknown (or ended, or expired) session.
    pub record: Option<SessionRecord>,
    /// Whether the session has an open stream on this shard, so a caller that checks the session and
    /// then asks whether it has a stream (tmcp's GET) gets both from one call.
    #[serde(default)]
    pub stream_open: bool,
}

/// Forgets a session and closes its stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndSession {
    /// The session id.
    pub session: String,
}

/// Adds a subscriber to a topic's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// The resource URI, at most [`super::MAX_TOPIC_BYTES`] long.
    pub topic: String,
    /// The subscribing session (or listen stream) id.
    pub session: String,
}

/// Removes a subscriber from a topic's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    /// The resource URI.
    pub topic: String,
    /// The session (or listen stream) id.
    pub session: String,
}

/// Asks for a topic's subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSubscribers {
    /// The resource URI.
    pub topic: String,
}

/// Answer to [`ListSubscribers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSubscribers {
    /// The ids subscribed to the topic; they may live on any shard.
    pub sessions: Vec<String>,
}

/// Asks for the shard's live view of itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetStatus {}

/// Answer to [`GetStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStatus {
    /// The shard's number (`N` in `shard-N`).
    pub shard: u32,
    /// Live streams (sockets) the shard holds.
    pub sessions: u64,
    /// MCP sessions recorded in the shard's storage.
    pub registered: u64,
    /// A random id minted when the object was constructed: it changes after eviction or hibernation.
    pub instance: String,
    /// Task handlers running in the object now.
    #[serde(default)]
    pub tasks_running: u64,
}

/// Asks for the shard's gauges and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetMetrics {}

/// Answer to [`GetMetrics`]: gauges read at the call, counters since the shard first counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardMetrics {
    /// The shard's number.
    pub shard: u32,
    /// MCP session records held.
    pub sessions: u64,
    /// Open session streams (GET).
    pub session_streams: u64,
    /// Open listen streams.
    pub listener_streams: u64,
    /// (topic, session) entries in the topic index.
    pub topic_index_entries: u64,
    /// Events in the replay log.
    pub event_log_events: u64,
    /// The counters.
    pub counters: ShardCounters,
}

/// A client's answer to a server→client request, for its waiter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientReply {
    /// The session the request was sent on.
    pub session: String,
    /// The request id the waiter was allocated (from [`super::HEADER_REQUEST_ID`]).
    pub request_id: String,
    /// The client's whole JSON-RPC response.
    pub message: serde_json::Value,
}

/// Answer to [`ClientReply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyAck {
    /// Whether an open waiter took the answer (false: it timed out, was answered already, or never was).
    pub delivered: bool,
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;

    use super::*;
    use crate::error::{MeshError, Result};
    use crate::protocol::{decode_reply, ObjectCall};

    /// Answers every call with a fixed value and records which handler ran.
    #[derive(Default)]
    struct Recorder {
        ran: RefCell<Vec<&'static str>>,
    }

    impl Recorder {
        fn ran(&self, name: &'static str) {
            self.ran.borrow_mut().push(name);
        }
    }

    impl ShardCalls for Recorder {
        async fn has_stream(&self, _: HasStream) -> Result<HasReply> {
            self.ran("has_stream");
            Ok(HasReply { has: true })
        }
        async fn close_stream(&self, _: CloseStream) -> Result<DeleteReply> {
            self.ran("close_stream");
            Ok(DeleteReply { existed: true })
        }
        async fn register_session(&self, _: RegisterSession) -> Result<Ack> {
            self.ran("register_session");
            Ok(Ack {})
        }
        async fn get_session(&self, _: GetSession) -> Result<SessionLookup> {
            self.ran("get_session");
            Ok(SessionLookup { record: None, stream_open: false })
        }
        async fn update_session(&self, _: UpdateSession) -> Result<Ack> {
            self.ran("update_session");
            Err(MeshError::SessionNotFound)
        }
        async fn end_session(&self, _: EndSession) -> Result<DeleteReply> {
            self.ran("end_session");
            Ok(DeleteReply { existed: false })
        }
        async fn subscribe(&self, _: Subscribe) -> Result<Ack> {
            self.ran("subscribe");
            Ok(Ack {})
        }
        async fn unsubscribe(&self, _: Unsubscribe) -> Result<Ack> {
            self.ran("unsubscribe");
            Ok(Ack {})
        }
        async fn list_subscribers(&self, call: ListSubscribers) -> Result<TopicSubscribers> {
            self.ran("list_subscribers");
            Ok(TopicSubscribers { sessions: vec![call.topic] })
        }
        async fn get_status(&self, _: GetStatus) -> Result<ShardStatus> {
            self.ran("get_status");
            Ok(ShardStatus { shard: 3, sessions: 1, registered: 2, instance: "i".into(), tasks_running: 1 })
        }
        async fn get_metrics(&self, _: GetMetrics) -> Result<ShardMetrics> {
            self.ran("get_metrics");
            Ok(ShardMetrics { shard: 3, ..Default::default() })
        }
        async fn deliver_reply(&self, _: ClientReply) -> Result<ReplyAck> {
            self.ran("deliver_reply");
            Ok(ReplyAck { delivered: true })
        }
        async fn create_task(&self, call: CreateTask) -> Result<TaskReply> {
            self.ran("create_task");
            Ok(TaskReply { task: Some(call.task), changed: true, refused: None })
        }
        async fn get_task(&self, _: GetTask) -> Result<TaskReply> {
            self.ran("get_task");
            Ok(TaskReply::default())
        }
        async fn answer_task(&self, _: AnswerTask) -> Result<TaskReply> {
            self.ran("answer_task");
            Ok(TaskReply { refused: Some("not an answer".into()), ..TaskReply::default() })
        }
        async fn cancel_task(&self, _: CancelTask) -> Result<TaskReply> {
            self.ran("cancel_task");
            Ok(TaskReply::default())
        }
    }

    /// A call as the Worker sends it, dispatched as the shard receives it, decoded as the Worker does.
    fn round_trip<C: ObjectCall>(shard: &Recorder, call: &C) -> Result<C::Reply> {
        let body = serde_json::to_string(call).unwrap();
        let answer = block_on(dispatch_shard_call(shard, C::PATH, &body))?;
        decode_reply::<C>(&answer)
    }

    #[test]
    fn each_call_reaches_its_own_handler_and_its_reply_decodes_as_its_type() {
        let shard = Recorder::default();
        assert!(round_trip(&shard, &HasStream { session: "a".into() }).unwrap().has);
        assert!(round_trip(&shard, &CloseStream { session: "a".into() }).unwrap().existed);
        assert!(!round_trip(&shard, &EndSession { session: "a".into() }).unwrap().existed);
        let topic = ListSubscribers { topic: "mesh://t".into() };
        assert_eq!(round_trip(&shard, &topic).unwrap().sessions, vec!["mesh://t".to_owned()]);
        assert_eq!(round_trip(&shard, &GetStatus {}).unwrap().shard, 3);
        let update = UpdateSession { session: "a".into(), ..Default::default() };
        assert_eq!(round_trip(&shard, &update), Err(MeshError::SessionNotFound));
        let task = crate::tasks::TaskRecord::new("t".into(), Some("o".into()), "tool", Default::default(), 5);
        assert_eq!(round_trip(&shard, &CreateTask { task: task.clone() }).unwrap().task, Some(task));
        assert_eq!(round_trip(&shard, &GetTask { task_id: "t".into(), owner: None }).unwrap().task, None);
        let answer = AnswerTask { task_id: "t".into(), owner: None, responses: Default::default() };
        assert_eq!(round_trip(&shard, &answer).unwrap().refused.as_deref(), Some("not an answer"));
        assert!(!round_trip(&shard, &CancelTask { task_id: "t".into(), owner: None }).unwrap().changed);
        assert_eq!(
            *shard.ran.borrow(),
            [
                "has_stream",
                "close_stream",
                "end_session",
                "list_subscribers",
                "get_status",
                "update_session",
                "create_task",
                "get_task",
                "answer_task",
                "cancel_task"
            ]
        );
    }

    #[test]
    fn an_unknown_path_is_not_found_and_a_bad_body_is_the_callers_error() {
        let shard = Recorder::default();
        assert_eq!(block_on(dispatch_shard_call(&shard, "/v3/nope", "{}")), Err(MeshError::NotFound));
        let bad = block_on(dispatch_shard_call(&shard, HasStream::PATH, r#"{"sessions":1}"#));
        assert!(matches!(bad, Err(MeshError::InvalidRequest(_))), "{bad:?}");
        assert!(shard.ran.borrow().is_empty());
    }

    #[test]
    fn a_broadcast_send_omits_its_recipients_and_an_ordinary_kind() {
        let all =
            SendRequest { sessions: None, payload: Payload::Event("data: x\n\n".into()), kind: Default::default() };
        assert_eq!(serde_json::to_string(&all).unwrap(), r#"{"payload":{"event":"data: x\n\n"}}"#);
        let back: SendRequest = serde_json::from_str(r#"{"sessions":["a"],"payload":{"message":"{}"}}"#).unwrap();
        assert_eq!(back.sessions, Some(vec!["a".to_owned()]));
        assert_eq!(back.kind, NotificationKind::Other);
    }

    #[test]
    fn reports_merge() {
        let mut total = SendReport::default();
        total.merge(SendReport { delivered: 2, failed: 1, missing: 0 });
        total.merge(SendReport { delivered: 3, failed: 0, missing: 4 });
        assert_eq!(total, SendReport { delivered: 5, failed: 1, missing: 4 });
    }
}

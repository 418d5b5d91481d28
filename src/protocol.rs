//! The versioned messages between the Worker, the `SyncLayer` shards and the coordinator.
//!
//! Control calls are POSTs to a stub (`https://mesh/v1/...`, JSON bodies, so ids and URIs need no URL
//! escaping); the one exception is `connect`, a WebSocket upgrade. Pushes from a shard to the Worker
//! holding a session's stream are binary WebSocket messages holding the stream's SSE bytes (since
//! version 2; they were JSON frames before); replies to waiter sockets are JSON [`ShardFrame`]s.
//! Every path and frame carries the protocol version, because during a rollout a new Worker can reach
//! an old object and vice versa: an unknown version is refused (404 on a path, an error on a frame)
//! instead of being misread. Must not touch the runtime.

use serde::{Deserialize, Serialize};

use crate::error::{MeshError, Result};

/// The worker↔shard↔coordinator protocol version. Bump it on any incompatible change (2: stream
/// sockets carry SSE bytes, and `connect` checks the session's owner).
pub const PROTOCOL_VERSION: u32 = 2;

/// Any host works for a stub URL; it only has to be absolute.
pub const STUB_ORIGIN: &str = "https://mesh";

/// Paths served by a `SyncLayer` shard.
pub mod shard_path {
    /// GET with `Upgrade: websocket`, query `session=<id>` and optionally `require_session=1` (with
    /// `owner`), `last_event_id`, `listener` and `topic`. Versioned 2 with the stream frames it carries.
    pub const CONNECT: &str = "/v2/connect";
    /// POST [`super::SendRequest`] → [`super::SendReply`].
    pub const SEND: &str = "/v1/send";
    /// POST [`super::SessionRef`] → [`super::HasReply`].
    pub const HAS: &str = "/v1/has";
    /// POST [`super::SessionRef`] → [`super::DeleteReply`]: closes the session's stream.
    pub const DELETE: &str = "/v1/delete";
    /// POST [`super::RegisterSession`]: records an MCP session (created by `initialize`).
    pub const SESSION_REGISTER: &str = "/v1/session/register";
    /// POST [`super::SessionRef`] → [`super::SessionLookup`].
    pub const SESSION_GET: &str = "/v1/session/get";
    /// POST [`super::UpdateSession`].
    pub const SESSION_UPDATE: &str = "/v1/session/update";
    /// POST [`super::SessionRef`] → [`super::DeleteReply`]: forgets the session and closes its stream.
    pub const SESSION_END: &str = "/v1/session/end";
    /// POST [`super::TopicChange`]: this shard holds the subscriber index of topics hashed onto it.
    pub const TOPIC_SUBSCRIBE: &str = "/v1/topic/subscribe";
    /// POST [`super::TopicChange`]: removes a session from a topic's subscriber index.
    pub const TOPIC_UNSUBSCRIBE: &str = "/v1/topic/unsubscribe";
    /// POST [`super::TopicName`] → [`super::TopicSubscribers`].
    pub const TOPIC_SUBSCRIBERS: &str = "/v1/topic/subscribers";
    /// POST (empty body) → [`super::ShardStatus`].
    pub const STATUS: &str = "/v1/status";
    /// GET with `Upgrade: websocket`, query `session=<id>`: a waiter for the client's answer to one
    /// server→client request. The allocated request id comes back in [`super::HEADER_REQUEST_ID`].
    pub const WAITER: &str = "/v1/waiter";
    /// POST [`super::ClientReply`] → [`super::ReplyAck`]: hands a client's answer to its waiter.
    pub const REPLY: &str = "/v1/reply";
}

/// The object's name (`shard-N`) on every Worker → object call. A shard knows its number from its id's
/// name; where the runtime does not carry the name (the local dev registry's cross-process proxy
/// addresses objects by id alone), the shard learns it from this header and keeps it.
pub const HEADER_OBJECT_NAME: &str = "x-mesh-object";

/// WebSocket close code for a normal closure (RFC 6455 §7.4.1): a session's stream ended on purpose.
pub const CLOSE_NORMAL: u16 = 1000;

/// WebSocket close code for "the server hit an error" (RFC 6455 §7.4.1), sent by an object closing a
/// socket whose handler failed.
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// The longest topic (resource URI) a shard indexes, in bytes.
pub const MAX_TOPIC_BYTES: usize = 2_048;

/// Response header of [`shard_path::WAITER`] carrying the allocated request id.
pub const HEADER_REQUEST_ID: &str = "x-mesh-request-id";

/// Socket tags that can never be session ids (those have no spaces): the kind of every socket, so a
/// broadcast reaches session streams and never waiters.
pub const TAG_SESSION_STREAM: &str = "@ session";
/// The kind tag of a waiter socket (see [`shard_path::WAITER`]); its own tag comes from [`waiter_tag`].
pub const TAG_WAITER: &str = "@ waiter";
/// Stateless-era `subscriptions/listen` streams: held like session streams, but they receive only
/// the change notifications their filter asked for.
pub const TAG_LISTENER: &str = "@ listener";

/// What a listen stream asked to hear about (resource updates reach it through the topic index).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerFilter {
    /// `notifications/tools/list_changed`.
    pub tools: bool,
    /// `notifications/prompts/list_changed`.
    pub prompts: bool,
    /// `notifications/resources/list_changed`.
    pub resources: bool,
}

impl ListenerFilter {
    /// The compact form used in a connect URL: any of `t`, `p`, `r`.
    pub fn to_flags(self) -> String {
        [(self.tools, 't'), (self.prompts, 'p'), (self.resources, 'r')]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, c)| *c)
            .collect()
    }

    /// The inverse of [`Self::to_flags`]; unknown characters are ignored.
    pub fn from_flags(flags: &str) -> Self {
        Self { tools: flags.contains('t'), prompts: flags.contains('p'), resources: flags.contains('r') }
    }
}

/// The kinds of change notification, for [`SendRequest::topic`].
pub mod topic {
    /// `notifications/tools/list_changed`.
    pub const TOOLS_LIST_CHANGED: &str = "tools";
    /// `notifications/prompts/list_changed`.
    pub const PROMPTS_LIST_CHANGED: &str = "prompts";
    /// `notifications/resources/list_changed`.
    pub const RESOURCES_LIST_CHANGED: &str = "resources";
    /// `notifications/resources/updated`, sent to the subscribers of one URI.
    pub const RESOURCE_UPDATED: &str = "resource";
}

/// The tag of the waiter for request `request_id` of `session`.
pub fn waiter_tag(session: &str, request_id: &str) -> String {
    format!("@w {session} {request_id}")
}

/// Body of [`shard_path::REPLY`]: a client's answer to a server→client request, for its waiter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientReply {
    /// The session the request was sent on.
    pub session: String,
    /// The request id the waiter was allocated (from [`HEADER_REQUEST_ID`]).
    pub request_id: String,
    /// The client's whole JSON-RPC response.
    pub message: serde_json::Value,
}

/// Answer to [`shard_path::REPLY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyAck {
    /// Whether an open waiter took the answer (false: it timed out, was answered already, or never was).
    pub delivered: bool,
}

/// Paths served by the coordinator.
pub mod coordinator_path {
    /// POST [`super::MembershipReport`] → [`super::ReportAck`].
    pub const REPORT: &str = "/v1/report";
    /// POST (empty body) → [`super::MemberList`].
    pub const MEMBERS: &str = "/v1/members";
    /// POST [`super::CounterName`] → [`super::CounterValue`]: the reference server's shared counters.
    pub const COUNTER_INCREMENT: &str = "/v1/counter/increment";
    /// POST [`super::CounterName`] → [`super::CounterValue`]: reads a counter without changing it.
    pub const COUNTER_GET: &str = "/v1/counter/get";
}

/// The name the single coordinator object is addressed by.
pub const COORDINATOR_NAME: &str = "coordinator";

/// A send through a shard: `sessions: None` means every session the shard holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The targeted session ids, or `None` for a broadcast to every session on the shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<String>>,
    /// The payload as the session's stream should receive it (for MCP: a framed SSE event).
    pub data: String,
    /// For log notifications: skip sessions whose chosen log level is more severe than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// For change notifications: the kind (see [`topic`]), so listen streams can filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
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

impl SendReport {
    /// Adds another shard's counts to these.
    pub fn merge(&mut self, other: SendReport) {
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.missing += other.missing;
    }
}

/// Body of the control calls that name one session (has, delete, session get and end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    /// The session id.
    pub session: String,
}

/// Answer to [`shard_path::HAS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasReply {
    /// Whether the shard holds a live stream for the session.
    pub has: bool,
}

/// Answer to [`shard_path::DELETE`] and [`shard_path::SESSION_END`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReply {
    /// Whether there was anything to delete (false makes the call a no-op, not an error).
    pub existed: bool,
}

/// The MCP-level facts about a session that must be strongly consistent, kept in its shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The MCP protocol version negotiated by `initialize`.
    pub protocol_version: String,
    /// The client's `clientInfo` from `initialize`, as sent.
    #[serde(default)]
    pub client_info: serde_json::Value,
    /// The client's `capabilities` from `initialize`, as sent.
    #[serde(default)]
    pub client_capabilities: serde_json::Value,
    /// The level chosen by `logging/setLevel` (an MCP level name such as `"info"`); `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Topics (resource URIs) this session subscribed to, so ending it can clean the indexes.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// When `initialize` created the session, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// The last time a request used the session (written at most once a minute); idle expiry
    /// counts from here.
    #[serde(default)]
    pub last_seen_ms: u64,
    /// The authenticated identity that created the session; any other identity gets 404 for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Body of [`shard_path::SESSION_REGISTER`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterSession {
    /// The new session's id.
    pub session: String,
    /// What to store for it.
    pub record: SessionRecord,
}

/// Answer to [`shard_path::SESSION_GET`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionLookup {
    /// The stored record, or `None` for an unknown (or ended, or expired) session.
    pub record: Option<SessionRecord>,
    /// Whether the session has an open stream on this shard, so a caller that checks the session and
    /// then asks whether it has a stream (tmcp's GET) gets both from one call.
    #[serde(default)]
    pub stream_open: bool,
}

/// A partial update; absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateSession {
    /// The session to update.
    pub session: String,
    /// A new `logging/setLevel` level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// A resource URI to add to [`SessionRecord::subscriptions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_subscription: Option<String>,
    /// A resource URI to remove from [`SessionRecord::subscriptions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_subscription: Option<String>,
}

/// Body of [`shard_path::TOPIC_SUBSCRIBE`] and [`shard_path::TOPIC_UNSUBSCRIBE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicChange {
    /// The resource URI, at most [`MAX_TOPIC_BYTES`] long.
    pub topic: String,
    /// The subscribing session (or listen stream) id.
    pub session: String,
}

/// Body of [`shard_path::TOPIC_SUBSCRIBERS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicName {
    /// The resource URI.
    pub topic: String,
}

/// An error body any object answers a failed control call with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A human-readable description of the failure.
    pub error: String,
}

/// What a shard stores in each accepted socket's attachment (it survives hibernation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketAttachment {
    /// The [`PROTOCOL_VERSION`] of the object that accepted the socket.
    pub v: u32,
    /// The session (or listen stream) id the socket streams to.
    pub session: String,
    /// The session's `logging/setLevel`, kept here so a log broadcast filters without storage reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Set on listen streams: what they asked to hear about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<ListenerFilter>,
    /// Set on listen streams: the resource URIs they subscribed to in the topic index, so the
    /// entries go when the stream does (see [`fit_topics`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
}

/// Bytes of topic URIs kept in one socket's attachment: the runtime allows 16 KiB per attachment.
pub const MAX_ATTACHMENT_TOPIC_BYTES: usize = 12 * 1024;

/// The topics that fit in an attachment, in order; the rest are returned apart (their index entries
/// cannot be removed when the stream closes, and only cost a "missing" on later sends).
pub fn fit_topics(topics: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut used = 0;
    topics.into_iter().partition(|topic| {
        used += topic.len();
        used <= MAX_ATTACHMENT_TOPIC_BYTES
    })
}

/// Answer to [`shard_path::TOPIC_SUBSCRIBERS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSubscribers {
    /// The ids subscribed to the topic; they may live on any shard.
    pub sessions: Vec<String>,
}

/// A shard's live view of itself.
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
}

/// A shard tells the coordinator how many sessions it holds. `version` orders reports from one shard,
/// so a delayed report never overwrites a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipReport {
    /// The reporting shard's number.
    pub shard: u32,
    /// Higher is newer, across restarts too; the coordinator ignores a report whose version is not
    /// above the last one it applied for the shard.
    pub version: u64,
    /// Live streams the shard holds (counting accepts in flight); 0 takes it out of the member list.
    pub sessions: u64,
}

/// Answer to [`coordinator_path::REPORT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    /// False when the report was stale (its version not newer than the one already applied).
    pub applied: bool,
}

/// One shard in the coordinator's member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The shard's number.
    pub shard: u32,
    /// Its last reported session count.
    pub sessions: u64,
}

/// Answer to [`coordinator_path::MEMBERS`]: the shards a broadcast has to reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    /// The members in shard order, each at most once.
    pub members: Vec<Member>,
}

/// Body of the coordinator's counter calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterName {
    /// The counter; an unknown name reads as 0.
    pub name: String,
}

/// Answer to the coordinator's counter calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterValue {
    /// The counter's value after the call.
    pub value: u64,
}

/// A JSON frame pushed from a shard to a Worker's waiter socket. (Stream sockets carry no frames of
/// this kind: a shard sends them each event's SSE bytes as a binary message, relayed untouched.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ShardFrame {
    /// The client's answer to a server→client request (to a waiter socket).
    Reply {
        /// The sender's [`PROTOCOL_VERSION`].
        v: u32,
        /// The client's whole JSON-RPC response.
        message: serde_json::Value,
    },
}

impl ShardFrame {
    /// Parses a frame and checks its version.
    pub fn decode(text: &str) -> Result<Self> {
        let frame: ShardFrame = serde_json::from_str(text)?;
        let ShardFrame::Reply { v, .. } = &frame;
        let v = *v;
        if v != PROTOCOL_VERSION {
            return Err(MeshError::Protocol(format!("shard frame version {v}, this worker speaks {PROTOCOL_VERSION}")));
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_frames_round_trip_and_other_versions_are_rejected() {
        let reply = ShardFrame::Reply { v: PROTOCOL_VERSION, message: serde_json::json!({"jsonrpc": "2.0", "id": 3}) };
        let encoded = serde_json::to_string(&reply).unwrap();
        assert_eq!(ShardFrame::decode(&encoded).unwrap(), reply);
        assert!(matches!(ShardFrame::decode(r#"{"type":"reply","v":99,"message":{}}"#), Err(MeshError::Protocol(_))));
        // Version 1 replies (before stream frames became SSE bytes) are refused, not misread.
        assert!(matches!(ShardFrame::decode(r#"{"type":"reply","v":1,"message":{}}"#), Err(MeshError::Protocol(_))));
        assert!(ShardFrame::decode("not json").is_err());
        assert!(ShardFrame::decode(r#"{"type":"data","v":1,"data":"x"}"#).is_err());
    }

    #[test]
    fn send_request_omits_absent_sessions() {
        let all = SendRequest { sessions: None, data: "x".into(), level: None, topic: None };
        assert_eq!(serde_json::to_string(&all).unwrap(), r#"{"data":"x"}"#);
        let back: SendRequest = serde_json::from_str(r#"{"sessions":["a"],"data":"x"}"#).unwrap();
        assert_eq!(back.sessions, Some(vec!["a".to_owned()]));
    }

    #[test]
    fn topics_that_do_not_fit_an_attachment_are_set_apart_in_order() {
        let big = "u".repeat(5 * 1024);
        let (kept, dropped) = fit_topics(vec![big.clone(), "a".into(), big.clone(), big.clone(), "b".into()]);
        assert_eq!(kept, vec![big.clone(), "a".to_owned(), big.clone()]);
        assert_eq!(dropped, vec![big, "b".to_owned()]);
        let (kept, dropped) = fit_topics(vec!["x".into(), "y".into()]);
        assert_eq!((kept.len(), dropped.len()), (2, 0));
    }

    #[test]
    fn reports_merge() {
        let mut total = SendReport::default();
        total.merge(SendReport { delivered: 2, failed: 1, missing: 0 });
        total.merge(SendReport { delivered: 3, failed: 0, missing: 4 });
        assert_eq!(total, SendReport { delivered: 5, failed: 1, missing: 4 });
    }
}

//! The two WebSocket upgrades a shard accepts, with their typed queries (a session's or a listen
//! stream's socket, [`OpenStream`]; a waiter for a client's answer, [`OpenWaiter`]), what the shard
//! keeps in each socket's attachment, the socket tags, and the frame a waiter receives. Must not touch
//! the runtime.

use serde::{Deserialize, Serialize};

use super::PROTOCOL_VERSION;
use crate::delivery::{ListenerFilter, StreamClass};
use crate::error::{MeshError, Result};

/// A WebSocket upgrade a shard accepts: its path, and its request as a URL query.
pub trait ObjectUpgrade: Sized {
    /// The path on the object, versioned.
    const PATH: &'static str;
    /// The query string (without `?`), percent-encoded.
    fn to_query(&self) -> String;
    /// Reads the query string back; a malformed one is the caller's error.
    fn from_query(query: &str) -> Result<Self>;
}

/// The query keys of [`OpenStream`], as the JavaScript side builds them too.
pub mod query_key {
    /// The session (or listen stream) id.
    pub const SESSION: &str = "session";
    /// `1`: the session must have an MCP record whose owner is [`OWNER`] (or none if absent).
    pub const REQUIRE_SESSION: &str = "require_session";
    /// The authenticated identity opening the stream.
    pub const OWNER: &str = "owner";
    /// The `Last-Event-ID` a resuming client sent.
    pub const LAST_EVENT_ID: &str = "last_event_id";
    /// Set on listen streams: what they asked to hear about ([`crate::delivery::ListenerFilter`] flags).
    pub const LISTENER: &str = "listener";
    /// A listen stream's resource URI (repeated), kept so its topic-index entries go when it does.
    pub const TOPIC: &str = "topic";
    /// Milliseconds to wait for a required session's record that is not there yet.
    pub const AWAIT_RECORD_MS: &str = "await_record_ms";
}

/// The longest a shard holds a stream open waiting for its session's record
/// ([`OpenStream::await_record_ms`]).
pub const MAX_AWAIT_RECORD_MS: u32 = 10_000;

/// What the tmcp adapter asks a shard to wait for a GET's session record: long enough for the
/// record writes tmcp starts at `initialize` (milliseconds), short enough that a GET for a session
/// that never existed gets its 404 soon.
pub const ADAPTER_AWAIT_RECORD_MS: u32 = 5_000;

/// Opens a session's stream (or a `subscriptions/listen` stream) on its shard: a GET with
/// `Upgrade: websocket`. The shard answers 101 with the socket, or an error status: 404 for a
/// required session it has no record of (or another identity's), 409 for a second fresh stream, 503
/// when full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenStream {
    /// The session (or listen stream) id.
    pub session: String,
    /// Whether the session must have an MCP record created by `owner`, checked atomically with the
    /// accept (the MCP endpoint's GET).
    pub require_session: bool,
    /// The caller's authenticated identity, when `require_session`.
    pub owner: Option<String>,
    /// A resuming client's `Last-Event-ID`: replay what it missed, and take over a stream still open.
    pub last_event_id: Option<String>,
    /// Set for a listen stream: what it asked to hear about.
    pub listener: Option<ListenerFilter>,
    /// A listen stream's resource subscriptions (see [`fit_topics`]).
    pub topics: Vec<String>,
    /// With `require_session`: how long the shard waits for the record when it is not there yet
    /// (at most [`MAX_AWAIT_RECORD_MS`]; 0: answer 404 at once). For servers that answer
    /// `initialize` before its record is written, so a GET right after it is not lost.
    pub await_record_ms: u32,
}

impl ObjectUpgrade for OpenStream {
    const PATH: &'static str = "/v3/connect";

    fn to_query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair(query_key::SESSION, &self.session);
        if self.require_session {
            query.append_pair(query_key::REQUIRE_SESSION, "1");
        }
        if let Some(owner) = &self.owner {
            query.append_pair(query_key::OWNER, owner);
        }
        if let Some(last) = &self.last_event_id {
            query.append_pair(query_key::LAST_EVENT_ID, last);
        }
        if let Some(filter) = self.listener {
            query.append_pair(query_key::LISTENER, &filter.to_flags());
        }
        for topic in &self.topics {
            query.append_pair(query_key::TOPIC, topic);
        }
        if self.await_record_ms > 0 {
            query.append_pair(query_key::AWAIT_RECORD_MS, &self.await_record_ms.to_string());
        }
        query.finish()
    }

    fn from_query(query: &str) -> Result<Self> {
        let mut open = OpenStream::default();
        let mut session = None;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                query_key::SESSION => session = Some(value.into_owned()),
                query_key::REQUIRE_SESSION => open.require_session = value == "1",
                query_key::OWNER => open.owner = Some(value.into_owned()),
                query_key::LAST_EVENT_ID => open.last_event_id = Some(value.into_owned()),
                query_key::LISTENER => open.listener = Some(ListenerFilter::from_flags(&value)),
                query_key::TOPIC => open.topics.push(value.into_owned()),
                query_key::AWAIT_RECORD_MS => {
                    open.await_record_ms = value.parse::<u32>().unwrap_or(0).min(MAX_AWAIT_RECORD_MS);
                }
                _ => {}
            }
        }
        open.session = session.ok_or(MeshError::MissingSessionId)?;
        Ok(open)
    }
}

/// Opens a waiter for the client's answer to one server→client request of `session`: a GET with
/// `Upgrade: websocket`. The shard allocates the request id and returns it in
/// [`HEADER_REQUEST_ID`]; the answer arrives as a [`ShardFrame::Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenWaiter {
    /// The session the request goes out on.
    pub session: String,
}

impl ObjectUpgrade for OpenWaiter {
    const PATH: &'static str = "/v3/waiter";

    fn to_query(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).append_pair(query_key::SESSION, &self.session).finish()
    }

    fn from_query(query: &str) -> Result<Self> {
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == query_key::SESSION)
            .map(|(_, session)| OpenWaiter { session: session.into_owned() })
            .ok_or(MeshError::MissingSessionId)
    }
}

/// Response header of [`OpenWaiter`] carrying the allocated request id.
pub const HEADER_REQUEST_ID: &str = "x-mesh-request-id";

/// The longest topic (resource URI) a shard indexes, in bytes.
pub const MAX_TOPIC_BYTES: usize = 2_048;

/// Socket tags that can never be session ids (those have no spaces): the kind of every socket, so a
/// broadcast reaches session streams and never waiters.
pub const TAG_SESSION_STREAM: &str = "@ session";
/// The kind tag of a waiter socket; its own tag comes from [`waiter_tag`].
pub const TAG_WAITER: &str = "@ waiter";
/// Stateless-era `subscriptions/listen` streams: held like session streams, but they receive only
/// the change notifications their filter asked for.
pub const TAG_LISTENER: &str = "@ listener";

/// The tag of the waiter for request `request_id` of `session`.
pub fn waiter_tag(session: &str, request_id: &str) -> String {
    format!("@w {session} {request_id}")
}

/// What a shard stores in each accepted stream socket's attachment (it survives hibernation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketAttachment {
    /// The [`PROTOCOL_VERSION`] of the object that accepted the socket.
    pub v: u32,
    /// The session (or listen stream) id the socket streams to.
    pub session: String,
    /// Which sends the stream takes; the shard's send loop compares its key, so a send filters
    /// without storage reads.
    pub class: StreamClass,
    /// Set on listen streams: the resource URIs they subscribed to in the topic index, so the
    /// entries go when the stream does (see [`fit_topics`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
}

impl SocketAttachment {
    /// A stream's attachment under this protocol version.
    pub fn new(session: String, class: StreamClass, topics: Vec<String>) -> Self {
        Self { v: PROTOCOL_VERSION, session, class, topics }
    }
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
    /// A reply frame under this protocol version.
    pub fn reply(message: serde_json::Value) -> Self {
        Self::Reply { v: PROTOCOL_VERSION, message }
    }

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
    fn a_stream_request_round_trips_through_its_query_with_escaping() {
        let open = OpenStream {
            session: "listen-1 & 2".into(),
            require_session: true,
            owner: Some("alice=admin".into()),
            last_event_id: Some("3-17".into()),
            listener: Some(ListenerFilter { tools: true, prompts: false, resources: true }),
            topics: vec!["mesh://a?b=c&d".into(), "file:///x y".into()],
            await_record_ms: 2_500,
        };
        let query = open.to_query();
        assert!(!query.contains(' ') && !query.contains("&d"), "{query}");
        assert_eq!(OpenStream::from_query(&query).unwrap(), open);
        let plain = OpenStream { session: "s".into(), ..Default::default() };
        assert_eq!(plain.to_query(), "session=s");
        assert_eq!(OpenStream::from_query("session=s&other=1").unwrap(), plain);
        assert_eq!(OpenStream::from_query("owner=x"), Err(MeshError::MissingSessionId));
        let waits = |raw: &str| OpenStream::from_query(&format!("session=s&await_record_ms={raw}")).unwrap();
        assert_eq!(waits("999999").await_record_ms, MAX_AWAIT_RECORD_MS, "the wait is bounded");
        assert_eq!(waits("soon").await_record_ms, 0, "an unreadable wait is no wait");
    }

    #[test]
    fn a_waiter_request_names_its_session() {
        let waiter = OpenWaiter { session: "a b".into() };
        assert_eq!(OpenWaiter::from_query(&waiter.to_query()).unwrap(), waiter);
        assert_eq!(OpenWaiter::from_query(""), Err(MeshError::MissingSessionId));
    }

    #[test]
    fn reply_frames_round_trip_and_other_versions_are_rejected() {
        let reply = ShardFrame::reply(serde_json::json!({"jsonrpc": "2.0", "id": 3}));
        let encoded = serde_json::to_string(&reply).unwrap();
        assert_eq!(ShardFrame::decode(&encoded).unwrap(), reply);
        assert!(matches!(ShardFrame::decode(r#"{"type":"reply","v":99,"message":{}}"#), Err(MeshError::Protocol(_))));
        assert!(matches!(ShardFrame::decode(r#"{"type":"reply","v":1,"message":{}}"#), Err(MeshError::Protocol(_))));
        assert!(ShardFrame::decode("not json").is_err());
        assert!(ShardFrame::decode(r#"{"type":"data","v":1,"data":"x"}"#).is_err());
    }

    #[test]
    fn an_attachment_carries_its_class_as_a_key() {
        let attachment = SocketAttachment::new("s".into(), StreamClass::session(Some("info")), vec![]);
        let json = serde_json::to_value(&attachment).unwrap();
        assert_eq!(json["class"], "s:info");
        assert_eq!(serde_json::from_value::<SocketAttachment>(json).unwrap(), attachment);
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
}

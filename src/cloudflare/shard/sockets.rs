//! The part of `SyncLayer` that holds its hibernatable sockets: finding a session's open streams,
//! the room left under `SHARD_MAX_SOCKETS`, accepting a stream with its tags and attachment, closing a
//! session's streams, keeping attachments' delivery classes current, and the send loop (`deliver.js`).
//!
//! A socket's tags are its session id (so a targeted send looks it up instead of scanning) and its
//! kind (`TAG_SESSION_STREAM`, `TAG_LISTENER`, or a waiter's), so a broadcast reaches streams and
//! never waiters.

use std::cell::Cell;
use std::rc::Rc;

use worker::wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::{js_sys, State, WebSocket, WebSocketPair};

use super::super::stubs::platform;
use crate::delivery::{AdmittedClasses, StreamClass};
use crate::error::{MeshError, Result};
use crate::event_log::{decide_stream_open, StreamOpen};
use crate::manager::validate_session_id;
use crate::protocol::{SendReply, SendReport, SocketAttachment, CLOSE_NORMAL, TAG_LISTENER, TAG_SESSION_STREAM};

/// `WebSocket.readyState` of an open socket.
const WS_OPEN: u16 = 1;

#[wasm_bindgen(module = "/src/cloudflare/shard/deliver.js")]
extern "C" {
    /// The per-socket send loop (see `deliver.js`): returns `[delivered, failed, ...missing ids]`.
    #[wasm_bindgen(catch, js_name = deliver)]
    #[allow(clippy::too_many_arguments)]
    fn deliver_in_js(
        state: &JsValue,
        session_tag: &str,
        listener_tag: &str,
        frame: &[u8],
        listener_frame: &[u8],
        ids: JsValue,
        session_classes: &js_sys::Array,
        every_session: bool,
        listener_classes: &js_sys::Array,
    ) -> std::result::Result<js_sys::Array, JsValue>;
}

/// What one send writes: the frame for session streams, the head of the frame for listen streams
/// (empty when none takes it), and which streams take it.
pub(super) struct Delivery<'a> {
    pub sessions: Option<&'a [String]>,
    pub frame: &'a str,
    pub listener_frame: &'a str,
    pub admitted: &'a AdmittedClasses,
}

/// The shard's sockets.
pub(super) struct Sockets {
    state: Rc<State>,
    /// An upper bound on the sockets held: the runtime's count when last taken plus the accepts since
    /// (closes only lower the real number). `None` until first taken. Counting costs one runtime call
    /// per socket, so it is retaken only when the bound reaches the limit.
    bound: Cell<Option<usize>>,
}

impl Sockets {
    pub fn new(state: Rc<State>) -> Self {
        Self { state, bound: Cell::new(None) }
    }

    /// Open streams, all session streams or those tagged with one id. CLOSING sockets count as gone.
    pub fn open(&self, session: Option<&str>) -> Vec<WebSocket> {
        self.open_tagged(session.unwrap_or(TAG_SESSION_STREAM))
    }

    /// Open listen streams (stateless-era `subscriptions/listen`).
    pub fn open_listeners(&self) -> Vec<WebSocket> {
        self.open_tagged(TAG_LISTENER)
    }

    /// Open sockets with `tag`.
    pub fn open_tagged(&self, tag: &str) -> Vec<WebSocket> {
        let sockets = self.state.get_websockets_with_tag(tag);
        sockets.into_iter().filter(|ws| ws.as_ref().ready_state() == WS_OPEN).collect()
    }

    /// Whether `session` has an open stream here. A malformed id has none (and is never handed to the
    /// runtime's tag lookup, whose binding panics if the runtime throws).
    pub fn has_stream(&self, session: &str) -> bool {
        validate_session_id(session).is_ok() && !self.open(Some(session)).is_empty()
    }

    /// Whether `pending` more sockets and one more fit under `limit`, counting only near it.
    pub fn has_room(&self, limit: usize, pending: usize) -> bool {
        if self.bound.get().is_some_and(|bound| bound + pending < limit) {
            return true;
        }
        let exact = self.state.get_websockets().len();
        self.bound.set(Some(exact));
        exact + pending < limit
    }

    /// Applies [`decide_stream_open`] to the session's open streams: closes them for a resuming
    /// client, refuses a second fresh one.
    pub fn take_over_or_refuse(&self, session: &str, resuming: bool) -> Result<StreamOpen> {
        let open = self.open(Some(session));
        let decision = decide_stream_open(!open.is_empty(), resuming);
        match decision {
            StreamOpen::Open => {}
            StreamOpen::Conflict => return Err(MeshError::StreamConflict),
            StreamOpen::TakeOver => {
                for ws in open {
                    let _ = ws.close(Some(CLOSE_NORMAL), Some("replaced by a resuming stream"));
                }
            }
        }
        Ok(decision)
    }

    /// Accepts the server end of a new pair under `tags` (at most the runtime's 10, 256 characters
    /// each) and returns the pair.
    pub fn accept(&self, tags: &[&str]) -> Result<WebSocketPair> {
        let pair = WebSocketPair::new().map_err(platform("WebSocketPair"))?;
        self.state.accept_websocket_with_tags(&pair.server, tags);
        self.bound.set(self.bound.get().map(|bound| bound + 1));
        Ok(pair)
    }

    /// Accepts a stream of `attachment.session` (its validated id is the socket's own tag).
    pub fn accept_stream(&self, attachment: &SocketAttachment) -> Result<WebSocketPair> {
        let kind = if attachment.class.is_listener() { TAG_LISTENER } else { TAG_SESSION_STREAM };
        let pair = self.accept(&[attachment.session.as_str(), kind])?;
        pair.server.serialize_attachment(attachment).map_err(platform("serialize_attachment"))?;
        Ok(pair)
    }

    /// Closes a session's streams (the Worker's relay then ends the SSE body); whether it had any.
    pub fn close_session(&self, session: &str, reason: &str) -> bool {
        // A malformed id has no sockets (accepts validate it), and must not reach the tag lookup.
        if validate_session_id(session).is_err() {
            return false;
        }
        let sockets = self.open(Some(session));
        for ws in &sockets {
            let _ = ws.close(Some(CLOSE_NORMAL), Some(reason));
        }
        !sockets.is_empty()
    }

    /// Gives a session's open streams a new delivery class (after `logging/setLevel`), so a send
    /// filters without reading storage.
    pub fn reclassify(&self, session: &str, class: &StreamClass) {
        for ws in self.open(Some(session)) {
            let attachment = SocketAttachment::new(session.to_owned(), class.clone(), Vec::new());
            let _ = ws.serialize_attachment(attachment);
        }
    }
}

/// Writes one send to the streams of the shard whose state is `state`, in one crossing into JS, and
/// reports what it reached. A free function, as a send runs after its call's headers have gone.
pub(super) fn deliver(state: &State, delivery: Delivery<'_>) -> Result<SendReply> {
    let strings = |items: &[String]| items.iter().map(|item| JsValue::from_str(item)).collect::<js_sys::Array>();
    let ids = delivery.sessions.map_or(JsValue::NULL, |ids| strings(ids).into());
    let counts = deliver_in_js(
        state.as_raw().as_ref(),
        TAG_SESSION_STREAM,
        TAG_LISTENER,
        delivery.frame.as_bytes(),
        delivery.listener_frame.as_bytes(),
        ids,
        &strings(&delivery.admitted.sessions),
        delivery.admitted.every_session,
        &strings(&delivery.admitted.listeners),
    )
    .map_err(|error| MeshError::Upstream { what: "shard send", detail: format!("{error:?}") })?;
    let count = |i: u32| counts.get(i).as_f64().unwrap_or(0.0) as u64;
    let missing_ids: Vec<String> = (2..counts.length()).filter_map(|i| counts.get(i).as_string()).collect();
    let report = SendReport { delivered: count(0), failed: count(1), missing: missing_ids.len() as u64 };
    Ok(SendReply { report, missing_ids })
}

//! `SyncLayer`, the shard object: holds the hibernatable WebSockets of the sessions hashed onto it,
//! their MCP session records (SQLite), and the subscriber index of the topics hashed onto it.
//!
//! Nothing lives only in memory that matters after eviction: sockets and their tags/attachments are
//! kept by the runtime across hibernation, records and indexes are in storage. In memory there is
//! only the membership reporter, whose loss costs one extra coordinator call. Every handler is
//! implemented (a default would panic and reset every object in the isolate).
//!
//! This file has the object's entry points, stream accepts and sends; the rest is split by concept:
//! `history` (replay log, expiry), `membership` (counting and reporting to the coordinator), `name`
//! (the shard's number), `sessions` (MCP session records), `topics` (the topic index) and `waiters`
//! (client replies).

use std::cell::{Cell, RefCell};

use futures::future::{LocalBoxFuture, Shared};
use futures::FutureExt;

use worker::wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::{
    durable_object, js_sys, DurableObject, Env, Method, Request, Response, Result as WorkerResult, SqlStorageValue,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use super::stubs::{self, platform};
use crate::config::MeshConfig;
use crate::delivery::DeliveryRule;
use crate::error::{MeshError, Result};
use crate::event_log::{decide_stream_open, with_event_id, EventId, StreamOpen};
use crate::manager::validate_session_id;
use crate::membership::{MembershipReporter, ReportPlan};
use crate::protocol::{
    fit_topics, shard_path, DeleteReply, HasReply, ListenerFilter, RegisterSession, SendReply, SendReport, SendRequest,
    SessionLookup, SessionRef, ShardStatus, SocketAttachment, TopicName, TopicSubscribers, CLOSE_INTERNAL_ERROR,
    PROTOCOL_VERSION, TAG_LISTENER, TAG_SESSION_STREAM,
};

const WS_OPEN: u16 = 1;

mod history;
mod name;
use name::UNNAMED;
mod membership;
use membership::send_report;
mod sessions;
mod topics;
mod waiters;

#[wasm_bindgen(module = "/src/worker/shard/deliver.js")]
extern "C" {
    /// The per-socket send loop (see `deliver.js`): returns `[delivered, failed, ...missing ids]`.
    #[wasm_bindgen(catch)]
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        state: &JsValue,
        session_tag: &str,
        listener_tag: &str,
        frame: &[u8],
        listener_frame: &[u8],
        ids: JsValue,
        blocked_levels: &js_sys::Array,
        listener_key: Option<&str>,
    ) -> std::result::Result<js_sys::Array, JsValue>;
}

/// The shard Durable Object (`shard-N`): one per shard, holding the streams and session records of
/// the sessions hashed onto it. Bind its class as `SHARD_BINDING`.
#[durable_object]
pub struct SyncLayer {
    state: State,
    env: Env,
    /// This shard's number: from the id's name, else from storage or the first call's
    /// `HEADER_OBJECT_NAME` (see `learn_name`); `UNNAMED` until known.
    shard: Cell<u32>,
    instance: String,
    reporter: RefCell<MembershipReporter>,
    /// Accepts waiting for their membership report; counted as sessions (see `MembershipReporter`).
    pending_accepts: Cell<u64>,
    /// An upper bound on the sockets this object holds: the runtime's count when last taken plus the
    /// accepts since (closes only lower the real number). `None` until first taken. Counting costs one
    /// runtime call per socket, so it is retaken only when the bound reaches `SHARD_MAX_SOCKETS`.
    socket_bound: Cell<Option<usize>>,
    /// The replay log's next sequence number; `None` until read from the log after a wake.
    next_seq: Cell<Option<u64>>,
    /// The awaited membership report in flight, which concurrent accepts join (`ReportPlan::Join`).
    report_in_flight: RefCell<Option<InFlightReport>>,
    /// The expiry alarm is known to be set (checked with storage once per wake).
    alarm_armed: Cell<bool>,
}

type InFlightReport = Shared<LocalBoxFuture<'static, std::result::Result<(), String>>>;

impl DurableObject for SyncLayer {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for statement in [
            "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, record TEXT NOT NULL)",
            concat!(
                "CREATE TABLE IF NOT EXISTS topic_subscribers ",
                "(topic TEXT NOT NULL, session TEXT NOT NULL, PRIMARY KEY (topic, session))"
            ),
            "CREATE TABLE IF NOT EXISTS request_ids (session TEXT PRIMARY KEY, next INTEGER NOT NULL)",
            concat!(
                "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, ",
                "audience TEXT NOT NULL, data TEXT NOT NULL, level TEXT, topic TEXT)"
            ),
            "CREATE TABLE IF NOT EXISTS object_name (name TEXT NOT NULL)",
        ] {
            if let Err(error) = sql.exec(statement, None) {
                worker::console_error!("shard: schema: {error}");
            }
        }
        let shard = name::number_at_start(&state, &sql);
        Self {
            state,
            env,
            shard: Cell::new(shard),
            instance: uuid::Uuid::new_v4().to_string(),
            reporter: RefCell::new(MembershipReporter::new(shard)),
            pending_accepts: Cell::new(0),
            socket_bound: Cell::new(None),
            next_seq: Cell::new(None),
            report_in_flight: RefCell::new(None),
            alarm_armed: Cell::new(false),
        }
    }

    async fn fetch(&self, mut request: Request) -> WorkerResult<Response> {
        if self.shard.get() == UNNAMED {
            self.learn_name(&request);
        }
        let path = request.path();
        if path == shard_path::CONNECT {
            return match self.accept_stream(&request).await {
                Ok(response) => Ok(response),
                Err(error) => stubs::error_response(&error),
            };
        }
        if path == shard_path::WAITER {
            return match self.accept_waiter(&request) {
                Ok(response) => Ok(response),
                Err(error) => stubs::error_response(&error),
            };
        }
        if request.method() != Method::Post {
            return stubs::error_response(&MeshError::MethodNotAllowed);
        }
        let result = match path.as_str() {
            shard_path::SEND => stubs::answer(&mut request, |r| self.send(r)).await,
            shard_path::HAS => {
                stubs::answer(&mut request, |r: SessionRef| Ok(HasReply { has: self.has_stream(&r.session) })).await
            }
            shard_path::DELETE => {
                stubs::answer(&mut request, |r: SessionRef| {
                    Ok(DeleteReply { existed: self.close_session_sockets(&r.session) })
                })
                .await
            }
            shard_path::SESSION_REGISTER => stubs::answer_async(&mut request, |r| self.register_and_arm(r)).await,
            shard_path::SESSION_GET => {
                stubs::answer(&mut request, |r: SessionRef| {
                    self.load_and_touch(&r.session)
                        .map(|record| SessionLookup { record, stream_open: self.has_stream(&r.session) })
                })
                .await
            }
            shard_path::SESSION_UPDATE => stubs::answer(&mut request, |u| self.update(u).map(|_| stubs::empty())).await,
            shard_path::SESSION_END => {
                stubs::answer(&mut request, |r: SessionRef| self.end(&r.session).map(|existed| DeleteReply { existed }))
                    .await
            }
            shard_path::TOPIC_SUBSCRIBE => {
                stubs::answer(&mut request, |c| self.topic_change(c, true).map(|_| stubs::empty())).await
            }
            shard_path::TOPIC_UNSUBSCRIBE => {
                stubs::answer(&mut request, |c| self.topic_change(c, false).map(|_| stubs::empty())).await
            }
            shard_path::TOPIC_SUBSCRIBERS => {
                stubs::answer(&mut request, |t: TopicName| {
                    self.topic_subscribers(&t.topic).map(|sessions| TopicSubscribers { sessions })
                })
                .await
            }
            shard_path::STATUS => self.status().and_then(|status| stubs::encode(&status)),
            shard_path::REPLY => stubs::answer(&mut request, |r| self.deliver_reply(r)).await,
            _ => Err(MeshError::NotFound),
        };
        stubs::reply(result)
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> WorkerResult<()> {
        // The Worker never needs to talk back; answer a text "ping" so it can probe liveness, and
        // ignore anything else rather than fail (a failed handler would close nothing useful).
        if let WebSocketIncomingMessage::String(text) = message {
            if text == "ping" {
                let _ = ws.send_with_str("pong");
            }
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, _reason: String, _was_clean: bool) -> WorkerResult<()> {
        // Completing the close handshake may fail for reserved codes (1005/1006); either way the socket
        // is gone, and since the socket *is* the session's entry, nothing else needs removing.
        let reply_code = if code == 1005 || code == 1006 || code > 4999 { 1000 } else { code as u16 };
        let _ = ws.close(Some(reply_code), Some("closed"));
        self.count_changed();
        self.forget_listener_topics(&ws).await;
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> WorkerResult<()> {
        worker::console_warn!("shard {}: socket error: {error}", self.shard.get());
        let _ = ws.close(Some(CLOSE_INTERNAL_ERROR), Some("error"));
        self.count_changed();
        self.forget_listener_topics(&ws).await;
        Ok(())
    }

    async fn connect(&self, mut socket: worker::Socket) -> WorkerResult<()> {
        // Raw TCP connections are not part of the mesh protocol; close them instead of panicking.
        let _ = socket.close().await;
        Ok(())
    }

    async fn alarm(&self) -> WorkerResult<Response> {
        match self.expire_idle_sessions().await {
            Ok(expired) => Response::ok(format!("expired {expired} idle sessions")),
            // An error makes the runtime retry the alarm with backoff, which is what we want.
            Err(error) => Err(worker::Error::RustError(error.to_string())),
        }
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

impl SyncLayer {
    /// Whether `session` has an open stream on this shard. A malformed id has none (and is never
    /// handed to the runtime's tag lookup, whose binding panics if the runtime throws).
    fn has_stream(&self, session: &str) -> bool {
        validate_session_id(session).is_ok() && !self.open_sockets(Some(session)).is_empty()
    }

    /// Records a session, and arms the expiry alarm its idle time will need.
    async fn register_and_arm(&self, request: RegisterSession) -> Result<serde_json::Value> {
        self.register(request)?;
        self.count_changed();
        self.ensure_expiry_alarm().await?;
        Ok(stubs::empty())
    }

    /// Open sockets, all or those tagged with one session. CLOSING sockets are treated as gone.
    fn open_sockets(&self, session: Option<&str>) -> Vec<WebSocket> {
        let sockets = match session {
            Some(session) => self.state.get_websockets_with_tag(session),
            // Session streams only: waiter sockets carry another kind tag.
            None => self.state.get_websockets_with_tag(TAG_SESSION_STREAM),
        };
        sockets.into_iter().filter(|ws| ws.as_ref().ready_state() == WS_OPEN).collect()
    }

    /// The deployment's settings: read once per isolate through `MeshConfig`, as the Worker does
    /// (the same vars, the same rules). The Worker refuses requests while they are invalid, so an
    /// object only sees valid ones unless it runs under another script's configuration.
    fn settings(&self) -> Result<std::rc::Rc<MeshConfig>> {
        super::config(&self.env)
    }

    /// Open listen streams (stateless-era `subscriptions/listen`).
    fn open_listeners(&self) -> Vec<WebSocket> {
        self.state
            .get_websockets_with_tag(TAG_LISTENER)
            .into_iter()
            .filter(|ws| ws.as_ref().ready_state() == WS_OPEN)
            .collect()
    }

    /// Whether one more socket fits under `SHARD_MAX_SOCKETS`, counting sockets only near the limit.
    fn has_room_for_socket(&self) -> Result<bool> {
        let limit = self.settings()?.shard_max_sockets as usize;
        let pending = self.pending_accepts.get() as usize;
        if self.socket_bound.get().is_some_and(|bound| bound + pending < limit) {
            return Ok(true);
        }
        let exact = self.state.get_websockets().len();
        self.socket_bound.set(Some(exact));
        Ok(exact + pending < limit)
    }

    /// Notes an accepted socket in the bound.
    fn note_socket_accepted(&self) {
        self.socket_bound.set(self.socket_bound.get().map(|bound| bound + 1));
    }

    async fn accept_stream(&self, request: &Request) -> Result<Response> {
        let url = request.url().map_err(platform("url"))?;
        let mut session = None;
        let mut require_session = false;
        let mut listener = None;
        let mut last_event_id = None;
        let mut owner = None;
        let mut topics = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "session" => session = Some(value.into_owned()),
                "topic" => topics.push(value.into_owned()),
                "owner" => owner = Some(value.into_owned()),
                "require_session" => require_session = value == "1",
                "listener" => listener = Some(ListenerFilter::from_flags(&value)),
                "last_event_id" => last_event_id = EventId::parse(&value),
                _ => {}
            }
        }
        let session = session.ok_or(MeshError::MissingSessionId)?;
        validate_session_id(&session)?;
        if request.headers().get("upgrade").ok().flatten().as_deref() != Some("websocket") {
            return Err(MeshError::InvalidRequest("connect needs Upgrade: websocket".into()));
        }
        let record = self.load_record(&session)?;
        // Another identity's session does not exist, as far as this caller can tell.
        if require_session && record.as_ref().is_none_or(|record| record.owner != owner) {
            return Err(MeshError::SessionNotFound);
        }
        self.take_over_or_refuse(&session, last_event_id.is_some())?;
        if !self.has_room_for_socket()? {
            return Err(MeshError::ShardFull { shard: self.shard.get() });
        }
        // A confirmed member inside the report interval would skip: counting every socket on every
        // accept made opening sessions cost O(sessions on the shard).
        let now = now_ms();
        let plan = if self.reporter.borrow().count_report_due(now) {
            self.reporter.borrow_mut().before_accept(self.session_count()? + 1, now)
        } else {
            ReportPlan::Skip
        };
        let report = match plan {
            ReportPlan::Await(report) => {
                let env = self.env.clone();
                let sent =
                    async move { send_report(&env, report).await.map_err(|e| e.to_string()) }.boxed_local().shared();
                *self.report_in_flight.borrow_mut() = Some(sent.clone());
                Some(sent)
            }
            // Joining needs the report in flight; `awaiting` and the slot are set and cleared together,
            // so it is there (refusing is the safe answer if it ever were not).
            ReportPlan::Join => match self.report_in_flight.borrow().clone() {
                Some(sent) => Some(sent),
                None => {
                    return Err(MeshError::Upstream {
                        what: "coordinator",
                        detail: "no membership report in flight".into(),
                    })
                }
            },
            ReportPlan::Background(report) => {
                self.report_in_background(report);
                None
            }
            ReportPlan::Skip => None,
        };
        if let Some(report) = report {
            self.pending_accepts.set(self.pending_accepts.get() + 1);
            let outcome = report.clone().await;
            self.pending_accepts.set(self.pending_accepts.get().saturating_sub(1));
            // Only the report still in the slot may change the reporter's state: a waiter of an older
            // one (failed, then replaced by a new report) must not clear the newer one.
            let current = {
                let mut slot = self.report_in_flight.borrow_mut();
                let current = slot.as_ref().is_some_and(|in_flight| in_flight.ptr_eq(&report));
                if current {
                    slot.take();
                }
                current
            };
            match outcome {
                Ok(()) if current => self.reporter.borrow_mut().confirm_member(),
                Ok(()) => {}
                Err(detail) => {
                    if current {
                        self.reporter.borrow_mut().report_failed();
                    }
                    return Err(MeshError::Upstream { what: "coordinator", detail });
                }
            }
            // Another connect for the same session may have won while this one waited.
            self.take_over_or_refuse(&session, last_event_id.is_some())?;
        }
        let pair = WebSocketPair::new().map_err(platform("WebSocketPair"))?;
        // The session id is the socket's only tag (validated above: at most 128 visible ASCII
        // characters, inside the runtime's 256-character tag limit) so a targeted send looks the
        // socket up directly instead of scanning.
        let kind = if listener.is_some() { TAG_LISTENER } else { TAG_SESSION_STREAM };
        self.state.accept_websocket_with_tags(&pair.server, &[session.as_str(), kind]);
        self.note_socket_accepted();
        let log_level = record.and_then(|r| r.log_level);
        let (topics, unkept) = if listener.is_some() { fit_topics(topics) } else { (Vec::new(), Vec::new()) };
        if !unkept.is_empty() {
            worker::console_warn!(
                "shard {}: {} topics of {session} stay indexed after it closes",
                self.shard.get(),
                unkept.len()
            );
        }
        let attachment = SocketAttachment { v: PROTOCOL_VERSION, session, log_level, listener, topics };
        pair.server.serialize_attachment(&attachment).map_err(platform("serialize_attachment"))?;
        // Replayed before the 101 goes back and before any later send can run (nothing awaits in
        // between), so a resuming client gets its missed events first and in order.
        if let Some(last) = last_event_id {
            self.replay(&pair.server, &attachment, last)?;
        } else if attachment.listener.is_none() {
            self.prime(&pair.server)?;
        }
        Response::from_websocket(pair.client).map_err(platform("from_websocket"))
    }

    /// Applies [`decide_stream_open`] to the session's open streams: closes them for a resuming
    /// client, refuses a second fresh one.
    fn take_over_or_refuse(&self, session: &str, resuming: bool) -> Result<()> {
        let open = self.open_sockets(Some(session));
        match decide_stream_open(!open.is_empty(), resuming) {
            StreamOpen::Open => Ok(()),
            StreamOpen::Conflict => Err(MeshError::StreamConflict),
            StreamOpen::TakeOver => {
                for ws in open {
                    let _ = ws.close(Some(crate::protocol::CLOSE_NORMAL), Some("replaced by a resuming stream"));
                }
                Ok(())
            }
        }
    }

    fn send(&self, request: SendRequest) -> Result<SendReply> {
        // Logged once and framed once for every recipient: the frame is the stream's SSE bytes, so
        // the Worker's relay copies it into the body as it is.
        let seq = self.reserve_event_seq()?;
        let frame = with_event_id(&request.data, &self.event_id(seq));
        let rule = DeliveryRule::for_request(&request);
        let ids =
            request.sessions.as_ref().map(|ids| ids.iter().map(|id| JsValue::from_str(id)).collect::<js_sys::Array>());
        let blocked: js_sys::Array = rule.blocked_levels.iter().map(|level| JsValue::from_str(level)).collect();
        let counts = deliver(
            self.state.as_raw().as_ref(),
            TAG_SESSION_STREAM,
            TAG_LISTENER,
            frame.as_bytes(),
            request.data.as_bytes(),
            ids.as_ref().map_or(JsValue::NULL, |ids| ids.into()),
            &blocked,
            rule.listeners.as_key(),
        )
        .map_err(|error| MeshError::Upstream { what: "shard send", detail: format!("{error:?}") })?;
        let count = |i: u32| counts.get(i).as_f64().unwrap_or(0.0) as u64;
        let missing_ids: Vec<String> = (2..counts.length()).filter_map(|i| counts.get(i).as_string()).collect();
        let report = SendReport { delivered: count(0), failed: count(1), missing: missing_ids.len() as u64 };
        // Logged after the sockets were written, so no recipient waits for the commit. A crash in
        // between loses the event from the replay log (see README, Reliability).
        self.log_event(&request, seq)?;
        if report.failed > 0 {
            self.count_changed();
        }
        Ok(SendReply { report, missing_ids })
    }

    fn status(&self) -> Result<ShardStatus> {
        #[derive(serde::Deserialize)]
        struct Row {
            n: f64,
        }
        let rows: Vec<Row> = self.rows("SELECT COUNT(*) AS n FROM sessions", vec![])?;
        Ok(ShardStatus {
            shard: self.shard.get(),
            sessions: self.open_sockets(None).len() as u64,
            registered: rows.first().map(|row| row.n as u64).unwrap_or(0),
            instance: self.instance.clone(),
        })
    }

    fn sql(&self, statement: &str, bindings: Vec<SqlStorageValue>) -> Result<worker::SqlCursor> {
        super::sql::exec(&self.state.storage().sql(), statement, bindings)
    }

    /// Runs `statement` and reads its rows (see `worker::sql`).
    fn rows<T: serde::de::DeserializeOwned>(&self, statement: &str, bindings: Vec<SqlStorageValue>) -> Result<Vec<T>> {
        super::sql::rows(&self.state.storage().sql(), statement, bindings)
    }
}

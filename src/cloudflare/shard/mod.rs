//! `SyncLayer`, the shard object: holds the hibernatable WebSockets of the sessions hashed onto it,
//! their MCP session records, the subscriber index of the topics hashed onto it, and its replay log.
//! An object of this class named `relay-<i>` is a relay of the fan-out instead (see `fanout_calls`):
//! it only answers [`RelaySend`], and holds nothing.
//!
//! The object is composed of small parts, each in its own file with its own tables: `sockets` (the
//! streams and the send loop), `replay_log`, `records` (session records), `topics` (the topic index),
//! `waiters` (client replies), `membership` (reporting to the coordinator), `name` (the shard's
//! number), `send` (a send, answered headers first), `metrics` (its counters), `record_arrivals`
//! (streams waiting for their session's record) and `tasks` (the tasks hashed here, and their runs).
//! This file routes calls to them ([`ShardCalls`]) and does what spans several: accepting a stream,
//! ending a session, idle expiry and the alarm.
//!
//! Nothing lives only in memory that matters after eviction: sockets and their tags/attachments are
//! kept by the runtime across hibernation, records, indexes and tasks are in storage. In memory there
//! is the membership reporter, whose loss costs one extra coordinator call, and the running task
//! handlers, which a restart resumes from their stored tasks. Every handler is
//! implemented (a default would panic and reset every object in the isolate).

#[cfg(feature = "test-routes")]
pub(super) mod held_sends;
mod membership;
mod metrics;
mod name;
mod record_arrivals;
mod records;
mod replay_log;
mod send;
mod sockets;
mod tasks;
mod topics;
mod waiters;

use std::cell::Cell;
use std::rc::Rc;

use worker::{
    durable_object, js_sys, DurableObject, Env, Request, Response, Result as WorkerResult, State, WebSocket,
    WebSocketIncomingMessage,
};

use super::fanout_calls;
use super::log;
use super::settings;
use super::stubs::{self, platform};
use crate::config::MeshConfig;
use crate::delivery::StreamClass;
use crate::error::{MeshError, Result};
use crate::event_log::{EventId, StreamOpen};
use crate::expiry::plan_expiry;
use crate::log_event::{Level, LogEvent};
use crate::manager::validate_session_id;
use crate::protocol::{
    dispatch_shard_call, fit_topics, Ack, AnswerTask, CancelTask, ClientReply, CloseStream, CreateTask, DeleteReply,
    EndSession, GetMetrics, GetSession, GetStatus, GetTask, HasReply, HasStream, ListSubscribers, ObjectCall,
    ObjectUpgrade, OpenStream, OpenWaiter, RegisterSession, RelaySend, ReplyAck, SendRequest, SessionLookup,
    ShardCalls, ShardMetrics, ShardStatus, SocketAttachment, Subscribe, TaskReply, TopicSubscribers, Unsubscribe,
    UpdateSession, CLOSE_INTERNAL_ERROR,
};
use membership::{MembershipGate, Occupancy};
use metrics::ShardMetricsStore;
use name::UNNAMED;
use record_arrivals::RecordArrivals;
use records::SessionRecords;
use replay_log::ReplayLog;
use send::SendTask;
use sockets::Sockets;
use tasks::ShardTasks;
use topics::TopicIndex;
use waiters::Waiters;

/// The shard Durable Object (`shard-N`): one per shard, holding the streams and session records of
/// the sessions hashed onto it. Bind its class as `SHARD_BINDING`.
#[durable_object]
pub struct SyncLayer {
    state: Rc<State>,
    env: Env,
    /// This shard's number: from the id's name, else from storage or the first call's
    /// `HEADER_OBJECT_NAME` (see `name`); `UNNAMED` until known.
    shard: Cell<u32>,
    instance: String,
    sql: worker::SqlStorage,
    sockets: Sockets,
    log: Rc<ReplayLog>,
    /// A send's task could not write some socket: the count changed (reported on the next call).
    sockets_failed: Rc<Cell<bool>>,
    #[cfg(feature = "test-routes")]
    hold: held_sends::SendHold,
    records: SessionRecords,
    topics: TopicIndex,
    waiters: Waiters,
    membership: MembershipGate,
    /// The expiry alarm is known to be set (checked with storage once per wake).
    alarm_armed: Cell<bool>,
    metrics: Rc<ShardMetricsStore>,
    record_arrivals: RecordArrivals,
    tasks: Rc<ShardTasks>,
}

impl DurableObject for SyncLayer {
    fn new(state: State, env: Env) -> Self {
        let state = Rc::new(state);
        let sql = state.storage().sql();
        let shard = name::number_at_start(&state, &sql);
        Self {
            shard: Cell::new(shard),
            instance: uuid::Uuid::new_v4().to_string(),
            log: Rc::new(ReplayLog::new(sql.clone())),
            metrics: ShardMetricsStore::load(sql.clone()),
            record_arrivals: RecordArrivals::default(),
            tasks: ShardTasks::new(sql.clone(), env.clone(), state.clone(), shard),
            sockets_failed: Rc::default(),
            #[cfg(feature = "test-routes")]
            hold: held_sends::SendHold::default(),
            records: SessionRecords::new(sql.clone()),
            topics: TopicIndex::new(sql.clone()),
            waiters: Waiters::new(sql.clone()),
            membership: MembershipGate::new(env.clone(), state.clone(), shard),
            sockets: Sockets::new(state.clone()),
            state,
            sql,
            env,
            alarm_armed: Cell::new(false),
        }
    }

    async fn fetch(&self, mut request: Request) -> WorkerResult<Response> {
        if self.shard.get() == UNNAMED {
            if let Some(shard) = name::learn(&self.sql, &request) {
                self.shard.set(shard);
                self.membership.set_shard(shard);
                self.tasks.set_shard(shard);
            }
        }
        if self.sockets_failed.take() {
            self.count_changed();
        }
        match request.path().as_str() {
            SendRequest::PATH => match self.send_task() {
                Ok(task) => stubs::answer_headers_first(&mut request, move |call| task.run(call)).await,
                Err(error) => stubs::error_response(&error),
            },
            RelaySend::PATH => match self.settings() {
                Ok(config) => {
                    #[cfg(feature = "test-routes")]
                    self.hold.started();
                    let env = self.env.clone();
                    stubs::answer_headers_first(&mut request, move |call| fanout_calls::relay(env, config, call)).await
                }
                Err(error) => stubs::error_response(&error),
            },
            #[cfg(feature = "test-routes")]
            held_sends::HoldSends::PATH => {
                stubs::answer_call(&mut request, |_, body| async move {
                    let call = crate::protocol::decode_call::<held_sends::HoldSends>(&body)?;
                    crate::protocol::encode_reply(&self.hold.set(call))
                })
                .await
            }
            OpenStream::PATH => stubs::answer_upgrade(self.accept_stream(&request).await),
            OpenWaiter::PATH => stubs::answer_upgrade(self.accept_waiter(&request)),
            _ => {
                stubs::answer_call(
                    &mut request,
                    |path, body| async move { dispatch_shard_call(self, &path, &body).await },
                )
                .await
            }
        }
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
        self.stream_ended(&ws).await;
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> WorkerResult<()> {
        log::emit(&LogEvent::new(Level::Warn, "socket_error", error.to_string()).shard(self.shard.get()));
        let _ = ws.close(Some(CLOSE_INTERNAL_ERROR), Some("error"));
        self.stream_ended(&ws).await;
        Ok(())
    }

    async fn connect(&self, mut socket: worker::Socket) -> WorkerResult<()> {
        // Raw TCP connections are not part of the mesh protocol; close them instead of panicking.
        let _ = socket.close().await;
        Ok(())
    }

    async fn alarm(&self) -> WorkerResult<Response> {
        // Tasks' upkeep holds the alarm while their runs go on, so sessions come first.
        let upkeep = async { Ok::<_, MeshError>((self.expire_idle_sessions().await?, self.tasks.upkeep().await?)) };
        match upkeep.await {
            Ok((expired, ())) => Response::ok(format!("expired {expired} idle sessions")),
            // An error makes the runtime retry the alarm with backoff, which is what we want.
            Err(error) => Err(worker::Error::RustError(error.to_string())),
        }
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

impl Occupancy for SyncLayer {
    fn open_streams(&self) -> u64 {
        (self.sockets.open(None).len() + self.sockets.open_listeners().len()) as u64
    }

    fn registered(&self) -> Result<u64> {
        self.records.count()
    }

    fn any_registered(&self) -> Result<bool> {
        self.records.any()
    }
}

impl ShardCalls for SyncLayer {
    async fn has_stream(&self, call: HasStream) -> Result<HasReply> {
        Ok(HasReply { has: self.sockets.has_stream(&call.session) })
    }

    async fn close_stream(&self, call: CloseStream) -> Result<DeleteReply> {
        let existed = self.sockets.close_session(&call.session, "deleted");
        if existed {
            self.count_changed();
        }
        Ok(DeleteReply { existed })
    }

    async fn register_session(&self, call: RegisterSession) -> Result<Ack> {
        self.records.store(&call.session, &call.record)?;
        self.record_arrivals.arrived(&call.session);
        self.count_changed();
        self.ensure_expiry_alarm().await?;
        Ok(Ack {})
    }

    async fn get_session(&self, call: GetSession) -> Result<SessionLookup> {
        let record = self.records.load_and_touch(&call.session)?;
        Ok(SessionLookup { record, stream_open: self.sockets.has_stream(&call.session) })
    }

    async fn update_session(&self, update: UpdateSession) -> Result<Ack> {
        let record = self.records.update(&update)?;
        if update.log_level.is_some() {
            self.sockets.reclassify(&update.session, &StreamClass::session(record.log_level.as_deref()));
        }
        Ok(Ack {})
    }

    async fn end_session(&self, call: EndSession) -> Result<DeleteReply> {
        Ok(DeleteReply { existed: self.end(&call.session)?.is_some() })
    }

    async fn subscribe(&self, call: Subscribe) -> Result<Ack> {
        self.topics.change(&call.topic, &call.session, true)?;
        Ok(Ack {})
    }

    async fn unsubscribe(&self, call: Unsubscribe) -> Result<Ack> {
        self.topics.change(&call.topic, &call.session, false)?;
        Ok(Ack {})
    }

    async fn list_subscribers(&self, call: ListSubscribers) -> Result<TopicSubscribers> {
        Ok(TopicSubscribers { sessions: self.topics.subscribers(&call.topic)? })
    }

    async fn get_status(&self, _: GetStatus) -> Result<ShardStatus> {
        Ok(ShardStatus {
            shard: self.shard.get(),
            sessions: self.sockets.open(None).len() as u64,
            registered: self.records.count()?,
            instance: self.instance.clone(),
            tasks_running: self.tasks.running(),
        })
    }

    async fn get_metrics(&self, _: GetMetrics) -> Result<ShardMetrics> {
        Ok(ShardMetrics {
            shard: self.shard.get(),
            sessions: self.records.count()?,
            session_streams: self.sockets.open(None).len() as u64,
            listener_streams: self.sockets.open_listeners().len() as u64,
            topic_index_entries: self.topics.count()?,
            event_log_events: self.log.count()?,
            counters: self.metrics.snapshot(),
        })
    }

    async fn deliver_reply(&self, reply: ClientReply) -> Result<ReplyAck> {
        validate_session_id(&reply.session)?;
        self.waiters.deliver(&self.sockets, reply)
    }

    async fn create_task(&self, call: CreateTask) -> Result<TaskReply> {
        self.tasks.create(call.task).await
    }

    async fn get_task(&self, call: GetTask) -> Result<TaskReply> {
        self.tasks.get(call).await
    }

    async fn answer_task(&self, call: AnswerTask) -> Result<TaskReply> {
        self.tasks.answer(call).await
    }

    async fn cancel_task(&self, call: CancelTask) -> Result<TaskReply> {
        self.tasks.cancel(call).await
    }
}

impl SyncLayer {
    /// The deployment's settings, read once per isolate under the Worker's rules. The Worker refuses
    /// requests while they are invalid, so an object only sees valid ones unless it runs under another
    /// script's configuration.
    fn settings(&self) -> Result<Rc<MeshConfig>> {
        settings::load(&self.env)
    }

    /// What a send needs once its call's headers have gone (see `send`).
    fn send_task(&self) -> Result<SendTask> {
        Ok(SendTask {
            state: self.state.clone(),
            log: self.log.clone(),
            shard: self.shard.get(),
            limits: self.settings()?.event_log,
            sockets_failed: self.sockets_failed.clone(),
            metrics: self.metrics.clone(),
            arrived_ms: now_ms() as f64,
            #[cfg(feature = "test-routes")]
            hold: self.hold.clone(),
        })
    }

    fn count_changed(&self) {
        self.membership.count_changed(self, self.shard.get());
    }

    /// Opens a session's (or a listen stream's) socket: checks the record and its owner when asked,
    /// takes over or refuses an open stream, waits for membership when the shard may not be a member
    /// yet, then accepts and replays what a resuming client missed (or primes a fresh stream).
    async fn accept_stream(&self, request: &Request) -> Result<Response> {
        let open: OpenStream = stubs::upgrade_request(request)?;
        let session = open.session;
        validate_session_id(&session)?;
        let last_event_id = open.last_event_id.as_deref().and_then(EventId::parse);
        let resuming = last_event_id.is_some();
        let mut record = self.records.load(&session)?;
        if open.require_session && record.is_none() && open.await_record_ms > 0 {
            self.record_arrivals.wait(&session, open.await_record_ms).await;
            record = self.records.load(&session)?;
        }
        // Another identity's session does not exist, as far as this caller can tell.
        if open.require_session && record.as_ref().is_none_or(|record| record.owner != open.owner) {
            return Err(MeshError::SessionNotFound);
        }
        self.take_over_or_refuse(&session, resuming)?;
        self.check_room()?;
        if self.membership.admit(self).await? {
            // Another connect for the same session may have won while this one waited.
            self.take_over_or_refuse(&session, resuming)?;
        }
        let (class, topics) = match open.listener {
            Some(filter) => {
                let (kept, unkept) = fit_topics(open.topics);
                if !unkept.is_empty() {
                    let message = format!("{} topics stay indexed after it closes", unkept.len());
                    log::emit(
                        &LogEvent::new(Level::Warn, "topics_left_indexed", message)
                            .shard(self.shard.get())
                            .session(session.as_str()),
                    );
                }
                (StreamClass::Listener(filter), kept)
            }
            None => (StreamClass::session(record.and_then(|r| r.log_level).as_deref()), Vec::new()),
        };
        let attachment = SocketAttachment::new(session, class, topics);
        let pair = self.sockets.accept_stream(&attachment)?;
        // Replayed before the 101 goes back and before any later send can run (nothing awaits in
        // between), so a resuming client gets its missed events first and in order.
        if let Some(last) = last_event_id {
            let replayed = self.log.replay(&pair.server, &attachment, last, self.shard.get())?;
            self.metrics.count(|counters| {
                counters.replays += 1;
                counters.replayed_events += replayed;
            });
        } else if !attachment.class.is_listener() {
            self.log.prime(&pair.server, self.shard.get())?;
        }
        Response::from_websocket(pair.client).map_err(platform("from_websocket"))
    }

    /// Accepts a waiter for a server→client request of a session this shard has a record of.
    fn accept_waiter(&self, request: &Request) -> Result<Response> {
        let waiter: OpenWaiter = stubs::upgrade_request(request)?;
        validate_session_id(&waiter.session)?;
        if self.records.load(&waiter.session)?.is_none() {
            return Err(MeshError::SessionNotFound);
        }
        self.check_room()?;
        self.waiters.accept(&self.sockets, &waiter.session)
    }

    /// Applies the stream-open rule, counting what it decided: a resuming stream takes over a
    /// still-open one, a second fresh one is refused (409).
    fn take_over_or_refuse(&self, session: &str, resuming: bool) -> Result<()> {
        match self.sockets.take_over_or_refuse(session, resuming) {
            Ok(StreamOpen::TakeOver) => {
                self.metrics.count(|counters| counters.stream_takeovers += 1);
                log::emit(
                    &LogEvent::new(Level::Info, "stream_taken_over", "a resuming stream replaced the open one")
                        .shard(self.shard.get())
                        .session(session),
                );
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(error) => {
                self.metrics.count(|counters| counters.stream_conflicts += 1);
                Err(error)
            }
        }
    }

    /// Refuses (503) a socket past `SHARD_MAX_SOCKETS`, counting it.
    fn check_room(&self) -> Result<()> {
        let limit = self.settings()?.shard_max_sockets as usize;
        if self.sockets.has_room(limit, self.membership.pending() as usize) {
            return Ok(());
        }
        self.metrics.count(|counters| counters.shard_full += 1);
        log::emit(
            &LogEvent::new(Level::Warn, "shard_full", format!("refused a socket at SHARD_MAX_SOCKETS ({limit})"))
                .shard(self.shard.get()),
        );
        Err(MeshError::ShardFull { shard: self.shard.get() })
    }

    /// Forgets a session: its record, its request ids and its stream; the record it had.
    fn end(&self, session: &str) -> Result<Option<crate::protocol::SessionRecord>> {
        let record = self.records.forget(session)?;
        self.waiters.forget(session)?;
        if self.sockets.close_session(session, "deleted") || record.is_some() {
            self.count_changed();
        }
        Ok(record)
    }

    /// A stream closed: membership may change, and a listen stream's topic-index entries go (listen
    /// streams never come back under the same id, so nothing else would remove them).
    async fn stream_ended(&self, ws: &WebSocket) {
        self.count_changed();
        let Ok(Some(attachment)) = ws.deserialize_attachment::<SocketAttachment>() else { return };
        if attachment.class.is_listener() && !attachment.topics.is_empty() {
            self.forget_topics(&attachment.session, &attachment.topics).await;
        }
    }

    async fn forget_topics(&self, session: &str, topics: &[String]) {
        match self.settings() {
            Ok(config) => self.topics.forget_everywhere(&self.env, &config, self.shard.get(), session, topics).await,
            Err(error) => log::emit(
                &LogEvent::new(Level::Error, "topic_cleanup_failed", error.to_string())
                    .shard(self.shard.get())
                    .session(session),
            ),
        }
    }

    /// Arms the expiry alarm unless it is known to be armed: a storage round trip once per wake (or
    /// per alarm), not once per registered session.
    async fn ensure_expiry_alarm(&self) -> Result<()> {
        if self.alarm_armed.get() {
            return Ok(());
        }
        let storage = self.state.storage();
        if storage.get_alarm().await.map_err(platform("get_alarm"))?.is_none() {
            let at = now_ms().saturating_add(self.settings()?.session_idle_ms);
            storage.set_alarm(i64::try_from(at).unwrap_or(i64::MAX)).await.map_err(platform("set_alarm"))?;
        }
        self.alarm_armed.set(true);
        Ok(())
    }

    /// The alarm: forget sessions idle past `SESSION_IDLE_MS` with no open stream, then re-arm.
    async fn expire_idle_sessions(&self) -> Result<usize> {
        let sessions = self.records.activity(|id| self.sockets.has_stream(id))?;
        let plan = plan_expiry(&sessions, now_ms(), self.settings()?.session_idle_ms);
        for id in &plan.expire {
            // Its resource subscriptions live in other shards' topic indexes: take it out of them.
            let topics = self.end(id)?.map(|record| record.subscriptions).unwrap_or_default();
            self.forget_topics(id, &topics).await;
        }
        // The alarm that is running is spent; armed again only if re-set here.
        self.alarm_armed.set(false);
        if let Some(at) = plan.next_alarm_ms {
            let at = i64::try_from(at).unwrap_or(i64::MAX);
            self.state.storage().set_alarm(at).await.map_err(platform("set_alarm"))?;
            self.alarm_armed.set(true);
        }
        Ok(plan.expire.len())
    }
}

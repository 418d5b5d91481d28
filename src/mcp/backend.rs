//! What the MCP server needs from the mesh, as a trait, and its in-memory implementation.
//!
//! The Workers glue implements [`McpBackend`] over the shard and coordinator objects; the in-memory
//! version ([`InMemoryBackend`]) is the reference semantics the native tests drive. Time and new
//! session ids come from the backend, so tests control both. Must not touch the runtime.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use serde_json::Value;

use crate::error::{MeshError, Result};
use crate::manager::{InMemorySessionManager, SessionManager, SessionSink};
use crate::protocol::{SendReport, SessionRecord, UpdateSession};

/// What kind of notification a send carries, for per-stream filtering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendFilter {
    /// Set for a log notification: its MCP level (`"info"`, `"error"`, ...).
    pub level: Option<String>,
    /// Set for a change notification: its kind (see [`crate::protocol::topic`]).
    pub topic: Option<String>,
}

impl SendFilter {
    /// The filter of a `notifications/message` at `level`.
    pub fn log(level: &str) -> Self {
        Self { level: Some(level.to_owned()), topic: None }
    }

    /// The filter of a change notification of kind `topic`.
    pub fn change(topic: &str) -> Self {
        Self { level: None, topic: Some(topic.to_owned()) }
    }
}

/// Waits for the client's answer to one server→client request. The answer may arrive on any
/// isolate; it reaches the waiter through the session's shard.
#[allow(async_fn_in_trait)]
pub trait ReplyWaiter {
    /// The JSON-RPC id allocated for the request, unique within the session.
    fn request_id(&self) -> u64;
    /// The client's whole JSON-RPC response (`result` or `error`), or `None` after `timeout_ms`.
    async fn wait(self, timeout_ms: u32) -> Result<Option<Value>>;
}

/// The mesh as the MCP server uses it: session records, streams, topic indexes, server→client
/// requests, the clock and ids. Implemented by the Durable Object mesh and by [`InMemoryBackend`].
#[allow(async_fn_in_trait)]
pub trait McpBackend: 'static {
    /// How this backend waits for a client's answer to a server→client request.
    type Waiter: ReplyWaiter;

    /// Whether opening a GET stream checks, in the same call, that the session exists and belongs
    /// to the caller (the Durable Object mesh does it in the shard's accept). Then a GET costs one
    /// call instead of a lookup followed by the open.
    const OPEN_CHECKS_SESSION: bool = false;

    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A new session id: a random UUIDv4 from a cryptographic source in production.
    fn new_session_id(&self) -> String;
    /// Resolves after `ms` milliseconds (a timer in the Worker; immediate in memory).
    fn sleep(&self, ms: u32) -> LocalBoxFuture<'static, ()>;

    /// Registers a waiter for a server→client request of `session` and allocates its id.
    async fn open_waiter(&self, session: &str) -> Result<Self::Waiter>;
    /// Hands a client's response to whoever waits for it; `false` if nobody does (any more).
    async fn deliver_reply(&self, session: &str, request_id: &str, message: Value) -> Result<bool>;

    /// Stores a new session's record (on its shard, in the mesh); replaces any record under `id`.
    async fn register_session(&self, id: &str, record: SessionRecord) -> Result<()>;
    /// The session's record, or `None` if it is unknown, ended or expired.
    async fn load_session(&self, id: &str) -> Result<Option<SessionRecord>>;
    /// Applies a partial update to a session's record; [`MeshError::SessionNotFound`] if it has none.
    async fn update_session(&self, update: UpdateSession) -> Result<()>;
    /// Forgets the session and closes its stream; `false` if it did not exist.
    async fn end_session(&self, id: &str) -> Result<bool>;

    /// Adds `session` to the subscribers of `topic` (a resource URI); idempotent.
    async fn subscribe(&self, topic: &str, session: &str) -> Result<()>;
    /// Removes `session` from the subscribers of `topic`; no error if it was not one.
    async fn unsubscribe(&self, topic: &str, session: &str) -> Result<()>;
    /// The sessions (and listen streams) subscribed to `topic`, each once.
    async fn subscribers(&self, topic: &str) -> Result<Vec<String>>;

    /// The manager's `send` with a delivery filter: to the listed sessions, or all when `None`.
    /// `filter.level` marks a log notification (sessions whose `logging/setLevel` is more severe skip
    /// it, listen streams never get it); `filter.topic` marks a change notification (listen streams
    /// get it if they asked). Named apart from `SessionManager::send`, which a backend often also is.
    async fn notify(&self, sessions: Option<&[String]>, data: &str, filter: &SendFilter) -> Result<SendReport>;

    /// Adds one to a deployment-wide counter (the reference server's `mesh://counter`) and returns
    /// the new value; an unknown counter starts at 0.
    async fn increment_counter(&self, name: &str) -> Result<u64>;
    /// A deployment-wide counter's value; 0 for one never incremented.
    async fn read_counter(&self, name: &str) -> Result<u64>;
}

/// A sink that records what it was sent, for tests.
#[derive(Debug, Default, Clone)]
pub struct RecordingSink {
    /// Every payload written, in order (shared by the sink's clones).
    pub received: std::rc::Rc<RefCell<Vec<String>>>,
    /// Set once the manager closed the sink; writes fail from then on.
    pub closed: std::rc::Rc<Cell<bool>>,
    /// When set, writes fail as if the reader had gone.
    pub broken: std::rc::Rc<Cell<bool>>,
}

impl SessionSink for RecordingSink {
    fn write(&self, data: &str) -> bool {
        if self.broken.get() || self.closed.get() {
            return false;
        }
        self.received.borrow_mut().push(data.to_owned());
        true
    }

    fn close(&self) {
        self.closed.set(true);
    }
}

/// Everything in one process.
#[derive(Default)]
pub struct InMemoryBackend {
    waiters: RefCell<HashMap<(String, String), oneshot::Sender<Value>>>,
    request_counters: RefCell<HashMap<String, u64>>,
    /// When set, every wait for a client reply times out (to test cancellation).
    pub replies_time_out: Cell<bool>,
    /// The session streams; attach a [`RecordingSink`] here to see what a session receives.
    pub streams: InMemorySessionManager<RecordingSink>,
    sessions: RefCell<HashMap<String, SessionRecord>>,
    topics: RefCell<BTreeMap<String, BTreeSet<String>>>,
    counters: RefCell<HashMap<String, u64>>,
    /// The clock [`McpBackend::now_ms`] reads, in milliseconds; starts at 0 and moves only when a
    /// test sets it or [`McpBackend::sleep`] advances it.
    pub clock_ms: Cell<u64>,
    next_id: Cell<u64>,
}

impl InMemoryBackend {
    /// An empty backend at time 0.
    pub fn new() -> Self {
        Self::default()
    }
}

/// [`InMemoryBackend`]'s waiter: resolves when [`McpBackend::deliver_reply`] hands it an answer.
pub struct InMemoryWaiter {
    id: u64,
    receiver: oneshot::Receiver<Value>,
    times_out: bool,
}

impl ReplyWaiter for InMemoryWaiter {
    fn request_id(&self) -> u64 {
        self.id
    }

    async fn wait(self, _timeout_ms: u32) -> Result<Option<Value>> {
        if self.times_out {
            return Ok(None);
        }
        Ok(self.receiver.await.ok())
    }
}

impl McpBackend for InMemoryBackend {
    type Waiter = InMemoryWaiter;

    fn now_ms(&self) -> u64 {
        self.clock_ms.get()
    }

    fn sleep(&self, ms: u32) -> LocalBoxFuture<'static, ()> {
        self.clock_ms.set(self.clock_ms.get() + u64::from(ms));
        Box::pin(futures::future::ready(()))
    }

    async fn open_waiter(&self, session: &str) -> Result<InMemoryWaiter> {
        let mut counters = self.request_counters.borrow_mut();
        let id = counters.entry(session.to_owned()).or_default();
        *id += 1;
        let (sender, receiver) = oneshot::channel();
        self.waiters.borrow_mut().insert((session.to_owned(), id.to_string()), sender);
        Ok(InMemoryWaiter { id: *id, receiver, times_out: self.replies_time_out.get() })
    }

    async fn deliver_reply(&self, session: &str, request_id: &str, message: Value) -> Result<bool> {
        let sender = self.waiters.borrow_mut().remove(&(session.to_owned(), request_id.to_owned()));
        Ok(sender.map(|s| s.send(message).is_ok()).unwrap_or(false))
    }

    fn new_session_id(&self) -> String {
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        format!("00000000-0000-4000-8000-{n:012}")
    }

    async fn register_session(&self, id: &str, record: SessionRecord) -> Result<()> {
        self.sessions.borrow_mut().insert(id.to_owned(), record);
        Ok(())
    }

    async fn load_session(&self, id: &str) -> Result<Option<SessionRecord>> {
        Ok(self.sessions.borrow().get(id).cloned())
    }

    async fn update_session(&self, update: UpdateSession) -> Result<()> {
        let mut sessions = self.sessions.borrow_mut();
        let record = sessions.get_mut(&update.session).ok_or(MeshError::SessionNotFound)?;
        apply_update(record, &update);
        Ok(())
    }

    async fn end_session(&self, id: &str) -> Result<bool> {
        let removed = self.sessions.borrow_mut().remove(id);
        self.streams.delete(id).await?;
        if let Some(record) = &removed {
            let mut topics = self.topics.borrow_mut();
            for topic in &record.subscriptions {
                if let Some(set) = topics.get_mut(topic) {
                    set.remove(id);
                }
            }
        }
        Ok(removed.is_some())
    }

    async fn subscribe(&self, topic: &str, session: &str) -> Result<()> {
        self.topics.borrow_mut().entry(topic.to_owned()).or_default().insert(session.to_owned());
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str, session: &str) -> Result<()> {
        if let Some(set) = self.topics.borrow_mut().get_mut(topic) {
            set.remove(session);
        }
        Ok(())
    }

    async fn subscribers(&self, topic: &str) -> Result<Vec<String>> {
        Ok(self.topics.borrow().get(topic).map(|set| set.iter().cloned().collect()).unwrap_or_default())
    }

    async fn notify(&self, sessions: Option<&[String]>, data: &str, filter: &SendFilter) -> Result<SendReport> {
        let Some(level) = filter.level.as_deref() else { return self.streams.send(sessions, data).await };
        // Same rule as the shard: skip sessions whose chosen level is more severe than `level`.
        let all: Vec<String> = match sessions {
            Some(ids) => ids.to_vec(),
            None => self.sessions.borrow().keys().cloned().collect(),
        };
        let eligible: Vec<String> = all
            .into_iter()
            .filter(|id| {
                let chosen = self.sessions.borrow().get(id).and_then(|r| r.log_level.clone());
                crate::mcp::log_level_admits(chosen.as_deref(), level)
            })
            .collect();
        self.streams.send(Some(&eligible), data).await
    }

    async fn increment_counter(&self, name: &str) -> Result<u64> {
        let mut counters = self.counters.borrow_mut();
        let value = counters.entry(name.to_owned()).or_default();
        *value += 1;
        Ok(*value)
    }

    async fn read_counter(&self, name: &str) -> Result<u64> {
        Ok(self.counters.borrow().get(name).copied().unwrap_or_default())
    }
}

/// Applies a partial update to a record; shared by every backend so they agree.
pub fn apply_update(record: &mut SessionRecord, update: &UpdateSession) {
    if let Some(level) = &update.log_level {
        record.log_level = Some(level.clone());
    }
    if let Some(topic) = &update.add_subscription {
        if !record.subscriptions.contains(topic) {
            record.subscriptions.push(topic.clone());
        }
    }
    if let Some(topic) = &update.remove_subscription {
        record.subscriptions.retain(|t| t != topic);
    }
}

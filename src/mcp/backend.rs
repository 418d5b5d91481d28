//! What the MCP server needs from the mesh, as a trait, and its in-memory implementation.
//!
//! The Workers glue implements [`McpBackend`] over the shard and coordinator objects; the in-memory
//! version ([`InMemoryBackend`]) is the reference semantics the native tests drive. Time and new
//! session ids come from the backend, so tests control both. Must not touch the runtime.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::{MeshError, Result};
use crate::manager::{InMemorySessionManager, SessionManager, SessionSink};
use crate::protocol::{SendReport, SessionRecord, UpdateSession};

#[allow(async_fn_in_trait)]
pub trait McpBackend {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A new session id: a random UUIDv4 from a cryptographic source in production.
    fn new_session_id(&self) -> String;

    async fn register_session(&self, id: &str, record: SessionRecord) -> Result<()>;
    async fn load_session(&self, id: &str) -> Result<Option<SessionRecord>>;
    async fn update_session(&self, update: UpdateSession) -> Result<()>;
    /// Forgets the session and closes its stream; `false` if it did not exist.
    async fn end_session(&self, id: &str) -> Result<bool>;

    async fn subscribe(&self, topic: &str, session: &str) -> Result<()>;
    async fn unsubscribe(&self, topic: &str, session: &str) -> Result<()>;
    async fn subscribers(&self, topic: &str) -> Result<Vec<String>>;

    /// The manager's `send`: to the listed sessions, or all when `None`.
    async fn send(&self, sessions: Option<&[String]>, data: &str) -> Result<SendReport>;

    /// A deployment-wide counter (the reference server's `mesh://counter`).
    async fn increment_counter(&self, name: &str) -> Result<u64>;
    async fn read_counter(&self, name: &str) -> Result<u64>;
}

/// A sink that records what it was sent, for tests.
#[derive(Debug, Default, Clone)]
pub struct RecordingSink {
    pub received: std::rc::Rc<RefCell<Vec<String>>>,
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
    pub streams: InMemorySessionManager<RecordingSink>,
    sessions: RefCell<HashMap<String, SessionRecord>>,
    topics: RefCell<BTreeMap<String, BTreeSet<String>>>,
    counters: RefCell<HashMap<String, u64>>,
    pub clock_ms: Cell<u64>,
    next_id: Cell<u64>,
}

impl InMemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

impl McpBackend for InMemoryBackend {
    fn now_ms(&self) -> u64 {
        self.clock_ms.get()
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

    async fn send(&self, sessions: Option<&[String]>, data: &str) -> Result<SendReport> {
        self.streams.send(sessions, data).await
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
    if let Some(initialized) = update.initialized {
        record.initialized = initialized;
    }
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

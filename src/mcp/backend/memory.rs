//! Every part of the backend in one process: the reference semantics the native tests drive, with a
//! clock and ids the test controls. Must not touch the runtime.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value};

use super::{
    Broker, Clock, Counters, Observer, OutgoingNotification, ReplyRouter, ReplyWaiter, SessionStore, TaskStore,
};
use crate::delivery::{DeliveryRule, StreamClass};
use crate::error::{MeshError, Result};
use crate::manager::{InMemorySessionManager, SessionManager, SessionSink};
use crate::metrics::{ToolOutcome, WorkerCounters};
use crate::protocol::{SendReport, SessionRecord, UpdateSession};
use crate::tasks::TaskRecord;

/// A sink that records what it was sent, for tests.
#[derive(Debug, Default, Clone)]
pub struct RecordingSink {
    /// Every payload written, in order (shared by the sink's clones).
    pub received: Rc<RefCell<Vec<String>>>,
    /// Set once the manager closed the sink; writes fail from then on.
    pub closed: Rc<Cell<bool>>,
    /// When set, writes fail as if the reader had gone.
    pub broken: Rc<Cell<bool>>,
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
    /// The session streams; attach a [`RecordingSink`] here to see what a session receives (each
    /// notification as its SSE event, framed by `crate::frames`).
    pub streams: InMemorySessionManager<RecordingSink>,
    sessions: RefCell<HashMap<String, SessionRecord>>,
    topics: RefCell<BTreeMap<String, BTreeSet<String>>>,
    counters: RefCell<HashMap<String, u64>>,
    /// The clock [`Clock::now_ms`] reads, in milliseconds; starts at 0 and moves only when a test
    /// sets it or [`Clock::sleep`] advances it.
    pub clock_ms: Cell<u64>,
    next_id: Cell<u64>,
    /// What the server reported through [`Observer`], counted as the Worker counts it.
    pub observed: RefCell<WorkerCounters>,
    /// The tasks, by id.
    pub tasks: RefCell<HashMap<String, TaskRecord>>,
    /// Tasks whose work is due to run (created, or every question answered), oldest first: a test
    /// runs them with `McpServer::run_due_tasks`, where the mesh's shard would run them at once.
    pub due_tasks: RefCell<Vec<String>>,
}

impl InMemoryBackend {
    /// An empty backend at time 0.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for InMemoryBackend {
    fn now_ms(&self) -> u64 {
        self.clock_ms.get()
    }

    fn new_id(&self) -> String {
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        format!("00000000-0000-4000-8000-{n:012}")
    }

    fn sleep(&self, ms: u32) -> LocalBoxFuture<'static, ()> {
        self.clock_ms.set(self.clock_ms.get() + u64::from(ms));
        Box::pin(futures::future::ready(()))
    }
}

/// [`InMemoryBackend`]'s waiter: resolves when [`ReplyRouter::deliver_reply`] hands it an answer.
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

impl ReplyRouter for InMemoryBackend {
    type Waiter = InMemoryWaiter;

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
}

impl SessionStore for InMemoryBackend {
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
        update.apply_to(record);
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
}

impl Broker for InMemoryBackend {
    async fn publish(&self, to: Option<&[String]>, notification: &OutgoingNotification) -> Result<SendReport> {
        let rule = DeliveryRule::for_kind(notification.kind());
        let targets = match to {
            Some(ids) => ids.to_vec(),
            None => self.streams.ids(),
        };
        // The shard's rule, with each session's class taken from its record.
        let admitted: Vec<String> = targets
            .into_iter()
            .filter(|id| {
                let level = self.sessions.borrow().get(id).and_then(|record| record.log_level.clone());
                rule.admits(&StreamClass::session(level.as_deref()))
            })
            .collect();
        let event = crate::frames::event(&notification.payload()).into_owned();
        self.streams.send(Some(&admitted), &event).await
    }

    async fn subscribe(&self, topic: &str, subscriber: &str) -> Result<()> {
        self.topics.borrow_mut().entry(topic.to_owned()).or_default().insert(subscriber.to_owned());
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str, subscriber: &str) -> Result<()> {
        if let Some(set) = self.topics.borrow_mut().get_mut(topic) {
            set.remove(subscriber);
        }
        Ok(())
    }

    async fn subscribers(&self, topic: &str) -> Result<Vec<String>> {
        Ok(self.topics.borrow().get(topic).map(|set| set.iter().cloned().collect()).unwrap_or_default())
    }
}

impl Counters for InMemoryBackend {
    async fn add_to_counter(&self, name: &str, by: u64) -> Result<u64> {
        let mut counters = self.counters.borrow_mut();
        let value = counters.entry(name.to_owned()).or_default();
        *value += by;
        Ok(*value)
    }

    async fn read_counter(&self, name: &str) -> Result<u64> {
        Ok(self.counters.borrow().get(name).copied().unwrap_or_default())
    }
}

impl TaskStore for InMemoryBackend {
    async fn create_task(&self, record: TaskRecord) -> Result<()> {
        self.due_tasks.borrow_mut().push(record.task_id.clone());
        self.tasks.borrow_mut().insert(record.task_id.clone(), record);
        Ok(())
    }

    async fn load_task(&self, id: &str, owner: Option<&str>) -> Result<Option<TaskRecord>> {
        let now = self.now_ms();
        Ok(self.tasks.borrow().get(id).filter(|task| task.visible_to(owner) && !task.expired(now)).cloned())
    }

    async fn answer_task(
        &self,
        id: &str,
        owner: Option<&str>,
        responses: Map<String, Value>,
    ) -> Result<Option<TaskRecord>> {
        let now = self.now_ms();
        let mut tasks = self.tasks.borrow_mut();
        let Some(task) = tasks.get_mut(id).filter(|task| task.visible_to(owner) && !task.expired(now)) else {
            return Ok(None);
        };
        if task.answer(responses, now)?.resume {
            self.due_tasks.borrow_mut().push(id.to_owned());
        }
        Ok(Some(task.clone()))
    }

    async fn cancel_task(&self, id: &str, owner: Option<&str>) -> Result<Option<(TaskRecord, bool)>> {
        let now = self.now_ms();
        let mut tasks = self.tasks.borrow_mut();
        let Some(task) = tasks.get_mut(id).filter(|task| task.visible_to(owner) && !task.expired(now)) else {
            return Ok(None);
        };
        let changed = task.cancel(now);
        Ok(Some((task.clone(), changed)))
    }
}

impl Observer for InMemoryBackend {
    fn tool_called(&self, tool: &str, outcome: ToolOutcome, _duration_ms: f64) {
        self.observed.borrow_mut().count_tool_call(tool, outcome);
    }

    fn credentials_refused(&self, reason: &'static str, _error: &MeshError) {
        self.observed.borrow_mut().count_auth_rejection(reason);
    }
}

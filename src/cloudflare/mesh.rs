//! `DurableMesh`: the sharded Durable Object implementation of `SessionManager` and of every part of
//! the MCP backend. Sessions go to `shard_for(id, SHARD_COUNT)`; broadcasts go to the coordinator's
//! member shards; targeted sends are grouped per shard; a send's calls go out as `fanout_calls` says
//! (headers first, through relays above `RELAY_ABOVE_SHARDS` shards).

use std::rc::Rc;

use futures::StreamExt;
use worker::{js_sys, Env};

use super::fanout_calls;
use super::log;
use super::metrics;
use super::relay::{spawn_relay, RelayOptions, ShardWaiter, SseSink};
use super::stubs::{self, Target};
use crate::config::MeshConfig;
use crate::delivery::{ListenerFilter, NotificationKind};
use crate::error::{MeshError, Result};
use crate::fanout::{calls_made, plan_broadcast, plan_targeted, sum_replies, ShardBatch, MAX_CONCURRENT_SUBREQUESTS};
use crate::frames::listener_event_tail;
use crate::log_event::{Level, LogEvent};
use crate::manager::{validate_session_id, SessionManager};
use crate::mcp::backend::{
    Broker, Clock, Counters, Observer, OutgoingNotification, ReplyRouter, SessionStore, TaskStore,
};
use crate::metrics::analytics::DataPoint;
use crate::metrics::{ToolOutcome, WorkerCounters};
use crate::protocol::{
    fit_topics, Ack, AddToCounter, AddWorkerMetrics, ClientReply, CloseStream, EndSession, GetMetrics, GetSession,
    GetStatus, HasStream, ListMembers, ListSubscribers, MemberList, ObjectCall, ObjectUpgrade, OpenStream, OpenWaiter,
    Payload, ReadCounter, ReadWorkerMetrics, RegisterSession, SendReply, SendReport, SessionRecord, ShardMetrics,
    ShardStatus, Subscribe, Unsubscribe, UpdateSession, HEADER_REQUEST_ID,
};
use crate::protocol::{AnswerTask, CancelTask, CreateTask, GetTask, TaskReply};
use crate::routing::{candidate_shards, shard_for};
use crate::send_plan::{absorb_retry, ids_to_retry};
use crate::tasks::TaskRecord;

/// The mesh as seen from one Worker request: [`SessionManager`] and [`McpBackend`] over the shard and
/// coordinator Durable Objects bound in `env`. Cheap to build per request; it holds no connection.
pub struct DurableMesh {
    env: Env,
    config: Rc<MeshConfig>,
}

impl DurableMesh {
    /// The mesh over `env`'s bindings with `config` (owned, or the isolate's shared copy).
    pub fn new(env: Env, config: impl Into<Rc<MeshConfig>>) -> Self {
        Self { env, config: config.into() }
    }

    /// The validated settings this mesh runs with.
    pub fn config(&self) -> &MeshConfig {
        &self.config
    }

    /// Where new sessions, and topics, go: the current layout.
    fn shard_of(&self, id: &str) -> u32 {
        shard_for(id, self.config.shard_count)
    }

    /// Where an existing session may be: the current layout's shard, then previous layouts' while a
    /// resharding is in progress (`PREVIOUS_SHARD_COUNTS`).
    fn candidates(&self, id: &str) -> Vec<u32> {
        candidate_shards(id, self.config.shard_count, &self.config.previous_shard_counts)
    }

    /// The shard holding session `id`'s record (and so its stream): the first candidate that has it.
    /// With no resharding in progress this is one call, as before.
    async fn locate(&self, id: &str) -> Result<(u32, Option<SessionRecord>)> {
        let candidates = self.candidates(id);
        for &shard in &candidates {
            let lookup = self.call_shard(shard, &GetSession { session: id.to_owned() }).await?;
            if lookup.record.is_some() {
                return Ok((shard, lookup.record));
            }
        }
        Ok((candidates[0], None))
    }

    /// The shard holding session `id`'s record, for calls that check existence themselves. Sessions
    /// never move, so with no resharding in progress the layout alone answers, without a call.
    async fn home_shard(&self, id: &str) -> Result<u32> {
        match self.candidates(id).as_slice() {
            [only] => Ok(*only),
            _ => Ok(self.locate(id).await?.0),
        }
    }

    pub(super) async fn call_shard<C: ObjectCall>(&self, shard: u32, call: &C) -> Result<C::Reply> {
        let stub = stubs::stub(&self.env, &self.config.shard_binding, Target::Shard(shard))?;
        stubs::call(&stub, call).await
    }

    /// A call to relay `index` of the fan-out (test routes count what relays did).
    #[cfg(feature = "test-routes")]
    pub(super) async fn call_relay<C: ObjectCall>(&self, index: usize, call: &C) -> Result<C::Reply> {
        let stub = stubs::stub(&self.env, &self.config.shard_binding, Target::Relay(index))?;
        stubs::call(&stub, call).await
    }

    async fn call_coordinator<C: ObjectCall>(&self, call: &C) -> Result<C::Reply> {
        let stub = stubs::stub(&self.env, &self.config.coordinator_binding, Target::Coordinator)?;
        stubs::call(&stub, call).await
    }

    /// The coordinator's member list: the shards that reported holding at least one session.
    pub async fn members(&self) -> Result<MemberList> {
        self.call_coordinator(&ListMembers {}).await
    }

    /// Adds an isolate's Worker-side counters to the deployment's (one coordinator call).
    pub(super) async fn add_worker_metrics(&self, call: &AddWorkerMetrics) -> Result<Ack> {
        self.call_coordinator(call).await
    }

    /// What `/mesh/metrics` shows: every isolate's flushed counters from the coordinator, and each
    /// member shard's metrics, the shard calls made in parallel within the subrequest budget.
    pub(super) async fn metrics_snapshot(&self) -> Result<(WorkerCounters, Vec<ShardMetrics>)> {
        let worker = self.call_coordinator(&ReadWorkerMetrics {}).await?;
        let members = self.members().await?.members;
        let calls = members.iter().map(|member| self.call_shard(member.shard, &GetMetrics {}));
        let shards: Vec<Result<ShardMetrics>> =
            futures::stream::iter(calls).buffered(MAX_CONCURRENT_SUBREQUESTS).collect().await;
        Ok((worker, shards.into_iter().collect::<Result<Vec<_>>>()?))
    }

    /// Shard `shard`'s live view of itself (one call to that shard).
    pub async fn shard_status(&self, shard: u32) -> Result<ShardStatus> {
        self.call_shard(shard, &GetStatus {}).await
    }

    /// Opens session `id`'s stream on its shard and relays it into `sink`. With `require_session`,
    /// the shard refuses (404) a session it has no MCP record of, or one that `owner` (the caller's
    /// authenticated identity) did not create, atomically with the accept: one shard call.
    pub async fn connect(
        &self,
        id: &str,
        require_session: Option<Option<&str>>,
        last_event_id: Option<&str>,
        sink: &SseSink,
    ) -> Result<()> {
        let open = OpenStream {
            session: id.to_owned(),
            require_session: require_session.is_some(),
            owner: require_session.flatten().map(str::to_owned),
            last_event_id: last_event_id.map(str::to_owned),
            ..Default::default()
        };
        self.open_stream(open, sink).await
    }

    /// Opens the stream `open` describes and relays it into `sink`.
    pub(super) async fn open_stream(&self, open: OpenStream, sink: &SseSink) -> Result<()> {
        let id = open.session.as_str();
        validate_session_id(id)?;
        // An MCP session's stream goes where its record is (an old layout's shard mid-resharding).
        let shard = if open.require_session { self.home_shard(id).await? } else { self.shard_of(id) };
        let (ws, _) = self.upgrade(shard, &open).await?;
        let options = RelayOptions {
            keepalive_ms: self.config.keepalive_ms,
            max_events: self.config.stream_max_events,
            listener_tail: None,
        };
        spawn_relay(ws, sink, options);
        Ok(())
    }

    /// Opens a `subscriptions/listen` stream: the listener's socket on its shard, then a relay that
    /// closes each notification with `subscription_id` in its `_meta`.
    pub async fn connect_listener(
        &self,
        listener: &str,
        filter: ListenerFilter,
        subscription_id: serde_json::Value,
        resource_uris: &[String],
        sink: &SseSink,
    ) -> Result<()> {
        validate_session_id(listener)?;
        // The listener's shard keeps them, to take its topic-index entries out when it closes; only
        // what fits its socket's attachment is worth sending.
        let (topics, _) = fit_topics(resource_uris.to_vec());
        let open = OpenStream { session: listener.to_owned(), listener: Some(filter), topics, ..Default::default() };
        let (ws, _) = self.upgrade(self.shard_of(listener), &open).await?;
        let options = RelayOptions {
            keepalive_ms: self.config.keepalive_ms,
            max_events: 0,
            listener_tail: Some(listener_event_tail(&subscription_id)),
        };
        spawn_relay(ws, sink, options);
        Ok(())
    }

    /// Opens the WebSocket `upgrade` asks for on `shard`; returns it with the 101's request-id header.
    async fn upgrade<U: ObjectUpgrade>(&self, shard: u32, upgrade: &U) -> Result<(worker::WebSocket, Option<String>)> {
        let stub = stubs::stub(&self.env, &self.config.shard_binding, Target::Shard(shard))?;
        stubs::upgrade(&stub, upgrade, HEADER_REQUEST_ID).await
    }

    async fn send_batches(
        &self,
        batches: Vec<ShardBatch>,
        payload: &Payload,
        kind: &NotificationKind,
    ) -> Result<SendReply> {
        let outcomes = fanout_calls::send(&self.env, &self.config, batches, payload, kind).await;
        let (total, errors) = sum_replies(outcomes);
        for error in &errors {
            log::emit(&LogEvent::new(Level::Error, "shard_send_failed", error.to_string()).kind(kind.label()));
        }
        // A partial failure is a failure: the caller must not believe everyone was reached.
        match errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(total),
        }
    }

    /// Sends `payload` to the listed sessions, or to every member shard's streams.
    async fn send_payload(
        &self,
        sessions: Option<&[String]>,
        payload: &Payload,
        kind: &NotificationKind,
    ) -> Result<SendReport> {
        let Some(ids) = sessions else {
            let started = js_sys::Date::now();
            let batches = plan_broadcast(&self.members().await?.members);
            let calls = calls_made(batches.len(), self.config.relay_above_shards);
            let outcome = self.send_batches(batches, payload, kind).await;
            let duration_ms = js_sys::Date::now() - started;
            metrics::count(|counters| counters.count_broadcast(calls, duration_ms));
            let delivered = outcome.as_ref().map_or(0, |reply| reply.report.delivered);
            metrics::write_point(&self.env, DataPoint::broadcast(duration_ms, delivered, calls, outcome.is_err()));
            return Ok(outcome?.report);
        };
        let valid: Vec<&String> = ids.iter().filter(|id| validate_session_id(id).is_ok()).collect();
        let invalid = (ids.len() - valid.len()) as u64;
        let mut reply = self.send_batches(plan_targeted(&valid, self.config.shard_count), payload, kind).await?;
        // Mid-resharding, an id missing on its current shard may live on a previous layout's shard.
        for &previous in &self.config.previous_shard_counts {
            let retry = ids_to_retry(std::mem::take(&mut reply.missing_ids), self.config.shard_count, previous);
            if retry.is_empty() {
                break;
            }
            let message = format!("{} ids missing on their shard retried on the layout of {previous}", retry.len());
            log::emit(&LogEvent::new(Level::Info, "resharding_retry", message).kind(kind.label()));
            let again = self.send_batches(plan_targeted(&retry, previous), payload, kind).await?;
            absorb_retry(&mut reply, retry.len(), again);
        }
        reply.report.missing += invalid;
        Ok(reply.report)
    }
}

impl SessionManager for DurableMesh {
    type Sink = SseSink;

    async fn create(&self, id: &str, sink: SseSink) -> Result<()> {
        self.connect(id, None, None, &sink).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        validate_session_id(id)?;
        for shard in self.candidates(id) {
            self.call_shard(shard, &CloseStream { session: id.to_owned() }).await?;
        }
        Ok(())
    }

    async fn has(&self, id: &str) -> Result<bool> {
        validate_session_id(id)?;
        for shard in self.candidates(id) {
            if self.call_shard(shard, &HasStream { session: id.to_owned() }).await?.has {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `data` is an SSE event, framed by the caller, written to the streams as it is (after its id).
    async fn send(&self, sessions: Option<&[String]>, data: &str) -> Result<SendReport> {
        self.send_payload(sessions, &Payload::Event(data.to_owned()), &NotificationKind::Other).await
    }
}

impl Clock for DurableMesh {
    fn now_ms(&self) -> u64 {
        worker::js_sys::Date::now() as u64
    }

    fn new_id(&self) -> String {
        // crypto.getRandomValues through getrandom's wasm_js backend.
        uuid::Uuid::new_v4().to_string()
    }

    fn sleep(&self, ms: u32) -> futures::future::LocalBoxFuture<'static, ()> {
        super::timer::sleep(ms)
    }
}

impl ReplyRouter for DurableMesh {
    type Waiter = ShardWaiter;

    async fn open_waiter(&self, session: &str) -> Result<ShardWaiter> {
        validate_session_id(session)?;
        let shard = self.home_shard(session).await?;
        let (ws, request_id) = self.upgrade(shard, &OpenWaiter { session: session.to_owned() }).await?;
        let request_id = request_id
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| MeshError::Protocol("the waiter came without a request id".into()))?;
        Ok(ShardWaiter { ws, request_id })
    }

    async fn deliver_reply(&self, session: &str, request_id: &str, message: serde_json::Value) -> Result<bool> {
        validate_session_id(session)?;
        let call = ClientReply { session: session.to_owned(), request_id: request_id.to_owned(), message };
        let shard = self.home_shard(session).await?;
        Ok(self.call_shard(shard, &call).await?.delivered)
    }
}

impl SessionStore for DurableMesh {
    /// The shard's accept checks the record and its owner (`connect` with `require_session`).
    const OPEN_CHECKS_SESSION: bool = true;

    async fn register_session(&self, id: &str, record: SessionRecord) -> Result<()> {
        self.call_shard(self.shard_of(id), &RegisterSession { session: id.to_owned(), record }).await?;
        Ok(())
    }

    async fn load_session(&self, id: &str) -> Result<Option<SessionRecord>> {
        Ok(self.locate(id).await?.1)
    }

    async fn update_session(&self, update: UpdateSession) -> Result<()> {
        let shard = self.home_shard(&update.session).await?;
        self.call_shard(shard, &update).await?;
        Ok(())
    }

    async fn end_session(&self, id: &str) -> Result<bool> {
        let (shard, record) = self.locate(id).await?;
        let reply = self.call_shard(shard, &EndSession { session: id.to_owned() }).await?;
        // Topic indexes live on other shards; a stale entry there only costs a "missing" on a later
        // send, so cleaning them is best effort.
        for topic in record.map(|r| r.subscriptions).unwrap_or_default() {
            if let Err(error) = self.unsubscribe(&topic, id).await {
                let message = format!("removing it from {topic}'s index failed: {error}");
                log::emit(&LogEvent::new(Level::Warn, "topic_cleanup_failed", message).session(id));
            }
        }
        Ok(reply.existed)
    }
}

impl Broker for DurableMesh {
    async fn publish(&self, to: Option<&[String]>, notification: &OutgoingNotification) -> Result<SendReport> {
        self.send_payload(to, &notification.payload(), notification.kind()).await
    }

    async fn subscribe(&self, topic: &str, subscriber: &str) -> Result<()> {
        let call = Subscribe { topic: topic.to_owned(), session: subscriber.to_owned() };
        self.call_shard(self.shard_of(topic), &call).await?;
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str, subscriber: &str) -> Result<()> {
        let call = Unsubscribe { topic: topic.to_owned(), session: subscriber.to_owned() };
        for shard in self.candidates(topic) {
            self.call_shard(shard, &call).await?;
        }
        Ok(())
    }

    /// Subscribers from the topic's shard in every layout still in service, so subscriptions made
    /// before a resharding keep working.
    async fn subscribers(&self, topic: &str) -> Result<Vec<String>> {
        let mut sessions = Vec::new();
        for shard in self.candidates(topic) {
            let reply = self.call_shard(shard, &ListSubscribers { topic: topic.to_owned() }).await?;
            for session in reply.sessions {
                if !sessions.contains(&session) {
                    sessions.push(session);
                }
            }
        }
        Ok(sessions)
    }
}

/// Counters live in the coordinator, the deployment's one object that no resharding moves.
impl Counters for DurableMesh {
    async fn add_to_counter(&self, name: &str, by: u64) -> Result<u64> {
        Ok(self.call_coordinator(&AddToCounter { name: name.to_owned(), by }).await?.value)
    }

    async fn read_counter(&self, name: &str) -> Result<u64> {
        Ok(self.call_coordinator(&ReadCounter { name: name.to_owned() }).await?.value)
    }
}

impl Observer for DurableMesh {
    fn tool_called(&self, tool: &str, outcome: ToolOutcome, duration_ms: f64) {
        metrics::count(|counters| counters.count_tool_call(tool, outcome));
        metrics::write_point(&self.env, DataPoint::tool_call(tool, outcome, duration_ms));
    }

    fn credentials_refused(&self, reason: &'static str, error: &MeshError) {
        metrics::count(|counters| counters.count_auth_rejection(reason));
        log::emit(&LogEvent::new(Level::Warn, "credentials_refused", error.to_string()).kind(reason));
    }
}

/// A task lives on `shard_for(task_id)` of the layout it was created under; while a resharding is in
/// progress the previous layouts' shards are tried too.
impl TaskStore for DurableMesh {
    async fn create_task(&self, task: TaskRecord) -> Result<()> {
        self.call_shard(self.shard_of(&task.task_id), &CreateTask { task }).await?;
        Ok(())
    }

    async fn load_task(&self, id: &str, owner: Option<&str>) -> Result<Option<TaskRecord>> {
        let call = GetTask { task_id: id.to_owned(), owner: owner.map(str::to_owned) };
        Ok(self.call_task_shards(id, &call).await?.task)
    }

    async fn answer_task(
        &self,
        id: &str,
        owner: Option<&str>,
        responses: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<TaskRecord>> {
        let call = AnswerTask { task_id: id.to_owned(), owner: owner.map(str::to_owned), responses };
        Ok(self.call_task_shards(id, &call).await?.task)
    }

    async fn cancel_task(&self, id: &str, owner: Option<&str>) -> Result<Option<(TaskRecord, bool)>> {
        let call = CancelTask { task_id: id.to_owned(), owner: owner.map(str::to_owned) };
        let reply = self.call_task_shards(id, &call).await?;
        Ok(reply.task.map(|task| (task, reply.changed)))
    }
}

impl DurableMesh {
    /// A task call on the task's shard: the current layout's first, then previous layouts'.
    async fn call_task_shards<C: ObjectCall<Reply = TaskReply>>(&self, id: &str, call: &C) -> Result<TaskReply> {
        for shard in self.candidates(id) {
            let reply = self.call_shard(shard, call).await?;
            if let Some(why) = reply.refused {
                return Err(MeshError::InvalidParams(why));
            }
            if reply.task.is_some() {
                return Ok(reply);
            }
        }
        Ok(TaskReply::default())
    }
}

//! `DurableMesh`: the sharded Durable Object implementation of `SessionManager` and of the MCP
//! backend. Sessions go to `shard_for(id, SHARD_COUNT)`; broadcasts go to the coordinator's member
//! shards; targeted sends are grouped per shard; at most `MAX_CONCURRENT_SUBREQUESTS` calls are in
//! flight at once.

use std::rc::Rc;

use futures::StreamExt;
use worker::{Env, Url};

use super::relay::{spawn_relay, RelayOptions, ShardWaiter, SseSink};
use super::stubs::{self, Target};
use crate::config::MeshConfig;
use crate::error::{MeshError, Result};
use crate::fanout::{fits_direct_fanout, plan_broadcast, plan_targeted, ShardBatch, MAX_CONCURRENT_SUBREQUESTS};
use crate::manager::{validate_session_id, SessionManager};
use crate::mcp::backend::{McpBackend, SendFilter};
use crate::mcp::stateless::META_SUBSCRIPTION_ID;
use crate::protocol::{
    coordinator_path, shard_path, ClientReply, CounterName, CounterValue, DeleteReply, HasReply, ListenerFilter,
    MemberList, RegisterSession, ReplyAck, SendReply, SendReport, SendRequest, SessionLookup, SessionRecord,
    SessionRef, ShardStatus, TopicChange, TopicName, TopicSubscribers, UpdateSession, HEADER_REQUEST_ID, STUB_ORIGIN,
};
use crate::routing::{candidate_shards, shard_for};

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
            let lookup: SessionLookup =
                self.call_shard(shard, shard_path::SESSION_GET, &SessionRef { session: id.to_owned() }).await?;
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

    async fn call_shard<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        shard: u32,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let stub = stubs::stub(&self.env, &self.config.shard_binding, Target::Shard(shard))?;
        stubs::call(&stub, path, body).await
    }

    async fn call_coordinator<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let stub = stubs::stub(&self.env, &self.config.coordinator_binding, Target::Coordinator)?;
        stubs::call(&stub, path, body).await
    }

    /// The coordinator's member list: the shards that reported holding at least one session.
    pub async fn members(&self) -> Result<MemberList> {
        self.call_coordinator(coordinator_path::MEMBERS, &serde_json::json!({})).await
    }

    /// Shard `shard`'s live view of itself (one call to that shard).
    pub async fn shard_status(&self, shard: u32) -> Result<ShardStatus> {
        self.call_shard(shard, shard_path::STATUS, &serde_json::json!({})).await
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
        let mut query = vec![("session", id)];
        if let Some(owner) = require_session {
            query.push(("require_session", "1"));
            if let Some(owner) = owner {
                query.push(("owner", owner));
            }
        }
        if let Some(last) = last_event_id {
            query.push(("last_event_id", last));
        }
        // An MCP session's stream goes where its record is (an old layout's shard mid-resharding).
        let shard = if require_session.is_some() { self.home_shard(id).await? } else { self.shard_of(id) };
        let (ws, _) = self.upgrade_at(shard, id, shard_path::CONNECT, &query).await?;
        let options = RelayOptions {
            keepalive_ms: self.config.keepalive_ms,
            max_events: self.config.stream_max_events,
            tag: None,
        };
        spawn_relay(ws, sink, options);
        Ok(())
    }

    /// Opens a `subscriptions/listen` stream: the listener's socket on its shard, then a relay that
    /// tags each notification with `subscription_id`.
    pub async fn connect_listener(
        &self,
        listener: &str,
        filter: ListenerFilter,
        subscription_id: serde_json::Value,
        resource_uris: &[String],
        sink: &SseSink,
    ) -> Result<()> {
        let flags = filter.to_flags();
        let mut query = vec![("session", listener), ("listener", flags.as_str())];
        // The listener's shard keeps them, to take its topic-index entries out when it closes.
        query.extend(resource_uris.iter().map(|uri| ("topic", uri.as_str())));
        let (ws, _) = self.upgrade(listener, shard_path::CONNECT, &query).await?;
        let options = RelayOptions {
            keepalive_ms: self.config.keepalive_ms,
            max_events: 0,
            tag: Some((META_SUBSCRIPTION_ID, subscription_id)),
        };
        spawn_relay(ws, sink, options);
        Ok(())
    }

    /// Opens a WebSocket to session `id`'s shard at `path`; returns it with the 101's headers.
    async fn upgrade(
        &self,
        id: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(worker::WebSocket, Option<String>)> {
        self.upgrade_at(self.shard_of(id), id, path, query).await
    }

    async fn upgrade_at(
        &self,
        shard: u32,
        id: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(worker::WebSocket, Option<String>)> {
        validate_session_id(id)?;
        let stub = stubs::stub(&self.env, &self.config.shard_binding, Target::Shard(shard))?;
        let mut url = Url::parse(&format!("{STUB_ORIGIN}{path}")).map_err(|e| MeshError::Protocol(e.to_string()))?;
        url.query_pairs_mut().extend_pairs(query);
        stubs::upgrade(&stub, url.as_str(), HEADER_REQUEST_ID).await
    }

    async fn send_batches(&self, batches: Vec<ShardBatch>, data: &str, filter: &SendFilter) -> Result<SendReply> {
        if !fits_direct_fanout(&batches) {
            return Err(MeshError::Config {
                var: "SHARD_COUNT",
                reason: format!("{} member shards exceed one invocation's subrequest budget", batches.len()),
            });
        }
        let calls = batches.into_iter().map(|batch| async move {
            let body = SendRequest {
                sessions: batch.sessions,
                data: data.to_owned(),
                level: filter.level.clone(),
                topic: filter.topic.clone(),
            };
            self.call_shard::<_, SendReply>(batch.shard, shard_path::SEND, &body).await
        });
        let results: Vec<Result<SendReply>> =
            futures::stream::iter(calls).buffer_unordered(MAX_CONCURRENT_SUBREQUESTS).collect().await;
        let mut total = SendReply::default();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(reply) => {
                    total.report.merge(reply.report);
                    total.missing_ids.extend(reply.missing_ids);
                }
                Err(error) => {
                    worker::console_error!("send: a shard failed: {error}");
                    first_error.get_or_insert(error);
                }
            }
        }
        // A partial failure is a failure: the caller must not believe everyone was reached.
        match first_error {
            Some(error) => Err(error),
            None => Ok(total),
        }
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
            let _: DeleteReply =
                self.call_shard(shard, shard_path::DELETE, &SessionRef { session: id.to_owned() }).await?;
        }
        Ok(())
    }

    async fn has(&self, id: &str) -> Result<bool> {
        validate_session_id(id)?;
        for shard in self.candidates(id) {
            let reply: HasReply =
                self.call_shard(shard, shard_path::HAS, &SessionRef { session: id.to_owned() }).await?;
            if reply.has {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn send(&self, sessions: Option<&[String]>, data: &str) -> Result<SendReport> {
        self.send_filtered(sessions, data, &SendFilter::default()).await
    }
}

impl DurableMesh {
    async fn send_filtered(&self, sessions: Option<&[String]>, data: &str, filter: &SendFilter) -> Result<SendReport> {
        let Some(ids) = sessions else {
            let batches = plan_broadcast(&self.members().await?.members);
            return Ok(self.send_batches(batches, data, filter).await?.report);
        };
        let valid: Vec<&String> = ids.iter().filter(|id| validate_session_id(id).is_ok()).collect();
        let invalid = (ids.len() - valid.len()) as u64;
        let mut reply = self.send_batches(plan_targeted(&valid, self.config.shard_count), data, filter).await?;
        // Mid-resharding, an id missing on its current shard may live on a previous layout's shard.
        for &previous in &self.config.previous_shard_counts {
            let retry: Vec<String> = std::mem::take(&mut reply.missing_ids)
                .into_iter()
                .filter(|id| shard_for(id, previous) != shard_for(id, self.config.shard_count))
                .collect();
            if retry.is_empty() {
                break;
            }
            let again = self.send_batches(plan_targeted(&retry, previous), data, filter).await?;
            reply.report.missing =
                reply.report.missing.saturating_sub(retry.len() as u64 - again.report.missing.min(retry.len() as u64));
            reply.report.delivered += again.report.delivered;
            reply.report.failed += again.report.failed;
            reply.missing_ids = again.missing_ids;
        }
        reply.report.missing += invalid;
        Ok(reply.report)
    }
}

impl McpBackend for DurableMesh {
    type Waiter = ShardWaiter;

    /// The shard's accept checks the record and its owner (`connect` with `require_session`).
    const OPEN_CHECKS_SESSION: bool = true;

    fn now_ms(&self) -> u64 {
        worker::js_sys::Date::now() as u64
    }

    fn sleep(&self, ms: u32) -> futures::future::LocalBoxFuture<'static, ()> {
        super::timer::sleep(ms)
    }

    async fn open_waiter(&self, session: &str) -> Result<ShardWaiter> {
        let shard = self.home_shard(session).await?;
        let (ws, request_id) = self.upgrade_at(shard, session, shard_path::WAITER, &[("session", session)]).await?;
        let request_id = request_id
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| MeshError::Protocol("the waiter came without a request id".into()))?;
        Ok(ShardWaiter { ws, request_id })
    }

    async fn deliver_reply(&self, session: &str, request_id: &str, message: serde_json::Value) -> Result<bool> {
        validate_session_id(session)?;
        let body = ClientReply { session: session.to_owned(), request_id: request_id.to_owned(), message };
        let shard = self.home_shard(session).await?;
        let ack: ReplyAck = self.call_shard(shard, shard_path::REPLY, &body).await?;
        Ok(ack.delivered)
    }

    fn new_session_id(&self) -> String {
        // crypto.getRandomValues through getrandom's wasm_js backend.
        uuid::Uuid::new_v4().to_string()
    }

    async fn register_session(&self, id: &str, record: SessionRecord) -> Result<()> {
        let body = RegisterSession { session: id.to_owned(), record };
        let _: serde_json::Value = self.call_shard(self.shard_of(id), shard_path::SESSION_REGISTER, &body).await?;
        Ok(())
    }

    async fn load_session(&self, id: &str) -> Result<Option<SessionRecord>> {
        Ok(self.locate(id).await?.1)
    }

    async fn update_session(&self, update: UpdateSession) -> Result<()> {
        let shard = self.home_shard(&update.session).await?;
        let _: serde_json::Value = self.call_shard(shard, shard_path::SESSION_UPDATE, &update).await?;
        Ok(())
    }

    async fn end_session(&self, id: &str) -> Result<bool> {
        let (shard, record) = self.locate(id).await?;
        let reply: DeleteReply =
            self.call_shard(shard, shard_path::SESSION_END, &SessionRef { session: id.to_owned() }).await?;
        // Topic indexes live on other shards; a stale entry there only costs a "missing" on a later
        // send, so cleaning them is best effort.
        for topic in record.map(|r| r.subscriptions).unwrap_or_default() {
            if let Err(error) = self.unsubscribe(&topic, id).await {
                worker::console_warn!("end_session: index cleanup failed: {error}");
            }
        }
        Ok(reply.existed)
    }

    async fn subscribe(&self, topic: &str, session: &str) -> Result<()> {
        let change = TopicChange { topic: topic.to_owned(), session: session.to_owned() };
        let _: serde_json::Value = self.call_shard(self.shard_of(topic), shard_path::TOPIC_SUBSCRIBE, &change).await?;
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str, session: &str) -> Result<()> {
        let change = TopicChange { topic: topic.to_owned(), session: session.to_owned() };
        for shard in self.candidates(topic) {
            let _: serde_json::Value = self.call_shard(shard, shard_path::TOPIC_UNSUBSCRIBE, &change).await?;
        }
        Ok(())
    }

    /// Subscribers from the topic's shard in every layout still in service, so subscriptions made
    /// before a resharding keep working.
    async fn subscribers(&self, topic: &str) -> Result<Vec<String>> {
        let mut sessions = Vec::new();
        for shard in self.candidates(topic) {
            let reply: TopicSubscribers =
                self.call_shard(shard, shard_path::TOPIC_SUBSCRIBERS, &TopicName { topic: topic.to_owned() }).await?;
            for session in reply.sessions {
                if !sessions.contains(&session) {
                    sessions.push(session);
                }
            }
        }
        Ok(sessions)
    }

    async fn notify(&self, sessions: Option<&[String]>, data: &str, filter: &SendFilter) -> Result<SendReport> {
        self.send_filtered(sessions, data, filter).await
    }

    async fn increment_counter(&self, name: &str) -> Result<u64> {
        let value: CounterValue =
            self.call_coordinator(coordinator_path::COUNTER_INCREMENT, &CounterName { name: name.to_owned() }).await?;
        Ok(value.value)
    }

    async fn read_counter(&self, name: &str) -> Result<u64> {
        let value: CounterValue =
            self.call_coordinator(coordinator_path::COUNTER_GET, &CounterName { name: name.to_owned() }).await?;
        Ok(value.value)
    }
}

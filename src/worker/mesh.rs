//! `DurableMesh`: the sharded Durable Object implementation of `SessionManager` and of the MCP
//! backend. Sessions go to `shard_for(id, SHARD_COUNT)`; broadcasts go to the coordinator's member
//! shards; targeted sends are grouped per shard; at most `MAX_CONCURRENT_SUBREQUESTS` calls are in
//! flight at once.

use futures::StreamExt;
use worker::{Env, Method, Request, Url};

use super::relay::{spawn_relay, ShardWaiter, SseSink};
use super::stubs::{self, platform, Target};
use crate::config::MeshConfig;
use crate::error::{MeshError, Result};
use crate::fanout::{fits_direct_fanout, plan_broadcast, plan_targeted, ShardBatch, MAX_CONCURRENT_SUBREQUESTS};
use crate::manager::{validate_session_id, SessionManager};
use crate::mcp::backend::{McpBackend, SendFilter};
use crate::protocol::{
    coordinator_path, shard_path, ClientReply, CounterName, CounterValue, DeleteReply, HasReply, MemberList,
    RegisterSession, ReplyAck, SendReport, SendRequest, SessionLookup, SessionRecord, SessionRef, ShardStatus,
    TopicChange, TopicName, TopicSubscribers, UpdateSession, HEADER_REQUEST_ID, STUB_ORIGIN, ListenerFilter,
};
use crate::routing::shard_for;

pub struct DurableMesh {
    env: Env,
    config: MeshConfig,
}

impl DurableMesh {
    pub fn new(env: Env, config: MeshConfig) -> Self {
        Self { env, config }
    }

    pub fn config(&self) -> &MeshConfig {
        &self.config
    }

    fn shard_of(&self, id: &str) -> u32 {
        shard_for(id, self.config.shard_count)
    }

    async fn call_shard<B: serde::Serialize, T: serde::de::DeserializeOwned>(&self, shard: u32, path: &str, body: &B) -> Result<T> {
        let stub = stubs::stub(&self.env, &self.config.shard_binding, Target::Shard(shard))?;
        stubs::call(&stub, Target::Shard(shard), path, body).await
    }

    async fn call_coordinator<B: serde::Serialize, T: serde::de::DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let stub = stubs::stub(&self.env, &self.config.coordinator_binding, Target::Coordinator)?;
        stubs::call(&stub, Target::Coordinator, path, body).await
    }

    pub async fn members(&self) -> Result<MemberList> {
        self.call_coordinator(coordinator_path::MEMBERS, &serde_json::json!({})).await
    }

    pub async fn shard_status(&self, shard: u32) -> Result<ShardStatus> {
        self.call_shard(shard, shard_path::STATUS, &serde_json::json!({})).await
    }

    /// Opens session `id`'s stream on its shard and relays it into `sink`. With `require_session`,
    /// the shard refuses (404) a session it has no MCP record of, atomically with the accept.
    pub async fn connect(&self, id: &str, require_session: bool, last_event_id: Option<&str>, sink: SseSink) -> Result<()> {
        let mut query = vec![("session", id), ("require_session", if require_session { "1" } else { "0" })];
        if let Some(last) = last_event_id {
            query.push(("last_event_id", last));
        }
        let (ws, _) = self.upgrade(id, shard_path::CONNECT, &query).await?;
        spawn_relay(ws, sink, self.config.keepalive_ms, None);
        Ok(())
    }

    /// Opens a `subscriptions/listen` stream: the listener's socket on its shard, then a relay that
    /// tags each notification with `subscription_id`.
    pub async fn connect_listener(
        &self,
        listener: &str,
        filter: ListenerFilter,
        subscription_id: serde_json::Value,
        sink: SseSink,
    ) -> Result<()> {
        let flags = filter.to_flags();
        let query = [("session", listener), ("require_session", "0"), ("listener", flags.as_str())];
        let (ws, _) = self.upgrade(listener, shard_path::CONNECT, &query).await?;
        spawn_relay(ws, sink, self.config.keepalive_ms, Some(subscription_id));
        Ok(())
    }

    /// Opens a WebSocket to session `id`'s shard at `path`; returns it with the 101's headers.
    async fn upgrade(&self, id: &str, path: &str, query: &[(&str, &str)]) -> Result<(worker::WebSocket, worker::Headers)> {
        validate_session_id(id)?;
        let shard = self.shard_of(id);
        let stub = stubs::stub(&self.env, &self.config.shard_binding, Target::Shard(shard))?;
        let mut url = Url::parse(&format!("{STUB_ORIGIN}{path}")).map_err(|e| MeshError::Protocol(e.to_string()))?;
        url.query_pairs_mut().extend_pairs(query);
        let mut request = Request::new(url.as_str(), Method::Get).map_err(platform("Request::new"))?;
        request.headers_mut().map_err(platform("headers"))?.set("upgrade", "websocket").map_err(platform("headers"))?;
        let mut response = stub
            .fetch_with_request(request)
            .await
            .map_err(|e| MeshError::Upstream { what: "shard", detail: e.to_string() })?;
        let status = response.status_code();
        if status != 101 {
            let body = response.text().await.unwrap_or_default();
            return Err(stubs::error_from_status(Target::Shard(shard), status, &body));
        }
        let headers = response.headers().clone();
        let ws = response.websocket().ok_or_else(|| MeshError::Protocol("shard answered 101 without a socket".into()))?;
        Ok((ws, headers))
    }

    async fn send_batches(&self, batches: Vec<ShardBatch>, data: &str, filter: &SendFilter) -> Result<SendReport> {
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
            self.call_shard::<_, SendReport>(batch.shard, shard_path::SEND, &body).await
        });
        let results: Vec<Result<SendReport>> =
            futures::stream::iter(calls).buffer_unordered(MAX_CONCURRENT_SUBREQUESTS).collect().await;
        let mut total = SendReport::default();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(report) => total.merge(report),
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
        self.connect(id, false, None, sink).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        validate_session_id(id)?;
        let _: DeleteReply = self.call_shard(self.shard_of(id), shard_path::DELETE, &SessionRef { session: id.to_owned() }).await?;
        Ok(())
    }

    async fn has(&self, id: &str) -> Result<bool> {
        validate_session_id(id)?;
        let reply: HasReply = self.call_shard(self.shard_of(id), shard_path::HAS, &SessionRef { session: id.to_owned() }).await?;
        Ok(reply.has)
    }

    async fn send(&self, sessions: Option<&[String]>, data: &str) -> Result<SendReport> {
        self.send_filtered(sessions, data, &SendFilter::default()).await
    }
}

impl DurableMesh {
    async fn send_filtered(&self, sessions: Option<&[String]>, data: &str, filter: &SendFilter) -> Result<SendReport> {
        let batches = match sessions {
            None => plan_broadcast(&self.members().await?.members),
            Some(ids) => {
                let mut report = SendReport::default();
                let valid: Vec<&String> = ids.iter().filter(|id| validate_session_id(id).is_ok()).collect();
                report.missing += (ids.len() - valid.len()) as u64;
                let mut sent = self.send_batches(plan_targeted(&valid, self.config.shard_count), data, filter).await?;
                sent.merge(report);
                return Ok(sent);
            }
        };
        self.send_batches(batches, data, filter).await
    }
}

impl McpBackend for DurableMesh {
    type Waiter = ShardWaiter;

    fn now_ms(&self) -> u64 {
        worker::js_sys::Date::now() as u64
    }

    fn sleep(&self, ms: u32) -> futures::future::LocalBoxFuture<'static, ()> {
        super::timer::sleep(ms)
    }

    async fn open_waiter(&self, session: &str) -> Result<ShardWaiter> {
        let (ws, headers) = self.upgrade(session, shard_path::WAITER, &[("session", session)]).await?;
        let request_id = headers
            .get(HEADER_REQUEST_ID)
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| MeshError::Protocol("the waiter came without a request id".into()))?;
        Ok(ShardWaiter { ws, request_id })
    }

    async fn deliver_reply(&self, session: &str, request_id: &str, message: serde_json::Value) -> Result<bool> {
        validate_session_id(session)?;
        let body = ClientReply { session: session.to_owned(), request_id: request_id.to_owned(), message };
        let ack: ReplyAck = self.call_shard(self.shard_of(session), shard_path::REPLY, &body).await?;
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
        let lookup: SessionLookup =
            self.call_shard(self.shard_of(id), shard_path::SESSION_GET, &SessionRef { session: id.to_owned() }).await?;
        Ok(lookup.record)
    }

    async fn update_session(&self, update: UpdateSession) -> Result<()> {
        let _: serde_json::Value = self.call_shard(self.shard_of(&update.session), shard_path::SESSION_UPDATE, &update).await?;
        Ok(())
    }

    async fn end_session(&self, id: &str) -> Result<bool> {
        let record = self.load_session(id).await?;
        let reply: DeleteReply =
            self.call_shard(self.shard_of(id), shard_path::SESSION_END, &SessionRef { session: id.to_owned() }).await?;
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
        let _: serde_json::Value = self.call_shard(self.shard_of(topic), shard_path::TOPIC_UNSUBSCRIBE, &change).await?;
        Ok(())
    }

    async fn subscribers(&self, topic: &str) -> Result<Vec<String>> {
        let reply: TopicSubscribers =
            self.call_shard(self.shard_of(topic), shard_path::TOPIC_SUBSCRIBERS, &TopicName { topic: topic.to_owned() }).await?;
        Ok(reply.sessions)
    }

    async fn send(&self, sessions: Option<&[String]>, data: &str, filter: &SendFilter) -> Result<SendReport> {
        self.send_filtered(sessions, data, filter).await
    }

    async fn increment_counter(&self, name: &str) -> Result<u64> {
        let value: CounterValue = self.call_coordinator(coordinator_path::COUNTER_INCREMENT, &CounterName { name: name.to_owned() }).await?;
        Ok(value.value)
    }

    async fn read_counter(&self, name: &str) -> Result<u64> {
        let value: CounterValue = self.call_coordinator(coordinator_path::COUNTER_GET, &CounterName { name: name.to_owned() }).await?;
        Ok(value.value)
    }
}

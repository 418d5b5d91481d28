//! The coordinator object: which shards hold sessions and how many, the deployment-wide counters, and
//! the Worker-side metrics every isolate flushes (SQLite, so they survive eviction).
//!
//! It is on the path of a broadcast (one call for the member list) and of a shard's first session
//! (one awaited report), never of a targeted send, a `has` or an ordinary create. Every handler is
//! implemented so no default panics.

use worker::{
    durable_object, DurableObject, Env, Request, Response, Result as WorkerResult, SqlStorageValue, State, WebSocket,
    WebSocketIncomingMessage,
};

use super::stubs::{self, platform};
use crate::error::{MeshError, Result};
use crate::membership::{Applied, Membership, ShardEntry};
use crate::metrics::WorkerCounters;
use crate::protocol::{
    dispatch_coordinator_call, Ack, AddToCounter, AddWorkerMetrics, CoordinatorCalls, CounterValue, ListMembers,
    MemberList, MembershipReport, ReadCounter, ReadWorkerMetrics, ReportAck, CLOSE_INTERNAL_ERROR,
};

/// The single coordinator Durable Object (named [`crate::protocol::COORDINATOR_NAME`]): the member
/// table broadcasts read, and the deployment's named counters. Bind its class as `COORDINATOR_BINDING`.
#[durable_object]
pub struct Coordinator {
    state: State,
}

#[derive(serde::Deserialize)]
struct MemberRow {
    shard: f64,
    version: f64,
    sessions: f64,
}

impl DurableObject for Coordinator {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        for table in [
            concat!(
                "CREATE TABLE IF NOT EXISTS members ",
                "(shard INTEGER PRIMARY KEY, version INTEGER NOT NULL, sessions INTEGER NOT NULL)"
            ),
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        ] {
            super::sql::create_table(&sql, "coordinator", table);
        }
        super::sql::create_json_row(&sql, "coordinator", WORKER_METRICS_TABLE);
        Self { state }
    }

    async fn fetch(&self, mut request: Request) -> WorkerResult<Response> {
        stubs::answer_call(
            &mut request,
            |path, body| async move { dispatch_coordinator_call(self, &path, &body).await },
        )
        .await
    }

    async fn websocket_message(&self, _ws: WebSocket, _message: WebSocketIncomingMessage) -> WorkerResult<()> {
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> WorkerResult<()> {
        let _ = ws.close(Some(crate::protocol::CLOSE_NORMAL), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> WorkerResult<()> {
        let _ = ws.close(Some(CLOSE_INTERNAL_ERROR), Some("error"));
        Ok(())
    }

    async fn connect(&self, mut socket: worker::Socket) -> WorkerResult<()> {
        // Raw TCP connections are not part of the mesh protocol; close them instead of panicking.
        let _ = socket.close().await;
        Ok(())
    }

    async fn alarm(&self) -> WorkerResult<Response> {
        Response::ok("no alarm work")
    }
}

impl Coordinator {
    fn sql(&self, statement: &str, bindings: Vec<SqlStorageValue>) -> Result<worker::SqlCursor> {
        super::sql::exec(&self.state.storage().sql(), statement, bindings)
    }

    /// Runs `statement` and reads its rows (see `worker::sql`).
    fn rows<T: serde::de::DeserializeOwned>(&self, statement: &str, bindings: Vec<SqlStorageValue>) -> Result<Vec<T>> {
        super::sql::rows(&self.state.storage().sql(), statement, bindings)
    }

    fn membership(&self) -> Result<Membership> {
        let rows: Vec<MemberRow> = self.rows("SELECT shard, version, sessions FROM members", vec![])?;
        Ok(Membership::from_entries(
            rows.into_iter().map(|row| {
                (row.shard as u32, ShardEntry { version: row.version as u64, sessions: row.sessions as u64 })
            }),
        ))
    }
}

impl CoordinatorCalls for Coordinator {
    async fn list_members(&self, _: ListMembers) -> Result<MemberList> {
        Ok(MemberList { members: self.membership()?.members() })
    }

    async fn report(&self, report: MembershipReport) -> Result<ReportAck> {
        // Read, apply and write with no await in between: SQLite calls are synchronous, so the
        // sequence is atomic with respect to other reports.
        let mut membership = self.membership()?;
        match membership.apply(report) {
            Applied::Updated(entry) => {
                let version = SqlStorageValue::try_from_i64(entry.version as i64).map_err(platform("version"))?;
                let sessions = SqlStorageValue::try_from_i64(entry.sessions as i64).map_err(platform("sessions"))?;
                self.sql(
                    "INSERT OR REPLACE INTO members (shard, version, sessions) VALUES (?, ?, ?)",
                    vec![SqlStorageValue::from(i64::from(report.shard)), version, sessions],
                )?;
                Ok(ReportAck { applied: true })
            }
            Applied::Stale => Ok(ReportAck { applied: false }),
        }
    }

    async fn add_to_counter(&self, call: AddToCounter) -> Result<CounterValue> {
        let by = SqlStorageValue::try_from_i64(i64::try_from(call.by).unwrap_or(i64::MAX)).map_err(platform("by"))?;
        let rows: Vec<CounterRow> = self.rows(
            concat!(
                "INSERT INTO counters (name, value) VALUES (?, ?) ",
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value"
            ),
            vec![call.name.into(), by],
        )?;
        let value = rows.first().ok_or_else(|| MeshError::Protocol("counter update returned nothing".into()))?.value;
        Ok(CounterValue { value: value as u64 })
    }

    async fn read_counter(&self, call: ReadCounter) -> Result<CounterValue> {
        let rows: Vec<CounterRow> = self.rows("SELECT value FROM counters WHERE name = ?", vec![call.name.into()])?;
        Ok(CounterValue { value: rows.first().map_or(0, |row| row.value as u64) })
    }

    async fn add_worker_metrics(&self, call: AddWorkerMetrics) -> Result<Ack> {
        // Read, add and write with no await in between, so concurrent flushes each count once.
        let sql = self.state.storage().sql();
        let mut total: WorkerCounters = super::sql::load_json_row(&sql, WORKER_METRICS_TABLE)?;
        total.merge(&call.delta);
        super::sql::store_json_row(&sql, WORKER_METRICS_TABLE, &total)?;
        Ok(Ack {})
    }

    async fn read_worker_metrics(&self, _: ReadWorkerMetrics) -> Result<WorkerCounters> {
        super::sql::load_json_row(&self.state.storage().sql(), WORKER_METRICS_TABLE)
    }
}

/// Every isolate's Worker-side counters, summed (one JSON row).
const WORKER_METRICS_TABLE: &str = "worker_metrics";

#[derive(serde::Deserialize)]
struct CounterRow {
    value: f64,
}

//! The coordinator object: which shards hold sessions and how many (SQLite, so it survives eviction),
//! and the reference server's deployment-wide counters.
//!
//! It is on the path of a broadcast (one call for the member list) and of a shard's first session
//! (one awaited report), never of a targeted send, a `has` or an ordinary create. Every handler is
//! implemented so no default panics.

use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result as WorkerResult, SqlStorageValue, State,
    WebSocket, WebSocketIncomingMessage,
};

use super::stubs::{self, platform};
use crate::error::{MeshError, Result};
use crate::membership::{Applied, Membership, ShardEntry};
use crate::protocol::{
    coordinator_path, CounterName, CounterValue, MemberList, MembershipReport, ReportAck, CLOSE_INTERNAL_ERROR,
};

/// The single coordinator Durable Object (named [`crate::protocol::COORDINATOR_NAME`]): the member
/// table broadcasts read and the reference server's counters. Bind its class as `COORDINATOR_BINDING`.
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
        for statement in [
            concat!(
                "CREATE TABLE IF NOT EXISTS members ",
                "(shard INTEGER PRIMARY KEY, version INTEGER NOT NULL, sessions INTEGER NOT NULL)"
            ),
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        ] {
            if let Err(error) = sql.exec(statement, None) {
                worker::console_error!("coordinator: schema: {error}");
            }
        }
        Self { state }
    }

    async fn fetch(&self, mut request: Request) -> WorkerResult<Response> {
        if request.method() != Method::Post {
            return stubs::error_response(&MeshError::MethodNotAllowed);
        }
        let result = match request.path().as_str() {
            coordinator_path::REPORT => stubs::answer(&mut request, |report| self.report(report)).await,
            coordinator_path::MEMBERS => {
                self.membership().and_then(|m| stubs::encode(&MemberList { members: m.members() }))
            }
            coordinator_path::COUNTER_INCREMENT => {
                stubs::answer(&mut request, |c: CounterName| {
                    self.increment(&c.name).map(|value| CounterValue { value })
                })
                .await
            }
            coordinator_path::COUNTER_GET => {
                stubs::answer(&mut request, |c: CounterName| self.counter(&c.name).map(|value| CounterValue { value }))
                    .await
            }
            _ => Err(MeshError::NotFound),
        };
        stubs::reply(result)
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

    fn report(&self, report: MembershipReport) -> Result<ReportAck> {
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

    fn increment(&self, name: &str) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Row {
            value: f64,
        }
        let rows: Vec<Row> = self.rows(
            concat!(
                "INSERT INTO counters (name, value) VALUES (?, 1) ",
                "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value"
            ),
            vec![name.into()],
        )?;
        rows.first()
            .map(|row| row.value as u64)
            .ok_or_else(|| MeshError::Protocol("counter update returned nothing".into()))
    }

    fn counter(&self, name: &str) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Row {
            value: f64,
        }
        let rows: Vec<Row> = self.rows("SELECT value FROM counters WHERE name = ?", vec![name.into()])?;
        Ok(rows.first().map(|row| row.value as u64).unwrap_or(0))
    }
}

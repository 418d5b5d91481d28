//! The part of `SyncLayer` that keeps MCP session records: its own `sessions` table (register, load,
//! touch, update, forget), the count membership needs, and which records the idle-expiry alarm may
//! forget.

use worker::SqlStorage;

use super::super::sql;
use super::now_ms;
use crate::error::{MeshError, Result};
use crate::expiry::{should_touch, SessionActivity};
use crate::manager::validate_session_id;
use crate::protocol::{SessionRecord, UpdateSession};

/// The shard's session records.
pub(super) struct SessionRecords {
    sql: SqlStorage,
}

impl SessionRecords {
    pub fn new(sql: SqlStorage) -> Self {
        let table = "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, record TEXT NOT NULL)";
        sql::create_table(&sql, "shard session records", table);
        Self { sql }
    }

    /// Stores `record` under `session`, replacing any record there.
    pub fn store(&self, session: &str, record: &SessionRecord) -> Result<()> {
        validate_session_id(session)?;
        let record = serde_json::to_string(record)?;
        sql::exec(
            &self.sql,
            "INSERT OR REPLACE INTO sessions (id, record) VALUES (?, ?)",
            vec![session.into(), record.into()],
        )?;
        Ok(())
    }

    pub fn load(&self, session: &str) -> Result<Option<SessionRecord>> {
        #[derive(serde::Deserialize)]
        struct Row {
            record: String,
        }
        let rows: Vec<Row> = sql::rows(&self.sql, "SELECT record FROM sessions WHERE id = ?", vec![session.into()])?;
        match rows.into_iter().next() {
            Some(row) => Ok(Some(serde_json::from_str(&row.record)?)),
            None => Ok(None),
        }
    }

    /// Loads a record for a request and notes that the session is in use (at most once a minute).
    pub fn load_and_touch(&self, session: &str) -> Result<Option<SessionRecord>> {
        let Some(mut record) = self.load(session)? else { return Ok(None) };
        let now = now_ms();
        if should_touch(record.last_seen_ms.max(record.created_ms), now) {
            record.last_seen_ms = now;
            self.store(session, &record)?;
        }
        Ok(Some(record))
    }

    /// Applies `update` and returns the record as stored.
    pub fn update(&self, update: &UpdateSession) -> Result<SessionRecord> {
        let mut record = self.load(&update.session)?.ok_or(MeshError::SessionNotFound)?;
        update.apply_to(&mut record);
        self.store(&update.session, &record)?;
        Ok(record)
    }

    /// Forgets a record; the record it was, if any.
    pub fn forget(&self, session: &str) -> Result<Option<SessionRecord>> {
        let record = self.load(session)?;
        sql::exec(&self.sql, "DELETE FROM sessions WHERE id = ?", vec![session.into()])?;
        Ok(record)
    }

    /// How many records the shard keeps.
    pub fn count(&self) -> Result<u64> {
        sql::count_rows(&self.sql, "sessions")
    }

    /// Whether any record exists: one indexed probe, not a count.
    pub fn any(&self) -> Result<bool> {
        #[derive(serde::Deserialize)]
        struct Row {
            found: f64,
        }
        let rows: Vec<Row> = sql::rows(&self.sql, "SELECT EXISTS(SELECT 1 FROM sessions) AS found", vec![])?;
        Ok(rows.first().is_some_and(|row| row.found > 0.0))
    }

    /// Every session's last activity, for the expiry plan; `has_stream` says whether one is open.
    pub fn activity(&self, has_stream: impl Fn(&str) -> bool) -> Result<Vec<SessionActivity>> {
        #[derive(serde::Deserialize)]
        struct Row {
            id: String,
            record: String,
        }
        let rows: Vec<Row> = sql::rows(&self.sql, "SELECT id, record FROM sessions", vec![])?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let record: Option<SessionRecord> = serde_json::from_str(&row.record).ok();
                let last_seen_ms = record.map_or(0, |r| r.last_seen_ms.max(r.created_ms));
                let has_stream = has_stream(&row.id);
                SessionActivity { id: row.id, last_seen_ms, has_stream }
            })
            .collect())
    }
}

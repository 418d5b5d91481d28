//! The part of `SyncLayer` that keeps the replay log behind resumable GET streams (`Last-Event-ID`):
//! its own `events` table, the sequence numbering every send, the priming event of a fresh stream and
//! the replay to a resuming one. What a resuming stream gets is decided by `crate::event_log` and
//! `crate::delivery`; this file does the storage and socket work.

use std::cell::Cell;

use worker::{SqlStorage, SqlStorageValue, WebSocket};

use super::super::sql;
use super::super::stubs::platform;
use super::now_ms;
use crate::delivery::{DeliveryRule, NotificationKind};
use crate::error::Result;
use crate::event_log::{kind_columns, kind_from_columns, Audience, EventId, LogLimits};
use crate::frames::{priming_event, with_event_id};
use crate::protocol::SocketAttachment;

/// The log is pruned once every this many events (a batch of at most this many rows).
const PRUNE_EVERY: u64 = 32;

/// The shard's replay log.
pub(super) struct ReplayLog {
    sql: SqlStorage,
    /// The next send's sequence number; `None` until read from the log after a wake.
    next_seq: Cell<Option<u64>>,
}

impl ReplayLog {
    pub fn new(sql: SqlStorage) -> Self {
        let table = concat!(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, ",
            "audience TEXT NOT NULL, data TEXT NOT NULL, level TEXT, topic TEXT)"
        );
        sql::create_table(&sql, "shard replay log", table);
        Self { sql, next_seq: Cell::new(None) }
    }

    /// The sequence number the next send gets. Kept in memory so a send can go out before its log
    /// row is written: a socket send issued while a write is pending waits for the commit (output
    /// gates), so writing first would hold every recipient behind it. Read from the log after a wake.
    /// Events in the log.
    pub fn count(&self) -> Result<u64> {
        sql::count_rows(&self.sql, "events")
    }

    pub fn reserve_seq(&self) -> Result<u64> {
        let seq = match self.next_seq.get() {
            Some(seq) => seq,
            None => self.newest_logged_seq()? + 1,
        };
        self.next_seq.set(Some(seq + 1));
        Ok(seq)
    }

    fn newest_logged_seq(&self) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Row {
            seq: f64,
        }
        let rows: Vec<Row> = sql::rows(&self.sql, "SELECT COALESCE(MAX(seq), 0) AS seq FROM events", vec![])?;
        Ok(rows.first().map_or(0, |row| row.seq as u64))
    }

    /// Appends a send (already delivered to the open sockets) as event `seq`: its audience, its event
    /// as the streams got it (without the id) and its kind. Prunes the log every `PRUNE_EVERY` events
    /// rather than on every send (one write per send).
    pub fn append(
        &self,
        seq: u64,
        audience: &Audience,
        event: &str,
        kind: &NotificationKind,
        limits: LogLimits,
    ) -> Result<()> {
        let now = now_ms();
        let (level, change) = kind_columns(kind);
        sql::exec(
            &self.sql,
            "INSERT INTO events (seq, at_ms, audience, data, level, topic) VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                SqlStorageValue::try_from_i64(seq as i64).map_err(platform("seq"))?,
                SqlStorageValue::try_from_i64(now as i64).map_err(platform("time"))?,
                audience.encode().into(),
                event.to_owned().into(),
                level.into(),
                change.map(str::to_owned).into(),
            ],
        )?;
        if seq.is_multiple_of(PRUNE_EVERY) {
            let (min_seq, min_at) = limits.prune_bounds(seq, now);
            sql::exec(
                &self.sql,
                "DELETE FROM events WHERE seq < ? OR at_ms < ?",
                vec![
                    SqlStorageValue::try_from_i64(min_seq as i64).map_err(platform("seq"))?,
                    SqlStorageValue::try_from_i64(min_at as i64).map_err(platform("time"))?,
                ],
            )?;
        }
        Ok(())
    }

    /// Sends a fresh stream the log's position as an event with an id and empty data (the
    /// 2025-11-25 priming event): a client that loses the stream before any event resumes from
    /// there without a gap, and a polling client (`STREAM_MAX_EVENTS`) gets its first cursor at once.
    pub fn prime(&self, ws: &WebSocket, shard: u32) -> Result<()> {
        // Read from the log once after a wake, then kept: a storm of accepts reads storage once.
        let seq = match self.next_seq.get() {
            Some(next) => next - 1,
            None => {
                let newest = self.newest_logged_seq()?;
                self.next_seq.set(Some(newest + 1));
                newest
            }
        };
        // A failed send means the socket is already gone; the Worker's relay notices on its own.
        let _ = ws.send_with_bytes(priming_event(&EventId { shard, seq }.format()));
        Ok(())
    }

    /// Sends a resuming stream the logged events after `last` that were addressed to it and that its
    /// class takes, in order; how many.
    pub fn replay(&self, ws: &WebSocket, attachment: &SocketAttachment, last: EventId, shard: u32) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Row {
            seq: f64,
            audience: String,
            data: String,
            level: Option<String>,
            topic: Option<String>,
        }
        if last.shard != shard {
            return Ok(0);
        }
        let rows: Vec<Row> = sql::rows(
            &self.sql,
            "SELECT seq, audience, data, level, topic FROM events WHERE seq > ? ORDER BY seq",
            vec![SqlStorageValue::try_from_i64(last.seq as i64).map_err(platform("seq"))?],
        )?;
        let mut replayed = 0;
        for row in rows {
            let rule = DeliveryRule::for_kind(&kind_from_columns(row.level, row.topic.as_deref()));
            if !Audience::decode(&row.audience).includes(&attachment.session) || !rule.admits(&attachment.class) {
                continue;
            }
            let id = EventId { shard, seq: row.seq as u64 }.format();
            if ws.send_with_bytes(with_event_id(&row.data, &id)).is_ok() {
                replayed += 1;
            }
        }
        Ok(replayed)
    }
}

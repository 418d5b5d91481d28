//! The parts of `SyncLayer` that deal with history: the replay log behind resumable GET streams
//! (`Last-Event-ID`), and idle session expiry by alarm. Policies live in `crate::event_log` and
//! `crate::expiry`; this file does the storage and socket work.

use worker::{SqlStorageValue, WebSocket};

use super::{now_ms, SyncLayer};
use crate::delivery::admits;
use crate::error::Result;
use crate::event_log::{with_event_id, Audience, EventId};
use crate::expiry::{plan_expiry, should_touch, SessionActivity};
use crate::protocol::{RegisterSession, SendRequest, SessionRecord, SocketAttachment};
use crate::sse::EMPTY_DATA_EVENT;
use crate::worker::stubs::platform;

/// The replay log is pruned once every this many events (a batch of at most this many rows).
const PRUNE_EVERY: u64 = 32;

impl SyncLayer {
    /// The sequence number the next send gets. Kept in memory so a send can go out before its log
    /// row is written: a socket send issued while a write is pending waits for the commit (output
    /// gates), so writing first would hold every recipient behind it. Read from the log after a wake.
    pub(super) fn reserve_event_seq(&self) -> Result<u64> {
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
        let rows: Vec<Row> = self.rows("SELECT COALESCE(MAX(seq), 0) AS seq FROM events", vec![])?;
        Ok(rows.first().map_or(0, |row| row.seq as u64))
    }

    /// Appends a send (already delivered to the open sockets) to the replay log as event `seq`, and
    /// prunes the log every `PRUNE_EVERY` events rather than on every send (one write per send).
    pub(super) fn log_event(&self, request: &SendRequest, seq: u64) -> Result<()> {
        let audience = match &request.sessions {
            None => Audience::Everyone,
            Some(ids) => Audience::Sessions(ids.clone()),
        };
        let now = now_ms();
        self.sql(
            "INSERT INTO events (seq, at_ms, audience, data, level, topic) VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                SqlStorageValue::try_from_i64(seq as i64).map_err(platform("seq"))?,
                SqlStorageValue::try_from_i64(now as i64).map_err(platform("time"))?,
                audience.encode().into(),
                request.data.clone().into(),
                request.level.clone().into(),
                request.topic.clone().into(),
            ],
        )?;
        if seq.is_multiple_of(PRUNE_EVERY) {
            let (min_seq, min_at) = self.settings()?.event_log.prune_bounds(seq, now);
            self.sql(
                "DELETE FROM events WHERE seq < ? OR at_ms < ?",
                vec![
                    SqlStorageValue::try_from_i64(min_seq as i64).map_err(platform("seq"))?,
                    SqlStorageValue::try_from_i64(min_at as i64).map_err(platform("time"))?,
                ],
            )?;
        }
        Ok(())
    }

    /// The id of event `seq` on this shard, as streams carry it.
    pub(super) fn event_id(&self, seq: u64) -> String {
        EventId { shard: self.shard.get(), seq }.format()
    }

    /// Sends a fresh stream the log's position as an event with an id and empty data (the
    /// 2025-11-25 priming event): a client that loses the stream before any event resumes from
    /// there without a gap, and a polling client (`STREAM_MAX_EVENTS`) gets its first cursor at once.
    pub(super) fn prime(&self, ws: &WebSocket) -> Result<()> {
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
        let _ = ws.send_with_bytes(with_event_id(EMPTY_DATA_EVENT, &self.event_id(seq)));
        Ok(())
    }

    /// Sends a resuming stream the logged events after `last` that were addressed to it, in order.
    pub(super) fn replay(&self, ws: &WebSocket, attachment: &SocketAttachment, last: EventId) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Row {
            seq: f64,
            audience: String,
            data: String,
            level: Option<String>,
            topic: Option<String>,
        }
        if last.shard != self.shard.get() {
            return Ok(0);
        }
        let rows: Vec<Row> = self.rows(
            "SELECT seq, audience, data, level, topic FROM events WHERE seq > ? ORDER BY seq",
            vec![SqlStorageValue::try_from_i64(last.seq as i64).map_err(platform("seq"))?],
        )?;
        let mut replayed = 0;
        for row in rows {
            let request = SendRequest { sessions: None, data: row.data, level: row.level, topic: row.topic };
            if !Audience::decode(&row.audience).includes(&attachment.session) || !admits(Some(attachment), &request) {
                continue;
            }
            let id = self.event_id(row.seq as u64);
            if ws.send_with_bytes(with_event_id(&request.data, &id)).is_ok() {
                replayed += 1;
            }
        }
        Ok(replayed)
    }

    /// Loads a record for a request and notes that the session is in use (at most once a minute).
    pub(super) fn load_and_touch(&self, session: &str) -> Result<Option<SessionRecord>> {
        let Some(mut record) = self.load_record(session)? else { return Ok(None) };
        let now = now_ms();
        if should_touch(record.last_seen_ms.max(record.created_ms), now) {
            record.last_seen_ms = now;
            self.register(RegisterSession { session: session.to_owned(), record: record.clone() })?;
        }
        Ok(Some(record))
    }

    /// Arms the expiry alarm unless it is known to be armed: a storage round trip once per wake (or
    /// per alarm), not once per registered session.
    pub(super) async fn ensure_expiry_alarm(&self) -> Result<()> {
        if self.alarm_armed.get() {
            return Ok(());
        }
        let storage = self.state.storage();
        if storage.get_alarm().await.map_err(platform("get_alarm"))?.is_none() {
            let at = now_ms().saturating_add(self.settings()?.session_idle_ms);
            storage.set_alarm(i64::try_from(at).unwrap_or(i64::MAX)).await.map_err(platform("set_alarm"))?;
        }
        self.alarm_armed.set(true);
        Ok(())
    }

    /// The alarm: forget sessions idle past `SESSION_IDLE_MS` with no open stream, then re-arm.
    pub(super) async fn expire_idle_sessions(&self) -> Result<usize> {
        #[derive(serde::Deserialize)]
        struct Row {
            id: String,
            record: String,
        }
        let rows: Vec<Row> = self.rows("SELECT id, record FROM sessions", vec![])?;
        let sessions: Vec<SessionActivity> = rows
            .into_iter()
            .map(|row| {
                let record: Option<SessionRecord> = serde_json::from_str(&row.record).ok();
                let last_seen_ms = record.map_or(0, |r| r.last_seen_ms.max(r.created_ms));
                let has_stream = !self.open_sockets(Some(&row.id)).is_empty();
                SessionActivity { id: row.id, last_seen_ms, has_stream }
            })
            .collect();
        let plan = plan_expiry(&sessions, now_ms(), self.settings()?.session_idle_ms);
        for id in &plan.expire {
            // Its resource subscriptions live in other shards' topic indexes: take it out of them.
            let topics = self.load_record(id)?.map(|record| record.subscriptions).unwrap_or_default();
            self.end(id)?;
            self.forget_topics(id, &topics).await;
        }
        // The alarm that is running is spent; armed again only if re-set here.
        self.alarm_armed.set(false);
        if let Some(at) = plan.next_alarm_ms {
            let at = i64::try_from(at).unwrap_or(i64::MAX);
            self.state.storage().set_alarm(at).await.map_err(platform("set_alarm"))?;
            self.alarm_armed.set(true);
        }
        Ok(plan.expire.len())
    }
}

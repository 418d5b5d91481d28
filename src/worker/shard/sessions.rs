//! The part of `SyncLayer` that keeps MCP session records in SQLite: register, load, update, end,
//! and closing a session's stream.

use super::SyncLayer;
use crate::error::{MeshError, Result};
use crate::manager::validate_session_id;
use crate::mcp::backend::apply_update;
use crate::protocol::{RegisterSession, SessionRecord, SocketAttachment, UpdateSession, PROTOCOL_VERSION};

impl SyncLayer {
    /// Ends a session's stream; the Worker's relay ends the SSE body when the socket closes.
    pub(super) fn close_session_sockets(&self, session: &str) -> bool {
        // A malformed id has no sockets (accepts validate it), and must not reach the tag lookup.
        if validate_session_id(session).is_err() {
            return false;
        }
        let sockets = self.open_sockets(Some(session));
        for ws in &sockets {
            let _ = ws.close(Some(crate::protocol::CLOSE_NORMAL), Some("deleted"));
        }
        if !sockets.is_empty() {
            self.count_changed();
        }
        !sockets.is_empty()
    }

    pub(super) fn register(&self, request: RegisterSession) -> Result<()> {
        validate_session_id(&request.session)?;
        let record = serde_json::to_string(&request.record)?;
        self.sql(
            "INSERT OR REPLACE INTO sessions (id, record) VALUES (?, ?)",
            vec![request.session.into(), record.into()],
        )?;
        Ok(())
    }

    pub(super) fn load_record(&self, session: &str) -> Result<Option<SessionRecord>> {
        #[derive(serde::Deserialize)]
        struct Row {
            record: String,
        }
        let rows: Vec<Row> = self.rows("SELECT record FROM sessions WHERE id = ?", vec![session.into()])?;
        match rows.into_iter().next() {
            Some(row) => Ok(Some(serde_json::from_str(&row.record)?)),
            None => Ok(None),
        }
    }

    pub(super) fn update(&self, update: UpdateSession) -> Result<()> {
        let mut record = self.load_record(&update.session)?.ok_or(MeshError::SessionNotFound)?;
        apply_update(&mut record, &update);
        if update.log_level.is_some() {
            // Keep the stream's attachment in step, so log sends filter without reading storage.
            for ws in self.open_sockets(Some(&update.session)) {
                let attachment = SocketAttachment {
                    v: PROTOCOL_VERSION,
                    session: update.session.clone(),
                    log_level: record.log_level.clone(),
                    listener: None,
                    topics: Vec::new(),
                };
                let _ = ws.serialize_attachment(attachment);
            }
        }
        self.register(RegisterSession { session: update.session, record })
    }

    pub(super) fn end(&self, session: &str) -> Result<bool> {
        let existed = self.load_record(session)?.is_some();
        self.sql("DELETE FROM sessions WHERE id = ?", vec![session.into()])?;
        self.sql("DELETE FROM request_ids WHERE session = ?", vec![session.into()])?;
        if !self.close_session_sockets(session) && existed {
            self.count_changed();
        }
        Ok(existed)
    }
}

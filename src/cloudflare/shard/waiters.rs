//! The part of `SyncLayer` that carries a client's answer to a server→client request: the waiter
//! socket a Worker opens for one request, the request ids it allocates (its own `request_ids` table,
//! so ids never repeat across isolates or restarts), and the reply handed to the waiter.

use worker::{Response, SqlStorage};

use super::super::sql;
use super::super::stubs::platform;
use super::sockets::Sockets;
use crate::error::{MeshError, Result};
use crate::protocol::{waiter_tag, ClientReply, ReplyAck, ShardFrame, HEADER_REQUEST_ID, TAG_WAITER};

/// The shard's request ids.
pub(super) struct Waiters {
    sql: SqlStorage,
}

impl Waiters {
    pub fn new(sql: SqlStorage) -> Self {
        let table = "CREATE TABLE IF NOT EXISTS request_ids (session TEXT PRIMARY KEY, next INTEGER NOT NULL)";
        sql::create_table(&sql, "shard request ids", table);
        Self { sql }
    }

    /// Accepts a waiter socket for the next request of `session` (whose record the caller checked)
    /// and answers the 101 with the allocated id in `HEADER_REQUEST_ID`.
    pub fn accept(&self, sockets: &Sockets, session: &str) -> Result<Response> {
        #[derive(serde::Deserialize)]
        struct Row {
            next: f64,
        }
        let rows: Vec<Row> = sql::rows(
            &self.sql,
            "INSERT INTO request_ids (session, next) VALUES (?, 1) \
                 ON CONFLICT(session) DO UPDATE SET next = next + 1 RETURNING next",
            vec![session.into()],
        )?;
        let id = rows.first().map(|row| row.next as u64).ok_or_else(|| MeshError::Protocol("no request id".into()))?;
        let tag = waiter_tag(session, &id.to_string());
        let pair = sockets.accept(&[tag.as_str(), TAG_WAITER])?;
        let headers = worker::Headers::new();
        headers.set(HEADER_REQUEST_ID, &id.to_string()).map_err(platform("headers"))?;
        Ok(Response::from_websocket(pair.client).map_err(platform("from_websocket"))?.with_headers(headers))
    }

    /// Hands `reply` to its waiter, if one is still open.
    pub fn deliver(&self, sockets: &Sockets, reply: ClientReply) -> Result<ReplyAck> {
        let frame = serde_json::to_string(&ShardFrame::reply(reply.message))?;
        let mut delivered = false;
        for ws in sockets.open_tagged(&waiter_tag(&reply.session, &reply.request_id)) {
            if ws.send_with_str(&frame).is_ok() {
                delivered = true;
            }
        }
        Ok(ReplyAck { delivered })
    }

    /// Forgets a session's request ids.
    pub fn forget(&self, session: &str) -> Result<()> {
        sql::exec(&self.sql, "DELETE FROM request_ids WHERE session = ?", vec![session.into()])?;
        Ok(())
    }
}

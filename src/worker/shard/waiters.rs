//! The part of `SyncLayer` that carries a client's answer to a server→client request: the waiter
//! socket a Worker opens for one request id, and the reply handed to it.

use worker::{Request, Response, WebSocketPair};

use super::{SyncLayer, WS_OPEN};
use crate::error::{MeshError, Result};
use crate::manager::validate_session_id;
use crate::protocol::{waiter_tag, ClientReply, ReplyAck, ShardFrame, HEADER_REQUEST_ID, PROTOCOL_VERSION, TAG_WAITER};
use crate::worker::stubs::platform;

impl SyncLayer {
    /// Accepts a waiter socket for one server→client request and allocates the request's id, unique
    /// within the session (a counter in storage, so ids never repeat across isolates or restarts).
    pub(super) fn accept_waiter(&self, request: &Request) -> Result<Response> {
        let url = request.url().map_err(platform("url"))?;
        let session = url
            .query_pairs()
            .find(|(k, _)| k == "session")
            .map(|(_, v)| v.into_owned())
            .ok_or(MeshError::MissingSessionId)?;
        validate_session_id(&session)?;
        if self.load_record(&session)?.is_none() {
            return Err(MeshError::SessionNotFound);
        }
        if !self.has_room_for_socket()? {
            return Err(MeshError::ShardFull { shard: self.shard.get() });
        }
        #[derive(serde::Deserialize)]
        struct Row {
            next: f64,
        }
        let rows: Vec<Row> = self.rows(
            "INSERT INTO request_ids (session, next) VALUES (?, 1) \
                 ON CONFLICT(session) DO UPDATE SET next = next + 1 RETURNING next",
            vec![session.clone().into()],
        )?;
        let id = rows.first().map(|row| row.next as u64).ok_or_else(|| MeshError::Protocol("no request id".into()))?;
        let pair = WebSocketPair::new().map_err(platform("WebSocketPair"))?;
        let tag = waiter_tag(&session, &id.to_string());
        self.state.accept_websocket_with_tags(&pair.server, &[tag.as_str(), TAG_WAITER]);
        self.note_socket_accepted();
        let headers = worker::Headers::new();
        headers.set(HEADER_REQUEST_ID, &id.to_string()).map_err(platform("headers"))?;
        Ok(Response::from_websocket(pair.client).map_err(platform("from_websocket"))?.with_headers(headers))
    }

    pub(super) fn deliver_reply(&self, reply: ClientReply) -> Result<ReplyAck> {
        validate_session_id(&reply.session)?;
        let frame = serde_json::to_string(&ShardFrame::Reply { v: PROTOCOL_VERSION, message: reply.message })?;
        let mut delivered = false;
        for ws in self.state.get_websockets_with_tag(&waiter_tag(&reply.session, &reply.request_id)) {
            if ws.as_ref().ready_state() == WS_OPEN && ws.send_with_str(&frame).is_ok() {
                delivered = true;
            }
        }
        Ok(ReplyAck { delivered })
    }
}

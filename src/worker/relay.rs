//! Relaying a session's shard WebSocket into its SSE response body, with keepalives.
//!
//! The Worker holds the outbound socket for as long as the client reads the stream. Keepalive
//! comments are written here (timers never go in the shard, where they would block hibernation), and
//! they are also how a vanished client is noticed: the next write fails, the socket is closed, and the
//! shard's `websocket_close` drops the session.

use futures::future::{select, Either};
use futures::StreamExt;
use futures_channel::mpsc::UnboundedSender;
use worker::{WebSocket, WebsocketEvent};

use std::rc::Rc;

use super::timer::sleep;
use crate::backpressure::StreamBudget;

use crate::manager::SessionSink;
use crate::protocol::ShardFrame;
use crate::sse::{self, EventQuota};

/// The SSE body of one GET request, with a byte budget for what the client has not read yet.
pub struct SseSink {
    tx: UnboundedSender<Vec<u8>>,
    budget: Rc<StreamBudget>,
}

impl SseSink {
    pub fn new(tx: UnboundedSender<Vec<u8>>, budget: Rc<StreamBudget>) -> Self {
        Self { tx, budget }
    }
}

/// An SSE body whose reads release the stream's budget.
pub fn sse_channel(budget_bytes: u32) -> (SseSink, impl futures::Stream<Item = Vec<u8>>) {
    let (tx, rx) = futures_channel::mpsc::unbounded::<Vec<u8>>();
    let budget = Rc::new(StreamBudget::new(budget_bytes as usize));
    let reader_budget = budget.clone();
    let body = rx.map(move |chunk| {
        reader_budget.release(chunk.len());
        chunk
    });
    (SseSink::new(tx, budget), body)
}

impl SessionSink for SseSink {
    fn write(&self, data: &str) -> bool {
        // A client that stopped reading is cut off rather than buffered without bound; it resumes
        // from the shard's log with Last-Event-ID.
        if !self.budget.try_reserve(data.len()) {
            self.tx.close_channel();
            return false;
        }
        self.tx.unbounded_send(data.as_bytes().to_vec()).is_ok()
    }

    fn close(&self) {
        self.tx.close_channel();
    }
}

/// Waits on a waiter socket for the client's reply to one server→client request.
pub struct ShardWaiter {
    pub(crate) ws: WebSocket,
    pub(crate) request_id: u64,
}

impl crate::mcp::backend::ReplyWaiter for ShardWaiter {
    fn request_id(&self) -> u64 {
        self.request_id
    }

    async fn wait(self, timeout_ms: u32) -> crate::error::Result<Option<serde_json::Value>> {
        let reply = wait_for_reply(&self.ws, timeout_ms).await;
        let _ = self.ws.close(Some(1000), Some("done"));
        Ok(reply)
    }
}

async fn wait_for_reply(ws: &WebSocket, timeout_ms: u32) -> Option<serde_json::Value> {
    let mut events = ws.events().ok()?;
    ws.accept().ok()?;
    let mut deadline = sleep(timeout_ms);
    loop {
        let next = events.next();
        match select(next, &mut deadline).await {
            Either::Left((Some(Ok(WebsocketEvent::Message(message))), _)) => {
                if let Some(Ok(ShardFrame::Reply { message, .. })) = message.text().map(|t| ShardFrame::decode(&t)) {
                    return Some(message);
                }
            }
            Either::Left(_) | Either::Right(_) => return None,
        }
    }
}

/// Forwards shard frames to `sink` until either side ends, or until `quota` is spent on resumable
/// events (SSE polling). With `subscription_id` (a listen stream) each notification is tagged with it
/// on the way.
pub fn spawn_relay(ws: WebSocket, sink: SseSink, keepalive_ms: u32, quota: EventQuota, subscription_id: Option<serde_json::Value>) {
    worker::wasm_bindgen_futures::spawn_local(async move {
        relay(&ws, &sink, keepalive_ms, quota, subscription_id.as_ref()).await;
        sink.close();
    });
}

async fn relay(ws: &WebSocket, sink: &SseSink, keepalive_ms: u32, mut quota: EventQuota, subscription_id: Option<&serde_json::Value>) {
    // `events()` must come before `accept()` or early frames are lost.
    let Ok(mut events) = ws.events() else { return };
    if ws.accept().is_err() {
        return;
    }
    let keepalive = sse::encode_comment("keepalive");
    // One timer at a time, re-armed when it fires: keepalives go out every interval whatever the
    // traffic, and a busy stream does not pile up timers.
    let mut tick = sleep(keepalive_ms);
    loop {
        let next = events.next();
        match select(next, &mut tick).await {
            Either::Left((Some(Ok(WebsocketEvent::Message(message))), _)) => {
                let Some(text) = message.text() else { continue };
                match ShardFrame::decode(&text) {
                    Ok(ShardFrame::Data { data, id, .. }) => {
                        // Only events with an id can end a poll: the client resumes after them.
                        let ends_poll = subscription_id.is_none() && id.is_some() && quota.spend();
                        let data = match (subscription_id, id) {
                            // Listen streams are not resumable: no event ids there.
                            (Some(subscription), _) => crate::mcp::stateless::tag_subscription(&data, subscription),
                            (None, Some(id)) => crate::event_log::with_event_id(&data, &id),
                            (None, None) => data,
                        };
                        if !sink.write(&data) {
                            let _ = ws.close(Some(1000), Some("sse closed"));
                            return;
                        }
                        if ends_poll {
                            let _ = ws.close(Some(1000), Some("poll complete"));
                            return;
                        }
                    }
                    Ok(ShardFrame::Close { .. }) => {
                        let _ = ws.close(Some(1000), Some("deleted"));
                        return;
                    }
                    // Replies go to waiter sockets, never to a stream; ignore a misrouted one.
                    Ok(ShardFrame::Reply { .. }) => {}
                    Err(error) => worker::console_warn!("relay: dropping frame: {error}"),
                }
            }
            // The shard closed the socket, or it failed: the stream ends and the client reconnects.
            Either::Left(_) => return,
            Either::Right(_) => {
                if !sink.write(&keepalive) {
                    let _ = ws.close(Some(1000), Some("sse closed"));
                    return;
                }
                tick = sleep(keepalive_ms);
            }
        }
    }
}

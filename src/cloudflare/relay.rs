//! Relaying a session's shard WebSocket into its SSE response body, with keepalives; and the
//! waiter that receives a client's reply to a server→client request.
//!
//! The per-message path runs in JS (`relay.js`, beside this file): socket messages, which the shard
//! sends as ready SSE bytes, are enqueued into the body's `ReadableStream` without waking wasm, and
//! keepalive comments are written there too (timers never go in the shard, where they would block
//! hibernation). Rust sets the stream up and writes only its first bytes. A vanished client is
//! noticed at the next write or keepalive, or when the runtime cancels the body: the socket is then
//! closed, and the shard's `websocket_close` drops the session.

use futures::future::{select, Either};
use futures::StreamExt;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::{web_sys, WebSocket, WebsocketEvent};

use super::timer::sleep;
use crate::frames::{EVENT_ID_PREFIX, KEEPALIVE_EVENT};
use crate::manager::SessionSink;
use crate::protocol::ShardFrame;

#[wasm_bindgen(module = "/src/cloudflare/relay.js")]
extern "C" {
    /// A JS SSE body with a byte budget (see `relay.js`).
    #[wasm_bindgen(js_name = SseBody)]
    type JsSseBody;

    #[wasm_bindgen(constructor, js_class = "SseBody")]
    fn new(budget_bytes: u32) -> JsSseBody;

    #[wasm_bindgen(method, getter, js_class = "SseBody")]
    fn readable(this: &JsSseBody) -> web_sys::ReadableStream;

    #[wasm_bindgen(method, js_class = "SseBody")]
    fn write(this: &JsSseBody, text: &str) -> bool;

    #[wasm_bindgen(method, js_class = "SseBody")]
    fn close(this: &JsSseBody);

    /// Streams cut off for backpressure since the last call (and resets the count).
    #[wasm_bindgen(js_name = takeCutoffs)]
    pub(super) fn take_backpressure_cutoffs() -> u32;

    #[wasm_bindgen(js_name = relay)]
    fn js_relay(
        ws: &web_sys::WebSocket,
        body: &JsSseBody,
        keepalive_ms: u32,
        max_events: u32,
        listener_tail: Option<String>,
        keepalive: &str,
        event_id_prefix: &str,
    );
}

/// The SSE body of one GET or listen request, with a byte budget for what the client has not read
/// yet: a client that stopped reading is cut off rather than buffered without bound, and resumes
/// from the shard's log with `Last-Event-ID`.
pub struct SseSink {
    body: JsSseBody,
}

impl SseSink {
    pub fn new(budget_bytes: u32) -> Self {
        Self { body: JsSseBody::new(budget_bytes) }
    }

    /// The stream to hand the runtime as the response body.
    pub fn readable(&self) -> web_sys::ReadableStream {
        self.body.readable()
    }
}

impl SessionSink for SseSink {
    fn write(&self, data: &str) -> bool {
        self.body.write(data)
    }

    fn close(&self) {
        self.body.close();
    }
}

/// What a relay does besides copying bytes.
pub struct RelayOptions {
    pub keepalive_ms: u32,
    /// Resumable events after which the stream ends (SSE polling); 0: unlimited.
    pub max_events: u32,
    /// A listen stream's [`crate::frames::listener_event_tail`], appended to each of its frames.
    pub listener_tail: Option<String>,
}

/// Pipes the shard socket `ws` into `sink` (in JS) until either side ends.
pub fn spawn_relay(ws: WebSocket, sink: &SseSink, options: RelayOptions) {
    js_relay(
        ws.as_ref(),
        &sink.body,
        options.keepalive_ms,
        options.max_events,
        options.listener_tail,
        KEEPALIVE_EVENT,
        EVENT_ID_PREFIX,
    );
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
        let _ = self.ws.close(Some(crate::protocol::CLOSE_NORMAL), Some("done"));
        Ok(reply)
    }
}

async fn wait_for_reply(ws: &WebSocket, timeout_ms: u32) -> Option<serde_json::Value> {
    // `events()` must come before `accept()` or early frames are lost.
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

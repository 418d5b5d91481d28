//! Running a request whose handler may talk before it answers: its notifications (and, in the
//! session era, server→client requests) and then its response go out as one SSE stream.
//!
//! The session era always streams (with a priming event for 2025-11-25 clients). The stateless era
//! streams only if the handler sends something before finishing; otherwise it answers plain JSON,
//! which lets an error carry its HTTP status (a missing client capability is a 400 there). Must
//! not touch the runtime.

use std::cell::Cell;
use std::rc::Rc;

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use serde_json::{Map, Value};

use super::backend::McpBackend;
use super::context::RequestContext;
use super::http::{sse_headers, HttpReply, Outcome};
use super::server::McpServer;
use crate::error::Result;
use crate::sse;

/// The response a finished request gives: its body, and the HTTP status if it is sent as JSON.
pub struct Finished {
    pub status: u16,
    pub body: String,
}

pub enum StreamMode {
    /// Always SSE; `priming_id` puts an event with that id and no data first.
    Always { priming_id: Option<String> },
    /// SSE only if the handler sends something before its response.
    IfNeeded,
}

pub async fn respond<B: McpBackend>(
    server: Rc<McpServer<B>>,
    mut ctx: RequestContext<B>,
    method: String,
    params: Map<String, Value>,
    mode: StreamMode,
    finish: impl FnOnce(Result<Value>) -> Finished + 'static,
) -> Outcome {
    let (outbox, inbox) = mpsc::unbounded::<String>();
    ctx.outbox = Some(outbox.clone());
    let status = Rc::new(Cell::new(200u16));
    let done = Rc::new(Cell::new(false));
    let (status_out, done_out) = (status.clone(), done.clone());
    let work = async move {
        let finished = finish(server.dispatch(ctx, &method, params).await);
        status_out.set(finished.status);
        done_out.set(true);
        // Through the same channel as the notifications, so it can only come after them.
        let _ = outbox.unbounded_send(finished.body);
    };
    // The work yields nothing itself; the stream ends when the work is done and every sender (the
    // context's clones included) is gone.
    let mut messages = futures::stream::select(work.into_stream().filter_map(|_| async { None }), inbox).boxed_local();
    let first = match mode {
        StreamMode::Always { priming_id } => {
            let priming = priming_id.map(|id| format!("id: {id}\n{}", sse::EMPTY_DATA_EVENT));
            let body = futures::stream::iter(priming).chain(messages.map(|json| sse::encode_message(&json, None))).boxed_local();
            return Outcome::Stream { headers: sse_headers(), body };
        }
        StreamMode::IfNeeded => messages.next().await,
    };
    let Some(first) = first else {
        return Outcome::Reply(HttpReply::empty(500));
    };
    if done.get() {
        match messages.next().now_or_never() {
            // The first message was the response and nothing else came: plain JSON.
            Some(None) => return Outcome::Reply(HttpReply::json(status.get(), first)),
            Some(Some(second)) => {
                let body = futures::stream::iter([first, second]).chain(messages).map(|json| sse::encode_message(&json, None));
                return Outcome::Stream { headers: sse_headers(), body: body.boxed_local() };
            }
            None => {}
        }
    }
    let body = futures::stream::iter([first]).chain(messages).map(|json| sse::encode_message(&json, None));
    Outcome::Stream { headers: sse_headers(), body: body.boxed_local() }
}

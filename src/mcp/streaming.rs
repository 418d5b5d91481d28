//! Running a request whose handler may talk before it answers: its notifications (and, in the
//! session era, server→client requests) and then its response go out as one SSE stream.
//!
//! Both eras stream only if the handler sends something before finishing (a progress notification,
//! a server→client request); otherwise the answer is plain JSON, which lets an error carry its HTTP
//! status (a missing client capability is a 400 in the stateless era) and costs the Worker no
//! streamed body. A session-era stream opens with a priming event for 2025-11-25 clients. Must not
//! touch the runtime.

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
    /// The HTTP status, used only when the answer goes out as plain JSON (a stream is always 200).
    pub status: u16,
    /// The JSON-RPC response (or error) body.
    pub body: String,
}

/// Runs `method` and answers as plain JSON when its result is ready with nothing sent before it, else
/// as an SSE stream of what the handler sends and then the result (led, if `priming_id` is given, by
/// an event with that id and no data). `finish` turns the handler's result into the final message.
pub async fn respond<B: McpBackend>(
    server: Rc<McpServer<B>>,
    mut ctx: RequestContext<B>,
    method: String,
    params: Map<String, Value>,
    priming_id: Option<String>,
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
    // `priming_id` puts an event with that id and no data first, when the answer streams.
    let priming = priming_id.map(|id| format!("id: {id}\n{}", sse::EMPTY_DATA_EVENT));
    let Some(first) = messages.next().await else {
        return Outcome::Reply(HttpReply::empty(500));
    };
    if done.get() {
        match messages.next().now_or_never() {
            // The first message was the response and nothing else came: plain JSON.
            Some(None) => return Outcome::Reply(HttpReply::json(status.get(), first)),
            Some(Some(second)) => {
                let body =
                    futures::stream::iter([first, second]).chain(messages).map(|json| sse::encode_message(&json, None));
                let body = futures::stream::iter(priming).chain(body);
                return Outcome::Stream { headers: sse_headers(), body: body.boxed_local() };
            }
            None => {}
        }
    }
    let body = futures::stream::iter([first]).chain(messages).map(|json| sse::encode_message(&json, None));
    let body = futures::stream::iter(priming).chain(body);
    Outcome::Stream { headers: sse_headers(), body: body.boxed_local() }
}

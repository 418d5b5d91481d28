//! Server→client requests in the session era: the request goes out on the originating POST's stream,
//! and the client POSTs its answer to any isolate; the router carries it to the waiter (in the mesh,
//! through the session's shard). Must not touch the runtime.

use serde_json::Value;

use crate::error::Result;

/// Waits for the client's answer to one server→client request.
#[allow(async_fn_in_trait)]
pub trait ReplyWaiter {
    /// The JSON-RPC id allocated for the request, unique within the session.
    fn request_id(&self) -> u64;
    /// The client's whole JSON-RPC response (`result` or `error`), or `None` after `timeout_ms`.
    async fn wait(self, timeout_ms: u32) -> Result<Option<Value>>;
}

/// Carries clients' answers to the handlers waiting for them.
#[allow(async_fn_in_trait)]
pub trait ReplyRouter {
    /// How this router waits for one answer.
    type Waiter: ReplyWaiter;
    /// Registers a waiter for a server→client request of `session` and allocates its id.
    async fn open_waiter(&self, session: &str) -> Result<Self::Waiter>;
    /// Hands a client's response to whoever waits for it; `false` if nobody does (any more).
    async fn deliver_reply(&self, session: &str, request_id: &str, message: Value) -> Result<bool>;
}

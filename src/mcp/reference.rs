//! The reference server: the demo tools the mesh is exercised with, plus the conformance fixtures.
//!
//! - `announce {text}` broadcasts a `notifications/message` (data: the text and the send time in ms)
//!   to every session's GET stream, across every shard.
//! - `increment` bumps the deployment-wide counter behind `mesh://counter` and sends
//!   `notifications/resources/updated` only to the sessions subscribed to it: a targeted send.
//!
//! Must not touch the runtime.

use rmcp::model::{CallToolResult, ContentBlock, Resource, ResourceContents};
use serde_json::{json, Value};

use super::backend::{McpBackend, SendFilter};
use super::context::RequestContext;
use super::jsonrpc::notification_json;
use super::server::{handler, resource_handler, McpServer, Params};
// The building blocks the reference tools use, where embedders have found them.
pub use super::tools::{broadcast_change, tool};
use crate::error::{MeshError, Result};
use crate::protocol::topic;
use crate::sse;

/// The resource that reads the deployment-wide counter the `increment` tool adds to.
pub const COUNTER_URI: &str = "mesh://counter";
const COUNTER_NAME: &str = "counter";
/// The longest `announce` text accepted; the notification is relayed to every session and must stay
/// far below the runtime's WebSocket message limit.
pub const MAX_ANNOUNCE_BYTES: usize = 64 * 1024;

/// Builds the reference server: the demo tools and every conformance fixture.
pub fn reference_server<B: McpBackend>() -> McpServer<B> {
    // Fixtures first: clients (and the header-validation scenario) call the first listed tool with
    // no arguments, which `announce` would refuse.
    super::fixtures::register(McpServer::new("mcp-mesh-reference", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Call `announce` to broadcast to every session; subscribe to mesh://counter and call `increment`.",
        )
        .tool(
            tool(
                "announce",
                "Broadcasts a notifications/message with the text to every connected session",
                json!({
                    "type": "object",
                    "properties": { "text": { "type": "string", "description": "What to announce" } },
                    "required": ["text"]
                }),
            ),
            handler(announce),
        )
        .tool(
            tool(
                "increment",
                "Increments mesh://counter and notifies its subscribers",
                json!({ "type": "object", "properties": {} }),
            ),
            handler(|ctx, _params| increment(ctx)),
        )
        .resource(
            Resource::new(COUNTER_URI, "counter")
                .with_description("A deployment-wide counter; subscribe to be told when it changes")
                .with_mime_type("text/plain"),
            resource_handler(|ctx: RequestContext<B>, uri, _vars| async move {
                let value = ctx.backend.read_counter(COUNTER_NAME).await?;
                Ok(vec![ResourceContents::text(value.to_string(), uri).with_mime_type("text/plain")])
            }),
        )
}

async fn announce<B: McpBackend>(ctx: RequestContext<B>, args: Params) -> Result<CallToolResult> {
    let text = args
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| MeshError::InvalidParams("\"text\" must be a string".into()))?;
    if text.len() > MAX_ANNOUNCE_BYTES {
        return Err(MeshError::InvalidParams(format!("\"text\" is longer than {MAX_ANNOUNCE_BYTES} bytes")));
    }
    let sent_at_ms = ctx.backend.now_ms();
    let notification = notification_json(
        "notifications/message",
        json!({
            "level": "info", "logger": "announce",
            "data": { "text": text, "sent_at_ms": sent_at_ms, "from": ctx.session }
        }),
    );
    let report = ctx.backend.notify(None, &sse::encode_message(&notification, None), &SendFilter::log("info")).await?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(format!(
        "announced to {} sessions ({} failed)",
        report.delivered, report.failed
    ))]);
    result.structured_content =
        Some(json!({ "delivered": report.delivered, "failed": report.failed, "sent_at_ms": sent_at_ms }));
    Ok(result)
}

async fn increment<B: McpBackend>(ctx: RequestContext<B>) -> Result<CallToolResult> {
    let value = ctx.backend.increment_counter(COUNTER_NAME).await?;
    let subscribers = ctx.backend.subscribers(COUNTER_URI).await?;
    let notification = notification_json(
        "notifications/resources/updated",
        json!({ "uri": COUNTER_URI, "_meta": { "sent_at_ms": ctx.backend.now_ms(), "value": value } }),
    );
    let report = if subscribers.is_empty() {
        Default::default()
    } else {
        ctx.backend
            .notify(
                Some(&subscribers),
                &sse::encode_message(&notification, None),
                &SendFilter::change(topic::RESOURCE_UPDATED),
            )
            .await?
    };
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content =
        Some(json!({ "value": value, "notified": report.delivered, "subscribers": subscribers.len() }));
    Ok(result)
}

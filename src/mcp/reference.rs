//! The reference server: the tools that show what the mesh does.
//!
//! - `announce {text}` broadcasts a `notifications/message` (data: the text, the send time in ms and
//!   the sender) to every session's GET stream, across every shard.
//! - `countdown {seconds}` counts down, reporting progress each second: run as a task for clients
//!   that use tasks (it outlives the request, answers on any isolate, can be cancelled), else in the
//!   call.
//! - `increment` adds one to the deployment-wide counter behind `mesh://counter` (one of the mesh's
//!   `Counters`) and sends `notifications/resources/updated` only to the sessions subscribed to it: a
//!   targeted send.
//!
//! `conformance_server` (feature `conformance`) adds the conformance suites' fixtures beside them.
//! Must not touch the runtime.

use rmcp::model::{Resource, ResourceUpdatedNotificationParam};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::backend::McpBackend;
use super::handlers::{Json, NoArguments, ToolSpec};
use super::notifications::LogMessage;
use super::server::McpServer;
use crate::error::MeshError;
use crate::tasks::TaskSupport;

/// The resource that reads the deployment-wide counter the `increment` tool adds to.
pub const COUNTER_URI: &str = "mesh://counter";
const COUNTER_NAME: &str = "mesh-counter";
/// The OAuth scope `announce` needs (a broadcast reaches everyone), when an authorization server is set.
pub const ANNOUNCE_SCOPE: &str = "mesh:announce";
/// The longest `announce` text accepted; the notification is relayed to every session and must stay
/// far below the runtime's WebSocket message limit.
pub const MAX_ANNOUNCE_BYTES: usize = 64 * 1024;

/// The longest `countdown` accepted: a day.
pub const MAX_COUNTDOWN_SECONDS: u32 = 86_400;

#[derive(Deserialize, JsonSchema)]
struct Countdown {
    /// How many seconds to count down (1 to 86,400).
    seconds: u32,
}

#[derive(Deserialize, JsonSchema)]
struct Announce {
    /// What to announce.
    text: String,
}

/// What `announce` reached.
#[derive(Serialize, JsonSchema)]
struct Announced {
    /// Streams the message was written to.
    delivered: u64,
    /// Streams whose write failed (their clients resume from the log).
    failed: u64,
    /// When it was sent, in milliseconds since the Unix epoch.
    sent_at_ms: u64,
}

/// The counter after an `increment`, and who was told.
#[derive(Serialize, JsonSchema)]
struct Incremented {
    /// The counter's new value.
    value: u64,
    /// Subscribers the update reached.
    notified: u64,
    /// Subscribers the topic index listed.
    subscribers: u64,
}

/// The reference server: `announce`, `increment` and `mesh://counter`.
pub fn reference_server<B: McpBackend>() -> McpServer<B> {
    with_reference_tools(new_server())
}

/// The reference server with every conformance fixture: what the conformance suites run against.
#[cfg(feature = "conformance")]
pub fn conformance_server<B: McpBackend>() -> McpServer<B> {
    // Fixtures first: clients (and the header-validation scenario) call the first listed tool with no
    // arguments, which `announce` would refuse.
    with_reference_tools(super::fixtures::register(new_server()))
}

fn new_server<B: McpBackend>() -> McpServer<B> {
    McpServer::new("mcp-mesh-reference", env!("CARGO_PKG_VERSION")).with_instructions(
        "Call `announce` to broadcast to every session; subscribe to mesh://counter and call `increment`.",
    )
}

fn with_reference_tools<B: McpBackend>(server: McpServer<B>) -> McpServer<B> {
    server
        .tool_with(
            ToolSpec::new("announce", "Broadcasts a notifications/message with the text to every connected session")
                .scopes([ANNOUNCE_SCOPE]),
            |ctx, Announce { text }| async move {
                if text.len() > MAX_ANNOUNCE_BYTES {
                    return Err(MeshError::InvalidParams(format!(
                        "\"text\" is longer than {MAX_ANNOUNCE_BYTES} bytes"
                    )));
                }
                let sent_at_ms = ctx.backend.now_ms();
                let data = json!({ "text": text, "sent_at_ms": sent_at_ms, "from": ctx.session });
                let report = ctx.broadcast(LogMessage::info(data).from_logger("announce")).await?;
                Ok(Json(Announced { delivered: report.delivered, failed: report.failed, sent_at_ms }))
            },
        )
        .tool_with(
            ToolSpec::new(
                "countdown",
                "Counts down `seconds`, reporting progress each second; a task for task clients",
            )
            .task_support(TaskSupport::Optional),
            |ctx, Countdown { seconds }| async move {
                if !(1..=MAX_COUNTDOWN_SECONDS).contains(&seconds) {
                    return Err(MeshError::InvalidParams(format!("\"seconds\" must be 1 to {MAX_COUNTDOWN_SECONDS}")));
                }
                for done in 0..seconds {
                    let message = format!("{} s left", seconds - done);
                    ctx.progress(f64::from(done), Some(f64::from(seconds)), Some(&message));
                    ctx.sleep(1_000).await;
                }
                Ok(format!("counted down {seconds} s"))
            },
        )
        .tool("increment", "Increments mesh://counter and notifies its subscribers", |ctx, _: NoArguments| async move {
            let value = ctx.backend.add_to_counter(COUNTER_NAME, 1).await?;
            let mut update = ResourceUpdatedNotificationParam::new(COUNTER_URI);
            update.meta = serde_json::from_value(json!({ "sent_at_ms": ctx.backend.now_ms(), "value": value }))?;
            let report = ctx.notify_subscribers_with(update).await?;
            let subscribers = report.delivered + report.failed + report.missing;
            Ok(Json(Incremented { value, notified: report.delivered, subscribers }))
        })
        .resource(
            Resource::new(COUNTER_URI, "counter")
                .with_description("A deployment-wide counter; subscribe to be told when it changes")
                .with_mime_type("text/plain"),
            |ctx, _uri| async move { Ok(ctx.backend.read_counter(COUNTER_NAME).await?.to_string()) },
        )
}

//! Writing your own MCP server on the mesh: register a tool, a resource and a prompt with async
//! handlers, then serve it. This example runs the server natively over the in-memory backend (the
//! same code path the Worker uses, minus the Durable Objects); `cargo run --example custom_server`.
//!
//! In a Worker, depend on `mcp-mesh` with `default-features = false` and write the entry yourself:
//!
//! ```ignore
//! #[worker::event(fetch)]
//! async fn fetch(req: worker::Request, env: worker::Env, _ctx: worker::Context) -> worker::Result<worker::Response> {
//!     mcp_mesh::worker::serve(req, env, || my_server()).await
//! }
//! ```
//!
//! and bind `SyncLayer` and `Coordinator` in wrangler.toml as this repository's wrangler.toml does.

use std::rc::Rc;

use futures::executor::block_on;
use mcp_mesh::access::OriginPolicy;
use mcp_mesh::mcp::backend::{InMemoryBackend, McpBackend, SendFilter};
use mcp_mesh::mcp::context::RequestContext;
use mcp_mesh::mcp::endpoint::{handle, EndpointConfig};
use mcp_mesh::mcp::http::{HttpRequest, Outcome};
use mcp_mesh::mcp::server::{handler, resource_handler, McpServer};
use mcp_mesh::mcp::tools::tool;
use rmcp::model::{CallToolResult, ContentBlock, Resource, ResourceContents};
use serde_json::json;

/// A server with one tool that notifies every session, and one resource.
fn my_server<B: McpBackend>() -> McpServer<B> {
    McpServer::new("weather", "1.0.0")
        .tool(
            tool(
                "report",
                "Publishes a weather report to every connected session",
                json!({
                    "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"]
                }),
            ),
            handler(|ctx: RequestContext<B>, args| async move {
                let city = args.get("city").and_then(|c| c.as_str()).unwrap_or("nowhere").to_owned();
                let note = json!({ "jsonrpc": "2.0", "method": "notifications/message",
                    "params": { "level": "info", "data": format!("sunny in {city}") } });
                let report = ctx
                    .backend
                    .notify(None, &mcp_mesh::sse::encode_message(&note.to_string(), None), &SendFilter::log("info"))
                    .await?;
                Ok(CallToolResult::success(vec![ContentBlock::text(format!("told {} sessions", report.delivered))]))
            }),
        )
        .resource(
            Resource::new("weather://today", "today").with_mime_type("text/plain"),
            resource_handler(|_ctx: RequestContext<B>, uri, _vars| async move {
                Ok(vec![ResourceContents::text("sunny", uri)])
            }),
        )
}

fn main() {
    let server = Rc::new(my_server::<InMemoryBackend>());
    let backend = Rc::new(InMemoryBackend::new());
    let config = EndpointConfig {
        origins: OriginPolicy::default(),
        max_body_bytes: 1 << 20,
        state_key: Rc::from(&b"example"[..]),
        auth: Default::default(),
    };
    // A stateless (2026-07-28) call: no session needed.
    let request = HttpRequest::new("POST", "/mcp")
        .with_header("Accept", "application/json, text/event-stream")
        .with_header("Content-Type", "application/json")
        .with_header("MCP-Protocol-Version", "2026-07-28")
        .with_header("Mcp-Method", "tools/call")
        .with_header("Mcp-Name", "report")
        .with_body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "report", "arguments": {"city": "Lisbon"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            }}})
            .to_string(),
        );
    match block_on(handle(server, backend, &request, &config)) {
        Outcome::Reply(reply) => println!("{} {}", reply.status, reply.body),
        other => println!("{other:?}"),
    }
}

//! Writing your own MCP server on the mesh: a tool with typed arguments that tells every connected
//! session, and a resource, then served. This example runs the server natively over the in-memory
//! backend (the same code path the Worker uses, minus the Durable Objects):
//! `cargo run --example custom_server`.
//!
//! In a Worker, depend on `mcp-mesh` (its default features have no entry of their own), bind
//! `SyncLayer` and `Coordinator` in wrangler.toml as this repository's wrangler.toml does, and write
//! the entry:
//!
//! ```ignore
//! #[worker::event(fetch)]
//! async fn fetch(req: worker::Request, env: worker::Env, _ctx: worker::Context) -> worker::Result<worker::Response> {
//!     mcp_mesh::cloudflare::serve(req, env, weather).await
//! }
//! ```

use std::rc::Rc;

use futures::executor::block_on;
use mcp_mesh::access::OriginPolicy;
use mcp_mesh::mcp::backend::InMemoryBackend;
use mcp_mesh::mcp::endpoint::{handle, EndpointConfig};
use mcp_mesh::mcp::http::{HttpRequest, Outcome};
use mcp_mesh::mcp::prelude::*;
use rmcp::model::Resource;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// `report`'s arguments: their JSON Schema is derived, and a call without a `city` is refused with
/// -32602 before the handler runs.
#[derive(Deserialize, JsonSchema)]
struct Report {
    /// Where it is sunny.
    city: String,
}

/// A server with one tool that tells every session, and one resource.
fn weather<B: McpBackend>() -> McpServer<B> {
    McpServer::new("weather", "1.0.0")
        .tool("report", "Tells every connected session the weather", |ctx, Report { city }| async move {
            let sent = ctx.broadcast(LogMessage::info(format!("sunny in {city}"))).await?;
            Ok(format!("told {} sessions", sent.delivered))
        })
        .resource(Resource::new("weather://today", "today"), |_ctx, _uri| async { Ok("sunny".to_owned()) })
}

fn main() {
    let server = Rc::new(weather::<InMemoryBackend>());
    let backend = Rc::new(InMemoryBackend::new());
    let config = EndpointConfig::open(OriginPolicy::default(), 1 << 20, b"example");
    // A stateless (2026-07-28) call: no session needed.
    let call = |arguments: serde_json::Value| {
        HttpRequest::new("POST", "/mcp")
            .with_header("Accept", "application/json, text/event-stream")
            .with_header("Content-Type", "application/json")
            .with_header("MCP-Protocol-Version", "2026-07-28")
            .with_header("Mcp-Method", "tools/call")
            .with_header("Mcp-Name", "report")
            .with_body(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "report", "arguments": arguments,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {}
                }}})
                .to_string(),
            )
    };
    for arguments in [json!({"city": "Lisbon"}), json!({"town": "Lisbon"})] {
        match block_on(handle(server.clone(), backend.clone(), &call(arguments), &config)) {
            Outcome::Reply(reply) => println!("{} {}", reply.status, reply.body),
            other => println!("{other:?}"),
        }
    }
}

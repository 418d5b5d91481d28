//! The conformance suite's fixtures (`@modelcontextprotocol/conformance`, everything-server): tools,
//! resources, a template, prompts and completions with the exact names, texts and shapes the
//! scenarios check. Must not touch the runtime.

use super::backend::McpBackend;
use super::server::McpServer;

pub fn register<B: McpBackend>(server: McpServer<B>) -> McpServer<B> {
    server
}

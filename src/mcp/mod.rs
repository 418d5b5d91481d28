//! MCP on the mesh: JSON-RPC envelopes, the Streamable HTTP rules, and the server that dispatches
//! requests to tools and resources whose notifications travel through the mesh.
//!
//! Layout:
//! - `jsonrpc`: classifying one POSTed body into request / notification / response, with exact errors.
//! - `http`: the transport rules (Accept, Content-Type, Origin/Host, session and version headers).
//! - `endpoint`: the checks every request passes, and the choice of era per request.
//! - `legacy`: the session-era transport (2025-03-26 to 2025-11-25).
//! - `stateless`: the 2026-07-28 transport (no sessions, `server/discover`, `subscriptions/listen`).
//! - `backend`: what the server needs from the mesh, by concern (clock, session store, broker, reply
//!   routing, counters), and its in-memory implementation.
//! - `context`: what a handler gets (one verb per audience, questions to the client).
//! - `notifications`: what a handler can send.
//! - `handlers`: typed arguments (derived JSON Schema) and results.
//! - `server`: the server-author API (tools, resources, templates, prompts, completions) and dispatch.
//! - `uri_template`: matching resource URIs against templates.
//! - `tasks`: tool calls as tasks, the `tasks/*` methods of both revisions, one run of a task.
//! - `streaming`: answering a request as JSON, or as SSE when its handler talks first.
//! - `request_state`: the signed `requestState` of 2026-07-28 input-required results.
//! - `fixtures`: the conformance suite's tools, resources and prompts.
//! - `reference`: the reference server (`announce`, `increment`, `mesh://counter`, the fixtures).
//!
//! Nothing here touches the Workers runtime; `crate::cloudflare` adapts requests and implements `backend`.

pub mod backend;
pub mod context;
pub mod endpoint;
pub mod handlers;
// The conformance suites' fixtures: the `conformance` feature.
#[cfg(feature = "conformance")]
pub mod fixtures;
pub mod http;
pub mod jsonrpc;
pub mod legacy;
pub mod notifications;
#[cfg(feature = "reference-server")]
pub mod reference;
pub mod request_state;
pub mod server;
pub mod stateless;
pub mod streaming;
pub mod tasks;
pub mod uri_template;

/// What a server author's code usually needs, in one `use`.
pub mod prelude {
    pub use super::backend::{Counters, McpBackend};
    pub use super::context::RequestContext;
    pub use super::handlers::{Json, NoArguments, Params, ToolSpec};
    pub use super::notifications::LogMessage;
    pub use super::server::McpServer;
    pub use crate::delivery::LogLevel;
    pub use crate::error::{MeshError, Result};
    pub use crate::tasks::TaskSupport;
}

/// Protocol revisions this server negotiates through `initialize`, newest first.
pub const SESSION_PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// What the server assumes when a request carries no `MCP-Protocol-Version` (the spec's rule).
pub const DEFAULT_PROTOCOL_VERSION_WITHOUT_HEADER: &str = "2025-03-26";

/// Picks the version to answer `initialize` with: the client's if supported, else our newest.
pub fn negotiate_version(requested: &str) -> &'static str {
    SESSION_PROTOCOL_VERSIONS
        .iter()
        .copied()
        .find(|supported| *supported == requested)
        .unwrap_or(SESSION_PROTOCOL_VERSIONS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_supported_versions_and_offers_the_newest_otherwise() {
        assert_eq!(negotiate_version("2025-06-18"), "2025-06-18");
        assert_eq!(negotiate_version("2025-11-25"), "2025-11-25");
        assert_eq!(negotiate_version("2024-11-05"), "2025-11-25");
        assert_eq!(negotiate_version("garbage"), "2025-11-25");
    }
}

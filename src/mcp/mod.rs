//! MCP on the mesh: JSON-RPC envelopes, the Streamable HTTP rules, and the server that dispatches
//! requests to tools and resources whose notifications travel through the mesh.
//!
//! Layout:
//! - `jsonrpc`: classifying one POSTed body into request / notification / response, with exact errors.
//! - `http`: the transport rules (Accept, Content-Type, Origin/Host, session and version headers).
//! - `endpoint`: the checks every request passes, and the choice of era per request.
//! - `legacy`: the session-era transport (2025-03-26 to 2025-11-25).
//! - `stateless`: the 2026-07-28 transport (no sessions, `server/discover`, `subscriptions/listen`).
//! - `backend`: the trait the server needs from the mesh (session records, sends, topic indexes,
//!   reply routing), and its in-memory implementation.
//! - `context`: what a handler gets (its stream, progress, logs, questions to the client).
//! - `server`: the server-author API (tools, resources, templates, prompts, completions) and dispatch.
//! - `fixtures`: the conformance suite's tools, resources and prompts.
//! - `reference`: the reference server (`announce`, `increment`, `mesh://counter`, the fixtures).
//!
//! Nothing here touches the Workers runtime; `crate::worker` adapts requests and implements `backend`.

pub mod backend;
pub mod context;
pub mod endpoint;
// The reference server and the conformance fixtures it serves: part of the `reference-server` feature.
#[cfg(feature = "reference-server")]
pub mod fixtures;
pub mod http;
pub mod jsonrpc;
pub mod legacy;
#[cfg(feature = "reference-server")]
pub mod reference;
pub mod request_state;
pub mod server;
pub mod stateless;
pub mod streaming;
pub mod tools;

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

// The delivery filter lives in `crate::delivery`; the MCP layer names it here too.
pub use crate::delivery::{log_level_admits, LOG_LEVELS};

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

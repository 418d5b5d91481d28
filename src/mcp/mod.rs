//! MCP on the mesh: JSON-RPC envelopes, the Streamable HTTP rules, and the server that dispatches
//! requests to tools and resources whose notifications travel through the mesh.
//!
//! Layout:
//! - `jsonrpc`: classifying one POSTed body into request / notification / response, with exact errors.
//! - `http`: the transport rules (Accept, Content-Type, session and version headers) as pure checks.
//! - `backend`: the trait the server needs from the mesh (session records, sends, topic indexes).
//! - `server`: the dispatcher and the tool registry.
//! - `reference`: the reference server's tools and resources (`announce`, `increment`, `mesh://counter`).
//!
//! Nothing here touches the Workers runtime; `crate::worker` adapts requests and implements `backend`.

pub mod backend;
pub mod http;
pub mod jsonrpc;
pub mod reference;
pub mod server;

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

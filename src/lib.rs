//! A sharded session and notification mesh for MCP servers on Cloudflare Workers.
//!
//! Sessions hash (xxh3-64, then jump consistent hash) onto N `SyncLayer` Durable Objects; a
//! coordinator object tracks which shards hold sessions; broadcasts fan out to member shards and
//! targeted sends are grouped per shard. A Streamable HTTP MCP server sits on top.
//!
//! # Layout
//! - [`error`]: the crate error and its one mapping to HTTP status and JSON-RPC code.
//! - [`config`]: wrangler vars, their defaults and validation.
//! - [`access`]: Origin/Host checks (DNS rebinding protection).
//! - [`auth`]: who is calling: the OAuth 2.1 resource server, or the development tokens.
//! - [`routing`]: `shard_for(session_id, shard_count)` and shard names.
//! - [`protocol`]: the versioned Worker↔shard↔coordinator calls, one type per call.
//! - [`membership`]: the coordinator's table and the shard's rule for reporting to it.
//! - [`fanout`]: grouping sends per shard.
//! - [`headers_first`]: issuing calls whose answers come headers first (at most six waiting).
//! - [`delivery`]: which streams a notification reaches (stream classes and the one rule).
//! - [`frames`]: the bytes MCP streams carry, framed in one place.
//! - [`js_constants`]: the protocol's constants rendered as the tmcp adapter's JavaScript module.
//! - [`manager`]: the seed's `SessionManager` API and its in-memory implementation.
//! - [`expiry`]: which abandoned sessions a shard's alarm forgets.
//! - [`backpressure`]: the byte budget that cuts off a stalled stream.
//! - [`event_log`]: event ids, the shard's bounded replay log, and what a resuming stream gets back.
//! - [`sse`]: Server-Sent Events encoding and decoding.
//! - [`mcp`]: JSON-RPC, the Streamable HTTP rules, the server-author API and the reference server.
//! - `cloudflare` (wasm32 only): the only code that touches the Workers runtime — the fetch entry,
//!   the `SyncLayer` shard, the coordinator, and the Durable Object implementation of the backend.
//!
//! Everything but `cloudflare` is plain Rust, tested natively with `cargo test`.

#![warn(missing_docs)]

pub mod access;
pub mod auth;
pub mod backpressure;
pub mod config;
pub mod delivery;
pub mod error;
pub mod event_log;
pub mod expiry;
pub mod fanout;
pub mod frames;
pub mod headers_first;
pub mod js_constants;
pub mod listen_index;
pub mod log_event;
pub mod manager;
pub mod mcp;
pub mod membership;
pub mod metrics;
pub mod protocol;
pub mod routing;
pub mod send_plan;
pub mod sse;
pub mod tasks;

#[cfg(target_arch = "wasm32")]
pub mod cloudflare;

pub use error::{MeshError, Result};
pub use manager::{InMemorySessionManager, SessionManager, SessionSink};
pub use routing::shard_for;
/// The JSON Schema derive the server-author API uses (`#[derive(JsonSchema)]` on argument types).
pub use schemars;

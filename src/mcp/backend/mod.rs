//! What the MCP server needs from the mesh, split by concern, and the in-memory implementation of all
//! of it.
//!
//! - [`Clock`]: time, sleeping and new ids, so tests control them.
//! - [`SessionStore`]: MCP session records (in the session's shard, in the mesh).
//! - [`Broker`]: notifications to every stream, to listed sessions, or to a topic's subscribers, and
//!   the topic index behind the last.
//! - [`ReplyRouter`]: a client's answer to a server→client request, from whichever isolate receives it
//!   to the one waiting for it.
//! - [`Counters`]: deployment-wide counters, changed atomically.
//! - [`Observer`]: tool calls and refused credentials, for the mesh's metrics and logs.
//! - [`TaskStore`]: tasks, kept and run on their shard.
//!
//! [`McpBackend`] is all of them. The Durable Object mesh (`crate::cloudflare::DurableMesh`) implements
//! each over the shards and the coordinator; [`InMemoryBackend`] is the reference semantics the native
//! tests drive. Must not touch the runtime.

mod broker;
mod clock;
mod counters;
mod memory;
mod observer;
mod replies;
mod sessions;
mod tasks;

pub use broker::{Broker, OutgoingNotification};
pub use clock::Clock;
pub use counters::Counters;
pub use memory::{InMemoryBackend, InMemoryWaiter, RecordingSink};
pub use observer::{credential_refusal, Observer};
pub use replies::{ReplyRouter, ReplyWaiter};
pub use sessions::SessionStore;
pub use tasks::TaskStore;

/// Everything the MCP server needs from the mesh; implemented for every type that has each part.
pub trait McpBackend: Clock + SessionStore + Broker + ReplyRouter + Counters + Observer + TaskStore + 'static {}

impl<T: Clock + SessionStore + Broker + ReplyRouter + Counters + Observer + TaskStore + 'static> McpBackend for T {}

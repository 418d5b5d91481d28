//! Where MCP session records live: in the mesh, the session's shard's SQLite, strongly consistent, so
//! any isolate serving the session's next request reads what the last one wrote. Must not touch the
//! runtime.

use crate::error::Result;
use crate::protocol::{SessionRecord, UpdateSession};

/// MCP session records.
#[allow(async_fn_in_trait)]
pub trait SessionStore {
    /// Whether opening a GET stream checks, in the same call, that the session exists and belongs to
    /// the caller (the Durable Object mesh does it in the shard's accept). Then a GET costs one call
    /// instead of a lookup followed by the open.
    const OPEN_CHECKS_SESSION: bool = false;

    /// Stores a new session's record; replaces any record under `id`.
    async fn register_session(&self, id: &str, record: SessionRecord) -> Result<()>;
    /// The session's record, or `None` if it is unknown, ended or expired.
    async fn load_session(&self, id: &str) -> Result<Option<SessionRecord>>;
    /// Applies a partial update; [`crate::MeshError::SessionNotFound`] if the session has no record.
    async fn update_session(&self, update: UpdateSession) -> Result<()>;
    /// Forgets the session and closes its stream; `false` if it did not exist.
    async fn end_session(&self, id: &str) -> Result<bool>;
}

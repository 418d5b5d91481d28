//! Deployment-wide counters a server keeps across isolates (the reference server's `mesh://counter`, a
//! sequence, a quota): in the mesh they live in the coordinator, the one object no resharding moves,
//! and each change is atomic there. They share its ~1,000 requests/s with membership. Must not touch
//! the runtime.

use crate::error::Result;

/// Named counters shared by every isolate.
#[allow(async_fn_in_trait)]
pub trait Counters {
    /// Adds `by` to counter `name` (an unknown one starts at 0) and returns its new value.
    async fn add_to_counter(&self, name: &str, by: u64) -> Result<u64>;
    /// Counter `name`'s value; 0 for one never added to.
    async fn read_counter(&self, name: &str) -> Result<u64>;
}

//! Time and randomness as inputs: the clock, timers and new ids the server uses come from here, so
//! tests control them. Must not touch the runtime.

use futures::future::LocalBoxFuture;

/// The clock and id source.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A new unique id (session ids, listen streams, priming events): a random UUIDv4 from a
    /// cryptographic source in production.
    fn new_id(&self) -> String;
    /// Resolves after `ms` milliseconds (a timer in the Worker; immediate, advancing the clock, in
    /// memory).
    fn sleep(&self, ms: u32) -> LocalBoxFuture<'static, ()>;
}

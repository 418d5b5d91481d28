//! Bounded stream buffers: a slow or stalled consumer must not hold unbounded memory in the Worker
//! or delay anyone else. Each GET stream gets a byte budget for data written but not yet read by
//! the client; past it the stream is ended, the shard drops the socket, and the client resumes from
//! the shard's event log with `Last-Event-ID`. The budget is enforced where the bytes are queued, in
//! the Worker's JS relay (`src/cloudflare/relay.js`, tested by `tests/js/relay.test.mjs`); this file
//! holds its default. Must not touch the runtime.

/// `STREAM_BUFFER_BYTES` default, Centrifugo's per-client queue size.
pub const DEFAULT_STREAM_BUFFER_BYTES: u32 = 1024 * 1024;

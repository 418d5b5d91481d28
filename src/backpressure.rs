//! Bounded stream buffers: a slow or stalled consumer must not hold unbounded memory in the Worker
//! or delay anyone else. Each GET stream gets a byte budget for data written but not yet read by
//! the client; past it the stream is ended, the shard drops the socket, and the client resumes from
//! the shard's event log with `Last-Event-ID`. Must not touch the runtime.

use std::cell::Cell;

/// `STREAM_BUFFER_BYTES` default, Centrifugo's per-client queue size.
pub const DEFAULT_STREAM_BUFFER_BYTES: u32 = 1024 * 1024;

/// Bytes queued for one stream.
#[derive(Debug)]
pub struct StreamBudget {
    limit: usize,
    queued: Cell<usize>,
}

impl StreamBudget {
    pub fn new(limit: usize) -> Self {
        Self { limit, queued: Cell::new(0) }
    }

    /// Counts `bytes` as queued; `false` (and nothing counted) if that would pass the limit. A single
    /// item larger than the whole budget is still admitted into an empty queue, so one big message
    /// cannot wedge a stream that is keeping up.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        let queued = self.queued.get();
        if queued > 0 && queued.saturating_add(bytes) > self.limit {
            return false;
        }
        self.queued.set(queued.saturating_add(bytes));
        true
    }

    /// The client read `bytes`.
    pub fn release(&self, bytes: usize) {
        self.queued.set(self.queued.get().saturating_sub(bytes));
    }

    pub fn queued(&self) -> usize {
        self.queued.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_keeps_up_never_hits_the_limit() {
        let budget = StreamBudget::new(100);
        for _ in 0..1_000 {
            assert!(budget.try_reserve(60));
            budget.release(60);
        }
        assert_eq!(budget.queued(), 0);
    }

    #[test]
    fn a_stalled_reader_is_cut_off_at_the_limit() {
        let budget = StreamBudget::new(100);
        assert!(budget.try_reserve(60));
        assert!(budget.try_reserve(40));
        assert!(!budget.try_reserve(1));
        assert_eq!(budget.queued(), 100);
        budget.release(50);
        assert!(budget.try_reserve(50));
    }

    #[test]
    fn one_oversized_message_fits_an_empty_queue_only() {
        let budget = StreamBudget::new(10);
        assert!(budget.try_reserve(1_000));
        assert!(!budget.try_reserve(1));
    }
}

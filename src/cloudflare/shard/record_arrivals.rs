//! Streams waiting for their session's record: a server that answers `initialize` before its record
//! is written (tmcp does not await its setters) can see the client's GET reach the shard first. Such
//! a GET asks to wait ([`crate::protocol::OpenStream::await_record_ms`]); it waits here, in memory,
//! until `register_session` for its id arrives or the wait runs out. Losing the waiters (eviction)
//! only turns those GETs into the 404 they would have had.

use std::cell::RefCell;
use std::collections::HashMap;

use futures::channel::oneshot;
use futures::future::{select, Either};

use super::super::timer::sleep;

#[derive(Default)]
pub(super) struct RecordArrivals {
    waiting: RefCell<HashMap<String, Vec<oneshot::Sender<()>>>>,
}

impl RecordArrivals {
    /// Resolves when `session`'s record is registered, or after `ms`.
    pub async fn wait(&self, session: &str, ms: u32) {
        let (arrived, wait) = oneshot::channel();
        self.waiting.borrow_mut().entry(session.to_owned()).or_default().push(arrived);
        if let Either::Right(_) = select(wait, sleep(ms)).await {
            // Timed out: drop this waiter's (now closed) sender with the others that gave up.
            if let Some(senders) = self.waiting.borrow_mut().get_mut(session) {
                senders.retain(|sender| !sender.is_canceled());
            }
            self.waiting.borrow_mut().retain(|_, senders| !senders.is_empty());
        }
    }

    /// `session`'s record was just registered: every stream waiting for it goes on.
    pub fn arrived(&self, session: &str) {
        if let Some(senders) = self.waiting.borrow_mut().remove(session) {
            for sender in senders {
                let _ = sender.send(());
            }
        }
    }
}

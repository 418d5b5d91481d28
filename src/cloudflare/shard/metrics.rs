//! A shard's counters (`crate::metrics::ShardCounters`): counted in memory, written to the shard's
//! SQLite by a timer [`FLUSH_AFTER_MS`] after the first count since the last write, so counting costs
//! no write per message and counts survive hibernation (the pending timer keeps the object awake
//! until it fires). Only an eviction inside that window, without hibernating, loses counts.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use worker::SqlStorage;

use super::super::log;
use super::super::sql;
use super::super::timer::sleep;
use crate::log_event::{Level, LogEvent};
use crate::metrics::ShardCounters;

/// How long counts wait in memory before they are written.
pub const FLUSH_AFTER_MS: u32 = 2_000;

const TABLE: &str = "metrics";

/// The counters and their storage.
pub(super) struct ShardMetricsStore {
    sql: SqlStorage,
    counters: RefCell<ShardCounters>,
    flush_pending: Cell<bool>,
}

impl ShardMetricsStore {
    /// The counters as last written.
    pub fn load(sql: SqlStorage) -> Rc<Self> {
        sql::create_json_row(&sql, "shard metrics", TABLE);
        let counters = sql::load_json_row(&sql, TABLE).unwrap_or_default();
        Rc::new(Self { sql, counters: RefCell::new(counters), flush_pending: Cell::new(false) })
    }

    /// Counts something, and makes sure a write follows.
    pub fn count(self: &Rc<Self>, change: impl FnOnce(&mut ShardCounters)) {
        change(&mut self.counters.borrow_mut());
        if self.flush_pending.replace(true) {
            return;
        }
        let store = self.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            sleep(FLUSH_AFTER_MS).await;
            store.flush_pending.set(false);
            if let Err(error) = sql::store_json_row(&store.sql, TABLE, &*store.counters.borrow()) {
                log::emit(&LogEvent::new(Level::Error, "metrics_not_stored", error.to_string()));
            }
        });
    }

    /// The counters now.
    pub fn snapshot(&self) -> ShardCounters {
        self.counters.borrow().clone()
    }
}

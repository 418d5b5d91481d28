//! The Worker's side of the metrics: each isolate counts requests, broadcasts, tool calls, refused
//! credentials and cut-off streams in memory, and adds them to the coordinator's totals at most every
//! [`FLUSH_EVERY_MS`] (on the next request after that, or at once for `/mesh/metrics`); and, when
//! `MESH_ANALYTICS` is bound, writes an Analytics Engine data point per request, tool call and
//! broadcast. Counting never fails a request: a flush that fails keeps its counts for the next one.

use std::cell::{Cell, RefCell};

use worker::{AnalyticsEngineDataPointBuilder, Env};

use super::log;
use super::mesh::DurableMesh;
use super::relay::take_backpressure_cutoffs;
use crate::error::Result;
use crate::log_event::{Level, LogEvent};
use crate::metrics::analytics::DataPoint;
use crate::metrics::WorkerCounters;
use crate::protocol::AddWorkerMetrics;

/// How often an isolate adds its counts to the coordinator's: one call per isolate per 5 s at most.
pub const FLUSH_EVERY_MS: f64 = 5_000.0;

/// The optional Analytics Engine dataset binding.
pub const ANALYTICS_BINDING: &str = "MESH_ANALYTICS";

thread_local! {
    /// Counted since this isolate's last flush.
    static UNFLUSHED: RefCell<WorkerCounters> = RefCell::default();
    static LAST_FLUSH_MS: Cell<f64> = const { Cell::new(0.0) };
    /// Whether `MESH_ANALYTICS` is bound, once looked up: bindings do not change while an isolate
    /// lives, and a missing one costs an error built per lookup.
    static ANALYTICS_BOUND: Cell<Option<bool>> = const { Cell::new(None) };
    /// Data points this isolate wrote, for the test routes to check the layout.
    #[cfg(feature = "test-routes")]
    static WRITTEN: RefCell<Vec<DataPoint>> = const { RefCell::new(Vec::new()) };
}

/// Counts something in this isolate.
pub fn count(change: impl FnOnce(&mut WorkerCounters)) {
    UNFLUSHED.with(|counters| change(&mut counters.borrow_mut()));
}

/// Flushes when the last flush is [`FLUSH_EVERY_MS`] old (the first request of an isolate starts the
/// clock instead of flushing).
pub async fn flush_if_due(mesh: &DurableMesh, now_ms: f64) {
    let last = LAST_FLUSH_MS.with(Cell::get);
    if last == 0.0 {
        LAST_FLUSH_MS.with(|cell| cell.set(now_ms));
    } else if now_ms - last >= FLUSH_EVERY_MS {
        if let Err(error) = flush(mesh, now_ms).await {
            log::emit(&LogEvent::new(Level::Warn, "metrics_flush_failed", error.to_string()).kind("metrics"));
        }
    }
}

/// Adds this isolate's counts to the coordinator's; on failure they stay for the next flush.
pub async fn flush(mesh: &DurableMesh, now_ms: f64) -> Result<()> {
    LAST_FLUSH_MS.with(|cell| cell.set(now_ms));
    let cutoffs = take_backpressure_cutoffs();
    count(|counters| counters.backpressure_cutoffs += u64::from(cutoffs));
    let delta = UNFLUSHED.with(|counters| std::mem::take(&mut *counters.borrow_mut()));
    if delta.is_empty() {
        return Ok(());
    }
    if let Err(error) = mesh.add_worker_metrics(&AddWorkerMetrics { delta: delta.clone() }).await {
        count(|counters| counters.merge(&delta));
        return Err(error);
    }
    Ok(())
}

/// Writes `point` to the `MESH_ANALYTICS` dataset when it is bound; nothing otherwise.
pub fn write_point(env: &Env, point: DataPoint) {
    if ANALYTICS_BOUND.with(Cell::get) == Some(false) {
        return;
    }
    let dataset = env.analytics_engine(ANALYTICS_BINDING);
    ANALYTICS_BOUND.with(|bound| bound.set(Some(dataset.is_ok())));
    let Ok(dataset) = dataset else { return };
    let built = AnalyticsEngineDataPointBuilder::new()
        .indexes([point.index.as_str()])
        .blobs(point.blobs.iter().map(String::as_str))
        .doubles(point.doubles)
        .build();
    match dataset.write_data_point(&built) {
        Ok(()) => {
            #[cfg(feature = "test-routes")]
            WRITTEN.with(|written| written.borrow_mut().push(point));
        }
        Err(error) => log::emit(&LogEvent::new(Level::Warn, "analytics_write_failed", error.to_string())),
    }
}

/// The data points this isolate wrote (test routes).
#[cfg(feature = "test-routes")]
pub fn written_points() -> Vec<DataPoint> {
    WRITTEN.with(|written| written.borrow().clone())
}

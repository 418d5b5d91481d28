//! The part of `SyncLayer` that tells the coordinator how many sessions it holds: counting (sockets,
//! accepts in flight, registered sessions) and sending the reports `crate::membership` plans.

use worker::Env;

use super::{now_ms, SyncLayer};
use crate::error::Result;
use crate::membership::ReportPlan;
use crate::protocol::{coordinator_path, MembershipReport, ReportAck};
use crate::worker::stubs::{self, Target};

impl SyncLayer {
    /// Streams of either kind, accepts in flight, and MCP sessions whose stream is down: what
    /// membership counts. Counting registered sessions keeps a shard a member while its only client
    /// reconnects, so broadcasts in between are logged for its replay.
    /// A count it cannot read is an error, not 0: a shard reporting itself empty would lose its membership.
    pub(super) fn session_count(&self) -> Result<u64> {
        let streams = (self.open_sockets(None).len() + self.open_listeners().len()) as u64;
        Ok(streams + self.pending_accepts.get() + self.registered_count()?)
    }

    /// Whether an MCP session record exists here: one indexed probe, not a count.
    pub(super) fn has_registered_session(&self) -> Result<bool> {
        #[derive(serde::Deserialize)]
        struct Row {
            found: f64,
        }
        let rows: Vec<Row> = self.rows("SELECT EXISTS(SELECT 1 FROM sessions) AS found", vec![])?;
        Ok(rows.first().is_some_and(|row| row.found > 0.0))
    }

    pub(super) fn registered_count(&self) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Row {
            n: f64,
        }
        let rows: Vec<Row> = self.rows("SELECT COUNT(*) AS n FROM sessions", vec![])?;
        Ok(rows.first().map(|row| row.n as u64).unwrap_or(0))
    }

    pub(super) fn report_in_background(&self, report: MembershipReport) {
        let env = self.env.clone();
        self.state.wait_until(async move {
            if let Err(error) = send_report(&env, report).await {
                worker::console_warn!("shard {}: background membership report failed: {error}", report.shard);
            }
        });
    }

    pub(super) fn count_changed(&self) {
        if let Err(error) = self.report_count_change() {
            // No report beats a wrong one: the coordinator keeps the last count it was told.
            worker::console_error!("shard {}: count not reported: {error}", self.shard.get());
        }
    }

    pub(super) fn report_count_change(&self) -> Result<()> {
        // Still holding a registered session, a confirmed member inside the report interval would
        // only skip, so the sockets need not be counted (closes would cost O(sessions) each).
        let now = now_ms();
        if !self.reporter.borrow().count_report_due(now) && self.has_registered_session()? {
            return Ok(());
        }
        let plan = self.reporter.borrow_mut().after_count_change(self.session_count()?, now);
        if let ReportPlan::Background(report) | ReportPlan::Await(report) = plan {
            self.report_in_background(report);
        }
        Ok(())
    }
}

/// Sends a membership report to the coordinator and waits for its ack.
pub(super) async fn send_report(env: &Env, report: MembershipReport) -> Result<()> {
    let config = crate::worker::config(env)?;
    let stub = stubs::stub(env, &config.coordinator_binding, Target::Coordinator)?;
    let _: ReportAck = stubs::call(&stub, coordinator_path::REPORT, &report).await?;
    Ok(())
}

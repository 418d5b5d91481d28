//! The part of `SyncLayer` that keeps its coordinator membership: counting what it holds, the awaited
//! report before a first session's stream is accepted (the broadcast invariant, see
//! `crate::membership`), the background reports after, and the accepts waiting on a report.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::future::{LocalBoxFuture, Shared};
use futures::FutureExt;
use worker::{Env, State};

use super::super::log;
use super::super::settings;
use super::super::stubs::{self, Target};
use super::now_ms;
use crate::error::{MeshError, Result};
use crate::log_event::{Level, LogEvent};
use crate::membership::{MembershipReporter, ReportPlan};
use crate::protocol::MembershipReport;

type InFlightReport = Shared<LocalBoxFuture<'static, std::result::Result<(), String>>>;

/// What the shard holds, as membership counts it.
pub(super) trait Occupancy {
    /// Open streams of either kind.
    fn open_streams(&self) -> u64;
    /// MCP session records kept.
    fn registered(&self) -> Result<u64>;
    /// Whether any MCP session record is kept.
    fn any_registered(&self) -> Result<bool>;
}

/// The shard's side of membership.
pub(super) struct MembershipGate {
    env: Env,
    state: Rc<State>,
    reporter: RefCell<MembershipReporter>,
    /// Accepts waiting for their membership report; counted as sessions (see `MembershipReporter`).
    pending: Cell<u64>,
    /// The awaited report in flight, which concurrent accepts join (`ReportPlan::Join`).
    in_flight: RefCell<Option<InFlightReport>>,
}

impl MembershipGate {
    pub fn new(env: Env, state: Rc<State>, shard: u32) -> Self {
        Self {
            env,
            state,
            reporter: RefCell::new(MembershipReporter::new(shard)),
            pending: Cell::new(0),
            in_flight: RefCell::new(None),
        }
    }

    /// Reports come from `shard` from now on (a shard that learned its number late).
    pub fn set_shard(&self, shard: u32) {
        self.reporter.borrow_mut().set_shard(shard);
    }

    /// Accepts waiting on a report.
    pub fn pending(&self) -> u64 {
        self.pending.get()
    }

    /// Streams of either kind, accepts in flight, and MCP sessions whose stream is down: what
    /// membership counts. Counting registered sessions keeps a shard a member while its only client
    /// reconnects, so broadcasts in between are logged for its replay. A count it cannot read is an
    /// error, not 0: a shard reporting itself empty would lose its membership.
    pub fn session_count(&self, held: &impl Occupancy) -> Result<u64> {
        Ok(held.open_streams() + self.pending.get() + held.registered()?)
    }

    /// Before a stream is accepted: reports to the coordinator when the plan says so, and waits for
    /// its ack when the shard may not be a member yet. `true` if it waited (the caller then checks the
    /// session's streams again: another accept may have won meanwhile).
    pub async fn admit(&self, held: &impl Occupancy) -> Result<bool> {
        // A confirmed member inside the report interval skips: counting every socket on every accept
        // made opening sessions cost O(sessions on the shard).
        let now = now_ms();
        let plan = if self.reporter.borrow().count_report_due(now) {
            self.reporter.borrow_mut().before_accept(self.session_count(held)? + 1, now)
        } else {
            ReportPlan::Skip
        };
        let report = match plan {
            ReportPlan::Await(report) => {
                let env = self.env.clone();
                let sent =
                    async move { send_report(&env, report).await.map_err(|e| e.to_string()) }.boxed_local().shared();
                *self.in_flight.borrow_mut() = Some(sent.clone());
                sent
            }
            // Joining needs the report in flight; `awaiting` and the slot are set and cleared together,
            // so it is there (refusing is the safe answer if it ever were not).
            ReportPlan::Join => match self.in_flight.borrow().clone() {
                Some(sent) => sent,
                None => {
                    let detail = "no membership report in flight".into();
                    return Err(MeshError::Upstream { what: "coordinator", detail });
                }
            },
            ReportPlan::Background(report) => {
                self.report_in_background(report);
                return Ok(false);
            }
            ReportPlan::Skip => return Ok(false),
        };
        self.pending.set(self.pending.get() + 1);
        let outcome = report.clone().await;
        self.pending.set(self.pending.get().saturating_sub(1));
        // Only the report still in the slot may change the reporter's state: a waiter of an older one
        // (failed, then replaced by a new report) must not clear the newer one.
        let current = {
            let mut slot = self.in_flight.borrow_mut();
            let current = slot.as_ref().is_some_and(|in_flight| in_flight.ptr_eq(&report));
            if current {
                slot.take();
            }
            current
        };
        match outcome {
            Ok(()) if current => self.reporter.borrow_mut().confirm_member(),
            Ok(()) => {}
            Err(detail) => {
                if current {
                    self.reporter.borrow_mut().report_failed();
                }
                return Err(MeshError::Upstream { what: "coordinator", detail });
            }
        }
        Ok(true)
    }

    /// After streams or records came or went: reports in the background when the plan says so.
    pub fn count_changed(&self, held: &impl Occupancy, shard: u32) {
        if let Err(error) = self.report_count_change(held) {
            // No report beats a wrong one: the coordinator keeps the last count it was told.
            let message = format!("count not reported: {error}");
            log::emit(&LogEvent::new(Level::Error, "membership_report_failed", message).shard(shard));
        }
    }

    fn report_count_change(&self, held: &impl Occupancy) -> Result<()> {
        // Still holding a registered session, a confirmed member inside the report interval would
        // only skip, so the sockets need not be counted (closes would cost O(sessions) each).
        let now = now_ms();
        if !self.reporter.borrow().count_report_due(now) && held.any_registered()? {
            return Ok(());
        }
        let plan = self.reporter.borrow_mut().after_count_change(self.session_count(held)?, now);
        if let ReportPlan::Background(report) | ReportPlan::Await(report) = plan {
            self.report_in_background(report);
        }
        Ok(())
    }

    fn report_in_background(&self, report: MembershipReport) {
        let env = self.env.clone();
        self.state.wait_until(async move {
            if let Err(error) = send_report(&env, report).await {
                let message = format!("background report failed: {error}");
                log::emit(&LogEvent::new(Level::Warn, "membership_report_failed", message).shard(report.shard));
            }
        });
    }
}

/// Sends a membership report to the coordinator and waits for its ack.
async fn send_report(env: &Env, report: MembershipReport) -> Result<()> {
    let config = settings::load(env)?;
    let stub = stubs::stub(env, &config.coordinator_binding, Target::Coordinator)?;
    stubs::call(&stub, &report).await?;
    Ok(())
}

//! Which shards hold sessions: the coordinator's table and the shard-side rule for reporting to it.
//!
//! The invariant this file exists for: a broadcast reaches every session whose `create` completed
//! before the broadcast began. A broadcast asks the coordinator for member shards, so a shard must be
//! a member *before* its first session's `create` completes. [`MembershipReporter`] therefore makes
//! the report that turns a shard into a member synchronous (the shard awaits the coordinator's ack
//! before accepting the socket) and every other report asynchronous. Reports carry a per-shard version
//! so a delayed "I am empty" cannot overwrite a newer "I have sessions". Must not touch the runtime.

use std::collections::BTreeMap;

use crate::protocol::{Member, MembershipReport};

/// The coordinator's view: last applied report per shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    shards: BTreeMap<u32, ShardEntry>,
}

/// The last report applied for one shard, as the coordinator persists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardEntry {
    /// The report's [`MembershipReport::version`].
    pub version: u64,
    /// The report's session count.
    pub sessions: u64,
}

/// What applying a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The report was newer and is now the shard's entry (to be persisted).
    Updated(ShardEntry),
    /// The report was older than (or equal to) what is known and changed nothing.
    Stale,
}

impl Membership {
    /// Rebuilds the table from persisted entries (a later entry for the same shard wins).
    pub fn from_entries(entries: impl IntoIterator<Item = (u32, ShardEntry)>) -> Self {
        Self { shards: entries.into_iter().collect() }
    }

    /// Applies a report if it is newer than the shard's current entry.
    pub fn apply(&mut self, report: MembershipReport) -> Applied {
        if let Some(current) = self.shards.get(&report.shard) {
            if current.version >= report.version {
                return Applied::Stale;
            }
        }
        let entry = ShardEntry { version: report.version, sessions: report.sessions };
        self.shards.insert(report.shard, entry);
        Applied::Updated(entry)
    }

    /// Shards that hold at least one session, in index order.
    pub fn members(&self) -> Vec<Member> {
        self.shards
            .iter()
            .filter(|(_, entry)| entry.sessions > 0)
            .map(|(&shard, entry)| Member { shard, sessions: entry.sessions })
            .collect()
    }

    /// The sum of the last reported counts; for status, not exact (counts are reported at most once
    /// per [`COUNT_REPORT_INTERVAL_MS`]).
    pub fn total_sessions(&self) -> u64 {
        self.shards.values().map(|entry| entry.sessions).sum()
    }
}

/// How a shard should tell the coordinator about a change in its session count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportPlan {
    /// Nothing to send now.
    Skip,
    /// Send and await the ack before the change is acknowledged to the caller.
    Await(MembershipReport),
    /// Send in the background (`wait_until`); correctness does not depend on it.
    Background(MembershipReport),
    /// An awaited report is already in flight: await its ack instead of sending another, so a
    /// storm of accepts on an unconfirmed shard costs the coordinator one call, not one per accept.
    Join,
}

/// Shard-side reporting state. Lives in memory only: after eviction `confirmed_member` starts false,
/// so the first session after a wake re-confirms membership (one extra coordinator call per wake).
///
/// Every count passed in must include accepts still in flight (awaiting their report): otherwise a
/// socket closing during that wait could report "0 sessions" with a newer version and erase the
/// membership the pending accept is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipReporter {
    shard: u32,
    confirmed_member: bool,
    /// An awaited report was sent and neither confirmed nor failed yet.
    awaiting: bool,
    last_version: u64,
    last_sent_ms: u64,
    last_sent_sessions: u64,
}

/// Count changes are reported at most this often when no membership transition is involved; the
/// coordinator's counts are for status and planning, and the status route asks shards for live ones.
pub const COUNT_REPORT_INTERVAL_MS: u64 = 1_000;

impl MembershipReporter {
    /// A reporter for shard `shard` that has sent nothing yet and is not a confirmed member.
    pub fn new(shard: u32) -> Self {
        Self {
            shard,
            confirmed_member: false,
            awaiting: false,
            last_version: 0,
            last_sent_ms: 0,
            last_sent_sessions: 0,
        }
    }

    /// Names the shard once it is learned after construction (see `protocol::HEADER_OBJECT_NAME`).
    pub fn set_shard(&mut self, shard: u32) {
        self.shard = shard;
    }

    /// Whether the coordinator is known to list this shard as a member.
    pub fn is_confirmed_member(&self) -> bool {
        self.confirmed_member
    }

    /// A version newer than any this shard sent before, even across restarts: wall-clock
    /// milliseconds scaled by 1024 (the shard cannot send 1024 reports in one millisecond), and
    /// strictly above the last one sent by this instance.
    fn next_version(&mut self, now_ms: u64) -> u64 {
        let version = now_ms.saturating_mul(1024).max(self.last_version + 1);
        self.last_version = version;
        version
    }

    /// Whether the next count change could lead to a report other than a membership transition:
    /// outside the rate limit, or not yet a confirmed member. When this is false and the shard is
    /// known to keep at least one session, the change is a `Skip` whatever the count, so the shard
    /// need not count its sockets (which costs one runtime call per socket).
    pub fn count_report_due(&self, now_ms: u64) -> bool {
        !self.confirmed_member || now_ms >= self.last_sent_ms.saturating_add(COUNT_REPORT_INTERVAL_MS)
    }

    /// Called before a new session is accepted, with the count it will have. While membership is not
    /// confirmed every accept awaits a report's ack, including concurrent ones: a second session
    /// accepted while the first one's report is in flight must not complete before the coordinator
    /// knows. Concurrent ones join the report in flight ([`ReportPlan::Join`]): its count, taken with
    /// the accept in flight, already makes this shard a member.
    pub fn before_accept(&mut self, sessions_after: u64, now_ms: u64) -> ReportPlan {
        if self.confirmed_member {
            return self.after_count_change(sessions_after, now_ms);
        }
        if self.awaiting {
            return ReportPlan::Join;
        }
        self.awaiting = true;
        let version = self.next_version(now_ms);
        self.note_sent(sessions_after, now_ms);
        ReportPlan::Await(MembershipReport { shard: self.shard, version, sessions: sessions_after })
    }

    /// Called when the coordinator acknowledged an awaited report.
    pub fn confirm_member(&mut self) {
        self.confirmed_member = true;
        self.awaiting = false;
    }

    /// Called when an awaited report failed: the next accept sends a new one.
    pub fn report_failed(&mut self) {
        self.awaiting = false;
    }

    /// Called after the count changed for any other reason (a session left, or joined while already a
    /// member). Leaving zero sessions ends the membership; that report can be background because a
    /// stale "member" only costs one wasted send.
    pub fn after_count_change(&mut self, sessions: u64, now_ms: u64) -> ReportPlan {
        if sessions == 0 {
            self.confirmed_member = false;
        } else if sessions == self.last_sent_sessions
            || now_ms < self.last_sent_ms.saturating_add(COUNT_REPORT_INTERVAL_MS)
        {
            return ReportPlan::Skip;
        }
        if sessions == 0 && self.last_sent_sessions == 0 && self.last_version > 0 {
            return ReportPlan::Skip;
        }
        let version = self.next_version(now_ms);
        self.note_sent(sessions, now_ms);
        ReportPlan::Background(MembershipReport { shard: self.shard, version, sessions })
    }

    fn note_sent(&mut self, sessions: u64, now_ms: u64) {
        self.last_sent_sessions = sessions;
        self.last_sent_ms = now_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(shard: u32, version: u64, sessions: u64) -> MembershipReport {
        MembershipReport { shard, version, sessions }
    }

    #[test]
    fn newer_reports_win_and_stale_ones_are_ignored() {
        let mut m = Membership::default();
        assert!(matches!(m.apply(report(3, 10, 2)), Applied::Updated(_)));
        assert_eq!(m.apply(report(3, 9, 0)), Applied::Stale);
        assert_eq!(m.apply(report(3, 10, 5)), Applied::Stale);
        assert_eq!(m.members(), vec![Member { shard: 3, sessions: 2 }]);
        m.apply(report(3, 11, 0));
        assert!(m.members().is_empty());
    }

    #[test]
    fn members_are_sorted_and_totalled() {
        let mut m = Membership::default();
        m.apply(report(7, 1, 4));
        m.apply(report(1, 1, 3));
        m.apply(report(5, 1, 0));
        assert_eq!(m.members().iter().map(|x| x.shard).collect::<Vec<_>>(), vec![1, 7]);
        assert_eq!(m.total_sessions(), 7);
    }

    #[test]
    fn first_accept_awaits_and_later_ones_do_not() {
        let mut r = MembershipReporter::new(2);
        let ReportPlan::Await(first) = r.before_accept(1, 1_000) else { panic!("must await") };
        assert_eq!(first.sessions, 1);
        // A second accept while the first report is still in flight must await it too: it joins
        // that report instead of sending its own.
        assert_eq!(r.before_accept(2, 1_000), ReportPlan::Join);
        // A failed report is not joined any more: the next accept sends (and awaits) a new one.
        r.report_failed();
        let ReportPlan::Await(again) = r.before_accept(2, 1_001) else { panic!("must await a new report") };
        assert!(again.version > first.version);
        r.confirm_member();
        assert_eq!(r.before_accept(3, 1_001), ReportPlan::Skip);
        assert!(matches!(r.before_accept(4, 5_000), ReportPlan::Background(_)));
    }

    #[test]
    fn emptying_ends_membership_and_rejoining_awaits_with_a_newer_version() {
        let mut r = MembershipReporter::new(0);
        let ReportPlan::Await(joined) = r.before_accept(1, 50) else { panic!() };
        r.confirm_member();
        let ReportPlan::Background(left) = r.after_count_change(0, 50) else { panic!("must report empty") };
        assert_eq!(left.sessions, 0);
        assert!(!r.is_confirmed_member());
        let ReportPlan::Await(rejoined) = r.before_accept(1, 50) else { panic!("must await again") };
        assert!(joined.version < left.version && left.version < rejoined.version);
        // Whatever order the coordinator sees them in, the newest wins.
        let mut m = Membership::default();
        m.apply(rejoined);
        m.apply(left);
        m.apply(joined);
        assert_eq!(m.members(), vec![Member { shard: 0, sessions: 1 }]);
    }

    #[test]
    fn a_close_during_a_pending_accept_keeps_the_shard_a_member() {
        let mut r = MembershipReporter::new(4);
        let ReportPlan::Await(pending) = r.before_accept(1, 100) else { panic!() };
        // An older socket closes while the accept waits; the count includes the pending accept.
        let plan = r.after_count_change(1, 100);
        let mut m = Membership::default();
        if let ReportPlan::Background(report) = plan {
            m.apply(report);
        }
        m.apply(pending);
        assert_eq!(m.members(), vec![Member { shard: 4, sessions: 1 }]);
    }

    #[test]
    fn versions_after_a_restart_beat_versions_before_it() {
        let mut before = MembershipReporter::new(1);
        for _ in 0..1000 {
            before.before_accept(1, 10_000);
        }
        let mut after = MembershipReporter::new(1);
        let ReportPlan::Await(fresh) = after.before_accept(1, 10_001) else { panic!() };
        assert!(fresh.version > before.last_version);
    }

    #[test]
    fn counting_is_due_only_when_a_report_could_follow() {
        let mut reporter = MembershipReporter::new(1);
        assert!(reporter.count_report_due(0), "an unconfirmed shard must count before accepting");
        assert!(matches!(reporter.before_accept(1, 5_000), ReportPlan::Await(_)));
        reporter.confirm_member();
        // Within the interval a confirmed member with sessions skips any count change...
        assert!(!reporter.count_report_due(5_000 + COUNT_REPORT_INTERVAL_MS - 1));
        assert_eq!(reporter.after_count_change(7, 5_000 + COUNT_REPORT_INTERVAL_MS - 1), ReportPlan::Skip);
        // ...and after it, a changed count is reported.
        assert!(reporter.count_report_due(5_000 + COUNT_REPORT_INTERVAL_MS));
        assert!(matches!(reporter.after_count_change(7, 5_000 + COUNT_REPORT_INTERVAL_MS), ReportPlan::Background(_)));
        // Losing the last session ends membership, after which counting is due again.
        assert!(matches!(
            reporter.after_count_change(0, 5_000 + COUNT_REPORT_INTERVAL_MS + 1),
            ReportPlan::Background(_)
        ));
        assert!(reporter.count_report_due(5_000 + COUNT_REPORT_INTERVAL_MS + 1));
    }
}

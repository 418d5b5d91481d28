//! The control calls the coordinator answers, each a type with its path and reply (see
//! [`super::ObjectCall`]), and [`CoordinatorCalls`], the handler trait the coordinator implements.
//! Must not touch the runtime.

use serde::{Deserialize, Serialize};

use super::Ack;
use crate::metrics::WorkerCounters;

super::object_calls! {
    /// What the coordinator answers: one method per control call. The coordinator object implements
    /// it; [`dispatch_coordinator_call`] routes a POST to it.
    trait CoordinatorCalls;
    /// Runs the coordinator handler a path names on a JSON body; `NotFound` for a path no call has.
    fn dispatch_coordinator_call;
    /// Every coordinator call's handler name and path.
    const COORDINATOR_CALLS;

    /// A shard's session count; the first report of a shard with sessions makes it a member.
    report(MembershipReport) -> ReportAck = "/v3/report";
    /// The shards a broadcast has to reach.
    list_members(ListMembers) -> MemberList = "/v3/members";
    /// Adds to a deployment-wide counter.
    add_to_counter(AddToCounter) -> CounterValue = "/v3/counter/add";
    /// A deployment-wide counter's value (0 for one never added to).
    read_counter(ReadCounter) -> CounterValue = "/v3/counter/get";
    /// Adds an isolate's Worker-side counters to the deployment's.
    add_worker_metrics(AddWorkerMetrics) -> Ack = "/v3/worker-metrics/add";
    /// The Worker-side counters of every isolate that flushed, summed.
    read_worker_metrics(ReadWorkerMetrics) -> WorkerCounters = "/v3/worker-metrics/get";
}

/// An isolate's counters since its last flush.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddWorkerMetrics {
    /// What to add.
    pub delta: WorkerCounters,
}

/// Asks for the summed Worker-side counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadWorkerMetrics {}

/// A shard tells the coordinator how many sessions it holds. `version` orders reports from one shard,
/// so a delayed report never overwrites a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipReport {
    /// The reporting shard's number.
    pub shard: u32,
    /// Higher is newer, across restarts too; the coordinator ignores a report whose version is not
    /// above the last one it applied for the shard.
    pub version: u64,
    /// Live streams the shard holds (counting accepts in flight); 0 takes it out of the member list.
    pub sessions: u64,
}

/// Answer to [`MembershipReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    /// False when the report was stale (its version not newer than the one already applied).
    pub applied: bool,
}

/// Asks for the member shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMembers {}

/// One shard in the coordinator's member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The shard's number.
    pub shard: u32,
    /// Its last reported session count.
    pub sessions: u64,
}

/// Answer to [`ListMembers`]: the shards a broadcast has to reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    /// The members in shard order, each at most once.
    pub members: Vec<Member>,
}

/// Adds to a counter, atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddToCounter {
    /// The counter; an unknown one starts at 0.
    pub name: String,
    /// How much to add.
    pub by: u64,
}

/// Reads a counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadCounter {
    /// The counter; an unknown one reads as 0.
    pub name: String,
}

/// Answer to [`AddToCounter`] and [`ReadCounter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterValue {
    /// The counter's value after the call.
    pub value: u64,
}

//! What the mesh counts: a shard's counters ([`ShardCounters`]) and an isolate's Worker-side counters
//! ([`WorkerCounters`]). Both are plain sums that add up across flushes, shards and isolates, so each
//! holder keeps deltas in memory and merges them into the stored totals now and then (never a write
//! per message); their JSON is what is stored and what the calls carry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;
use crate::protocol::SendReport;

/// A shard's counters since it first counted, kept across hibernation in its storage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardCounters {
    /// Events written to streams.
    pub deliveries: u64,
    /// Open sockets whose write failed (the shard closes them).
    pub delivery_failures: u64,
    /// Targeted sessions with no open stream here.
    pub missing_recipients: u64,
    /// Streams that resumed with `Last-Event-ID` and were replayed to.
    pub replays: u64,
    /// Events those replays wrote.
    pub replayed_events: u64,
    /// Resuming streams that took over a still-registered one.
    pub stream_takeovers: u64,
    /// Second streams refused with 409.
    pub stream_conflicts: u64,
    /// Streams refused with 503 at the socket limit.
    pub shard_full: u64,
    /// The shard's time on each broadcast, from the call's arrival to its report.
    pub broadcast_send: Histogram,
    /// The same for targeted sends.
    pub targeted_send: Histogram,
}

impl ShardCounters {
    /// Counts one send's report and its duration.
    pub fn count_send(&mut self, report: &SendReport, targeted: bool, duration_ms: f64) {
        self.deliveries += report.delivered;
        self.delivery_failures += report.failed;
        self.missing_recipients += report.missing;
        if targeted { &mut self.targeted_send } else { &mut self.broadcast_send }.observe_ms(duration_ms);
    }

    /// Adds `other` to these.
    pub fn merge(&mut self, other: &ShardCounters) {
        self.deliveries += other.deliveries;
        self.delivery_failures += other.delivery_failures;
        self.missing_recipients += other.missing_recipients;
        self.replays += other.replays;
        self.replayed_events += other.replayed_events;
        self.stream_takeovers += other.stream_takeovers;
        self.stream_conflicts += other.stream_conflicts;
        self.shard_full += other.shard_full;
        self.broadcast_send.merge(&other.broadcast_send);
        self.targeted_send.merge(&other.targeted_send);
    }
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolOutcome {
    /// The tool answered.
    Ok,
    /// The tool answered with `isError: true`.
    ToolError,
    /// The call failed with a JSON-RPC error (bad arguments, a failing handler).
    Error,
}

impl ToolOutcome {
    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::Error => "error",
        }
    }
}

/// The class of an HTTP status, as the `status_class` label.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The `route` label of a request to the Worker: a fixed name per route and method, never the raw
/// path (a label per URL would grow without bound).
pub fn route_label(method: &str, path: &str) -> &'static str {
    match (path, method) {
        ("/mcp", "POST") => "mcp_post",
        ("/mcp", "GET") => "mcp_get",
        ("/mcp", "DELETE") => "mcp_delete",
        ("/mcp", _) => "mcp_other",
        ("/mesh/", _) => "dashboard",
        ("/mesh/metrics", _) => "mesh_metrics",
        ("/mesh/status", _) => "mesh_status",
        (_, _) if path.starts_with("/mesh/") => "mesh_admin",
        (_, _) if path.starts_with("/.well-known/") => "well_known",
        _ => "other",
    }
}

/// What the Worker counts, per isolate, until it flushes them to the coordinator (which sums every
/// isolate's). Label values are bounded: routes and reasons are fixed names, tools are the server's
/// registered ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerCounters {
    /// Requests by route, then by status class.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Time to each request's response headers, by route.
    pub request_durations: BTreeMap<String, Histogram>,
    /// Broadcasts sent.
    pub broadcasts: u64,
    /// Each broadcast's fan-out, from the member list to the last shard's report.
    pub broadcast_fanout: Histogram,
    /// Calls the broadcasts made (to shards, or to relays above `RELAY_ABOVE_SHARDS`).
    pub broadcast_shard_calls: u64,
    /// Tool calls by tool, then by outcome.
    pub tool_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// GET and listen streams cut off because their client stopped reading.
    pub backpressure_cutoffs: u64,
    /// Requests refused for their credentials, by reason.
    pub auth_rejections: BTreeMap<String, u64>,
}

impl WorkerCounters {
    /// Counts one request.
    pub fn count_request(&mut self, route: &str, status: u16, duration_ms: f64) {
        *self.requests.entry(route.to_owned()).or_default().entry(status_class(status).to_owned()).or_default() += 1;
        self.request_durations.entry(route.to_owned()).or_default().observe_ms(duration_ms);
    }

    /// Counts one broadcast and the calls it made.
    pub fn count_broadcast(&mut self, calls: usize, duration_ms: f64) {
        self.broadcasts += 1;
        self.broadcast_shard_calls += calls as u64;
        self.broadcast_fanout.observe_ms(duration_ms);
    }

    /// Counts one tool call.
    pub fn count_tool_call(&mut self, tool: &str, outcome: ToolOutcome) {
        *self.tool_calls.entry(tool.to_owned()).or_default().entry(outcome.label().to_owned()).or_default() += 1;
    }

    /// Counts one refused credential.
    pub fn count_auth_rejection(&mut self, reason: &str) {
        *self.auth_rejections.entry(reason.to_owned()).or_default() += 1;
    }

    /// Nothing counted since the last flush.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Adds `other` to these.
    pub fn merge(&mut self, other: &WorkerCounters) {
        merge_nested(&mut self.requests, &other.requests);
        for (route, histogram) in &other.request_durations {
            self.request_durations.entry(route.clone()).or_default().merge(histogram);
        }
        self.broadcasts += other.broadcasts;
        self.broadcast_fanout.merge(&other.broadcast_fanout);
        self.broadcast_shard_calls += other.broadcast_shard_calls;
        merge_nested(&mut self.tool_calls, &other.tool_calls);
        self.backpressure_cutoffs += other.backpressure_cutoffs;
        for (reason, count) in &other.auth_rejections {
            *self.auth_rejections.entry(reason.clone()).or_default() += count;
        }
    }
}

fn merge_nested(into: &mut BTreeMap<String, BTreeMap<String, u64>>, from: &BTreeMap<String, BTreeMap<String, u64>>) {
    for (outer, inner) in from {
        let target = into.entry(outer.clone()).or_default();
        for (key, count) in inner {
            *target.entry(key.clone()).or_default() += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_counts_its_report_under_its_kind() {
        let mut counters = ShardCounters::default();
        counters.count_send(&SendReport { delivered: 5, failed: 1, missing: 2 }, true, 3.0);
        counters.count_send(&SendReport { delivered: 7, failed: 0, missing: 0 }, false, 4.0);
        assert_eq!((counters.deliveries, counters.delivery_failures, counters.missing_recipients), (12, 1, 2));
        assert_eq!((counters.targeted_send.count, counters.broadcast_send.count), (1, 1));
    }

    #[test]
    fn flushed_deltas_add_up_to_what_was_counted() {
        let mut total = WorkerCounters::default();
        let mut delta = WorkerCounters::default();
        delta.count_request("mcp_post", 200, 2.0);
        delta.count_request("mcp_post", 404, 1.0);
        delta.count_tool_call("echo", ToolOutcome::Ok);
        delta.count_auth_rejection("invalid_token");
        delta.count_broadcast(16, 30.0);
        total.merge(&delta);
        total.merge(&delta);
        assert_eq!(total.requests["mcp_post"]["2xx"], 2);
        assert_eq!(total.requests["mcp_post"]["4xx"], 2);
        assert_eq!(total.request_durations["mcp_post"].count, 4);
        assert_eq!(total.tool_calls["echo"]["ok"], 2);
        assert_eq!(total.auth_rejections["invalid_token"], 2);
        assert_eq!((total.broadcasts, total.broadcast_shard_calls), (2, 32));
        assert!(WorkerCounters::default().is_empty() && !total.is_empty());
    }

    #[test]
    fn stored_counters_read_back_and_old_rows_read_with_defaults() {
        let mut counters = ShardCounters { replays: 3, ..Default::default() };
        counters.broadcast_send.observe_ms(2.0);
        let json = serde_json::to_string(&counters).unwrap();
        assert_eq!(serde_json::from_str::<ShardCounters>(&json).unwrap(), counters);
        assert_eq!(serde_json::from_str::<ShardCounters>(r#"{"deliveries":4}"#).unwrap().deliveries, 4);
        assert_eq!(status_class(503), "5xx");
        assert_eq!(route_label("GET", "/mcp"), "mcp_get");
        assert_eq!(route_label("GET", "/mesh/send"), "mesh_admin");
        assert_eq!(route_label("GET", "/.well-known/oauth-protected-resource/mcp"), "well_known");
        assert_eq!(route_label("GET", "/favicon.ico"), "other");
        assert_eq!(status_class(101), "1xx");
    }
}

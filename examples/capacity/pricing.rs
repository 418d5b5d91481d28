//! The price of a month of a workload on Cloudflare (Workers Paid, Standard usage model), for the
//! seed's design (one Durable Object and the KV info manager) and for the mesh, from Cloudflare's
//! published prices. What each operation costs in requests, CPU, object time, rows and KV keys is
//! counted from what each design does per operation (docs/capacity.md, "The price of a workload");
//! the CPU and object times are the unit costs measured here.

use super::costs::UnitCosts;
use super::model::{expected_distinct_shards, SHARD_MAX_SOCKETS, SOCKETS_PER_OBJECT, SUBSCRIBED_FRACTION};

/// A metered item: its price per million units beyond what a month includes.
#[derive(Clone, Copy, Debug)]
pub struct Price {
    pub usd_per_million: f64,
    pub included_per_month: f64,
}

impl Price {
    pub fn of(&self, units: f64) -> f64 {
        (units - self.included_per_month).max(0.0) / 1e6 * self.usd_per_million
    }
}

// https://developers.cloudflare.com/workers/platform/pricing/ (page last updated 2026-07-07):
// "minimum charge of $5 USD per month"; requests "10 million included per month +$0.30 per additional
// million"; CPU "30 million CPU milliseconds included per month +$0.02 per additional million CPU
// milliseconds"; subrequests are not billed as Worker requests, and "WebSocket messages routed through
// a Worker do not count as requests".
pub const WORKERS_PLAN_USD: f64 = 5.0;
pub const WORKER_REQUESTS: Price = Price { usd_per_million: 0.30, included_per_month: 10e6 };
pub const WORKER_CPU_MS: Price = Price { usd_per_million: 0.02, included_per_month: 30e6 };

// https://developers.cloudflare.com/durable-objects/platform/pricing/ (page last updated 2026-06-19):
// requests "1 million / month, + $0.15/million" (HTTP requests, RPC, WebSocket messages, alarms;
// incoming WebSocket messages at 20:1, outgoing free); duration "400,000 GB-s / month, +
// $12.50/million GB-s", billed for 128 MB whatever is used, not while idle and hibernatable; SQLite
// "Rows reads: First 25 billion / month included + $0.001 / million rows", "Rows written: First 50
// million / month included + $1.00 / million rows", deletes count as rows written; billed since
// 2026-01-07 (changelog 2025-12-12). A later revision rounds usage up to whole billing units; not
// modelled.
pub const OBJECT_REQUESTS: Price = Price { usd_per_million: 0.15, included_per_month: 1e6 };
pub const OBJECT_GB_S: Price = Price { usd_per_million: 12.50, included_per_month: 400_000.0 };
pub const OBJECT_MEMORY_GB: f64 = 0.128;
pub const ROWS_READ: Price = Price { usd_per_million: 0.001, included_per_month: 25e9 };
pub const ROWS_WRITTEN: Price = Price { usd_per_million: 1.00, included_per_month: 50e6 };

// https://developers.cloudflare.com/kv/platform/pricing/ (page last updated 2026-04-21): reads
// "10 million/month, + $0.50/million"; writes, deletes and lists "1 million/month, + $5.00/million"
// each; a read of a missing key is billed too.
pub const KV_READS: Price = Price { usd_per_million: 0.50, included_per_month: 10e6 };
pub const KV_WRITES: Price = Price { usd_per_million: 5.00, included_per_month: 1e6 };
pub const KV_LISTS: Price = Price { usd_per_million: 5.00, included_per_month: 1e6 };

const SECONDS_PER_MONTH: f64 = 30.0 * 86_400.0;

/// A month of traffic.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: &'static str,
    /// Sessions connected at any time.
    pub sessions: f64,
    /// New sessions a day (initialize, initialized, GET).
    pub sessions_started_per_day: f64,
    /// Times a day each session's stream drops and comes back (a GET that resumes).
    pub reconnects_per_session_per_day: f64,
    /// Broadcasts (a list change, to every session) per second.
    pub broadcasts_per_s: f64,
    /// Targeted sends (a resource update, to `SUBSCRIBED_FRACTION` of the sessions) per second.
    pub targeted_per_s: f64,
    /// Tool calls (POSTs in a session) per second.
    pub tool_calls_per_s: f64,
}

/// The three sizes docs/capacity.md prices.
pub fn workloads() -> [Workload; 3] {
    [
        Workload {
            name: "small",
            sessions: 1_000.0,
            sessions_started_per_day: 1_000.0,
            reconnects_per_session_per_day: 24.0,
            broadcasts_per_s: 0.01,
            targeted_per_s: 0.1,
            tool_calls_per_s: 5.0,
        },
        Workload {
            name: "medium",
            sessions: 20_000.0,
            sessions_started_per_day: 20_000.0,
            reconnects_per_session_per_day: 24.0,
            broadcasts_per_s: 0.1,
            targeted_per_s: 1.0,
            tool_calls_per_s: 100.0,
        },
        Workload {
            name: "large",
            sessions: 1_000_000.0,
            sessions_started_per_day: 1_000_000.0,
            reconnects_per_session_per_day: 24.0,
            broadcasts_per_s: 0.1,
            targeted_per_s: 1.0,
            tool_calls_per_s: 2_000.0,
        },
    ]
}

/// The shard count docs/capacity.md sizes a deployment with: shards about half full, at least 16,
/// a power of two.
pub fn shards_for(sessions: f64) -> u32 {
    ((sessions / (SHARD_MAX_SOCKETS as f64 / 2.0)).ceil() as u32).max(16).next_power_of_two()
}

/// Which design is priced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Priced {
    /// The seed: one object for every stream, session info in KV.
    Seed,
    /// The mesh on `shards` shards, through relays above `relay_above` member shards (0: never).
    Mesh { shards: u32, relay_above: u32 },
}

/// What a month of a workload uses and costs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bill {
    pub worker_requests: f64,
    pub worker_cpu_ms: f64,
    pub object_requests: f64,
    pub object_gb_s: f64,
    pub rows_read: f64,
    pub rows_written: f64,
    pub kv_reads: f64,
    pub kv_writes: f64,
    pub kv_lists: f64,
    /// Why the design cannot carry the workload, if it cannot.
    pub cannot_hold: Option<String>,
}

impl Bill {
    /// Each priced line, in US dollars: (what, usd).
    pub fn lines(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("Workers plan", WORKERS_PLAN_USD),
            ("Worker requests", WORKER_REQUESTS.of(self.worker_requests)),
            ("Worker CPU", WORKER_CPU_MS.of(self.worker_cpu_ms)),
            ("object requests", OBJECT_REQUESTS.of(self.object_requests)),
            ("object duration", OBJECT_GB_S.of(self.object_gb_s)),
            ("SQLite rows read", ROWS_READ.of(self.rows_read)),
            ("SQLite rows written", ROWS_WRITTEN.of(self.rows_written)),
            ("KV reads", KV_READS.of(self.kv_reads)),
            ("KV writes and deletes", KV_WRITES.of(self.kv_writes)),
            ("KV lists", KV_LISTS.of(self.kv_lists)),
        ]
    }

    pub fn total_usd(&self) -> f64 {
        self.lines().iter().map(|(_, usd)| usd).sum()
    }
}

/// A month of `workload` under `design`, with `costs` the unit costs measured for it.
pub fn price(costs: &UnitCosts, design: Priced, workload: &Workload) -> Bill {
    let month = |per_s: f64| per_s * SECONDS_PER_MONTH;
    let per_day = |per_day: f64| per_day * 30.0;
    let w = workload;
    let deliveries_per_s = w.broadcasts_per_s * w.sessions + w.targeted_per_s * w.sessions * SUBSCRIBED_FRACTION;
    let subscribers = w.sessions * SUBSCRIBED_FRACTION;
    let creates = per_day(w.sessions_started_per_day);
    let reconnects = per_day(w.sessions * w.reconnects_per_session_per_day);
    // Both designs: three Worker requests per create, one per reconnect and per tool call; the Worker
    // relays every delivery into its client's stream (CPU, no request); a reconnect is a third of a create.
    let worker_requests = 3.0 * creates + reconnects + month(w.tool_calls_per_s);
    let worker_cpu_ms = creates * costs.create_worker_ms
        + reconnects * costs.create_worker_ms / 3.0
        + month(w.tool_calls_per_s + w.broadcasts_per_s + w.targeted_per_s) * costs.tool_call_ms
        + month(deliveries_per_s) * costs.relay_ms;
    // Objects are billed while they work: their writes of every delivery, and each call's handling
    // (the local object call, an upper bound). Hibernatable sockets cost nothing idle.
    let object_seconds =
        |calls: f64| (month(deliveries_per_s) * costs.socket_send_ms + calls * costs.object_call_ms) / 1e3;
    let mut bill = match design {
        Priced::Seed => {
            // A create: 2 KV puts (initialize) and 3 reads (initialized); its GET: `has` and the
            // upgrade. Every later POST reads 3 keys; a targeted send lists the topic's keys and reads
            // each; a reconnect is cancel (delete), `has` and the upgrade.
            let object_requests = 2.0 * creates + 3.0 * reconnects + month(w.broadcasts_per_s + w.targeted_per_s);
            Bill {
                worker_requests,
                worker_cpu_ms,
                object_requests,
                object_gb_s: object_seconds(object_requests) * OBJECT_MEMORY_GB,
                kv_reads: 3.0 * creates + 3.0 * month(w.tool_calls_per_s) + month(w.targeted_per_s) * subscribers,
                kv_writes: 2.0 * creates,
                kv_lists: month(w.targeted_per_s),
                cannot_hold: (w.sessions > SOCKETS_PER_OBJECT as f64)
                    .then(|| format!("one object holds at most {SOCKETS_PER_OBJECT} sockets")),
                ..Bill::default()
            }
        }
        Priced::Mesh { shards, relay_above } => {
            let members = (shards as f64).min(w.sessions.max(1.0));
            let relays = if relay_above > 0 && members > relay_above as f64 {
                mcp_mesh::fanout::relay_count(members as usize) as f64
            } else {
                0.0
            };
            let targeted_shards = expected_distinct_shards(shards, subscribers);
            // A create: register, the session check of `initialized`, the GET's upgrade; a tool call:
            // its session check; a reconnect: the upgrade (its replay reads a few rows). A broadcast:
            // the member list, then one call per member shard (and relay); a targeted send: the topic's
            // subscribers, then one call per shard holding some. Each shard's send logs one row and
            // prunes about one.
            let object_requests = 3.0 * creates
                + reconnects
                + month(w.tool_calls_per_s)
                + month(w.broadcasts_per_s) * (1.0 + members + relays)
                + month(w.targeted_per_s) * (1.0 + targeted_shards);
            let shard_sends = month(w.broadcasts_per_s) * members + month(w.targeted_per_s) * targeted_shards;
            Bill {
                worker_requests,
                worker_cpu_ms,
                object_requests,
                object_gb_s: object_seconds(object_requests) * OBJECT_MEMORY_GB,
                rows_read: 2.0 * creates
                    + 4.0 * reconnects
                    + month(w.tool_calls_per_s)
                    + month(w.broadcasts_per_s) * members
                    + month(w.targeted_per_s) * subscribers,
                rows_written: creates + 2.0 * shard_sends,
                cannot_hold: (w.sessions > (shards as u64 * SHARD_MAX_SOCKETS) as f64)
                    .then(|| format!("{shards} shards hold at most {} sockets", shards as u64 * SHARD_MAX_SOCKETS)),
                ..Bill::default()
            }
        }
    };
    bill.worker_requests = bill.worker_requests.round();
    bill
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::costs::example_costs;

    fn quiet(sessions: f64) -> Workload {
        Workload {
            name: "test",
            sessions,
            sessions_started_per_day: 0.0,
            reconnects_per_session_per_day: 0.0,
            broadcasts_per_s: 0.0,
            targeted_per_s: 0.0,
            tool_calls_per_s: 0.0,
        }
    }

    #[test]
    fn a_price_counts_only_what_a_month_does_not_include() {
        assert_eq!(WORKER_REQUESTS.of(5e6), 0.0);
        assert!((WORKER_REQUESTS.of(20e6) - 3.0).abs() < 1e-9);
        assert!((KV_WRITES.of(3e6) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn an_idle_month_costs_the_plan_only() {
        let bill = price(&example_costs(), Priced::Mesh { shards: 16, relay_above: 0 }, &quiet(1_000.0));
        assert_eq!(bill.total_usd(), WORKERS_PLAN_USD);
    }

    #[test]
    fn the_seeds_targeted_sends_read_every_subscriber_from_kv_and_the_meshs_from_one_shard() {
        let w = Workload { targeted_per_s: 1.0, ..quiet(20_000.0) };
        let seed = price(&example_costs(), Priced::Seed, &w);
        // 2,000 subscribers read per send, 2,592,000 sends a month.
        assert!((seed.kv_reads - 2_000.0 * 2_592_000.0).abs() < 1.0, "{seed:?}");
        assert!((seed.kv_lists - 2_592_000.0).abs() < 1.0);
        let mesh = price(&example_costs(), Priced::Mesh { shards: 16, relay_above: 0 }, &w);
        assert_eq!(mesh.kv_reads, 0.0);
        assert!(mesh.total_usd() < seed.total_usd(), "{mesh:?} vs {seed:?}");
    }

    #[test]
    fn relays_add_their_calls_to_a_broadcasts_requests() {
        let w = Workload { broadcasts_per_s: 1.0, ..quiet(1_000_000.0) };
        let direct = price(&example_costs(), Priced::Mesh { shards: 64, relay_above: 0 }, &w);
        let relayed = price(&example_costs(), Priced::Mesh { shards: 64, relay_above: 32 }, &w);
        assert!((relayed.object_requests - direct.object_requests - 8.0 * 2_592_000.0).abs() < 1.0);
        assert!(price(&example_costs(), Priced::Seed, &w).cannot_hold.is_some());
    }
}

//! The capacity model: from measured unit costs, what a broadcast, a session create and a targeted
//! send cost for K sessions on N shards (or the seed's one object), under two execution models:
//!
//! - **local**: workerd runs one thread per process. One process (`make bench`) does the objects' and
//!   the Worker's work on that thread; the cluster (`make bench-cluster`) gives the objects one process
//!   and the Worker F others, all sharing the machine's cores with the clients.
//! - **Cloudflare**: every object and every Worker invocation runs on its own thread; a call's headers
//!   come back a round trip after it is made (a parameter: this machine cannot measure Cloudflare's);
//!   a caller has at most 6 calls waiting for headers and 1,000 object subrequests per invocation; an
//!   object holds at most 32,768 sockets and serves about 1,000 requests/s.
//!
//! Deliveries of one broadcast complete one after another as the busiest thread works through them, so
//! the q-quantile recipient waits for the fixed part plus q of the serial part.

use super::costs::UnitCosts;

/// Where the work runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Execution {
    /// Everything in one workerd process: one thread.
    LocalSingle,
    /// Objects in one process, the Worker in `fronts` processes, on `cores` cores shared with the clients.
    LocalCluster { fronts: u32, cores: u32 },
    /// Cloudflare: a thread per object and per Worker invocation.
    Cloudflare(Network),
}

/// What a call costs on Cloudflare besides the callee's work.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Network {
    /// From making a call to its response headers.
    pub round_trip_ms: f64,
    /// The caller's own CPU per call (serializing, the fetch, reading the answer).
    pub call_cpu_ms: f64,
}

/// The Worker→object round trips the predictions are made at (ms): the object call measured here
/// (`make bench`, one process), then within a location, across a region, across a continent.
pub const ROUND_TRIPS_MS: [f64; 4] = [0.37, 2.0, 10.0, 25.0];

impl Network {
    pub fn new(round_trip_ms: f64, call_cpu_ms: f64) -> Self {
        Self { round_trip_ms, call_cpu_ms }
    }
}

/// The design being modelled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Design {
    /// The seed: one object holds every session.
    SingleObject,
    /// The mesh with `shards` shards.
    Mesh { shards: u32, fanout: Fanout },
}

/// How a broadcast reaches the member shards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fanout {
    /// Before headers-first replies: a call returned after the shard's writes, so it held one of the
    /// caller's 6 connections while the shard wrote (shards wrote 6 at a time).
    WholeReply,
    /// As built: a shard answers headers first, so a call holds a connection one round trip and the
    /// shards' writes overlap.
    HeadersFirst,
    /// As built above `RELAY_ABOVE_SHARDS`: the Worker calls `relays` relay objects headers first, and
    /// each calls its share of the shards the same way, with its own connections and budget.
    Relayed { relays: u32 },
}

impl Design {
    /// The mesh as built, calling its shards directly.
    pub fn mesh(shards: u32) -> Self {
        Self::Mesh { shards, fanout: Fanout::HeadersFirst }
    }

    /// The mesh as built with its relay tier on: ⌈√shards⌉ relays (`mcp_mesh::fanout::relay_count`).
    pub fn relayed(shards: u32) -> Self {
        let relays = mcp_mesh::fanout::relay_count(shards as usize) as u32;
        Self::Mesh { shards, fanout: Fanout::Relayed { relays } }
    }

    /// The mesh before headers-first replies.
    pub fn whole_reply(shards: u32) -> Self {
        Self::Mesh { shards, fanout: Fanout::WholeReply }
    }
}

/// Cloudflare's published limits (README "Capacity model").
pub const SOCKETS_PER_OBJECT: u64 = 32_768;
/// The mesh keeps each shard a little under the hard limit (`SHARD_MAX_SOCKETS`).
pub const SHARD_MAX_SOCKETS: u64 = 32_000;
pub const OBJECT_REQUESTS_PER_S: f64 = 1_000.0;
pub const CONNECTIONS_IN_FLIGHT: u32 = 6;
pub const SUBREQUESTS_PER_INVOCATION: u32 = 1_000;
/// Share of sessions subscribed to the topic a targeted send goes to (as the benchmarks do).
pub const SUBSCRIBED_FRACTION: f64 = 0.1;
/// Requests a create puts on its session's object: initialize registers, the GET stream is accepted
/// (`notifications/initialized` costs the objects nothing).
pub const OBJECT_REQUESTS_PER_CREATE: f64 = 2.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub broadcast_p50_ms: f64,
    pub broadcast_p99_ms: f64,
    pub creates_per_s: f64,
    pub targeted_per_s: f64,
    /// Why the design cannot hold K sessions at all, if it cannot.
    pub cannot_hold: Option<String>,
}

/// Predicts the four figures for `sessions` sessions.
pub fn predict(costs: &UnitCosts, design: Design, execution: Execution, sessions: u64) -> Prediction {
    let k = sessions as f64;
    let members = match design {
        Design::SingleObject => 1,
        Design::Mesh { shards, .. } => (shards as u64).min(sessions.max(1)) as u32,
    };
    let cannot_hold = limit_broken(design, execution, sessions);
    let recipients = (k * SUBSCRIBED_FRACTION).max(1.0);
    let targeted_shards = targeted_shards(design, recipients);
    let (extra_objects, extra_worker) = targeted_extra(costs, design, k, recipients);
    // Locally a broadcast waits for its fixed calls and then for the busiest thread's serial share; a
    // targeted send does the same for its recipients; creates run at the busiest thread's pace.
    // `head`: work done before the first delivery, `per_delivery`: the serial work each one adds.
    let local = |head: f64, per_delivery: f64, per_create: f64, targeted_serial: f64| {
        let fixed = costs.tool_call_ms + members as f64 * costs.object_call_ms + head;
        let serial = k * per_delivery;
        let targeted = costs.tool_call_ms + targeted_shards * costs.object_call_ms + targeted_serial;
        let share = costs.throughput_share;
        (
            fixed + 0.5 * serial,
            fixed + 0.99 * serial * costs.p99_tail,
            share * 1_000.0 / per_create,
            share * 1_000.0 / targeted,
        )
    };
    let (broadcast_p50_ms, broadcast_p99_ms, creates_per_s, targeted_per_s) = match execution {
        // One thread does both sides, in order: the shards called at once write all their sockets
        // before the thread relays the first message; the rest follow. Answered headers first, every
        // shard is called within a few turns, before the first relay; a whole reply held a
        // connection, so 6 at once.
        Execution::LocalSingle => {
            let at_once = match design {
                Design::Mesh { fanout: Fanout::WholeReply, .. } => {
                    members.min(CONNECTIONS_IN_FLIGHT) as f64 / members as f64
                }
                _ => 1.0,
            };
            let head = at_once * k * costs.socket_send_ms;
            let per_delivery = costs.relay_ms + (1.0 - at_once) * costs.socket_send_ms;
            let targeted = recipients * (costs.socket_send_ms + costs.relay_ms) + extra_objects + extra_worker;
            local(head, per_delivery, costs.create_objects_ms + costs.create_worker_ms, targeted)
        }
        Execution::LocalCluster { fronts, cores } => {
            // The busiest thread (the objects' one, or F fronts sharing the Worker's work), or the
            // machine's cores as a whole, whichever is slower.
            let busiest = |objects: f64, worker: f64, client: f64| {
                let (f, c) = (fronts.max(1) as f64, cores.max(1) as f64);
                objects.max(worker / f).max((objects + worker + client) / c)
            };
            let per_delivery = busiest(costs.socket_send_ms, costs.relay_ms, costs.client_read_ms);
            let per_create = busiest(costs.create_objects_ms, costs.create_worker_ms, costs.create_client_ms);
            let targeted = busiest(
                recipients * costs.socket_send_ms + extra_objects,
                recipients * costs.relay_ms + extra_worker,
                recipients * costs.client_read_ms,
            );
            local(0.0, per_delivery, per_create, targeted)
        }
        Execution::Cloudflare(network) => cloudflare(costs, design, network, members, k, recipients, targeted_shards),
    };
    Prediction { broadcast_p50_ms, broadcast_p99_ms, creates_per_s, targeted_per_s, cannot_hold }
}

/// How many of `shards` shards hold at least one of `recipients` sessions spread at random.
pub fn expected_distinct_shards(shards: u32, recipients: f64) -> f64 {
    let n = shards.max(1) as f64;
    n * (1.0 - (1.0 - 1.0 / n).powf(recipients))
}

/// The objects a targeted send to `recipients` sessions calls: the seed's one, or the mesh's shards
/// holding at least one recipient.
pub fn targeted_shards(design: Design, recipients: f64) -> f64 {
    match design {
        Design::SingleObject => 1.0,
        Design::Mesh { shards, .. } => expected_distinct_shards(shards, recipients),
    }
}

/// What the objects' extra targeted work per recipient is multiplied by with `k` sessions: the seed's
/// one object checks every session it holds against the recipient list; a shard looks recipients up.
pub fn recipient_check_scale(design: Design, k: f64) -> f64 {
    match design {
        Design::SingleObject => k,
        Design::Mesh { .. } => 1.0,
    }
}

/// A targeted send's extra work (objects, Worker) for `recipients` of `k` sessions.
pub fn targeted_extra(costs: &UnitCosts, design: Design, k: f64, recipients: f64) -> (f64, f64) {
    let objects = costs.targeted_objects_extra_ms * recipient_check_scale(design, k) * recipients;
    (objects, costs.targeted_worker_extra_ms * recipients)
}

fn limit_broken(design: Design, execution: Execution, sessions: u64) -> Option<String> {
    if !matches!(execution, Execution::Cloudflare(_)) {
        return None;
    }
    match design {
        Design::SingleObject if sessions > SOCKETS_PER_OBJECT => {
            Some(format!("one object holds at most {SOCKETS_PER_OBJECT} sockets"))
        }
        Design::Mesh { shards, .. } if sessions > shards as u64 * SHARD_MAX_SOCKETS => {
            Some(format!("{shards} shards hold at most {} sockets", shards as u64 * SHARD_MAX_SOCKETS))
        }
        Design::Mesh { shards, fanout: Fanout::WholeReply | Fanout::HeadersFirst }
            if shards + 1 > SUBREQUESTS_PER_INVOCATION =>
        {
            Some(format!(
                "a broadcast to {shards} shards needs {} subrequests (limit {SUBREQUESTS_PER_INVOCATION}): relay tier",
                shards + 1
            ))
        }
        Design::Mesh { shards, fanout: Fanout::Relayed { relays } }
            if relays + 1 > SUBREQUESTS_PER_INVOCATION
                || shards.div_ceil(relays.max(1)) > SUBREQUESTS_PER_INVOCATION =>
        {
            Some(format!(
                "{relays} relays cannot reach {shards} shards within {SUBREQUESTS_PER_INVOCATION} subrequests each"
            ))
        }
        _ => None,
    }
}

/// When a caller makes its i-th call (from 0) of a fan-out whose calls each hold one of its 6
/// connections for `held_ms`: every 6 calls wait for a slot, and each costs the caller's thread
/// `call_cpu_ms`, whichever is slower.
pub fn call_made_at(i: u32, held_ms: f64, call_cpu_ms: f64) -> f64 {
    ((i / CONNECTIONS_IN_FLIGHT) as f64 * held_ms).max(i as f64 * call_cpu_ms)
}

/// Cloudflare: the Worker asks the coordinator for the members, then calls them with 6 waiting at
/// once. Answered headers first a call holds its connection one round trip, so shard j starts a
/// round trip after call j is made; a whole reply held it while the shard wrote. Through relays, the
/// Worker's call to relay j mod R comes first, then that relay's call ⌊j/R⌋. Each recipient's relay
/// into its SSE stream runs in its own Worker invocation, in parallel with every other.
fn cloudflare(
    costs: &UnitCosts,
    design: Design,
    network: Network,
    members: u32,
    k: f64,
    recipients: f64,
    targeted_shards: f64,
) -> (f64, f64, f64, f64) {
    let per_shard = k / members as f64;
    let Network { round_trip_ms: rtt, call_cpu_ms: cpu } = network;
    let writes = per_shard * costs.socket_send_ms;
    // When shard j starts writing: after the coordinator's member list (mesh) and its own call.
    let start = |j: u32| -> f64 {
        match design {
            Design::SingleObject => rtt,
            Design::Mesh { fanout: Fanout::WholeReply, .. } => 2.0 * rtt + call_made_at(j, rtt + writes, cpu),
            Design::Mesh { fanout: Fanout::HeadersFirst, .. } => 2.0 * rtt + call_made_at(j, rtt, cpu),
            Design::Mesh { fanout: Fanout::Relayed { relays }, .. } => {
                let relays = relays.max(1);
                3.0 * rtt + call_made_at(j % relays, rtt, cpu) + call_made_at(j / relays, rtt, cpu)
            }
        }
    };
    let quantile = |q: f64| completion_quantile(q, members, start, per_shard, costs);
    let creates_per_object =
        (OBJECT_REQUESTS_PER_S / OBJECT_REQUESTS_PER_CREATE).min(1_000.0 / costs.create_objects_ms.max(1e-9));
    let creates = creates_per_object * members as f64;
    // A targeted send: one topic lookup on the topic's shard (mesh), then one call per shard holding
    // recipients; each of those objects serves ≤ 1,000 requests/s and writes its share of sockets.
    let (extra_objects, _) = targeted_extra(costs, design, k, recipients);
    let per_object_write = (recipients * costs.socket_send_ms + extra_objects) / targeted_shards;
    let per_object_rate = OBJECT_REQUESTS_PER_S.min(1_000.0 / (per_object_write + costs.object_call_ms));
    let targeted = match design {
        Design::SingleObject => per_object_rate,
        Design::Mesh { .. } => per_object_rate.min(OBJECT_REQUESTS_PER_S),
    };
    (quantile(0.5), quantile(0.99), creates, targeted)
}

/// The time by which a fraction `q` of all recipients have their message, when shard j (of `members`,
/// each with `per_shard` recipients) starts writing at `start(j)` and its i-th socket is written at
/// start + (i + 1) × send, then relayed.
fn completion_quantile(q: f64, members: u32, start: impl Fn(u32) -> f64, per_shard: f64, costs: &UnitCosts) -> f64 {
    let total = per_shard * members as f64;
    let done_by = |t: f64| -> f64 {
        (0..members)
            .map(|j| ((t - start(j) - costs.relay_ms) / costs.socket_send_ms.max(1e-12)).clamp(0.0, per_shard))
            .sum()
    };
    let last_start = (0..members).map(&start).fold(0.0, f64::max);
    let (mut low, mut high) = (0.0, last_start + per_shard * costs.socket_send_ms + costs.relay_ms + 1.0);
    for _ in 0..100 {
        let mid = 0.5 * (low + high);
        if done_by(mid) >= q * total {
            high = mid;
        } else {
            low = mid;
        }
    }
    high
}

/// Where direct fan-out stops for a shard count: the sessions N shards can hold.
pub fn direct_fanout_sessions(shards: u32) -> u64 {
    shards as u64 * SHARD_MAX_SOCKETS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::costs::example_costs as costs;

    #[test]
    fn local_single_is_the_sum_of_both_sides_on_one_thread() {
        let p = predict(&costs(), Design::whole_reply(16), Execution::LocalSingle, 10_000);
        // With whole replies the first 6 of 16 shards write their share before the first relay; then
        // each delivery costs its relay and the rest of the writes.
        let fixed = 5.0 + 16.0 + 6.0 / 16.0 * 10_000.0 * 0.03;
        let per_delivery = 0.1 + 10.0 / 16.0 * 0.03;
        assert!((p.broadcast_p50_ms - (fixed + 0.5 * 10_000.0 * per_delivery)).abs() < 1e-9, "{p:?}");
        // Headers first, every shard writes before the first relay.
        let first = predict(&costs(), Design::mesh(16), Execution::LocalSingle, 10_000);
        let fixed = 5.0 + 16.0 + 10_000.0 * 0.03;
        assert!((first.broadcast_p50_ms - (fixed + 0.5 * 10_000.0 * 0.1)).abs() < 1e-9, "{first:?}");
        assert!((p.creates_per_s - 1_000.0 / 6.5).abs() < 1e-9);
        // The seed's one object writes every socket before the first relay.
        let seed = predict(&costs(), Design::SingleObject, Execution::LocalSingle, 10_000);
        assert!((seed.broadcast_p50_ms - (5.0 + 1.0 + 300.0 + 0.5 * 10_000.0 * 0.1)).abs() < 1e-9, "{seed:?}");
    }

    #[test]
    fn more_fronts_help_until_the_machine_or_the_objects_thread_is_the_limit() {
        let one = predict(&costs(), Design::mesh(16), Execution::LocalCluster { fronts: 1, cores: 2 }, 50_000);
        let four = predict(&costs(), Design::mesh(16), Execution::LocalCluster { fronts: 4, cores: 2 }, 50_000);
        assert!(four.broadcast_p99_ms < one.broadcast_p99_ms);
        let per_delivery = (0.03f64 + 0.1 + 0.02) / 2.0;
        assert!((four.broadcast_p99_ms - (21.0 + 0.99 * 50_000.0 * per_delivery)).abs() < 1e-6);
    }

    /// Cloudflare with a 1 ms round trip and no CPU per call, as the example costs' object call.
    fn cloudflare() -> Execution {
        Execution::Cloudflare(Network::new(1.0, 0.0))
    }

    #[test]
    fn whole_replies_set_the_broadcast_time_in_rounds_of_six_shards() {
        let c = costs();
        // 12 shards of 1,000: two rounds; the second starts when the first round's shards are done. The
        // 99th percentile (11,880 delivered) is the 980th socket of each second-round shard.
        let p = predict(&c, Design::whole_reply(12), cloudflare(), 12_000);
        let round = 1.0 + 1_000.0 * 0.03;
        let p99 = 2.0 + round + 980.0 * 0.03 + 0.1;
        assert!((p.broadcast_p99_ms - p99).abs() < 0.01, "{p:?} vs {p99}");
        assert!(p.broadcast_p50_ms <= p.broadcast_p99_ms);
    }

    #[test]
    fn headers_first_and_relays_take_the_writes_out_of_the_rounds() {
        let c = costs();
        // 12 shards of 1,000 in two rounds: a whole reply's second round waits for the first one's
        // writes (1 + 30 ms); headers first it starts one round trip later and the writes overlap.
        let whole = predict(&c, Design::whole_reply(12), cloudflare(), 12_000);
        let first = predict(&c, Design::mesh(12), cloudflare(), 12_000);
        assert!((whole.broadcast_p99_ms - (2.0 + 31.0 + 980.0 * 0.03 + 0.1)).abs() < 0.01, "{whole:?}");
        assert!((first.broadcast_p99_ms - (2.0 + 1.0 + 980.0 * 0.03 + 0.1)).abs() < 0.01, "{first:?}");
        // 10 relays of 6 shards: one hop more; relays 6 to 9 are called a round trip later, so their 24
        // shards start at 4 ms, the other 36 at 3: the 99th percentile is the 975th socket of the late ones.
        let relayed = Design::Mesh { shards: 60, fanout: Fanout::Relayed { relays: 10 } };
        let p = predict(&c, relayed, cloudflare(), 60_000);
        assert!((p.broadcast_p99_ms - (4.0 + 975.0 * 0.03 + 0.1)).abs() < 0.01, "{p:?}");
        assert_eq!(Design::relayed(512), Design::Mesh { shards: 512, fanout: Fanout::Relayed { relays: 23 } });
    }

    #[test]
    fn a_callers_cpu_spaces_its_calls_when_it_is_slower_than_the_round_trips() {
        assert_eq!(call_made_at(5, 1.0, 0.0), 0.0, "the first six go at once");
        assert_eq!(call_made_at(11, 1.0, 0.0), 1.0);
        assert_eq!(call_made_at(11, 1.0, 0.5), 5.5, "eleven calls' CPU before the twelfth");
        // 64 shards of 1,000 with 0.5 ms per call: the last is made at 31.5 ms instead of 10 round trips.
        let slow = predict(&costs(), Design::mesh(64), Execution::Cloudflare(Network::new(1.0, 0.5)), 64_000);
        let fast = predict(&costs(), Design::mesh(64), cloudflare(), 64_000);
        assert!(slow.broadcast_p99_ms > fast.broadcast_p99_ms + 15.0, "{slow:?} vs {fast:?}");
    }

    #[test]
    fn limits_are_reported_not_predicted_past() {
        let c = costs();
        assert!(predict(&c, Design::SingleObject, cloudflare(), 40_000).cannot_hold.is_some());
        assert!(predict(&c, Design::SingleObject, cloudflare(), 30_000).cannot_hold.is_none());
        assert!(predict(&c, Design::mesh(16), cloudflare(), 1_000_000).cannot_hold.is_some());
        assert!(predict(&c, Design::mesh(64), cloudflare(), 1_000_000).cannot_hold.is_none());
        assert_eq!(direct_fanout_sessions(512), 16_384_000);
        let wide = Design::mesh(1_024);
        assert!(predict(&c, wide, cloudflare(), 20_000_000).cannot_hold.is_some());
        let relayed = Design::Mesh { shards: 1_024, fanout: Fanout::Relayed { relays: 2 } };
        assert!(predict(&c, relayed, cloudflare(), 20_000_000).cannot_hold.is_none());
    }

    #[test]
    fn targeted_sends_reach_the_shards_their_recipients_are_on() {
        assert!((expected_distinct_shards(16, 1.0) - 1.0).abs() < 1e-9);
        // 10 recipients on 16 shards land on ~7.61 of them, 100 on practically all.
        assert!((expected_distinct_shards(16, 10.0) - 7.61).abs() < 0.01);
        assert!(expected_distinct_shards(16, 100.0) > 15.9);
    }

    #[test]
    fn the_seeds_recipient_check_grows_with_sessions_times_recipients() {
        let c = UnitCosts { targeted_objects_extra_ms: 1e-5, ..costs() };
        let time = |k: u64| 1_000.0 / predict(&c, Design::SingleObject, Execution::LocalSingle, k).targeted_per_s;
        // tool + one call + recipients × (send + relay) + sessions × recipients × check.
        assert!((time(1_000) - (5.0 + 1.0 + 100.0 * 0.13 + 1e-5 * 1_000.0 * 100.0)).abs() < 1e-9);
        assert!((time(10_000) - (5.0 + 1.0 + 1_000.0 * 0.13 + 1e-5 * 10_000.0 * 1_000.0)).abs() < 1e-9);
        // The mesh's extra work is per recipient only.
        let mesh = 1_000.0 / predict(&c, Design::mesh(1), Execution::LocalSingle, 10_000).targeted_per_s;
        assert!((mesh - (5.0 + 1.0 + 1_000.0 * 0.13 + 1e-5 * 1_000.0)).abs() < 1e-9);
    }

    #[test]
    fn a_clusters_targeted_send_waits_for_its_busiest_side() {
        let c = UnitCosts { targeted_worker_extra_ms: 0.3, ..costs() };
        let cluster = Execution::LocalCluster { fronts: 1, cores: 2 };
        let p = predict(&c, Design::mesh(1), cluster, 10_000);
        // The one front relays and does the extra work for 1,000 recipients: 0.4 ms each.
        assert!((1_000.0 / p.targeted_per_s - (5.0 + 1.0 + 1_000.0 * 0.4)).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn a_measured_tail_stretches_the_local_p99_only() {
        let tailed = UnitCosts { p99_tail: 1.3, ..costs() };
        let (plain, late) = (
            predict(&costs(), Design::mesh(1), Execution::LocalSingle, 10_000),
            predict(&tailed, Design::mesh(1), Execution::LocalSingle, 10_000),
        );
        assert_eq!(plain.broadcast_p50_ms, late.broadcast_p50_ms);
        // mesh-1: 5 + 1 ms fixed, every socket written first (300 ms), then 0.99 × 10,000 relays.
        assert!((late.broadcast_p99_ms - (306.0 + 0.99 * 10_000.0 * 0.1 * 1.3)).abs() < 1e-9, "{late:?}");
        let cloud = |c: &UnitCosts| predict(c, Design::mesh(16), cloudflare(), 100_000).broadcast_p99_ms;
        assert_eq!(cloud(&costs()), cloud(&tailed));
    }

    #[test]
    fn a_measured_throughput_share_scales_local_creates_and_targeted_sends_only() {
        let shared = UnitCosts { throughput_share: 0.8, ..costs() };
        let cluster = Execution::LocalCluster { fronts: 2, cores: 2 };
        let (plain, slower) =
            (predict(&costs(), Design::mesh(16), cluster, 10_000), predict(&shared, Design::mesh(16), cluster, 10_000));
        assert!((slower.creates_per_s - 0.8 * plain.creates_per_s).abs() < 1e-9, "{slower:?}");
        assert!((slower.targeted_per_s - 0.8 * plain.targeted_per_s).abs() < 1e-9, "{slower:?}");
        assert_eq!(plain.broadcast_p99_ms, slower.broadcast_p99_ms);
        let cloud = |c: &UnitCosts| predict(c, Design::mesh(16), cloudflare(), 100_000).creates_per_s;
        assert_eq!(cloud(&costs()), cloud(&shared));
    }

    #[test]
    fn creates_on_cloudflare_scale_with_shards_up_to_the_request_limit() {
        let c = costs();
        let one = predict(&c, Design::SingleObject, cloudflare(), 10_000).creates_per_s;
        let mesh = predict(&c, Design::mesh(64), cloudflare(), 1_000_000).creates_per_s;
        assert!((one - 500.0).abs() < 1e-9, "{one}");
        assert!((mesh - 64.0 * 500.0).abs() < 1e-9, "{mesh}");
    }
}

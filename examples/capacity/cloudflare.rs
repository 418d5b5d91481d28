//! The model's answers for Cloudflare, drawn from `model::predict`: every design × sessions × round
//! trip (`predictions`), the best shard count of each design (`best`), whether the relay tier pays
//! (`relay_tier`), from which shard count (`relay_threshold`), and how many shards to deploy per
//! session count (`sizing`). Each returns what `main` prints and writes under "model".

use serde_json::{json, Value};

use super::costs::UnitCosts;
use super::model::{predict, Design, Execution, Network, Prediction, ROUND_TRIPS_MS};
use super::{round1, round3};

pub const PREDICTED_SESSIONS: [u64; 3] = [100_000, 1_000_000, 10_000_000];
pub const PREDICTED_SHARDS: [u32; 4] = [16, 64, 256, 512];
/// The seed is also predicted here, the most sessions its one object holds (rounded down).
pub const SEED_REFERENCE_SESSIONS: u64 = 30_000;
/// Where the relay tier is judged: 1,000,000 sessions, at round trips of 2 ms and more.
pub const RELAY_JUDGED_AT_SESSIONS: u64 = 1_000_000;
pub const RELAY_JUDGED_FROM_RTT_MS: f64 = 2.0;
/// The shard counts and per-shard load `relay_threshold` compares relays at.
pub const RELAY_THRESHOLD_SHARDS: [u32; 7] = [8, 16, 24, 32, 48, 64, 128];
pub const RELAY_THRESHOLD_SESSIONS_PER_SHARD: u64 = 2_000;
/// Where `sizing` looks: session counts, the round trip, and how far from the best p99 is enough.
pub const SIZING_SESSIONS: [u64; 7] = [1_000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 10_000_000];
pub const SIZING_RTT_MS: f64 = 2.0;
pub const SIZING_SLACK_PERCENT: f64 = 10.0;

/// How each design is labelled in the predictions.
pub const SEED: &str = "seed (1 object)";
pub const WHOLE_REPLY: &str = "whole replies (before)";
pub const HEADERS_FIRST: &str = "headers first";
pub const RELAYED: &str = "through relays";

/// Every design × session count × round trip on Cloudflare, with the Worker's CPU per call taken as
/// the whole local object call (an upper bound: it includes the object's side).
pub fn predictions(mesh: &UnitCosts, seed: &UnitCosts) -> Vec<Value> {
    let mut out = Vec::new();
    for sessions in std::iter::once(SEED_REFERENCE_SESSIONS).chain(PREDICTED_SESSIONS) {
        for rtt in ROUND_TRIPS_MS {
            let network = Network::new(rtt, mesh.object_call_ms);
            let cloudflare = Execution::Cloudflare(network);
            let p = predict(seed, Design::SingleObject, cloudflare, sessions);
            out.push(prediction_json(sessions, network, SEED, None, &p));
            for shards in PREDICTED_SHARDS {
                for (label, design) in [
                    (WHOLE_REPLY, Design::whole_reply(shards)),
                    (HEADERS_FIRST, Design::mesh(shards)),
                    (RELAYED, Design::relayed(shards)),
                ] {
                    let p = predict(mesh, design, cloudflare, sessions);
                    out.push(prediction_json(sessions, network, label, Some(shards), &p));
                }
            }
        }
    }
    out
}

/// The lowest broadcast p99 of design `label` at one point, and where (`mesh-N`).
pub fn best(predictions: &[Value], sessions: u64, rtt: f64, call_cpu_ms: f64, label: &str) -> Option<(String, f64)> {
    predictions
        .iter()
        .filter(|p| p["sessions"] == json!(sessions) && p["design"] == json!(label))
        .filter(|p| p["round_trip_ms"] == json!(rtt) && p["call_cpu_ms"] == json!(round3(call_cpu_ms)))
        .filter_map(|p| {
            let where_ = p["shards"].as_u64().map_or("1 object".to_owned(), |n| format!("{n} shards"));
            Some((where_, p["broadcast_p99_ms"].as_f64()?))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// How much the relay tier cuts a broadcast's p99 at 1,000,000 sessions, each way at its best shard
/// count, at every round trip and at both bounds of the Worker's CPU per call (none; the whole local
/// call); built if the cut is 2× or more at 2 ms and above.
pub fn relay_tier(mesh: &UnitCosts) -> Value {
    let sessions = RELAY_JUDGED_AT_SESSIONS;
    let mut gains = Vec::new();
    for call_cpu_ms in [0.0, mesh.object_call_ms] {
        for rtt in ROUND_TRIPS_MS {
            let cloudflare = Execution::Cloudflare(Network::new(rtt, call_cpu_ms));
            let lowest = |design: fn(u32) -> Design| {
                PREDICTED_SHARDS
                    .iter()
                    .map(|&shards| (shards, predict(mesh, design(shards), cloudflare, sessions)))
                    .filter(|(_, p)| p.cannot_hold.is_none())
                    .min_by(|a, b| a.1.broadcast_p99_ms.total_cmp(&b.1.broadcast_p99_ms))
            };
            let (Some((direct_shards, direct)), Some((relayed_shards, relayed))) =
                (lowest(Design::mesh), lowest(Design::relayed))
            else {
                continue;
            };
            gains.push(json!({
                "round_trip_ms": rtt,
                "call_cpu_ms": round3(call_cpu_ms),
                "headers_first_p99_ms": round1(direct.broadcast_p99_ms),
                "headers_first_shards": direct_shards,
                "relayed_p99_ms": round1(relayed.broadcast_p99_ms),
                "relayed_shards": relayed_shards,
                "gain": round1(direct.broadcast_p99_ms / relayed.broadcast_p99_ms),
            }));
        }
    }
    let judged: Vec<f64> = gains
        .iter()
        .filter(|g| g["round_trip_ms"].as_f64().is_some_and(|rtt| rtt >= RELAY_JUDGED_FROM_RTT_MS))
        .filter_map(|g| g["gain"].as_f64())
        .collect();
    let least = judged.iter().cloned().fold(f64::INFINITY, f64::min);
    let decision = if least >= 2.0 {
        format!(
            "relay tier: built (at {sessions} sessions it cuts the broadcast p99 by {least}x or more at every \
             round trip from {RELAY_JUDGED_FROM_RTT_MS} ms, at either bound of the caller's CPU per call)"
        )
    } else {
        format!(
            "relay tier: the least cut at {sessions} sessions from {RELAY_JUDGED_FROM_RTT_MS} ms is {least}x, under 2x"
        )
    };
    json!({ "sessions": sessions, "gains": gains, "least_gain_from_2ms": least, "decision": decision })
}

/// From which shard count relays cut a broadcast's p99, with shards a few thousand sessions each
/// (where the rounds, not the writes, make the difference), at round trips from 2 ms and the whole
/// local call as the caller's CPU: what `RELAY_ABOVE_SHARDS`' default stands on.
pub fn relay_threshold(mesh: &UnitCosts) -> Value {
    let mut rows = Vec::new();
    let mut relays_pay_from: Option<u32> = None;
    for shards in RELAY_THRESHOLD_SHARDS {
        let sessions = u64::from(shards) * RELAY_THRESHOLD_SESSIONS_PER_SHARD;
        let mut wins_everywhere = true;
        for rtt in ROUND_TRIPS_MS.into_iter().filter(|&rtt| rtt >= RELAY_JUDGED_FROM_RTT_MS) {
            let cloudflare = Execution::Cloudflare(Network::new(rtt, mesh.object_call_ms));
            let direct = predict(mesh, Design::mesh(shards), cloudflare, sessions).broadcast_p99_ms;
            let relayed = predict(mesh, Design::relayed(shards), cloudflare, sessions).broadcast_p99_ms;
            wins_everywhere &= relayed < direct;
            rows.push(json!({
                "shards": shards,
                "sessions": sessions,
                "round_trip_ms": rtt,
                "headers_first_p99_ms": round1(direct),
                "relayed_p99_ms": round1(relayed),
            }));
        }
        match (wins_everywhere, relays_pay_from) {
            (true, None) => relays_pay_from = Some(shards),
            (false, Some(_)) => relays_pay_from = None,
            _ => {}
        }
    }
    let decision = match relays_pay_from {
        Some(shards) => {
            format!("relays cut the p99 at every round trip from {RELAY_JUDGED_FROM_RTT_MS} ms from {shards} shards on")
        }
        None => "relays do not cut the p99 at every round trip at any shard count here".to_owned(),
    };
    json!({ "rows": rows, "relays_pay_from_shards": relays_pay_from, "decision": decision })
}

/// The shard count to deploy per session count on Cloudflare: the fewest shards (each costs a call
/// per broadcast, and an object) whose broadcast p99 is within `SIZING_SLACK_PERCENT` of the best,
/// as built (relays above `DEFAULT_RELAY_ABOVE_SHARDS`).
pub fn sizing(mesh: &UnitCosts) -> Value {
    let cloudflare = Execution::Cloudflare(Network::new(SIZING_RTT_MS, mesh.object_call_ms));
    let as_built = |shards: u32| {
        if mcp_mesh::fanout::goes_through_relays(shards as usize, mcp_mesh::config::DEFAULT_RELAY_ABOVE_SHARDS) {
            Design::relayed(shards)
        } else {
            Design::mesh(shards)
        }
    };
    let mut rows = Vec::new();
    for sessions in SIZING_SESSIONS {
        let options: Vec<(u32, f64)> = (0..=9)
            .map(|power| 1u32 << power)
            .map(|shards| (shards, predict(mesh, as_built(shards), cloudflare, sessions)))
            .filter(|(_, p)| p.cannot_hold.is_none())
            .map(|(shards, p)| (shards, p.broadcast_p99_ms))
            .collect();
        let Some(&(best_shards, best)) = options.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else { continue };
        let enough = best * (1.0 + SIZING_SLACK_PERCENT / 100.0);
        let Some(&(shards, p99)) = options.iter().find(|(_, p99)| *p99 <= enough) else { continue };
        rows.push(json!({
            "sessions": sessions,
            "shards": shards,
            "broadcast_p99_ms": round1(p99),
            "best_shards": best_shards,
            "best_p99_ms": round1(best),
        }));
    }
    Value::Array(rows)
}

fn prediction_json(sessions: u64, network: Network, design: &str, shards: Option<u32>, p: &Prediction) -> Value {
    json!({
        "sessions": sessions,
        "round_trip_ms": network.round_trip_ms,
        "call_cpu_ms": round3(network.call_cpu_ms),
        "design": design,
        "shards": shards,
        "broadcast_p50_ms": p.cannot_hold.is_none().then(|| round1(p.broadcast_p50_ms)),
        "broadcast_p99_ms": p.cannot_hold.is_none().then(|| round1(p.broadcast_p99_ms)),
        "creates_per_s": p.cannot_hold.is_none().then(|| round1(p.creates_per_s)),
        "targeted_per_s": p.cannot_hold.is_none().then(|| round1(p.targeted_per_s)),
        "cannot_hold": p.cannot_hold,
    })
}

#[cfg(test)]
mod tests {
    use super::{relay_threshold, sizing, SIZING_SESSIONS};
    use crate::costs::example_costs;

    #[test]
    fn relays_pay_only_past_a_few_shards_and_sizing_grows_with_sessions() {
        let threshold = relay_threshold(&example_costs());
        let from = threshold["relays_pay_from_shards"].as_u64().expect("relays pay somewhere in 8..128");
        assert!(from > 8, "at 8 shards a relay is a hop that saves no round, yet it paid from {from}");
        let rows = sizing(&example_costs());
        let shards: Vec<u64> = rows.as_array().unwrap().iter().map(|r| r["shards"].as_u64().unwrap()).collect();
        assert_eq!(shards.len(), SIZING_SESSIONS.len());
        assert!(shards.windows(2).all(|w| w[0] <= w[1]), "more sessions never want fewer shards: {shards:?}");
        for row in rows.as_array().unwrap() {
            let (chosen, best) = (row["broadcast_p99_ms"].as_f64().unwrap(), row["best_p99_ms"].as_f64().unwrap());
            assert!(chosen <= best * 1.1 + 0.1, "{row}");
            assert!(row["shards"].as_u64() <= row["best_shards"].as_u64(), "{row}");
        }
    }
}

//! The capacity model as code (model.rs), checked against what the benchmarks measured and then used
//! to predict past this machine.
//!
//! ```sh
//! cargo run --release --example capacity [-- --latest loadtest/results/latest.json \
//!     --cluster loadtest/results/cluster.json --svg loadtest/results/capacity.svg]
//! ```
//!
//! 1. Reads the unit costs from the benchmark output (inputs.rs).
//! 2. Predicts every measured point under the local execution model (one process, or the cluster)
//!    and prints the error of each figure against the median of that point's runs, with the local p99
//!    stretched by the tail and the throughputs scaled by the share the calibration runs measured
//!    (`LocalFactors`).
//! 3. Predicts broadcast p99, creates/s and targeted sends/s on Cloudflare for 100,000 to 10,000,000
//!    sessions at 16 to 512 shards and Worker→object round trips of 0.37 to 25 ms: the seed's single
//!    object, the mesh before headers-first replies, as built, and through its relay tier; and how
//!    much the relay tier cuts a broadcast's p99 (`relay_tier`).
//! 4. Writes them under "model" in cluster.json, and the broadcast p99 curves (2 ms) as an SVG.

mod costs;
mod inputs;
mod model;
mod plot;
mod pricing;

use costs::{median, UnitCosts};
use inputs::{Inputs, CALIBRATION_POINTS, CALIBRATION_SESSIONS, SINGLE_CALIBRATION_SESSIONS};
use model::{direct_fanout_sessions, predict, Design, Execution, Network, Prediction, ROUND_TRIPS_MS};
use serde_json::{json, Value};

const FIGURES: [&str; 4] = ["broadcast_p50_ms", "broadcast_p99_ms", "creates_per_s", "targeted_per_s"];
const PREDICTED_SESSIONS: [u64; 3] = [100_000, 1_000_000, 10_000_000];
const PREDICTED_SHARDS: [u32; 4] = [16, 64, 256, 512];
/// The seed is also predicted here, the most sessions its one object holds (rounded down).
const SEED_REFERENCE_SESSIONS: u64 = 30_000;
/// Where the relay tier is judged: 1,000,000 sessions, at round trips of 2 ms and more.
const RELAY_JUDGED_AT_SESSIONS: u64 = 1_000_000;
const RELAY_JUDGED_FROM_RTT_MS: f64 = 2.0;
/// The shard counts and per-shard load `relay_threshold` compares relays at.
const RELAY_THRESHOLD_SHARDS: [u32; 7] = [8, 16, 24, 32, 48, 64, 128];
const RELAY_THRESHOLD_SESSIONS_PER_SHARD: u64 = 2_000;
/// Where `sizing` looks: session counts, the round trip, and how far from the best p99 is enough.
const SIZING_SESSIONS: [u64; 7] = [1_000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 10_000_000];
const SIZING_RTT_MS: f64 = 2.0;
const SIZING_SLACK_PERCENT: f64 = 10.0;
/// The round trip the SVG's curves are drawn at.
const PLOTTED_RTT_MS: f64 = 2.0;
/// How a check from a run's own CPU is labelled.
const OWN_COSTS: &str = ", its own CPU costs";
/// The machine's cores (the cluster's processes share them).
const LOCAL_CORES: u32 = 2;

struct Args {
    latest: String,
    cluster: String,
    svg: String,
    /// `make bench-repeat`'s runs (default: every loadtest/results/repeats/*.json).
    repeats: Vec<String>,
    /// The cluster points the costs come from (`--calibration 10000:1,30000:3`; default
    /// `CALIBRATION_POINTS`), in ascending sessions.
    calibration: Vec<(u64, u64)>,
}

fn parse_args() -> Args {
    let mut args = Args {
        latest: "loadtest/results/latest.json".into(),
        cluster: "loadtest/results/cluster.json".into(),
        svg: "loadtest/results/capacity.svg".into(),
        repeats: repeat_files("loadtest/results/repeats"),
        calibration: CALIBRATION_POINTS.to_vec(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--latest", Some(v)) => args.latest = v.clone(),
            ("--cluster", Some(v)) => args.cluster = v.clone(),
            ("--svg", Some(v)) => args.svg = v.clone(),
            ("--repeats", Some(v)) => args.repeats = repeat_files(v),
            ("--calibration", Some(v)) => {
                args.calibration = parse_points(v).unwrap_or_else(|| fail(&format!("--calibration {v}: want K:F,K:F")))
            }
            _ => {
                eprintln!(
                    "usage: capacity [--latest FILE] [--cluster FILE] [--svg FILE] [--repeats DIR] \
                     [--calibration SESSIONS:FRONTS,SESSIONS:FRONTS]"
                );
                std::process::exit(2)
            }
        }
    }
    args
}

/// "10000:1,30000:3" as points sorted by sessions; `None` unless one or two well-formed points.
fn parse_points(text: &str) -> Option<Vec<(u64, u64)>> {
    let mut points = text
        .split(',')
        .map(|point| {
            let (sessions, fronts) = point.trim().split_once(':')?;
            Some((sessions.parse().ok()?, fronts.parse().ok()?))
        })
        .collect::<Option<Vec<(u64, u64)>>>()?;
    points.sort();
    let distinct = points.windows(2).all(|w| w[0].0 < w[1].0);
    (matches!(points.len(), 1 | 2) && distinct && points.iter().all(|&(k, f)| k > 0 && f > 0)).then_some(points)
}

fn repeat_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

fn main() {
    let args = parse_args();
    let inputs =
        Inputs::read(&args.latest, &args.cluster, &args.repeats, args.calibration).unwrap_or_else(|e| fail(&e));
    // Cloudflare's figures use the 10,000-session costs: there no process holds more than one object's
    // sockets or one stream, so the local growth with sessions held does not carry over.
    let mesh = inputs.costs("mesh-16", Design::mesh(16), CALIBRATION_SESSIONS).unwrap_or_else(|e| fail(&e));
    let seed = inputs.costs("baseline", Design::SingleObject, CALIBRATION_SESSIONS).unwrap_or_else(|e| fail(&e));
    // Every layout's costs, as the checks use them: one process, and the cluster at each calibration size.
    let mut unit_costs = serde_json::Map::new();
    for (system, design) in [("mesh-16", Design::mesh(16)), ("baseline", Design::SingleObject)] {
        for sessions in SINGLE_CALIBRATION_SESSIONS {
            if let Ok(Some(single)) = inputs.single_costs(system, design, sessions) {
                println!("unit costs (ms), {system}, one process at {sessions} sessions: {single:?}");
                unit_costs.insert(format!("{system}, one process at {sessions} sessions"), costs_json(&single));
            }
        }
        for (sessions, _) in inputs.calibration_runs(system) {
            if let Ok(costs) = inputs.costs(system, design, sessions) {
                println!("unit costs (ms), {system}, cluster at {sessions} sessions: {costs:?}");
                unit_costs.insert(format!("{system}, cluster at {sessions} sessions"), costs_json(&costs));
            }
        }
    }

    let (validation, factors) = validate(&inputs, &mesh, &seed);
    println!("\n| run | sessions | figure | measured (median of n, range) | predicted | error |");
    println!("|---|---:|---|---:|---:|---:|");
    for v in &validation {
        println!(
            "| {} | {} | {} | {} (n={}, {}–{}) | {} | {:+.0} %{} |",
            v["run"].as_str().unwrap_or(""),
            v["sessions"],
            v["figure"].as_str().unwrap_or(""),
            v["measured"],
            v["measured_runs"],
            v["measured_range"][0],
            v["measured_range"][1],
            v["predicted"],
            v["error_pct"].as_f64().unwrap_or(0.0),
            if v["calibration"].as_bool() == Some(true) { " (calibration run)" } else { "" }
        );
    }
    // Predictions from the calibration costs, and apart the checks of the execution model alone (a run
    // predicted from its own CPU).
    for own in [false, true] {
        let checked: Vec<&Value> = validation
            .iter()
            .filter(|v| v["calibration"].as_bool() != Some(true))
            .filter(|v| v["run"].as_str().is_some_and(|r| r.ends_with(OWN_COSTS)) == own)
            .collect();
        let within = checked.iter().filter(|v| v["error_pct"].as_f64().is_some_and(|e| e.abs() <= 25.0)).count();
        let what = if own { "figures predicted from a run's own CPU" } else { "predicted figures" };
        println!("{}{within} of {} {what} within 25 %", if own { "" } else { "\n" }, checked.len());
    }

    let predictions = predictions(&mesh, &seed);
    println!(
        "\nCloudflare predictions, broadcast p99 (each design at its best shard count of {PREDICTED_SHARDS:?}; \
              the Worker's CPU per call taken as the whole local call, {:.2} ms):\n",
        mesh.object_call_ms
    );
    println!("| sessions | round trip | seed (1 object) | mesh, whole replies (before) | mesh, headers first | mesh through relays |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for sessions in std::iter::once(SEED_REFERENCE_SESSIONS).chain(PREDICTED_SESSIONS) {
        for rtt in ROUND_TRIPS_MS {
            let cell = |label: &str| match best(&predictions, sessions, rtt, mesh.object_call_ms, label) {
                Some((design, p99)) => format!("{p99:.0} ms ({design})"),
                None => "—".into(),
            };
            println!(
                "| {sessions} | {rtt} ms | {} | {} | {} | {} |",
                cell(SEED),
                cell(WHOLE_REPLY),
                cell(HEADERS_FIRST),
                cell(RELAYED)
            );
        }
    }
    let relay_tier = relay_tier(&mesh);
    println!("\nrelay tier at {RELAY_JUDGED_AT_SESSIONS} sessions: best headers-first p99 / best relayed p99");
    for row in relay_tier["gains"].as_array().into_iter().flatten() {
        println!(
            "  round trip {} ms, caller CPU per call {} ms: {} / {} = {}x",
            row["round_trip_ms"], row["call_cpu_ms"], row["headers_first_p99_ms"], row["relayed_p99_ms"], row["gain"]
        );
    }
    println!("{}", relay_tier["decision"].as_str().unwrap_or(""));
    let relay_threshold = relay_threshold(&mesh);
    println!("\nrelays or not, by shard count ({RELAY_THRESHOLD_SESSIONS_PER_SHARD} sessions per shard), broadcast p99 direct / relayed:");
    for row in relay_threshold["rows"].as_array().into_iter().flatten() {
        println!(
            "  {} shards, round trip {} ms: {} / {} ms",
            row["shards"], row["round_trip_ms"], row["headers_first_p99_ms"], row["relayed_p99_ms"]
        );
    }
    println!("{}", relay_threshold["decision"].as_str().unwrap_or(""));
    let sizing = sizing(&mesh);
    println!("\nsizing SHARD_COUNT on Cloudflare ({SIZING_RTT_MS} ms round trip, as built with the default relays): the fewest shards within {SIZING_SLACK_PERCENT} % of the best broadcast p99");
    for row in sizing.as_array().into_iter().flatten() {
        println!(
            "  {} sessions: {} shards, p99 {} ms (best {} ms at {} shards)",
            row["sessions"], row["shards"], row["broadcast_p99_ms"], row["best_p99_ms"], row["best_shards"]
        );
    }
    for shards in PREDICTED_SHARDS {
        println!("direct fan-out with {shards} shards holds up to {} sessions", direct_fanout_sessions(shards));
    }
    let prices = prices(&mesh, &seed);

    let plotted = Network::new(PLOTTED_RTT_MS, mesh.object_call_ms);
    let curves = plot::curves(&mesh, &seed, &PREDICTED_SHARDS, plotted);
    if let Err(e) = std::fs::write(&args.svg, plot::svg(&curves, plotted)) {
        fail(&format!("{}: {e}", args.svg));
    }
    let model = json!({
        "unit_costs_ms": unit_costs,
        "local_factors": factors,
        "calibration": format!("CPU accounting of the cluster runs at {:?} (sessions, fronts), \
            the median of each point's runs, on the line between them; one process: its own CPU at \
            {SINGLE_CALIBRATION_SESSIONS:?} sessions (median of runs), interpolated; Cloudflare: the \
            {CALIBRATION_SESSIONS}-session costs; object and tool calls from make bench", inputs.calibration),
        "validation": validation,
        "predictions": predictions,
        "relay_tier": relay_tier,
        "relay_threshold": relay_threshold,
        "sizing": sizing,
        "prices": prices,
    });
    let mut cluster = inputs.cluster.clone();
    cluster["model"] = model;
    let text = serde_json::to_string_pretty(&cluster).unwrap_or_default() + "\n";
    if let Err(e) = std::fs::write(&args.cluster, text) {
        fail(&format!("{}: {e}", args.cluster));
    }
    println!("\nwrote \"model\" into {} and {}", args.cluster, args.svg);
}

/// Every measured point against the local model's prediction for it.
fn validate(inputs: &Inputs, mesh: &UnitCosts, seed: &UnitCosts) -> (Vec<Value>, Value) {
    let mut out = Vec::new();
    let mut factors = serde_json::Map::new();
    let systems = [("mesh-16", mesh, Design::mesh(16)), ("baseline", seed, Design::SingleObject)];
    for (system, costs, design) in systems {
        // One process from its own CPU at its calibration sizes, where the runs recorded it.
        let single_at = |sessions: u64| inputs.single_costs(system, design, sessions).ok().flatten();
        let from_own_cpu = single_at(CALIBRATION_SESSIONS).is_some();
        let label = match from_own_cpu {
            true => format!("{system} (one process)"),
            false => format!("{system} (one process, from the cluster's costs)"),
        };
        let single_costs = |sessions: u64| single_at(sessions).unwrap_or_else(|| costs.clone());
        // The tail and the throughput share its calibration runs measured, over both sizes.
        let single_factors = LocalFactors::measure(SINGLE_CALIBRATION_SESSIONS.iter().flat_map(|&sessions| {
            let predicted = predict(&single_costs(sessions), design, Execution::LocalSingle, sessions);
            inputs.single_runs(system, sessions).into_iter().map(move |run| (run, predicted.clone()))
        }));
        for sessions in [1_000, 10_000] {
            let runs = inputs.single_runs(system, sessions);
            if !runs.is_empty() {
                let costs_here = single_factors.apply(single_costs(sessions));
                let predicted = predict(&costs_here, design, Execution::LocalSingle, sessions);
                let calibration = from_own_cpu && SINGLE_CALIBRATION_SESSIONS.contains(&sessions);
                push_checks(&mut out, &label, sessions, &runs, &predicted, calibration);
            }
        }
        let cluster_factors =
            LocalFactors::measure(inputs.calibration_runs(system).into_iter().flat_map(|(sessions, runs)| {
                runs.into_iter().filter_map(move |run| {
                    let execution =
                        Execution::LocalCluster { fronts: run["fronts"].as_u64()? as u32, cores: LOCAL_CORES };
                    Some((run, predict(&inputs.costs(system, design, sessions).ok()?, design, execution, sessions)))
                })
            }));
        println!("{system}: one process {single_factors:?}, cluster {cluster_factors:?}");
        factors.insert(system.into(), json!({"one_process": single_factors.json(), "cluster": cluster_factors.json()}));
        for (sessions, fronts) in inputs.cluster_points(system) {
            let runs = inputs.cluster_runs(system, (sessions, fronts));
            let execution = Execution::LocalCluster { fronts: fronts as u32, cores: LOCAL_CORES };
            let label = format!("{system} (cluster, {fronts} fronts)");
            // The costs for this many sessions, from the calibration points (README, "Capacity model").
            let Ok(costs_here) = inputs.costs(system, design, sessions) else { continue };
            let predicted = predict(&cluster_factors.apply(costs_here), design, execution, sessions);
            let is_calibration = inputs.calibration.contains(&(sessions, fronts));
            push_checks(&mut out, &label, sessions, &runs, &predicted, is_calibration);
            // The same point from the CPU its runs measured: checks the execution model alone.
            if !is_calibration {
                if let Ok(own) = inputs.costs_of_runs(system, design, &runs) {
                    let own = cluster_factors.apply(own);
                    let predicted = predict(&own, design, execution, sessions);
                    push_checks(&mut out, &format!("{label}{OWN_COSTS}"), sessions, &runs, &predicted, false);
                }
            }
        }
    }
    (out, Value::Object(factors))
}

/// What the calibration runs of one layout measured beyond CPU (costs.rs: `p99_tail`,
/// `throughput_share`), carried to its other points.
#[derive(Debug)]
struct LocalFactors {
    p99_tail: f64,
    throughput_share: f64,
}

impl LocalFactors {
    /// From calibration runs, each with its prediction made without either factor: the median of
    /// measured ÷ predicted broadcast p99, and of measured ÷ predicted creates/s and targeted sends/s.
    fn measure<'a>(runs: impl IntoIterator<Item = (&'a Value, Prediction)>) -> Self {
        let (mut tails, mut shares) = (Vec::new(), Vec::new());
        for (run, p) in runs {
            let ratio = |figure: &str, predicted: f64| {
                run[figure].as_f64().map(|m| m / predicted).filter(|r| r.is_finite() && *r > 0.0)
            };
            tails.extend(ratio("broadcast_p99_ms", p.broadcast_p99_ms));
            shares.extend(ratio("creates_per_s", p.creates_per_s));
            shares.extend(ratio("targeted_per_s", p.targeted_per_s));
        }
        Self { p99_tail: median(tails).unwrap_or(1.0), throughput_share: median(shares).unwrap_or(1.0) }
    }

    fn apply(&self, costs: UnitCosts) -> UnitCosts {
        UnitCosts { p99_tail: self.p99_tail, throughput_share: self.throughput_share, ..costs }
    }

    fn json(&self) -> Value {
        json!({"p99_tail": round3(self.p99_tail), "throughput_share": round3(self.throughput_share)})
    }
}

/// One check per figure against the median of `runs` (several runs of one point), with their range.
fn push_checks(out: &mut Vec<Value>, label: &str, sessions: u64, runs: &[&Value], p: &Prediction, calibration: bool) {
    let predicted = [p.broadcast_p50_ms, p.broadcast_p99_ms, p.creates_per_s, p.targeted_per_s];
    for (figure, predicted) in FIGURES.iter().zip(predicted) {
        let measured: Vec<f64> = runs.iter().filter_map(|r| r[*figure].as_f64()).filter(|m| *m > 0.0).collect();
        let (low, high) = measured.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &m| (l.min(m), h.max(m)));
        let runs_measured = measured.len();
        let Some(median) = median(measured) else { continue };
        out.push(json!({
            "system": label.split(' ').next().unwrap_or(label),
            "run": label,
            "sessions": sessions,
            "figure": figure,
            "measured": round1(median),
            "measured_runs": runs_measured,
            "measured_range": [round1(low), round1(high)],
            "predicted": round1(predicted),
            "error_pct": round1((predicted - median) / median * 100.0),
            "calibration": calibration,
        }));
    }
}

const SEED: &str = "seed (1 object)";
const WHOLE_REPLY: &str = "whole replies (before)";
const HEADERS_FIRST: &str = "headers first";
const RELAYED: &str = "through relays";

/// Every design × session count × round trip on Cloudflare, with the Worker's CPU per call taken as
/// the whole local object call (an upper bound: it includes the object's side).
fn predictions(mesh: &UnitCosts, seed: &UnitCosts) -> Vec<Value> {
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
fn best(predictions: &[Value], sessions: u64, rtt: f64, call_cpu_ms: f64, label: &str) -> Option<(String, f64)> {
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
fn relay_tier(mesh: &UnitCosts) -> Value {
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
            "relay tier: built (at {sessions} sessions it cuts the broadcast p99 by {least}x or more at every round trip \
             from {RELAY_JUDGED_FROM_RTT_MS} ms, at either bound of the caller's CPU per call)"
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
fn relay_threshold(mesh: &UnitCosts) -> Value {
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
fn sizing(mesh: &UnitCosts) -> Value {
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

/// A month of each workload size for the seed and the mesh, printed and as JSON.
fn prices(mesh: &UnitCosts, seed: &UnitCosts) -> Value {
    use pricing::{price, shards_for, workloads, Priced};
    println!("\nA month on Cloudflare (USD; prices and their sources in examples/capacity/pricing.rs):\n");
    println!("| workload | design | total | largest lines |");
    println!("|---|---|---:|---|");
    let mut out = Vec::new();
    for workload in workloads() {
        let shards = shards_for(workload.sessions);
        let relay_above = 32;
        for (label, costs, design) in [
            ("seed (1 object + KV)".to_owned(), seed, Priced::Seed),
            (format!("mesh-{shards}"), mesh, Priced::Mesh { shards, relay_above }),
        ] {
            let bill = price(costs, design, &workload);
            let mut lines = bill.lines();
            lines.sort_by(|a, b| b.1.total_cmp(&a.1));
            let largest: Vec<String> = lines
                .iter()
                .filter(|(_, usd)| *usd >= 0.01)
                .take(3)
                .map(|(what, usd)| format!("{what} {usd:.2}"))
                .collect();
            match &bill.cannot_hold {
                Some(why) => println!("| {} | {label} | — | {why} |", workload.name),
                None => println!("| {} | {label} | {:.2} | {} |", workload.name, bill.total_usd(), largest.join(", ")),
            }
            out.push(json!({
                "workload": workload.name,
                "sessions": workload.sessions,
                "sessions_started_per_day": workload.sessions_started_per_day,
                "reconnects_per_session_per_day": workload.reconnects_per_session_per_day,
                "broadcasts_per_s": workload.broadcasts_per_s,
                "targeted_per_s": workload.targeted_per_s,
                "tool_calls_per_s": workload.tool_calls_per_s,
                "design": label,
                "cannot_hold": bill.cannot_hold,
                "total_usd": bill.cannot_hold.is_none().then(|| round1(bill.total_usd() * 10.0) / 10.0),
                "lines_usd": lines.iter().map(|(what, usd)| json!({ "what": what, "usd": round1(usd * 10.0) / 10.0 })).collect::<Vec<_>>(),
                "usage": {
                    "worker_requests": bill.worker_requests, "worker_cpu_ms": bill.worker_cpu_ms.round(),
                    "object_requests": bill.object_requests.round(), "object_gb_s": bill.object_gb_s.round(),
                    "rows_read": bill.rows_read.round(), "rows_written": bill.rows_written.round(),
                    "kv_reads": bill.kv_reads.round(), "kv_writes": bill.kv_writes.round(), "kv_lists": bill.kv_lists.round(),
                },
            }));
        }
    }
    Value::Array(out)
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

fn costs_json(c: &UnitCosts) -> Value {
    json!({
        "socket_send": c.socket_send_ms, "relay": c.relay_ms, "client_read": c.client_read_ms,
        "object_call": c.object_call_ms, "tool_call": c.tool_call_ms,
        "create_objects": c.create_objects_ms, "create_worker": c.create_worker_ms, "create_client": c.create_client_ms,
        "targeted_objects_extra": c.targeted_objects_extra_ms, "targeted_worker_extra": c.targeted_worker_extra_ms,
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

fn fail(error: &str) -> ! {
    eprintln!("capacity: {error}");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::{parse_points, relay_threshold, sizing};
    use crate::costs::example_costs;

    #[test]
    fn relays_pay_only_past_a_few_shards_and_sizing_grows_with_sessions() {
        let threshold = relay_threshold(&example_costs());
        let from = threshold["relays_pay_from_shards"].as_u64().expect("relays pay somewhere in 8..128");
        assert!(from > 8, "at 8 shards a relay is a hop that saves no round, yet it paid from {from}");
        let rows = sizing(&example_costs());
        let shards: Vec<u64> = rows.as_array().unwrap().iter().map(|r| r["shards"].as_u64().unwrap()).collect();
        assert_eq!(shards.len(), super::SIZING_SESSIONS.len());
        assert!(shards.windows(2).all(|w| w[0] <= w[1]), "more sessions never want fewer shards: {shards:?}");
        for row in rows.as_array().unwrap() {
            let (chosen, best) = (row["broadcast_p99_ms"].as_f64().unwrap(), row["best_p99_ms"].as_f64().unwrap());
            assert!(chosen <= best * 1.1 + 0.1, "{row}");
            assert!(row["shards"].as_u64() <= row["best_shards"].as_u64(), "{row}");
        }
    }

    #[test]
    fn calibration_points_parse_sorted_and_refuse_what_cannot_make_a_line() {
        assert_eq!(parse_points("30000:3, 10000:1"), Some(vec![(10_000, 1), (30_000, 3)]));
        assert_eq!(parse_points("10000:1"), Some(vec![(10_000, 1)]));
        for bad in ["", "10000", "10000:1,10000:4", "0:1", "10000:0", "1:1,2:1,3:1", "a:b"] {
            assert_eq!(parse_points(bad), None, "{bad}");
        }
    }
}

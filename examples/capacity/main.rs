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

mod cloudflare;
mod costs;
mod inputs;
mod model;
mod plot;
mod pricing;

use cloudflare::{
    best, predictions, relay_threshold, relay_tier, sizing, HEADERS_FIRST, PREDICTED_SESSIONS, PREDICTED_SHARDS,
    RELAYED, RELAY_JUDGED_AT_SESSIONS, RELAY_THRESHOLD_SESSIONS_PER_SHARD, SEED, SEED_REFERENCE_SESSIONS,
    SIZING_RTT_MS, SIZING_SLACK_PERCENT, WHOLE_REPLY,
};
use costs::{median, UnitCosts};
use inputs::{Inputs, CALIBRATION_POINTS, CALIBRATION_SESSIONS, SINGLE_CALIBRATION_SESSIONS};
use model::{direct_fanout_sessions, predict, Design, Execution, Network, Prediction, ROUND_TRIPS_MS};
use serde_json::{json, Value};

const FIGURES: [&str; 4] = ["broadcast_p50_ms", "broadcast_p99_ms", "creates_per_s", "targeted_per_s"];
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
    println!(
        "| sessions | round trip | seed (1 object) | mesh, whole replies (before) | mesh, headers first \
         | mesh through relays |"
    );
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
    println!(
        "\nrelays or not, by shard count ({RELAY_THRESHOLD_SESSIONS_PER_SHARD} sessions per shard), \
         broadcast p99 direct / relayed:"
    );
    for row in relay_threshold["rows"].as_array().into_iter().flatten() {
        println!(
            "  {} shards, round trip {} ms: {} / {} ms",
            row["shards"], row["round_trip_ms"], row["headers_first_p99_ms"], row["relayed_p99_ms"]
        );
    }
    println!("{}", relay_threshold["decision"].as_str().unwrap_or(""));
    let sizing = sizing(&mesh);
    println!(
        "\nsizing SHARD_COUNT on Cloudflare ({SIZING_RTT_MS} ms round trip, as built with the default relays): \
         the fewest shards within {SIZING_SLACK_PERCENT} % of the best broadcast p99"
    );
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
                "total_usd": bill.cannot_hold.is_none().then(|| cents(bill.total_usd())),
                "lines_usd": lines
                    .iter()
                    .map(|(what, usd)| json!({ "what": what, "usd": cents(*usd) }))
                    .collect::<Vec<_>>(),
                "usage": {
                    "worker_requests": bill.worker_requests, "worker_cpu_ms": bill.worker_cpu_ms.round(),
                    "object_requests": bill.object_requests.round(), "object_gb_s": bill.object_gb_s.round(),
                    "rows_read": bill.rows_read.round(), "rows_written": bill.rows_written.round(),
                    "kv_reads": bill.kv_reads.round(), "kv_writes": bill.kv_writes.round(),
                    "kv_lists": bill.kv_lists.round(),
                },
            }));
        }
    }
    Value::Array(out)
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

/// US dollars to the cent.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
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
    use super::parse_points;

    #[test]
    fn calibration_points_parse_sorted_and_refuse_what_cannot_make_a_line() {
        assert_eq!(parse_points("30000:3, 10000:1"), Some(vec![(10_000, 1), (30_000, 3)]));
        assert_eq!(parse_points("10000:1"), Some(vec![(10_000, 1)]));
        for bad in ["", "10000", "10000:1,10000:4", "0:1", "10000:0", "1:1,2:1,3:1", "a:b"] {
            assert_eq!(parse_points(bad), None, "{bad}");
        }
    }
}

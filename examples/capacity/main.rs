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
//!    sessions at 16 to 512 shards, beside the seed's single object.
//! 4. Writes both under "model" in cluster.json, and the broadcast p99 curves as an SVG.

mod costs;
mod inputs;
mod model;
mod plot;

use costs::{median, UnitCosts};
use inputs::{Inputs, CALIBRATION_POINTS, CALIBRATION_SESSIONS, SINGLE_CALIBRATION_SESSIONS};
use model::{direct_fanout_sessions, predict, Design, Execution, Fanout, Prediction, CONNECTIONS_IN_FLIGHT};
use serde_json::{json, Value};

const FIGURES: [&str; 4] = ["broadcast_p50_ms", "broadcast_p99_ms", "creates_per_s", "targeted_per_s"];
const PREDICTED_SESSIONS: [u64; 3] = [100_000, 1_000_000, 10_000_000];
const PREDICTED_SHARDS: [u32; 4] = [16, 64, 256, 512];
/// The seed is also predicted here, the most sessions its one object holds (rounded down).
const SEED_REFERENCE_SESSIONS: u64 = 30_000;
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
    println!("\nCloudflare predictions:\n");
    println!("| sessions | design | broadcast p50 | broadcast p99 | creates/s | targeted/s |");
    println!("|---:|---|---:|---:|---:|---:|");
    for p in &predictions {
        match p["cannot_hold"].as_str() {
            Some(why) => {
                let design = p["design"].as_str().unwrap_or("");
                println!("| {} | {} | — | — | — | — ({why}) |", p["sessions"], design)
            }
            None => println!(
                "| {} | {} | {:.0} ms | {:.0} ms | {:.0} | {:.1} |",
                p["sessions"],
                p["design"].as_str().unwrap_or(""),
                p["broadcast_p50_ms"].as_f64().unwrap_or(0.0),
                p["broadcast_p99_ms"].as_f64().unwrap_or(0.0),
                p["creates_per_s"].as_f64().unwrap_or(0.0),
                p["targeted_per_s"].as_f64().unwrap_or(0.0),
            ),
        }
    }
    for shards in PREDICTED_SHARDS {
        println!("direct fan-out with {shards} shards holds up to {} sessions", direct_fanout_sessions(shards));
    }

    let curves = plot::curves(&mesh, &seed, &PREDICTED_SHARDS);
    if let Err(e) = std::fs::write(&args.svg, plot::svg(&curves)) {
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

fn predictions(mesh: &UnitCosts, seed: &UnitCosts) -> Vec<Value> {
    let mut out = Vec::new();
    // Where the seed can still answer: its object's limit, beside the mesh.
    let near_limit = SEED_REFERENCE_SESSIONS;
    out.push(prediction_json(
        near_limit,
        "seed (1 object)",
        &predict(seed, Design::SingleObject, Execution::Cloudflare, near_limit),
    ));
    out.push(prediction_json(
        near_limit,
        "mesh-16",
        &predict(mesh, Design::mesh(16), Execution::Cloudflare, near_limit),
    ));
    for sessions in PREDICTED_SESSIONS {
        let seed_prediction = predict(seed, Design::SingleObject, Execution::Cloudflare, sessions);
        out.push(prediction_json(sessions, "seed (1 object)", &seed_prediction));
        for shards in PREDICTED_SHARDS {
            let p = predict(mesh, Design::mesh(shards), Execution::Cloudflare, sessions);
            out.push(prediction_json(sessions, &format!("mesh-{shards}"), &p));
        }
        // The two ways past the 6-connection rounds (not built), at the largest shard count.
        let shards = PREDICTED_SHARDS[PREDICTED_SHARDS.len() - 1];
        let early = Design::Mesh { shards, fanout: Fanout::EarlyAck };
        out.push(prediction_json(
            sessions,
            &format!("mesh-{shards}, shards ack before writing"),
            &predict(mesh, early, Execution::Cloudflare, sessions),
        ));
        let relays = shards.div_ceil(CONNECTIONS_IN_FLIGHT);
        let relayed = Design::Mesh { shards, fanout: Fanout::Relayed { relays } };
        out.push(prediction_json(
            sessions,
            &format!("mesh-{shards} via {relays} relays"),
            &predict(mesh, relayed, Execution::Cloudflare, sessions),
        ));
    }
    out
}

fn prediction_json(sessions: u64, design: &str, p: &Prediction) -> Value {
    json!({
        "sessions": sessions,
        "design": design,
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

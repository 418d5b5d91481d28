//! The model's inputs, all from benchmark output: `make bench` (loadtest/results/latest.json) and
//! `make bench-cluster` (loadtest/results/cluster.json). Nothing here is a typed-in cost.
//!
//! - Per-socket send, per-message relay and client read: the CPU each kind of process spent during the
//!   broadcasts of the cluster's calibration run (the objects' process, the fronts, the probes; sampled
//!   from /proc by scripts/bench_cluster.sh), divided by the deliveries. Only the cluster separates the
//!   object's side from the Worker's.
//! - Per create, by side: the same CPU accounting over the create phase.
//! - A targeted send's extra work, by side: the CPU of the targeted phase per call, less its messages'
//!   sends and relays (and, in the Worker, the tool call), per recipient; for the seed's object, per
//!   recipient per session (it checks every session against the recipient list).
//! - One process (`make bench`, `make bench-repeat`): its own CPU per delivery, create and targeted call
//!   at 1,000 and at 10,000 sessions (the probe reads the server's /proc), the median over runs at each
//!   size, on the line between them for other sizes: per-operation CPU grows with the sessions a process
//!   holds (the seed's per delivery 78 µs at 1,000 and 103 µs at 10,000; its KV read per subscriber
//!   0.26 and 0.61 ms).
//! - The cluster's costs for K sessions: at each calibration point (by default 10,000 sessions on 1
//!   front and 50,000 on 4, the ends of what `make bench-cluster` measures) the median, cost by cost,
//!   over that point's runs (one run's CPU per delivery varies by up to a fifth), on the line between
//!   the two points for other K. Every other cluster point checks the model: 10,000 sessions on 4
//!   fronts, 30,000 on 3, 50,000 on 5.
//! - Per object call: `make bench`'s broadcast p50 at 100 sessions, 16 shards against 1, per extra shard.
//! - Per tool call: `make bench`'s k6 tool-call p50.

use serde_json::Value;

use super::costs::{median, UnitCosts};
use super::model::{recipient_check_scale, targeted_extra, targeted_shards, Design, SUBSCRIBED_FRACTION};

/// The first cluster calibration size, and the one whose costs carry to Cloudflare.
pub const CALIBRATION_SESSIONS: u64 = 10_000;
/// The cluster points (sessions, fronts) whose runs give a design's costs unless `--calibration` names
/// others; every other point checks the model. Two sizes, the ends of what `make bench-cluster`
/// measures, because per-operation CPU grows with the sessions the processes hold, and not on a line:
/// calibrated at 10,000 and 30,000 the model misses 50,000 (README, "Capacity model").
pub const CALIBRATION_POINTS: [(u64, u64); 2] = [(CALIBRATION_SESSIONS, 1), (50_000, 4)];
/// The one-process sizes whose runs give that layout's costs.
pub const SINGLE_CALIBRATION_SESSIONS: [u64; 2] = [1_000, CALIBRATION_SESSIONS];

pub struct Inputs {
    pub latest: Value,
    pub cluster: Value,
    /// The cluster points (sessions, fronts) the costs come from, by sessions (`CALIBRATION_POINTS`).
    pub calibration: Vec<(u64, u64)>,
    /// More single-process runs of the same points (`make bench-repeat`), in latest.json's shape.
    pub repeats: Vec<Value>,
}

impl Inputs {
    pub fn read(latest: &str, cluster: &str, repeats: &[String], calibration: Vec<(u64, u64)>) -> Result<Self, String> {
        let read = |path: &str| -> Result<Value, String> {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
        };
        let repeats = repeats.iter().map(|p| read(p)).collect::<Result<_, _>>()?;
        Ok(Self { latest: read(latest)?, cluster: read(cluster)?, calibration, repeats })
    }

    /// `make bench`'s single-process run of `system` at `sessions`.
    pub fn single_run(&self, system: &str, sessions: u64) -> Option<&Value> {
        find_run(&self.latest, system, sessions)
    }

    /// Every single-process run of `system` at `sessions`: `make bench`'s and the repeats'.
    pub fn single_runs(&self, system: &str, sessions: u64) -> Vec<&Value> {
        std::iter::once(&self.latest).chain(&self.repeats).filter_map(|d| find_run(d, system, sessions)).collect()
    }

    /// `system`'s successful cluster runs, in cluster.json's order.
    fn successful_runs(&self, system: &str) -> Vec<&Value> {
        let runs = self.cluster["runs"].as_array().into_iter().flatten();
        runs.filter(|r| r["system"].as_str() == Some(system) && r["failure"].is_null()).collect()
    }

    /// `system`'s successful cluster runs at `sessions` on `fronts` fronts (repeats of one point).
    pub fn cluster_runs(&self, system: &str, (sessions, fronts): (u64, u64)) -> Vec<&Value> {
        self.successful_runs(system)
            .into_iter()
            .filter(|r| r["sessions"].as_u64() == Some(sessions) && r["fronts"].as_u64() == Some(fronts))
            .collect()
    }

    /// The (sessions, fronts) points `system` has successful cluster runs at, in the order first measured.
    pub fn cluster_points(&self, system: &str) -> Vec<(u64, u64)> {
        let mut points = Vec::new();
        for run in self.successful_runs(system) {
            if let (Some(sessions), Some(fronts)) = (run["sessions"].as_u64(), run["fronts"].as_u64()) {
                if !points.contains(&(sessions, fronts)) {
                    points.push((sessions, fronts));
                }
            }
        }
        points
    }

    /// `system`'s calibration points that have successful runs, by sessions.
    pub fn calibration_runs(&self, system: &str) -> Vec<(u64, Vec<&Value>)> {
        self.calibration
            .iter()
            .map(|&point| (point.0, self.cluster_runs(system, point)))
            .filter(|(_, runs)| !runs.is_empty())
            .collect()
    }

    /// The unit costs of `system` ("mesh-16" or "baseline") for `sessions` sessions in the cluster: each
    /// calibration point's median costs, on the line between the points (extrapolated past them); with
    /// one point, its costs.
    pub fn costs(&self, system: &str, design: Design, sessions: u64) -> Result<UnitCosts, String> {
        let points = self
            .calibration_runs(system)
            .into_iter()
            .map(|(k, runs)| Ok((k, self.costs_of_runs(system, design, &runs)?)))
            .collect::<Result<Vec<_>, String>>()?;
        UnitCosts::interpolate(&points, sessions).ok_or_else(|| {
            format!("cluster.json has no successful {system} run at a calibration point {:?}", self.calibration)
        })
    }

    /// Cost by cost, the median of what each of `runs` (one cluster point's) measured.
    pub fn costs_of_runs(&self, system: &str, design: Design, runs: &[&Value]) -> Result<UnitCosts, String> {
        let each = runs.iter().map(|r| self.costs_of_run(system, design, r)).collect::<Result<Vec<_>, _>>()?;
        UnitCosts::median_of(&each).ok_or_else(|| format!("no {system} cluster run to take costs from"))
    }

    /// The unit costs of `system` in one process (`make bench`) for `sessions` sessions: at each of
    /// `SINGLE_CALIBRATION_SESSIONS` the process's CPU per delivery, per create and per targeted call
    /// (the median over that size's runs), split between the objects' and the Worker's side as the
    /// one-front cluster measured them; on the line between the sizes for others. `None` when no run
    /// recorded its server's CPU.
    pub fn single_costs(&self, system: &str, design: Design, sessions: u64) -> Result<Option<UnitCosts>, String> {
        let base = self.costs(system, design, CALIBRATION_SESSIONS)?;
        let points: Vec<(u64, UnitCosts)> = SINGLE_CALIBRATION_SESSIONS
            .iter()
            .filter_map(|&k| Some((k, self.single_costs_at(system, design, &base, k)?)))
            .collect();
        Ok(UnitCosts::interpolate(&points, sessions))
    }

    /// One process's costs from its runs at exactly `size` sessions (see `single_costs`).
    fn single_costs_at(&self, system: &str, design: Design, base: &UnitCosts, size: u64) -> Option<UnitCosts> {
        let runs = self.single_runs(system, size);
        let per = |phase: &str, count: &str| -> Option<f64> {
            median(
                runs.iter()
                    .filter_map(|r| Some(r.pointer(&format!("/server_cpu_ms/{phase}"))?.as_f64()? / r[count].as_f64()?))
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .collect(),
            )
        };
        let delivery = per("broadcast", "delivered")?;
        let create = per("create", "sessions_open")?;
        let call = per("targeted", "targeted_calls")?;
        let k = size as f64;
        let recipients = k * SUBSCRIBED_FRACTION;
        let scale_delivery = delivery / (base.socket_send_ms + base.relay_ms);
        let scale_create = create / (base.create_objects_ms + base.create_worker_ms);
        let shards = targeted_shards(design, recipients);
        // What a targeted call spent beyond its fixed part and its messages, split as in the cluster.
        let extra = (call - base.tool_call_ms - shards * base.object_call_ms - recipients * delivery).max(0.0);
        let per_session = recipient_check_scale(design, k);
        let (objects, worker) = targeted_extra(base, design, k, recipients);
        let objects_share = if objects + worker > 0.0 { objects / (objects + worker) } else { 0.5 };
        Some(UnitCosts {
            socket_send_ms: base.socket_send_ms * scale_delivery,
            relay_ms: base.relay_ms * scale_delivery,
            create_objects_ms: base.create_objects_ms * scale_create,
            create_worker_ms: base.create_worker_ms * scale_create,
            targeted_objects_extra_ms: extra * objects_share / (per_session * recipients),
            targeted_worker_extra_ms: extra * (1.0 - objects_share) / recipients,
            ..base.clone()
        })
    }

    /// The unit costs measured in one cluster run of `system`.
    pub fn costs_of_run(&self, system: &str, design: Design, run: &Value) -> Result<UnitCosts, String> {
        let per_delivery = |kind: &str| -> Result<f64, String> {
            run.pointer(&format!("/broadcast_cpu/cpu_us_per_delivery/{kind}"))
                .and_then(Value::as_f64)
                .map(|us| us / 1_000.0)
                .ok_or_else(|| format!("{system} cluster run: no broadcast CPU for {kind}"))
        };
        let per_create = |kind: &str| -> Result<f64, String> {
            run.pointer(&format!("/create_cpu/cpu_us_per_create/{kind}"))
                .and_then(Value::as_f64)
                .map(|us| us / 1_000.0)
                .ok_or_else(|| format!("{system} cluster run: no create CPU for {kind}"))
        };
        let (socket_send_ms, relay_ms) = (per_delivery("objects")?, per_delivery("front")?);
        let tool_call_ms = self.tool_call_ms(system)?;
        // What the targeted phase spent beyond sending and relaying its messages (never below zero:
        // the sampling's noise can make a small remainder negative). Runs from before the probe
        // marked that phase have none: their targeted sends cost only their messages.
        let (objects_extra, worker_extra) = match run.get("targeted_cpu").filter(|t| !t.is_null()) {
            None => {
                eprintln!("capacity: {system}'s cluster run has no targeted CPU; its extra targeted cost is 0");
                (0.0, 0.0)
            }
            Some(targeted) => {
                let per_call = |kind: &str| -> Result<f64, String> {
                    targeted
                        .pointer(&format!("/cpu_us_per_call/{kind}"))
                        .and_then(Value::as_f64)
                        .map(|us| us / 1_000.0)
                        .ok_or_else(|| format!("{system} cluster run: no targeted CPU for {kind}"))
                };
                let recipients = targeted["subscribers"]
                    .as_f64()
                    .filter(|r| *r > 0.0)
                    .ok_or_else(|| format!("{system} cluster run: no targeted subscribers"))?;
                let objects = (per_call("objects")? - recipients * socket_send_ms).max(0.0) / recipients;
                let worker = (per_call("front")? - tool_call_ms - recipients * relay_ms).max(0.0) / recipients;
                (objects, worker)
            }
        };
        let sessions = run["sessions"].as_f64().unwrap_or(CALIBRATION_SESSIONS as f64);
        Ok(UnitCosts {
            socket_send_ms,
            relay_ms,
            client_read_ms: per_delivery("probe")?,
            object_call_ms: self.object_call_ms()?,
            tool_call_ms,
            create_objects_ms: per_create("objects")?,
            create_worker_ms: per_create("front")?,
            create_client_ms: per_create("probe")?,
            targeted_objects_extra_ms: objects_extra / recipient_check_scale(design, sessions),
            targeted_worker_extra_ms: worker_extra,
            p99_tail: 1.0,
            throughput_share: 1.0,
        })
    }

    fn object_call_ms(&self) -> Result<f64, String> {
        let p50 = |system: &str| {
            self.single_run(system, 100)
                .and_then(|r| r["broadcast_p50_ms"].as_f64())
                .ok_or_else(|| format!("latest.json has no {system} run at 100 sessions"))
        };
        Ok(((p50("mesh-16")? - p50("mesh-1")?) / 15.0).max(0.0))
    }

    fn tool_call_ms(&self, system: &str) -> Result<f64, String> {
        self.latest
            .pointer(&format!("/k6/tools/{system}/trends/tool_call_ms/med"))
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("latest.json has no k6 tool-call figure for {system}"))
    }
}

fn find_run<'a>(doc: &'a Value, system: &str, sessions: u64) -> Option<&'a Value> {
    doc["runs"]
        .as_array()?
        .iter()
        .find(|r| r["system"].as_str() == Some(system) && r["sessions"].as_u64() == Some(sessions))
}

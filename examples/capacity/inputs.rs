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
//! - One process (`make bench`): its own CPU per delivery, create and targeted call at 10,000 sessions
//!   (the probe reads the server's /proc), the median over `make bench` and `make bench-repeat` runs.
//! - The cluster's costs for K sessions: interpolated by K between the calibration runs at 10,000
//!   (1 front) and 30,000 sessions (3 fronts). The front count alone does not change it (10,000
//!   sessions over 4 fronts cost what they cost over one); at 50,000 it grew (less over 5 fronts than
//!   over 4), which no calibration below foresees (README, "Capacity model").
//! - Per object call: `make bench`'s broadcast p50 at 100 sessions, 16 shards against 1, per extra shard.
//! - Per tool call: `make bench`'s k6 tool-call p50.

use serde_json::Value;

use super::model::{recipient_check_scale, targeted_extra, targeted_shards, Design, UnitCosts, SUBSCRIBED_FRACTION};

/// The single-process and the first cluster calibration size.
pub const CALIBRATION_SESSIONS: u64 = 10_000;
/// The cluster runs (sessions, fronts) whose CPU accounting gives a design's costs; every other run
/// checks the model. Two sizes, because per-operation CPU grows with the sessions the processes hold
/// (a front's relay cost 99-107 µs per message at 10,000 sessions and 141 µs at 50,000).
pub const CALIBRATION_POINTS: [(u64, u64); 2] = [(CALIBRATION_SESSIONS, 1), (30_000, 3)];

pub struct Inputs {
    pub latest: Value,
    pub cluster: Value,
    /// More single-process runs of the same points (`make bench-repeat`), in latest.json's shape.
    pub repeats: Vec<Value>,
}

impl Inputs {
    pub fn read(latest: &str, cluster: &str, repeats: &[String]) -> Result<Self, String> {
        let read = |path: &str| -> Result<Value, String> {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
        };
        let repeats = repeats.iter().map(|p| read(p)).collect::<Result<_, _>>()?;
        Ok(Self { latest: read(latest)?, cluster: read(cluster)?, repeats })
    }

    /// `make bench`'s single-process run of `system` at `sessions`.
    pub fn single_run(&self, system: &str, sessions: u64) -> Option<&Value> {
        find_run(&self.latest, system, sessions)
    }

    /// Every single-process run of `system` at `sessions`: `make bench`'s and the repeats'.
    pub fn single_runs(&self, system: &str, sessions: u64) -> Vec<&Value> {
        std::iter::once(&self.latest).chain(&self.repeats).filter_map(|d| find_run(d, system, sessions)).collect()
    }

    /// `system`'s successful calibration runs (`CALIBRATION_POINTS`), by sessions.
    pub fn calibration_runs(&self, system: &str) -> Vec<(u64, &Value)> {
        CALIBRATION_POINTS
            .iter()
            .filter_map(|&(sessions, fronts)| {
                let run = self.cluster["runs"].as_array()?.iter().find(|r| {
                    r["system"].as_str() == Some(system)
                        && r["sessions"].as_u64() == Some(sessions)
                        && r["fronts"].as_u64() == Some(fronts)
                        && r["failure"].is_null()
                })?;
                Some((sessions, run))
            })
            .collect()
    }

    /// The unit costs of `system` ("mesh-16" or "baseline") for `sessions` sessions in the cluster: the
    /// CPU per operation of its calibration runs, interpolated (or extrapolated) between them by
    /// sessions; with one calibration run, that run's.
    pub fn costs(&self, system: &str, design: Design, sessions: u64) -> Result<UnitCosts, String> {
        let runs = self.calibration_runs(system);
        let (k0, first) = runs.first().ok_or_else(|| {
            format!("cluster.json has no successful {system} run at {CALIBRATION_SESSIONS} sessions with 1 front")
        })?;
        let first = self.costs_of_run(system, design, first)?;
        match runs.get(1) {
            None => Ok(first),
            Some((k1, second)) => {
                let second = self.costs_of_run(system, design, second)?;
                Ok(first.towards(&second, (sessions as f64 - *k0 as f64) / (*k1 as f64 - *k0 as f64)))
            }
        }
    }

    /// The unit costs of `system` in one process (`make bench`): the process's CPU per delivery, per
    /// create and per targeted call in its runs at `CALIBRATION_SESSIONS` (the median over runs), split
    /// between the objects' and the Worker's side as the one-front cluster measured them. `None` when
    /// no run recorded its server's CPU.
    pub fn single_costs(&self, system: &str, design: Design) -> Result<Option<UnitCosts>, String> {
        let base = self.costs(system, design, CALIBRATION_SESSIONS)?;
        let runs = self.single_runs(system, CALIBRATION_SESSIONS);
        let per = |phase: &str, count: &str| -> Option<f64> {
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|r| Some(r.pointer(&format!("/server_cpu_ms/{phase}"))?.as_f64()? / r[count].as_f64()?))
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect();
            values.sort_by(f64::total_cmp);
            (!values.is_empty()).then(|| median(&values))
        };
        let (Some(delivery), Some(create), Some(call)) =
            (per("broadcast", "delivered"), per("create", "sessions_open"), per("targeted", "targeted_calls"))
        else {
            return Ok(None);
        };
        let k = CALIBRATION_SESSIONS as f64;
        let recipients = k * SUBSCRIBED_FRACTION;
        let scale_delivery = delivery / (base.socket_send_ms + base.relay_ms);
        let scale_create = create / (base.create_objects_ms + base.create_worker_ms);
        let shards = targeted_shards(design, recipients);
        // What a targeted call spent beyond its fixed part and its messages, split as in the cluster.
        let extra = (call - base.tool_call_ms - shards * base.object_call_ms - recipients * delivery).max(0.0);
        let per_session = recipient_check_scale(design, k);
        let (objects, worker) = targeted_extra(&base, design, k, recipients);
        let objects_share = if objects + worker > 0.0 { objects / (objects + worker) } else { 0.5 };
        Ok(Some(UnitCosts {
            socket_send_ms: base.socket_send_ms * scale_delivery,
            relay_ms: base.relay_ms * scale_delivery,
            create_objects_ms: base.create_objects_ms * scale_create,
            create_worker_ms: base.create_worker_ms * scale_create,
            targeted_objects_extra_ms: extra * objects_share / (per_session * recipients),
            targeted_worker_extra_ms: extra * (1.0 - objects_share) / recipients,
            ..base
        }))
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

/// The median of `sorted` (ascending, not empty): the middle value, or the mean of the middle two.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

fn find_run<'a>(doc: &'a Value, system: &str, sessions: u64) -> Option<&'a Value> {
    doc["runs"]
        .as_array()?
        .iter()
        .find(|r| r["system"].as_str() == Some(system) && r["sessions"].as_u64() == Some(sessions))
}

//! The model's inputs, all from benchmark output: `make bench` (loadtest/results/latest.json) and
//! `make bench-cluster` (loadtest/results/cluster.json). Nothing here is a typed-in cost.
//!
//! - Per-socket send, per-message relay and client read: the CPU each kind of process spent during the
//!   broadcasts of the cluster's calibration run (the objects' process, the fronts, the probes; sampled
//!   from /proc by scripts/bench_cluster.sh), divided by the deliveries. Only the cluster separates the
//!   object's side from the Worker's.
//! - Per create, by side: the same CPU accounting over the create phase.
//! - Per object call: `make bench`'s broadcast p50 at 100 sessions, 16 shards against 1, per extra shard.
//! - Per tool call: `make bench`'s k6 tool-call p50.

use serde_json::Value;

use super::model::UnitCosts;

/// The cluster run whose CPU accounting gives a design's costs; the other runs check the model.
pub const CALIBRATION_SESSIONS: u64 = 10_000;

pub struct Inputs {
    pub latest: Value,
    pub cluster: Value,
}

impl Inputs {
    pub fn read(latest: &str, cluster: &str) -> Result<Self, String> {
        let read = |path: &str| -> Result<Value, String> {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
        };
        Ok(Self { latest: read(latest)?, cluster: read(cluster)? })
    }

    /// `make bench`'s single-process run of `system` at `sessions`.
    pub fn single_run(&self, system: &str, sessions: u64) -> Option<&Value> {
        find_run(&self.latest, system, sessions)
    }

    /// `make bench-cluster`'s run of `system` at `sessions`.
    pub fn cluster_run(&self, system: &str, sessions: u64) -> Option<&Value> {
        find_run(&self.cluster, system, sessions)
    }

    /// The unit costs of `system` ("mesh-16" or "baseline"), from its calibration run.
    pub fn costs(&self, system: &str) -> Result<UnitCosts, String> {
        let run = self
            .cluster_run(system, CALIBRATION_SESSIONS)
            .ok_or_else(|| format!("cluster.json has no {system} run at {CALIBRATION_SESSIONS} sessions"))?;
        self.costs_of_run(system, run)
    }

    /// The unit costs measured in one cluster run of `system`.
    pub fn costs_of_run(&self, system: &str, run: &Value) -> Result<UnitCosts, String> {
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
        Ok(UnitCosts {
            socket_send_ms: per_delivery("objects")?,
            relay_ms: per_delivery("front")?,
            client_read_ms: per_delivery("probe")?,
            object_call_ms: self.object_call_ms()?,
            tool_call_ms: self.tool_call_ms(system)?,
            create_objects_ms: per_create("objects")?,
            create_worker_ms: per_create("front")?,
            create_client_ms: per_create("probe")?,
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

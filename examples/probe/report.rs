//! The probe's report: latency percentiles, rounding for the JSON, and where the report goes.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::args::Args;

/// The nearest-rank `p`th percentile of `sorted` (ascending); None when it is empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `v` to one decimal, or null.
pub(crate) fn round1(v: Option<f64>) -> Value {
    v.map(|x| json!((x * 10.0).round() / 10.0)).unwrap_or(Value::Null)
}

/// Prints the report, and writes it to `--out` when given.
pub(crate) fn write_report(args: &Args, report: &Value) {
    let text = serde_json::to_string_pretty(report).unwrap_or_default();
    if let Some(out) = &args.out {
        if let Err(e) = std::fs::write(out, &text) {
            eprintln!("probe: writing {out}: {e}");
        }
    }
    println!("{text}");
}

/// Each broadcast's deliveries, p50 and max, in the order sent (`latencies` by the broadcast's text).
pub(crate) fn each_broadcast(sent: &[String], mut latencies: HashMap<String, Vec<f64>>) -> Vec<Value> {
    sent.iter()
        .enumerate()
        .map(|(index, text)| {
            let mut lat = latencies.remove(text).unwrap_or_default();
            lat.sort_by(f64::total_cmp);
            json!({"index": index, "delivered": lat.len(), "p50_ms": round1(percentile(&lat, 50.0)),
                   "max_ms": round1(lat.last().copied())})
        })
        .collect()
}

//! The mesh's metrics as Prometheus text exposition format 0.0.4: every family with its `# HELP` and
//! `# TYPE`, names prefixed `mcp_mesh_`, counters ending `_total`, durations in seconds, histograms as
//! cumulative `_bucket{le}` lines with `_sum` and `_count`. docs/metrics.md lists every family.

use std::fmt::Write as _;

use super::counters::WorkerCounters;
use super::histogram::Histogram;
use crate::protocol::ShardMetrics;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What one `/mesh/metrics` answer shows: the configuration, every member shard's metrics and the
/// Worker-side counters summed over isolates.
pub struct MeshSnapshot<'a> {
    /// `SHARD_COUNT`.
    pub shard_count: u32,
    /// Each member shard's answer.
    pub shards: &'a [ShardMetrics],
    /// Every isolate's flushed counters, summed.
    pub worker: &'a WorkerCounters,
}

type Labels<'a> = Vec<(&'a str, String)>;

struct Family<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
}

/// Shard gauges and counters: (name, type, help, value).
type ShardSample = (&'static str, &'static str, &'static str, fn(&ShardMetrics) -> u64);

const SHARD_SAMPLES: &[ShardSample] = &[
    ("mcp_mesh_sessions", "gauge", "MCP session records the shard holds.", |s| s.sessions),
    ("mcp_mesh_topic_index_entries", "gauge", "(topic, session) entries in the shard's topic index.", |s| {
        s.topic_index_entries
    }),
    ("mcp_mesh_event_log_events", "gauge", "Events in the shard's replay log.", |s| s.event_log_events),
    ("mcp_mesh_deliveries_total", "counter", "Events written to streams.", |s| s.counters.deliveries),
    ("mcp_mesh_delivery_failures_total", "counter", "Open sockets whose write failed; the shard closed them.", |s| {
        s.counters.delivery_failures
    }),
    ("mcp_mesh_missing_recipients_total", "counter", "Targeted sessions with no open stream on the shard.", |s| {
        s.counters.missing_recipients
    }),
    ("mcp_mesh_replays_total", "counter", "Streams resumed with Last-Event-ID and replayed to.", |s| {
        s.counters.replays
    }),
    ("mcp_mesh_replayed_events_total", "counter", "Events written by replays.", |s| s.counters.replayed_events),
    ("mcp_mesh_stream_takeovers_total", "counter", "Resuming streams that replaced a still-open one.", |s| {
        s.counters.stream_takeovers
    }),
    ("mcp_mesh_stream_conflicts_total", "counter", "Second streams of a session refused with 409.", |s| {
        s.counters.stream_conflicts
    }),
    ("mcp_mesh_shard_full_total", "counter", "Streams refused with 503 at SHARD_MAX_SOCKETS.", |s| {
        s.counters.shard_full
    }),
];

/// Renders `snapshot`.
pub fn render(snapshot: &MeshSnapshot<'_>) -> String {
    let mut out = String::new();
    let worker = snapshot.worker;
    gauge(&mut out, "mcp_mesh_shard_count", "SHARD_COUNT: the shards sessions hash onto.", snapshot.shard_count.into());
    gauge(&mut out, "mcp_mesh_member_shards", "Shards holding streams (a broadcast reaches these).", {
        snapshot.shards.len() as u64
    });
    for &(name, kind, help, value) in SHARD_SAMPLES {
        header(&mut out, &Family { name, kind, help });
        for shard in snapshot.shards {
            sample(&mut out, name, &shard_label(shard), value(shard) as f64);
        }
    }
    header(&mut out, &Family { name: "mcp_mesh_streams_open", kind: "gauge", help: "Open streams, by kind." });
    for shard in snapshot.shards {
        for (stream, count) in [("session", shard.session_streams), ("listener", shard.listener_streams)] {
            let mut labels = shard_label(shard);
            labels.push(("stream", stream.to_owned()));
            sample(&mut out, "mcp_mesh_streams_open", &labels, count as f64);
        }
    }
    let send = Family {
        name: "mcp_mesh_shard_send_duration_seconds",
        kind: "histogram",
        help: "A shard's time on a send, from the call's arrival to its report.",
    };
    header(&mut out, &send);
    for shard in snapshot.shards {
        for (kind, histogram) in
            [("broadcast", &shard.counters.broadcast_send), ("targeted", &shard.counters.targeted_send)]
        {
            let mut labels = shard_label(shard);
            labels.push(("send", kind.to_owned()));
            histogram_samples(&mut out, send.name, &labels, histogram);
        }
    }
    render_worker(&mut out, worker);
    out
}

fn render_worker(out: &mut String, worker: &WorkerCounters) {
    let requests =
        Family { name: "mcp_mesh_requests_total", kind: "counter", help: "Requests, by route and status class." };
    header(out, &requests);
    for (route, classes) in &worker.requests {
        for (class, count) in classes {
            sample(out, requests.name, &vec![("route", route.clone()), ("status_class", class.clone())], *count as f64);
        }
    }
    let durations = Family {
        name: "mcp_mesh_request_duration_seconds",
        kind: "histogram",
        help: "Time to a request's response headers, by route.",
    };
    header(out, &durations);
    for (route, histogram) in &worker.request_durations {
        histogram_samples(out, durations.name, &vec![("route", route.clone())], histogram);
    }
    counter(out, "mcp_mesh_broadcasts_total", "Broadcasts sent.", worker.broadcasts);
    let fanout = Family {
        name: "mcp_mesh_broadcast_fanout_duration_seconds",
        kind: "histogram",
        help: "A broadcast's fan-out, from the member list to the last shard's report.",
    };
    header(out, &fanout);
    histogram_samples(out, fanout.name, &Vec::new(), &worker.broadcast_fanout);
    counter(
        out,
        "mcp_mesh_broadcast_shard_calls_total",
        "Calls broadcasts made (to shards, or to relays).",
        worker.broadcast_shard_calls,
    );
    let tools = Family { name: "mcp_mesh_tool_calls_total", kind: "counter", help: "Tool calls, by tool and outcome." };
    header(out, &tools);
    for (tool, outcomes) in &worker.tool_calls {
        for (outcome, count) in outcomes {
            sample(out, tools.name, &vec![("tool", tool.clone()), ("outcome", outcome.clone())], *count as f64);
        }
    }
    counter(
        out,
        "mcp_mesh_stream_backpressure_cutoffs_total",
        "Streams cut off because their client stopped reading.",
        worker.backpressure_cutoffs,
    );
    let auth = Family {
        name: "mcp_mesh_auth_rejections_total",
        kind: "counter",
        help: "Requests refused for their credentials, by reason.",
    };
    header(out, &auth);
    for (reason, count) in &worker.auth_rejections {
        sample(out, auth.name, &vec![("reason", reason.clone())], *count as f64);
    }
}

fn shard_label(shard: &ShardMetrics) -> Labels<'static> {
    vec![("shard", shard.shard.to_string())]
}

fn header(out: &mut String, family: &Family<'_>) {
    let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
    let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, &Family { name, kind: "gauge", help });
    sample(out, name, &Vec::new(), value as f64);
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, &Family { name, kind: "counter", help });
    sample(out, name, &Vec::new(), value as f64);
}

fn histogram_samples(out: &mut String, name: &str, labels: &Labels<'_>, histogram: &Histogram) {
    let bucket = format!("{name}_bucket");
    for (bound, count) in histogram.cumulative() {
        let mut with_le = labels.clone();
        with_le.push(("le", bound.map_or_else(|| "+Inf".to_owned(), |b| b.to_string())));
        sample(out, &bucket, &with_le, count as f64);
    }
    sample(out, &format!("{name}_sum"), labels, histogram.sum_seconds);
    sample(out, &format!("{name}_count"), labels, histogram.count as f64);
}

fn sample(out: &mut String, name: &str, labels: &Labels<'_>, value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (index, (label, value)) in labels.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label_value(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the format requires: backslash, double quote and line feed escaped.
fn escape_label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::counters::{ShardCounters, ToolOutcome};

    fn shard(number: u32, deliveries: u64) -> ShardMetrics {
        let mut counters = ShardCounters { deliveries, ..Default::default() };
        counters.broadcast_send.observe_ms(3.0);
        ShardMetrics { shard: number, sessions: 2, session_streams: 2, counters, ..Default::default() }
    }

    #[test]
    fn every_sample_belongs_to_a_family_declared_once_with_a_known_type() {
        let mut worker = WorkerCounters::default();
        worker.count_request("mcp_post", 200, 4.0);
        worker.count_tool_call("say \"hi\"\n", ToolOutcome::Error);
        let text = render(&MeshSnapshot { shard_count: 16, shards: &[shard(3, 5), shard(9, 7)], worker: &worker });
        let mut declared = std::collections::HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["gauge", "counter", "histogram"].contains(&kind), "{line}");
                assert!(declared.insert(name.to_owned(), kind.to_owned()).is_none(), "{name} declared twice");
                assert!(name.starts_with("mcp_mesh_"));
                assert_eq!(name.ends_with("_total"), kind == "counter", "{name}");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| {
                        name.strip_suffix(suffix).filter(|f| declared.get(*f).is_some_and(|k| k == "histogram"))
                    })
                    .unwrap_or(name);
                assert!(declared.contains_key(family), "{line} has no family");
            }
        }
        assert!(text.contains("mcp_mesh_deliveries_total{shard=\"9\"} 7\n"));
        assert!(text.contains("mcp_mesh_shard_count 16\n"));
        assert!(text.contains("tool=\"say \\\"hi\\\"\\n\""), "label values are escaped");
        assert!(text
            .contains("mcp_mesh_shard_send_duration_seconds_bucket{shard=\"3\",send=\"broadcast\",le=\"0.005\"} 1\n"));
        assert!(text.contains("mcp_mesh_shard_send_duration_seconds_count{shard=\"3\",send=\"targeted\"} 0\n"));
        assert!(text.contains("le=\"+Inf\""));
    }

    #[test]
    fn an_empty_mesh_still_declares_every_family() {
        let text = render(&MeshSnapshot { shard_count: 1, shards: &[], worker: &WorkerCounters::default() });
        assert!(text.contains("# TYPE mcp_mesh_deliveries_total counter"));
        assert!(text.contains("mcp_mesh_broadcast_fanout_duration_seconds_count 0\n"));
        assert!(text.ends_with('\n'));
    }
}

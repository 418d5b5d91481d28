//! What an operator relies on, end to end on a worker of its own (`mcp-mesh-operator`, 4 shards,
//! with a local `MESH_ANALYTICS` binding): `/mesh/metrics` parsed by a real Prometheus parser
//! (`prometheus_client`, tests/clients/metrics_check.py) and counting what the test did; the
//! Analytics Engine points written; the dashboard in headless Chromium (tests/clients/dashboard_check.mjs);
//! the shards' counters surviving a restart of the objects' process. And, on the shared peer worker
//! (no binding), that nothing is written and nothing fails.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::e2e_http::{call_tool, check, initialize, open_get, PATIENCE};
use super::interop::{node, root, run};
use super::workerd::{request, SseStream, Wrangler};

const SHARDS: u32 = 4;
const SESSIONS: usize = 6;

/// Every sample of one parse: (name, labels) → value.
pub struct Metrics {
    families: BTreeMap<String, String>,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Metrics {
    /// The sum of `name`'s samples whose labels include every pair of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, labels, _)| {
                n == name && with.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, value)| value)
            .sum()
    }
}

fn admin(w: &Wrangler) -> String {
    format!("Bearer {}", w.token)
}

/// `/mesh/metrics` as the Python parser reads it.
pub fn scrape(w: &Wrangler) -> Result<Metrics, String> {
    let reply = request("GET", &w.url("/mesh/metrics"), &[("Authorization", &admin(w))], None);
    check(reply.status == 200, format!("/mesh/metrics: {} {}", reply.status, reply.body))?;
    let content_type = reply.header("content-type").unwrap_or_default().to_owned();
    check(content_type.starts_with("text/plain; version=0.0.4"), format!("content-type {content_type}"))?;
    let path = std::env::temp_dir().join(format!("mcp-mesh-metrics-{}-{}.txt", std::process::id(), w.port));
    std::fs::write(&path, &reply.body).map_err(|e| e.to_string())?;
    let python = root().join(".venv/bin/python").to_string_lossy().into_owned();
    let (ok, output) =
        run(&python, &["tests/clients/metrics_check.py", &path.to_string_lossy()], Duration::from_secs(60))?;
    check(ok, format!("the Prometheus parser refused /mesh/metrics: {output}"))?;
    let parsed: Value = serde_json::from_str(output.trim()).map_err(|e| format!("{e}: {output}"))?;
    let families = parsed["families"]
        .as_object()
        .map(|f| f.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    let samples = parsed["samples"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|s| {
                    let labels = s[1]
                        .as_object()
                        .map(|l| {
                            l.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect()
                        })
                        .unwrap_or_default();
                    (s[0].as_str().unwrap_or_default().to_owned(), labels, s[2].as_f64().unwrap_or(f64::NAN))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Metrics { families, samples })
}

/// The whole operator check; its summary line.
pub fn run_scenario() -> Result<String, String> {
    let vars = [("SHARD_COUNT", "4"), ("KEEPALIVE_MS", "500")];
    let mut w = Wrangler::start_with_args(None, Some("mcp-mesh-operator"), &vars)?;
    let unauthorized = request("GET", &w.url("/mesh/metrics"), &[], None);
    check(unauthorized.status == 401, format!("/mesh/metrics without the token: {}", unauthorized.status))?;
    let page = request("GET", &w.url("/mesh/"), &[], None);
    check(
        page.status == 200 && page.header("content-type").is_some_and(|t| t.starts_with("text/html")),
        format!("/mesh/ without a token: {}", page.status),
    )?;
    check(page.header("content-security-policy").is_some(), "the dashboard has no content security policy")?;
    let before = scrape(&w)?;
    // The parser names a counter's family without its `_total`.
    let declared = [
        ("mcp_mesh_deliveries", "counter"),
        ("mcp_mesh_requests", "counter"),
        ("mcp_mesh_sessions", "gauge"),
        ("mcp_mesh_broadcast_fanout_duration_seconds", "histogram"),
    ];
    for (family, kind) in declared {
        let found = before.families.get(family).map(String::as_str);
        check(found == Some(kind), format!("{family} is declared as {found:?}, want {kind}"))?;
    }

    let mut sessions: Vec<(String, SseStream)> = Vec::new();
    for _ in 0..SESSIONS {
        let id = initialize(&w)?;
        let stream = open_get(&w, &id).map_err(|(s, b)| format!("GET: {s} {b}"))?;
        sessions.push((id, stream));
    }
    let text = format!("operator-{}", std::process::id());
    call_tool(&w, &sessions[0].0, "announce", json!({ "text": text }))?;
    for (id, stream) in &mut sessions {
        let got = stream.wait_until(PATIENCE, |s| s.data().iter().any(|d| d.contains(&text)));
        check(got, format!("{id} did not get the broadcast"))?;
    }
    let second = open_get(&w, &sessions[1].0);
    check(matches!(second, Err((409, _))), "a second GET stream was not refused with 409")?;

    let after = scrape(&w)?;
    let grew = |name: &str, with: &[(&str, &str)]| after.sum(name, with) - before.sum(name, with);
    let delivered = grew("mcp_mesh_deliveries_total", &[]);
    check(delivered >= SESSIONS as f64, format!("deliveries grew by {delivered}, want >= {SESSIONS}"))?;
    check(grew("mcp_mesh_stream_conflicts_total", &[]) >= 1.0, "the 409 was not counted")?;
    check(after.sum("mcp_mesh_sessions", &[]) == SESSIONS as f64, "mcp_mesh_sessions is not the session count")?;
    let open = after.sum("mcp_mesh_streams_open", &[("stream", "session")]);
    check(open == SESSIONS as f64, format!("{open} session streams open, want {SESSIONS}"))?;
    check(grew("mcp_mesh_broadcasts_total", &[]) >= 1.0, "the broadcast was not counted")?;
    let calls = grew("mcp_mesh_broadcast_shard_calls_total", &[]);
    let members = after.sum("mcp_mesh_member_shards", &[]);
    check(calls >= members && members >= 1.0, format!("{calls} shard calls for {members} member shards"))?;
    check(grew("mcp_mesh_broadcast_fanout_duration_seconds_count", &[]) >= 1.0, "no fan-out duration observed")?;
    let shard_sends = grew("mcp_mesh_shard_send_duration_seconds_count", &[("send", "broadcast")]);
    check(shard_sends >= members, format!("{shard_sends} shard send durations for {members} members"))?;
    let tool_ok = grew("mcp_mesh_tool_calls_total", &[("tool", "announce"), ("outcome", "ok")]);
    check(tool_ok >= 1.0, "the announce call was not counted")?;
    let posts = grew("mcp_mesh_requests_total", &[("route", "mcp_post"), ("status_class", "2xx")]);
    check(posts >= (2 * SESSIONS) as f64, format!("{posts} successful POSTs counted, want >= {}", 2 * SESSIONS))?;
    check(after.sum("mcp_mesh_shard_count", &[]) == f64::from(SHARDS), "mcp_mesh_shard_count")?;

    let points = request("GET", &w.url("/mesh/analytics-written"), &[("Authorization", &admin(&w))], None).json();
    let points = points.as_array().cloned().unwrap_or_default();
    let of_kind = |kind: &str| points.iter().filter(|p| p["index"] == kind).cloned().collect::<Vec<Value>>();
    check(of_kind("mcp_post").len() >= 2 * SESSIONS, format!("{} mcp_post points", of_kind("mcp_post").len()))?;
    check(
        of_kind("tool_call").iter().any(|p| p["blobs"] == json!(["tool_call", "announce", "ok"])),
        "no tool_call point for announce",
    )?;
    check(
        of_kind("broadcast")
            .iter()
            .any(|p| p["doubles"][1].as_f64() >= Some(SESSIONS as f64) && p["doubles"][2].as_f64() >= Some(1.0)),
        format!("no broadcast point with its recipients and shards: {:?}", of_kind("broadcast")),
    )?;

    let screenshot = root().join("target/dashboard.png");
    let (ok, output) = run(
        &node(),
        &[
            "tests/clients/dashboard_check.mjs",
            &w.url(""),
            &w.token,
            &SHARDS.to_string(),
            &SESSIONS.to_string(),
            &screenshot.to_string_lossy(),
        ],
        Duration::from_secs(120),
    )?;
    check(ok, format!("dashboard: {output}"))?;

    // The shards write their counters within 2 s; a restart of the objects' process keeps them.
    std::thread::sleep(Duration::from_millis(2_500));
    let stored = scrape(&w)?.sum("mcp_mesh_deliveries_total", &[]);
    let ids: Vec<String> = sessions.drain(..).map(|(id, _)| id).collect();
    w.restart()?;
    // The sessions come back as their clients reconnect, and their shards are members again.
    let mut reopened = Vec::new();
    for id in &ids {
        reopened.push(open_get(&w, id).map_err(|(s, b)| format!("GET after the restart: {s} {b}"))?);
    }
    let restored = scrape(&w)?.sum("mcp_mesh_deliveries_total", &[]);
    check(restored >= stored, format!("deliveries counted {stored} before the restart, {restored} after"))?;
    Ok(format!(
        "operator: metrics parsed ({} families), {delivered} deliveries counted, {} analytics points, \
         {stored} deliveries stored and {restored} read after a restart; dashboard: {}",
        after.families.len(),
        points.len(),
        output.lines().last().unwrap_or_default()
    ))
}

/// On a worker with no `MESH_ANALYTICS` binding (the shared peer): requests succeed and no point is
/// written.
pub fn analytics_stay_off_without_the_binding(peer: &Wrangler) -> Result<(), String> {
    let session = initialize(peer)?;
    check(!session.is_empty(), "no session")?;
    let points = request("GET", &peer.url("/mesh/analytics-written"), &[("Authorization", &admin(peer))], None);
    check(points.status == 200, format!("/mesh/analytics-written: {} {}", points.status, points.body))?;
    check(points.json() == json!([]), format!("points written without a binding: {}", points.body))
}

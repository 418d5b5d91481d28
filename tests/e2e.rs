//! End to end against workerd: `wrangler dev` started on a free port by the harness, real Durable
//! Objects (hibernation, SQLite), the reference MCP server and the manager API.
//!
//! A plain `cargo test` skips this (it needs the wasm build and the npm tools); `make test` sets
//! `MESH_E2E=1` after building. It prints one line per scenario and `e2e: N passed, M failed`.

mod support;

use std::time::{Duration, Instant};

use mcp_mesh::protocol::SendReport;
use mcp_mesh::routing::shard_for;
use serde_json::{json, Value};
use support::manager_suite::{self, CreateError, Driver, Probe};
use support::workerd::{request, Reply, SseStream, Wrangler};
use support::{chaos, chaos_scale, interop, tmcp};

const SHARD_COUNT: u32 = 16;
const SESSIONS: usize = 48;
const PATIENCE: Duration = Duration::from_secs(15);
const ACCEPT_BOTH: (&str, &str) = ("Accept", "application/json, text/event-stream");
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A scenario against the shared worker and the shared fleet of sessions.
type Scenario = fn(&Wrangler, &mut Option<Fleet>) -> Result<(), String>;
/// An interop run (conformance suite or SDK client) that prints a summary.
type InteropCheck<'a> = Box<dyn Fn() -> Result<String, String> + 'a>;

fn main() {
    if std::env::var("MESH_E2E").as_deref() != Ok("1") {
        println!("e2e: skipped (needs the wasm build and wrangler; `make test` runs it with MESH_E2E=1)");
        return;
    }
    // MESH_E2E_ONLY=reshard|chaos|limits|polling|tmcp runs just that part, for quick iterations by hand.
    if let Ok(only) = std::env::var("MESH_E2E_ONLY") {
        let outcome = match only.as_str() {
            "reshard" => chaos::reshard(24, 4, 6).map(|r| println!("reshard: moved {}", r.moved)),
            "chaos" => chaos::run(12, 30).map(|r| println!("chaos: {}/{}", r.delivered, r.expected)),
            // `make chaos`: CHAOS_SESSIONS (1000), CHAOS_ROUNDS (20), CHAOS_SEED (1), CHAOS_RUNS (2).
            "chaos-scale" => chaos_at_scale(),
            "limits" => chaos::shard_full(),
            "polling" => chaos::polling(),
            "tmcp" => match tmcp::run_all().into_iter().find(|(_, outcome)| outcome.is_err()) {
                Some((name, Err(error))) => Err(format!("{name}: {error}")),
                _ => Ok(()),
            },
            other => Err(format!("unknown MESH_E2E_ONLY {other}")),
        };
        let failed = usize::from(outcome.is_err());
        if let Err(error) = outcome {
            println!("FAIL {only}: {error}");
        }
        println!("e2e: {} passed, {failed} failed", 1 - failed);
        std::process::exit(i32::from(failed > 0));
    }
    let wrangler =
        match Wrangler::start(&[("SHARD_COUNT", "16"), ("KEEPALIVE_MS", "500"), ("STREAM_BUFFER_BYTES", "262144")]) {
            Ok(wrangler) => wrangler,
            Err(error) => {
                eprintln!("e2e: could not start wrangler dev: {error}");
                std::process::exit(1);
            }
        };
    // A second worker process bound to the same Durable Objects: another isolate for sure.
    let peer = match Wrangler::start_with_config(Some("tests/wrangler.peer.toml"), &[]) {
        Ok(peer) => peer,
        Err(error) => {
            eprintln!("e2e: could not start the peer worker: {error}");
            std::process::exit(1);
        }
    };
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    let driver = HttpDriver { wrangler: &wrangler };
    for (name, case) in manager_suite::cases::<HttpDriver>() {
        let prefix = format!("{name}-{}", std::process::id());
        results.push((format!("manager::{name}"), case(&driver, &prefix)));
        report(results.last());
    }
    let mut fixture = None;
    let scenarios: Vec<(&str, Scenario)> = vec![
        ("mcp::sessions_spread_over_shards", sessions_spread_over_shards),
        ("mcp::has_reports_live_streams", has_reports_live_streams),
        ("mcp::announce_reaches_every_session_exactly_once", announce_reaches_every_session_exactly_once),
        ("mcp::targeted_send_reaches_exactly_the_subscribers", targeted_send_reaches_exactly_the_subscribers),
        ("mcp::second_get_stream_conflicts", second_get_stream_conflicts),
        (
            "mcp::delete_closes_the_stream_and_later_requests_get_404",
            delete_closes_the_stream_and_later_requests_get_404,
        ),
        ("mcp::transport_errors_are_json_rpc_errors", transport_errors_are_json_rpc_errors),
        ("mcp::status_route_needs_the_token", status_route_needs_the_token),
        ("mcp::a_client_that_disconnects_is_removed", a_client_that_disconnects_is_removed),
        ("mcp::a_resumed_stream_gets_exactly_what_it_missed", a_resumed_stream_gets_exactly_what_it_missed),
        ("mcp::a_resuming_stream_takes_over_a_registered_one", a_resuming_stream_takes_over_a_registered_one),
        ("mcp::a_closed_listen_stream_leaves_the_topic_index", a_closed_listen_stream_leaves_the_topic_index),
        (
            "mesh::a_stalled_consumer_is_cut_off_without_delaying_others",
            a_stalled_consumer_is_cut_off_without_delaying_others,
        ),
        ("mesh::shard_rebuilds_its_table_after_eviction", shard_rebuilds_its_table_after_eviction),
    ];
    for (name, scenario) in scenarios {
        let started = Instant::now();
        let outcome = scenario(&wrangler, &mut fixture);
        results.push((format!("{name} ({:.1}s)", started.elapsed().as_secs_f64()), outcome));
        report(results.last());
    }
    let url = wrangler.url("/mcp");
    let peer_url = peer.url("/mcp");
    let interop: Vec<(&str, InteropCheck<'_>)> = vec![
        ("conformance::0.1.16_active_suite", Box::new(|| interop::conformance_0_1_16(&url))),
        ("conformance::0.2.0-alpha.12_2025-11-25", Box::new(|| interop::conformance_alpha(&url, "2025-11-25"))),
        ("conformance::0.2.0-alpha.12_2026-07-28", Box::new(|| interop::conformance_alpha(&url, "2026-07-28"))),
        ("clients::typescript_sdk", Box::new(|| interop::typescript_client(&url, &peer_url))),
        ("clients::python_sdk_legacy", Box::new(|| interop::python_client(&url, &peer_url, "legacy"))),
        ("clients::python_sdk_auto", Box::new(|| interop::python_client(&url, &peer_url, "auto"))),
    ];
    for (name, check) in interop {
        let started = Instant::now();
        let outcome = check();
        if let Ok(summary) = &outcome {
            println!("     {name}: {summary}");
        }
        results.push((format!("{name} ({:.1}s)", started.elapsed().as_secs_f64()), outcome.map(|_| ())));
        report(results.last());
    }
    drop(peer);
    let started = Instant::now();
    for (name, outcome) in tmcp::run_all() {
        results.push((format!("{name} ({:.1}s)", started.elapsed().as_secs_f64()), outcome));
        report(results.last());
    }
    let started = Instant::now();
    let outcome =
        chaos::run(12, 30).and_then(|r| {
            println!(
            "     chaos: {} sessions x {} notifications: delivered {}/{} (duplicates {}, reconnects {}); faults: {}",
            r.sessions, r.notifications, r.delivered, r.expected, r.duplicates, r.reconnects, r.faults.join("; ")
        );
            check(r.delivered == r.expected && r.duplicates == 0, "a notification was lost or repeated")
        });
    results.push((format!("chaos::restart_and_drops_lose_nothing ({:.1}s)", started.elapsed().as_secs_f64()), outcome));
    report(results.last());
    let started = Instant::now();
    let outcome = chaos::reshard(24, 4, 6).map(|r| {
        println!(
            "     reshard: {} live sessions, SHARD_COUNT {} -> {}: {} sessions' home shard changed; all kept working",
            r.sessions, r.from, r.to, r.moved
        );
    });
    results.push((
        format!("reshard::live_sessions_survive_a_shard_count_change ({:.1}s)", started.elapsed().as_secs_f64()),
        outcome,
    ));
    report(results.last());
    let started = Instant::now();
    let outcome = chaos::shard_full();
    results.push((
        format!("limits::a_full_shard_answers_503_and_recovers ({:.1}s)", started.elapsed().as_secs_f64()),
        outcome,
    ));
    report(results.last());
    let started = Instant::now();
    let outcome = chaos::polling();
    results.push((
        format!("polling::each_poll_carries_the_next_event ({:.1}s)", started.elapsed().as_secs_f64()),
        outcome,
    ));
    report(results.last());
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if failed > 0 {
        eprintln!("--- wrangler log (tail) ---\n{}", wrangler.log_tail());
    }
    drop(fixture);
    drop(wrangler);
    println!("e2e: {} passed, {} failed", results.len() - failed, failed);
    if failed > 0 {
        std::process::exit(1);
    }
}

fn report(result: Option<&(String, Result<(), String>)>) {
    if let Some((name, outcome)) = result {
        match outcome {
            Ok(()) => println!("ok   {name}"),
            Err(error) => println!("FAIL {name}: {error}"),
        }
    }
}

fn check(condition: bool, what: impl Into<String>) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what.into())
    }
}

// ---- the manager API over HTTP ----

struct HttpDriver<'a> {
    wrangler: &'a Wrangler,
}

impl HttpDriver<'_> {
    fn admin(&self, path: &str, body: Value) -> Reply {
        let auth = format!("Bearer {}", self.wrangler.token);
        request("POST", &self.wrangler.url(path), &[("Authorization", &auth), JSON], Some(&body.to_string()))
    }
}

impl Probe for SseStream {
    fn wait_payloads(&mut self, count: usize, timeout: Duration) -> Vec<String> {
        // The priming event (an id, empty data) opens every fresh stream; it is not a payload.
        let is_payload = |e: &&mcp_mesh::sse::SseEvent| !e.data.is_empty();
        self.wait_until(timeout, |s| s.events.iter().filter(is_payload).count() >= count);
        self.events.iter().filter(is_payload).map(mcp_mesh::sse::encode).collect()
    }

    fn wait_closed(&mut self, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.closed)
    }
}

impl Driver for HttpDriver<'_> {
    type Stream = SseStream;

    fn create(&self, id: &str) -> Result<SseStream, CreateError> {
        let auth = format!("Bearer {}", self.wrangler.token);
        let path = format!("/mesh/stream?session={}", encode_query(id));
        match SseStream::open(self.wrangler.port, &path, &[("Authorization", &auth), ("Accept", "text/event-stream")]) {
            Ok(stream) => Ok(stream),
            Err((409, _)) => Err(CreateError::Conflict),
            Err((status, body)) => Err(CreateError::Other(format!("{status}: {body}"))),
        }
    }

    fn delete(&self, id: &str) {
        self.admin("/mesh/delete", json!({ "session": id }));
    }

    fn has(&self, id: &str) -> bool {
        self.admin("/mesh/has", json!({ "session": id })).json()["has"] == json!(true)
    }

    fn send(&self, ids: Option<Vec<String>>, data: &str) -> SendReport {
        let body = match ids {
            Some(ids) => json!({ "sessions": ids, "data": data }),
            None => json!({ "data": data }),
        };
        serde_json::from_str(&self.admin("/mesh/send", body).body).unwrap_or_default()
    }

    fn patience(&self) -> Duration {
        PATIENCE
    }
}

fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---- MCP sessions ----

struct McpSession {
    id: String,
    stream: SseStream,
}

/// The sessions the MCP scenarios share (initialized once, each with its GET stream open).
struct Fleet {
    sessions: Vec<McpSession>,
}

fn chaos_at_scale() -> Result<(), String> {
    let var = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (sessions, rounds) = (var("CHAOS_SESSIONS", 1000) as usize, var("CHAOS_ROUNDS", 20) as usize);
    let (seed, runs) = (var("CHAOS_SEED", 1), var("CHAOS_RUNS", 2));
    let mut reports = Vec::new();
    for run in 0..runs {
        let report = chaos_scale::run(sessions, rounds.max(5), seed + run)?;
        println!(
            "chaos-scale: {} sessions: sent {}, delivered {}, lost {}, duplicates {}, reconnects {}, refused {}; \
             faults: {}",
            report.sessions,
            report.sent,
            report.delivered,
            report.lost,
            report.duplicates,
            report.reconnects,
            report.refused,
            report.faults.join("; ")
        );
        reports.push(report);
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest/results/chaos.json");
    chaos_scale::write(&reports, &path)?;
    println!("chaos-scale: wrote {}", path.display());
    let clean = reports.iter().all(|r| r.lost == 0 && r.duplicates == 0 && r.refused == 0);
    check(clean, "a notification was lost or repeated, or a reconnect refused")
}

fn initialize(w: &Wrangler) -> Result<String, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}});
    let reply = request("POST", &w.url("/mcp"), &[ACCEPT_BOTH, JSON], Some(&body.to_string()));
    check(reply.status == 200, format!("initialize: {} {}", reply.status, reply.body))?;
    let id = reply.header("mcp-session-id").ok_or("initialize returned no Mcp-Session-Id")?.to_owned();
    let done = post(w, &id, json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    check(done.status == 202, format!("initialized: {}", done.status))?;
    Ok(id)
}

fn post(w: &Wrangler, session: &str, body: Value) -> Reply {
    request(
        "POST",
        &w.url("/mcp"),
        &[ACCEPT_BOTH, JSON, ("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25")],
        Some(&body.to_string()),
    )
}

fn open_get(w: &Wrangler, session: &str) -> Result<SseStream, (u16, String)> {
    SseStream::open(w.port, "/mcp", &[("Accept", "text/event-stream"), ("Mcp-Session-Id", session)])
}

fn call_tool(w: &Wrangler, session: &str, name: &str, arguments: Value) -> Result<Value, String> {
    let reply = post(
        w,
        session,
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}}),
    );
    check(reply.status == 200, format!("tools/call {name}: {} {}", reply.status, reply.body))?;
    let result = rpc_body(&reply)["result"].clone();
    check(result.is_object() && result["isError"] != json!(true), format!("tools/call {name}: {}", reply.body))?;
    Ok(result)
}

/// The JSON-RPC response of a POST, whether it came as JSON or as an SSE stream (tools/call
/// streams: a priming event, any notifications, then the response).
fn rpc_body(reply: &Reply) -> Value {
    if reply.header("content-type").is_some_and(|t| t.starts_with("text/event-stream")) {
        let events = mcp_mesh::sse::SseDecoder::new().feed(reply.body.as_bytes());
        return events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
            .unwrap_or_default();
    }
    reply.json()
}

fn status(w: &Wrangler) -> Value {
    request("GET", &w.url("/mesh/status"), &[("Authorization", &format!("Bearer {}", w.token))], None).json()
}

fn fleet(fixture: &mut Option<Fleet>) -> Result<&mut Fleet, String> {
    fixture.as_mut().ok_or_else(|| "the session fleet was not created".to_owned())
}

fn sessions_spread_over_shards(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let id = initialize(w)?;
        let stream = open_get(w, &id).map_err(|(s, b)| format!("GET stream: {s} {b}"))?;
        check(
            stream.headers.iter().any(|(n, v)| n == "content-type" && v.starts_with("text/event-stream")),
            "GET is not an event stream",
        )?;
        sessions.push(McpSession { id, stream });
    }
    *fixture = Some(Fleet { sessions });
    let fleet = fleet(fixture)?;
    let status = status(w);
    check(status["shard_count"] == json!(SHARD_COUNT), format!("status: {status}"))?;
    let mut ours = std::collections::BTreeMap::<u32, u64>::new();
    for session in &fleet.sessions {
        *ours.entry(shard_for(&session.id, SHARD_COUNT)).or_default() += 1;
    }
    let shards = status["shards"].as_array().cloned().unwrap_or_default();
    for (shard, count) in &ours {
        let live = shards
            .iter()
            .find(|s| s["shard"] == json!(shard))
            .map(|s| s["sessions"].as_u64().unwrap_or(0))
            .unwrap_or(0);
        check(live >= *count, format!("shard {shard} reports {live} sessions, we hold {count} there: {status}"))?;
    }
    let occupied = shards.iter().filter(|s| s["sessions"].as_u64().unwrap_or(0) > 0).count();
    check(occupied >= 8, format!("sessions sit on {occupied} shards, expected at least 8"))?;
    check(status["sessions"].as_u64().unwrap_or(0) >= SESSIONS as u64, format!("total {}", status["sessions"]))
}

fn has_reports_live_streams(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let driver = HttpDriver { wrangler: w };
    let fleet = fleet(fixture)?;
    check(driver.has(&fleet.sessions[0].id), "has() is false for a session with an open stream")?;
    check(!driver.has("00000000-0000-4000-8000-00000000dead"), "has() is true for an unknown session")
}

/// Waits until every stream has an event whose data contains `fence`.
fn await_fence(fleet: &mut Fleet, fence: &str) -> Result<(), String> {
    for session in &mut fleet.sessions {
        let arrived = session.stream.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data.contains(fence)));
        check(arrived, format!("{} never received {fence}", session.id))?;
    }
    Ok(())
}

fn announce_reaches_every_session_exactly_once(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let fleet = fleet(fixture)?;
    let text = format!("hello-{}", std::process::id());
    let result = call_tool(w, &fleet.sessions[3].id, "announce", json!({"text": text}))?;
    let delivered = result["structuredContent"]["delivered"].as_u64().unwrap_or(0);
    check(delivered >= SESSIONS as u64, format!("announce delivered to {delivered}"))?;
    let fence = format!("fence-{}", std::process::id());
    call_tool(w, &fleet.sessions[0].id, "announce", json!({"text": fence}))?;
    await_fence(fleet, &fence)?;
    for session in &fleet.sessions {
        let copies = session.stream.events.iter().filter(|e| e.data.contains(&format!("\"{text}\""))).count();
        check(copies == 1, format!("{} received the announcement {copies} times", session.id))?;
        let message: Value = session
            .stream
            .events
            .iter()
            .find(|e| e.data.contains(&text))
            .map(|e| serde_json::from_str(&e.data).unwrap_or_default())
            .unwrap_or_default();
        check(message["method"] == "notifications/message", format!("not a log message: {message}"))?;
        check(message["params"]["data"]["sent_at_ms"].as_u64().is_some(), "no send time in the announcement")?;
    }
    Ok(())
}

fn targeted_send_reaches_exactly_the_subscribers(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let fleet = fleet(fixture)?;
    let subscribers: Vec<String> = fleet.sessions.iter().step_by(4).map(|s| s.id.clone()).collect();
    for id in &subscribers {
        let reply = post(
            w,
            id,
            json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": "mesh://counter"}}),
        );
        check(
            reply.status == 200 && reply.json()["result"].is_object(),
            format!("subscribe: {} {}", reply.status, reply.body),
        )?;
    }
    let result = call_tool(w, &fleet.sessions[1].id, "increment", json!({}))?;
    check(result["structuredContent"]["notified"] == json!(subscribers.len()), format!("increment: {result}"))?;
    let fence = format!("after-increment-{}", std::process::id());
    call_tool(w, &fleet.sessions[0].id, "announce", json!({"text": fence}))?;
    await_fence(fleet, &fence)?;
    for session in &fleet.sessions {
        let updates =
            session.stream.events.iter().filter(|e| e.data.contains("notifications/resources/updated")).count();
        let expected = usize::from(subscribers.contains(&session.id));
        check(updates == expected, format!("{} got {updates} updates, expected {expected}", session.id))?;
    }
    Ok(())
}

fn second_get_stream_conflicts(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let fleet = fleet(fixture)?;
    match open_get(w, &fleet.sessions[2].id) {
        Err((409, body)) => check(body.contains("-32000"), format!("409 without a JSON-RPC error: {body}")),
        Err((status, body)) => Err(format!("expected 409, got {status} {body}")),
        Ok(_) => Err("a second GET stream was accepted".into()),
    }
}

fn delete_closes_the_stream_and_later_requests_get_404(
    w: &Wrangler,
    fixture: &mut Option<Fleet>,
) -> Result<(), String> {
    let fleet = fleet(fixture)?;
    let mut session = fleet.sessions.pop().ok_or("no session")?;
    let reply = request("DELETE", &w.url("/mcp"), &[("Mcp-Session-Id", &session.id)], None);
    check(reply.status == 200, format!("DELETE: {} {}", reply.status, reply.body))?;
    check(session.stream.wait_until(PATIENCE, |s| s.closed), "the GET stream stayed open after DELETE")?;
    let after = post(w, &session.id, json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}));
    check(
        after.status == 404 && after.json()["error"]["code"] == json!(-32001),
        format!("POST after DELETE: {} {}", after.status, after.body),
    )?;
    match open_get(w, &session.id) {
        Err((404, _)) => {}
        other => return Err(format!("GET after DELETE: {:?}", other.map(|_| "200").map_err(|e| e.0))),
    }
    let again = request("DELETE", &w.url("/mcp"), &[("Mcp-Session-Id", &session.id)], None);
    check(again.status == 404, format!("second DELETE: {}", again.status))
}

fn transport_errors_are_json_rpc_errors(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
    let url = w.url("/mcp");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let cases: Vec<(&str, Reply, u16, Option<i64>)> = vec![
        ("no session", request("POST", &url, &[ACCEPT_BOTH, JSON], Some(&list)), 400, Some(-32000)),
        (
            "unknown session",
            request("POST", &url, &[ACCEPT_BOTH, JSON, ("Mcp-Session-Id", "nope-nope")], Some(&list)),
            404,
            Some(-32001),
        ),
        (
            "malformed session",
            request("POST", &url, &[ACCEPT_BOTH, JSON, ("Mcp-Session-Id", &"x".repeat(300))], Some(&list)),
            400,
            Some(-32000),
        ),
        ("bad json", request("POST", &url, &[ACCEPT_BOTH, JSON], Some("{oops")), 400, Some(-32700)),
        ("batch", request("POST", &url, &[ACCEPT_BOTH, JSON], Some("[]")), 400, Some(-32600)),
        (
            "wrong content type",
            request("POST", &url, &[ACCEPT_BOTH, ("Content-Type", "text/plain")], Some(&list)),
            415,
            Some(-32000),
        ),
        (
            "accept lacks sse",
            request("POST", &url, &[("Accept", "application/json"), JSON], Some(&list)),
            406,
            Some(-32000),
        ),
        (
            "GET without sse accept",
            request("GET", &url, &[("Accept", "application/json"), ("Mcp-Session-Id", "x")], None),
            406,
            Some(-32000),
        ),
        ("PUT", request("PUT", &url, &[], Some("")), 405, Some(-32000)),
        ("unknown path", request("GET", &w.url("/nowhere"), &[], None), 404, None),
        (
            "body over MAX_BODY_BYTES",
            request("POST", &url, &[ACCEPT_BOTH, JSON], Some(&" ".repeat(4 * 1024 * 1024 + 1))),
            413,
            Some(-32000),
        ),
    ];
    for (name, reply, status, code) in cases {
        check(reply.status == status, format!("{name}: got {} {}", reply.status, reply.body))?;
        if let Some(code) = code {
            check(reply.json()["error"]["code"] == json!(code), format!("{name}: body {}", reply.body))?;
        }
    }
    Ok(())
}

fn status_route_needs_the_token(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
    let url = w.url("/mesh/status");
    let none = request("GET", &url, &[], None);
    let wrong = request("GET", &url, &[("Authorization", "Bearer wrong")], None);
    check(none.status == 401 && wrong.status == 401, format!("without/wrong token: {} {}", none.status, wrong.status))
}

fn a_client_that_disconnects_is_removed(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
    let driver = HttpDriver { wrangler: w };
    let id = initialize(w)?;
    let stream = open_get(w, &id).map_err(|(s, b)| format!("GET: {s} {b}"))?;
    check(driver.has(&id), "has() is false with the stream open")?;
    stream.disconnect();
    // The Worker notices at its next keepalive write (KEEPALIVE_MS=500 here) and closes the shard
    // socket; the shard's close handler drops the session.
    let deadline = Instant::now() + PATIENCE;
    while driver.has(&id) {
        check(Instant::now() < deadline, "the session is still listed 15 s after its client vanished")?;
        std::thread::sleep(Duration::from_millis(200));
    }
    // And the client can come back: no stale entry answers 409.
    let again = open_get(w, &id).map_err(|(s, b)| format!("reconnect: {s} {b}"))?;
    check(driver.has(&id), "has() is false after the reconnect")?;
    drop(again);
    Ok(())
}

/// A `subscriptions/listen` stream subscribed to `mesh://counter` counts as a subscriber while it is
/// open, and no longer once it closed (listen streams never come back under the same id).
fn a_closed_listen_stream_leaves_the_topic_index(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
    let caller = initialize(w)?;
    let subscribers = |w: &Wrangler| -> Result<u64, String> {
        let result = call_tool(w, &caller, "increment", json!({}))?;
        result["structuredContent"]["subscribers"]
            .as_u64()
            .ok_or(format!("increment gave no subscriber count: {result}"))
    };
    let before = subscribers(w)?;
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}
    });
    let listen = json!({"jsonrpc": "2.0", "id": "listen-e2e", "method": "subscriptions/listen",
        "params": {"_meta": meta, "notifications": {"resourceSubscriptions": ["mesh://counter"]}}});
    let headers = [ACCEPT_BOTH, JSON, ("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "subscriptions/listen")];
    let mut stream = SseStream::open_post(w.port, "/mcp", &headers, &listen.to_string())
        .map_err(|(s, b)| format!("listen: {s} {b}"))?;
    check(stream.wait_until(PATIENCE, |s| !s.events.is_empty()), "the listen stream was never acknowledged")?;
    check(subscribers(w)? == before + 1, "the open listen stream is not a subscriber")?;
    stream.disconnect();
    // The Worker notices at its next keepalive (500 ms here), the shard then removes the entry.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = subscribers(w)?;
        if now == before {
            return Ok(());
        }
        check(
            Instant::now() < deadline,
            format!("{now} subscribers after the listen stream closed, expected {before}"),
        )?;
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A client that comes back before its dead stream was noticed (the old socket still registered)
/// resumes at once instead of getting 409: the old stream is closed and the new one replays.
fn a_resuming_stream_takes_over_a_registered_one(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
    let (id, other) = (initialize(w)?, initialize(w)?);
    let tag = format!("takeover-{}", std::process::id());
    let mut old = open_get(w, &id).map_err(|(s, b)| format!("GET: {s} {b}"))?;
    call_tool(w, &other, "announce", json!({"text": format!("{tag}-before")}))?;
    check(
        old.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data.contains(&format!("{tag}-before")))),
        "the first announcement never arrived",
    )?;
    let last_id = old.events.last().and_then(|e| e.id.clone()).ok_or("events on the GET stream carry no id")?;
    // The old stream stays open: to the shard, the session still has a live stream.
    call_tool(w, &other, "announce", json!({"text": format!("{tag}-missed")}))?;
    let headers =
        [("Accept", "text/event-stream"), ("Mcp-Session-Id", id.as_str()), ("Last-Event-ID", last_id.as_str())];
    let mut resumed =
        SseStream::open(w.port, "/mcp", &headers).map_err(|(s, b)| format!("resume was refused: {s} {b}"))?;
    check(old.wait_until(PATIENCE, |s| s.closed), "the replaced stream stayed open")?;
    call_tool(w, &other, "announce", json!({"text": format!("{tag}-after")}))?;
    check(
        resumed.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data.contains(&format!("{tag}-after")))),
        "the live announcement after the takeover never arrived",
    )?;
    let seen: Vec<&str> = resumed
        .events
        .iter()
        .filter_map(|e| ["before", "missed", "after"].into_iter().find(|k| e.data.contains(&format!("{tag}-{k}"))))
        .collect();
    check(seen == ["missed", "after"], format!("the resuming stream saw {seen:?}"))
}

fn a_resumed_stream_gets_exactly_what_it_missed(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
    let driver = HttpDriver { wrangler: w };
    let (id, other) = (initialize(w)?, initialize(w)?);
    let tag = std::process::id();
    let mut stream = open_get(w, &id).map_err(|(s, b)| format!("GET: {s} {b}"))?;
    call_tool(w, &other, "announce", json!({"text": format!("before-{tag}")}))?;
    check(
        stream.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data.contains(&format!("before-{tag}")))),
        "the first announcement never arrived",
    )?;
    let last_id = stream.events.last().and_then(|e| e.id.clone()).ok_or("events on the GET stream carry no id")?;
    stream.disconnect();
    let deadline = Instant::now() + PATIENCE;
    while driver.has(&id) {
        check(Instant::now() < deadline, "the dropped stream is still listed")?;
        std::thread::sleep(Duration::from_millis(100));
    }
    // While the client is away: a broadcast, a send to it, and a send to someone else.
    call_tool(w, &other, "announce", json!({"text": format!("missed-1-{tag}")}))?;
    let frame = |text: String| mcp_mesh::sse::encode_message(&format!("\"{text}\""), None);
    driver.send(Some(vec![id.clone()]), &frame(format!("missed-2-{tag}")));
    driver.send(Some(vec![other.clone()]), &frame(format!("not-yours-{tag}")));
    let headers =
        [("Accept", "text/event-stream"), ("Mcp-Session-Id", id.as_str()), ("Last-Event-ID", last_id.as_str())];
    let mut resumed = SseStream::open(w.port, "/mcp", &headers).map_err(|(s, b)| format!("resume: {s} {b}"))?;
    call_tool(w, &other, "announce", json!({"text": format!("after-{tag}")}))?;
    check(
        resumed.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data.contains(&format!("after-{tag}")))),
        "the live announcement after resuming never arrived",
    )?;
    let seen: Vec<String> = resumed
        .events
        .iter()
        .filter_map(|e| {
            ["before", "missed-1", "missed-2", "not-yours", "after"]
                .into_iter()
                .find(|k| e.data.contains(&format!("{k}-")) && e.data.contains(&tag.to_string()))
        })
        .map(str::to_owned)
        .collect();
    check(seen == ["missed-1", "missed-2", "after"], format!("the resumed stream saw {seen:?}"))?;
    let ids: Vec<&str> = resumed.events.iter().filter_map(|e| e.id.as_deref()).collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    check(unique.len() == ids.len() && !ids.contains(&last_id.as_str()), format!("event ids repeat: {ids:?}"))
}

fn a_stalled_consumer_is_cut_off_without_delaying_others(
    w: &Wrangler,
    _fixture: &mut Option<Fleet>,
) -> Result<(), String> {
    use std::io::Write;
    let driver = HttpDriver { wrangler: w };
    let tag = std::process::id();
    let (stalled_id, healthy_id) = (format!("stalled-{tag}"), format!("healthy-{tag}"));
    // A client that opens its stream and never reads from it again.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", w.port)).map_err(|e| e.to_string())?;
    let auth = format!("Bearer {}", w.token);
    write!(
        stalled,
        "GET /mesh/stream?session={stalled_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\
         Accept: text/event-stream\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut healthy = driver.create(&healthy_id).map_err(|e| format!("healthy stream: {e:?}"))?;
    let deadline = Instant::now() + PATIENCE;
    while !driver.has(&stalled_id) {
        check(Instant::now() < deadline, "the stalled stream never opened")?;
        std::thread::sleep(Duration::from_millis(50));
    }
    // Far more than the kernel's socket buffers and STREAM_BUFFER_BYTES (256 KiB) together.
    let megabyte = mcp_mesh::sse::encode_message(&format!("\"{}\"", "x".repeat(1024 * 1024)), None);
    let mut cut_off = false;
    for i in 0..40 {
        driver.send(Some(vec![stalled_id.clone()]), &megabyte);
        // Meanwhile a healthy stream on the mesh gets its message at once.
        let started = Instant::now();
        let ping = format!("ping-{tag}-{i}");
        driver.send(Some(vec![healthy_id.clone()]), &mcp_mesh::sse::encode_message(&format!("\"{ping}\""), None));
        check(
            healthy.wait_until(Duration::from_secs(5), |s| s.events.iter().any(|e| e.data.contains(&ping))),
            format!("the healthy stream waited for {ping}"),
        )?;
        check(started.elapsed() < Duration::from_secs(5), "the healthy stream was delayed")?;
        if !driver.has(&stalled_id) {
            cut_off = true;
            break;
        }
    }
    check(cut_off, "the stalled stream was never cut off after 40 MiB")?;
    drop(stalled);
    Ok(())
}

fn shard_rebuilds_its_table_after_eviction(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let fleet = fleet(fixture)?;
    let target = &fleet.sessions[5];
    let shard = shard_for(&target.id, SHARD_COUNT);
    let instance_of = |status: &Value| {
        status["shards"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["shard"] == json!(shard)).cloned())
            .unwrap_or_default()
    };
    let before = instance_of(&status(w));
    // The runtime hibernates an object after ~10 s without events; nothing here can trigger that
    // sooner, so this one scenario waits for it. The constructor then re-runs and must find the
    // sessions again from the hibernated sockets.
    std::thread::sleep(Duration::from_secs(16));
    let driver = HttpDriver { wrangler: w };
    let mut report =
        driver.send(Some(vec![target.id.clone()]), &mcp_mesh::sse::encode_message("\"after-eviction\"", None));
    if report.delivered == 0 {
        // Seen once in about ten runs on a loaded machine: the first send right after the wake finds
        // no socket. Say so, and look again once: the shard must still hold the session.
        println!(
            "NOTE the first send after hibernation missed {} ({report:?}); client stream closed: {}",
            target.id, target.stream.closed
        );
        std::thread::sleep(Duration::from_secs(1));
        report = driver.send(Some(vec![target.id.clone()]), &mcp_mesh::sse::encode_message("\"after-eviction\"", None));
    }
    check(report.delivered == 1, format!("targeted send after hibernation: {report:?}; status {}", status(w)))?;
    let after = instance_of(&status(w));
    check(
        before["instance"] != after["instance"],
        format!("the shard was not rebuilt: before {before}, after {after}"),
    )?;
    // Other scenarios' streams on this shard may close meanwhile (a dropped client is noticed at the
    // Worker's next write), so the rebuilt table is checked against this fleet's streams only.
    let ours = fleet.sessions.iter().filter(|s| shard_for(&s.id, SHARD_COUNT) == shard).count() as u64;
    check(
        after["sessions"].as_u64().unwrap_or(0) >= ours,
        format!("the rebuilt shard lists {after}, this fleet alone holds {ours} streams there (before: {before})"),
    )?;
    let target = &mut fleet.sessions[5];
    check(
        target.stream.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data.contains("after-eviction"))),
        "the send after eviction never arrived",
    )
}

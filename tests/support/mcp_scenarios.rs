//! The MCP session scenarios of the end-to-end run and the `Fleet` they share: sessions spread over
//! the shards, `has`, a broadcast and a targeted send reaching exactly whom they should, a second GET
//! stream, DELETE, transport errors and the status route. Run in order by `tests/e2e.rs`.

use mcp_mesh::routing::shard_for;
use serde_json::{json, Value};

use super::e2e_http::{
    call_tool, check, initialize, open_get, post, rpc_body, status, HttpDriver, ACCEPT_BOTH, JSON, PATIENCE, SESSIONS,
    SHARD_COUNT,
};
use super::manager_suite::Driver;
use super::workerd::{request, Reply, SseStream, Wrangler};

/// One session of the fleet and its open GET stream.
pub struct McpSession {
    pub id: String,
    pub stream: SseStream,
}

/// The sessions the MCP scenarios share (initialized once, each with its GET stream open).
pub struct Fleet {
    pub sessions: Vec<McpSession>,
}

/// The fleet `sessions_spread_over_shards` created, or an error if it did not.
pub fn fleet(fixture: &mut Option<Fleet>) -> Result<&mut Fleet, String> {
    fixture.as_mut().ok_or_else(|| "the session fleet was not created".to_owned())
}

pub fn sessions_spread_over_shards(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
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

pub fn has_reports_live_streams(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let driver = HttpDriver { wrangler: w };
    let fleet = fleet(fixture)?;
    check(driver.has(&fleet.sessions[0].id), "has() is false for a session with an open stream")?;
    check(!driver.has("00000000-0000-4000-8000-00000000dead"), "has() is true for an unknown session")
}

/// Waits until every stream has an event whose data contains `fence`.
pub fn await_fence(fleet: &mut Fleet, fence: &str) -> Result<(), String> {
    for session in &mut fleet.sessions {
        let arrived = session.stream.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data.contains(fence)));
        check(arrived, format!("{} never received {fence}", session.id))?;
    }
    Ok(())
}

pub fn announce_reaches_every_session_exactly_once(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
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

pub fn targeted_send_reaches_exactly_the_subscribers(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
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

pub fn second_get_stream_conflicts(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let fleet = fleet(fixture)?;
    match open_get(w, &fleet.sessions[2].id) {
        Err((409, body)) => check(body.contains("-32000"), format!("409 without a JSON-RPC error: {body}")),
        Err((status, body)) => Err(format!("expected 409, got {status} {body}")),
        Ok(_) => Err("a second GET stream was accepted".into()),
    }
}

pub fn delete_closes_the_stream_and_later_requests_get_404(
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

pub fn transport_errors_are_json_rpc_errors(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
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
    // A client's bad input is the client's error (-32602), checked where the request is parsed, not
    // refused by a shard and reported as the server's (502, -32603).
    let session = initialize(w)?;
    let long_uri = format!("mesh://{}", "u".repeat(mcp_mesh::protocol::MAX_TOPIC_BYTES));
    let subscribe = json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": long_uri}});
    let typed = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "announce", "arguments": {"text": 3}}});
    for (name, body, names) in
        [("an over-long subscribed URI", subscribe, "URI"), ("a bad tool argument", typed, "arguments.text")]
    {
        let reply = post(w, &session, body);
        let error = &rpc_body(&reply)["error"];
        check(
            reply.status == 200
                && error["code"] == json!(-32602)
                && error["message"].as_str().is_some_and(|m| m.contains(names)),
            format!("{name}: {} {}", reply.status, reply.body),
        )?;
    }
    Ok(())
}

pub fn status_route_needs_the_token(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
    let url = w.url("/mesh/status");
    let none = request("GET", &url, &[], None);
    let wrong = request("GET", &url, &[("Authorization", "Bearer wrong")], None);
    check(none.status == 401 && wrong.status == 401, format!("without/wrong token: {} {}", none.status, wrong.status))
}

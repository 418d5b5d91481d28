//! The chaos run for the end-to-end harness: K sessions hold resuming GET streams while M broadcasts
//! go out, with faults between them: the whole runtime restarted (every Worker, shard and the
//! coordinator lose their memory and every socket; storage stays, as in a deploy) and clients
//! dropping their connections. Each client reconnects with `Last-Event-ID`; at the end every
//! session must hold every notification exactly once. Used by `tests/e2e.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::workerd::{request, SseStream, Wrangler};

pub struct ChaosReport {
    pub sessions: usize,
    pub notifications: usize,
    pub delivered: usize,
    pub expected: usize,
    pub duplicates: usize,
    pub reconnects: usize,
    pub faults: Vec<String>,
}

pub(super) struct Client {
    pub(super) id: String,
    pub(super) stream: Option<SseStream>,
    /// Notification index → times seen.
    pub(super) seen: BTreeMap<usize, usize>,
    /// `mesh://counter` values of the `resources/updated` notifications seen → times seen.
    pub(super) updates: BTreeMap<u64, usize>,
    consumed: usize,
    last_event_id: Option<String>,
    pub(super) reconnects: usize,
    /// Reconnects the server answered with a refusal (an HTTP status other than 200).
    pub(super) refused: usize,
}

impl Client {
    pub(super) fn new(id: String) -> Self {
        Client {
            id,
            stream: None,
            seen: BTreeMap::new(),
            updates: BTreeMap::new(),
            consumed: 0,
            last_event_id: None,
            reconnects: 0,
            refused: 0,
        }
    }

    /// Takes in what arrived; notes a closed stream.
    pub(super) fn pump(&mut self, tag: &str) {
        let Some(stream) = self.stream.as_mut() else { return };
        stream.wait_until(Duration::ZERO, |_| false);
        for event in &stream.events[self.consumed..] {
            if let Some(id) = &event.id {
                self.last_event_id = Some(id.clone());
            }
            if event.data.contains("notifications/resources/updated") {
                let value = serde_json::from_str::<serde_json::Value>(&event.data)
                    .ok()
                    .and_then(|m| m["params"]["_meta"]["value"].as_u64());
                if let Some(value) = value {
                    *self.updates.entry(value).or_default() += 1;
                }
            }
            if let Some(rest) = event.data.split(&format!("{tag}-")).nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(index) = digits.parse() {
                    *self.seen.entry(index).or_default() += 1;
                }
            }
        }
        self.consumed = stream.events.len();
        if stream.closed {
            self.stream = None;
        }
    }

    pub(super) fn ensure_connected(&mut self, port: u16) {
        if self.stream.is_some() {
            return;
        }
        let mut headers = vec![("Accept", "text/event-stream"), ("Mcp-Session-Id", self.id.as_str())];
        if let Some(last) = &self.last_event_id {
            headers.push(("Last-Event-ID", last.as_str()));
        }
        // A refused or failed attempt (server restarting, old socket not yet gone) is retried later.
        match SseStream::open(port, "/mcp", &headers) {
            Ok(stream) => {
                self.stream = Some(stream);
                self.consumed = 0;
                self.reconnects += 1;
            }
            // Status 0: no answer at all (the runtime is restarting); anything else is a refusal.
            Err((status, _)) if status != 0 && status < 500 => self.refused += 1,
            Err(_) => {}
        }
    }
}

pub(super) fn initialize(w: &Wrangler) -> Result<String, String> {
    let headers = [("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json")];
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "chaos", "version": "1"}}});
    let reply = request("POST", &w.url("/mcp"), &headers, Some(&body.to_string()));
    reply
        .header("mcp-session-id")
        .map(str::to_owned)
        .ok_or_else(|| format!("initialize: {} {}", reply.status, reply.body))
}

pub(super) fn post(w: &Wrangler, session: &str, body: serde_json::Value) -> super::workerd::Reply {
    let headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Mcp-Session-Id", session),
    ];
    request("POST", &w.url("/mcp"), &headers, Some(&body.to_string()))
}

pub(super) fn announce(w: &Wrangler, session: &str, text: &str) -> bool {
    let headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Mcp-Session-Id", session),
    ];
    let body = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "announce", "arguments": {"text": text}}
    });
    let reply = request("POST", &w.url("/mcp"), &headers, Some(&body.to_string()));
    reply.status == 200 && reply.body.contains("\"result\"")
}

/// Announces `text`, retrying a call that failed as a whole (a runtime coming back) for `patience`.
pub(super) fn announce_until_accepted(
    w: &Wrangler,
    sender: &str,
    text: &str,
    patience: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + patience;
    while !announce(w, sender, text) {
        if Instant::now() > deadline {
            return Err(format!("announce {text} kept failing; log: {}", w.log_tail()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// `relay_above_shards`: the deployment's `RELAY_ABOVE_SHARDS` (1: every broadcast to 2 or more
/// shards goes through relays; 0: none does).
pub fn run(sessions: usize, notifications: usize, relay_above_shards: u32) -> Result<ChaosReport, String> {
    let relay = relay_above_shards.to_string();
    let vars = [("SHARD_COUNT", "4"), ("KEEPALIVE_MS", "500"), ("RELAY_ABOVE_SHARDS", relay.as_str())];
    let mut w = Wrangler::start_with_args(None, Some("mcp-mesh-chaos"), &vars)?;
    let tag = format!("chaos{}", std::process::id());
    let mut clients = Vec::new();
    for _ in 0..sessions {
        let mut client = Client::new(initialize(&w)?);
        client.ensure_connected(w.port);
        client.reconnects = 0;
        clients.push(client);
    }
    let sender = clients[0].id.clone();
    let mut faults = Vec::new();
    for i in 0..notifications {
        if i == notifications / 3 {
            w.restart()?;
            faults.push(format!("before notification {i}: runtime restarted (workers, shards, coordinator)"));
        }
        if i == 2 * notifications / 3 {
            for client in clients.iter_mut().take(3) {
                if let Some(stream) = &client.stream {
                    stream.disconnect();
                }
            }
            faults.push(format!("before notification {i}: 3 clients dropped their connections"));
        }
        announce_until_accepted(&w, &sender, &format!("{tag}-{i}"), Duration::from_secs(30))?;
        for client in &mut clients {
            client.pump(&tag);
            client.ensure_connected(w.port);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for client in &mut clients {
            client.pump(&tag);
            client.ensure_connected(w.port);
        }
        if clients.iter().all(|c| c.seen.len() == notifications) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ChaosReport {
        sessions,
        notifications,
        delivered: clients.iter().map(|c| c.seen.len()).sum(),
        expected: sessions * notifications,
        duplicates: clients.iter().map(|c| c.seen.values().map(|n| n - 1).sum::<usize>()).sum(),
        reconnects: clients.iter().map(|c| c.reconnects).sum(),
        faults,
    })
}

pub struct ReshardReport {
    pub sessions: usize,
    pub moved: usize,
    pub from: u32,
    pub to: u32,
}

/// Resharding while sessions are live: a deploy changes `SHARD_COUNT` from `from` to `to` with
/// `PREVIOUS_SHARD_COUNTS=from`. Every existing session must keep working (its stream resumes, `has`,
/// targeted sends, subscriptions, broadcasts, DELETE) and new sessions use the new layout.
pub fn reshard(sessions: usize, from: u32, to: u32) -> Result<ReshardReport, String> {
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    let mut w = Wrangler::start_with_args(
        None,
        Some("mcp-mesh-reshard"),
        &[("SHARD_COUNT", &from.to_string()), ("KEEPALIVE_MS", "500")],
    )?;
    let tag = format!("reshard{}", std::process::id());
    let mut clients = Vec::new();
    for _ in 0..sessions {
        let mut client = Client::new(initialize(&w)?);
        client.ensure_connected(w.port);
        clients.push(client);
    }
    let subscribers: Vec<String> = clients.iter().step_by(4).map(|c| c.id.clone()).collect();
    for id in &subscribers {
        let reply = post(
            &w,
            id,
            json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe", "params": {"uri": "mesh://counter"}}),
        );
        check(reply.status == 200, format!("subscribe: {} {}", reply.status, reply.body))?;
    }
    w.redeploy_with_vars(&[("SHARD_COUNT", &to.to_string()), ("PREVIOUS_SHARD_COUNTS", &from.to_string())])?;
    let moved = clients
        .iter()
        .filter(|c| mcp_mesh::routing::shard_for(&c.id, from) != mcp_mesh::routing::shard_for(&c.id, to))
        .count();
    // Every stream broke with the deploy; each resumes where its session lives.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for client in &mut clients {
            client.pump(&tag);
            client.ensure_connected(w.port);
        }
        if clients.iter().all(|c| c.reconnects >= 2 && c.stream.as_ref().is_some_and(|s| !s.closed)) {
            break;
        }
        check(Instant::now() < deadline, "streams did not come back after the resharding deploy".into())?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let admin = |path: &str, body: serde_json::Value| {
        let auth = format!("Bearer {}", w.token);
        request(
            "POST",
            &w.url(path),
            &[("Authorization", auth.as_str()), ("Content-Type", "application/json")],
            Some(&body.to_string()),
        )
    };
    for client in &clients {
        let reply = admin("/mesh/has", json!({"session": client.id}));
        let candidates = mcp_mesh::routing::candidate_shards(&client.id, to, &[from]);
        let state = client
            .stream
            .as_ref()
            .map(|s| format!("open={} events={} reconnects={}", !s.closed, s.events.len(), client.reconnects));
        check(
            reply.json()["has"] == json!(true),
            format!(
                "has() lost {} (candidates {candidates:?}, stream {state:?}): {} {}",
                client.id, reply.status, reply.body
            ),
        )?;
    }
    check(announce(&w, &clients[1].id, &format!("{tag}-0")), "announce after resharding".into())?;
    let reply = post(
        &w,
        &clients[2].id,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "increment", "arguments": {}}}),
    );
    check(
        reply.body.contains(&format!("\"notified\":{}", subscribers.len())),
        format!("increment after resharding: {}", reply.body),
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for client in &mut clients {
            client.pump(&tag);
        }
        let updates = |c: &Client| {
            c.stream.as_ref().map_or(0, |s| s.events.iter().filter(|e| e.data.contains("resources/updated")).count())
        };
        let done = clients.iter().all(|c| c.seen.get(&0) == Some(&1))
            && clients.iter().all(|c| updates(c) == usize::from(subscribers.contains(&c.id)));
        if done {
            break;
        }
        check(
            Instant::now() < deadline,
            "after resharding, a broadcast or a subscriber update did not arrive exactly once where it should".into(),
        )?;
        std::thread::sleep(Duration::from_millis(100));
    }
    // A moved session can still be ended; a new session lands on the new layout.
    if let Some(moved_client) =
        clients.iter().find(|c| mcp_mesh::routing::shard_for(&c.id, from) != mcp_mesh::routing::shard_for(&c.id, to))
    {
        let delete = request("DELETE", &w.url("/mcp"), &[("Mcp-Session-Id", moved_client.id.as_str())], None);
        check(delete.status == 200, format!("DELETE of a moved session: {}", delete.status))?;
        let after = post(&w, &moved_client.id, json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}));
        check(after.status == 404, format!("a deleted moved session answered {}", after.status))?;
    }
    let fresh = initialize(&w)?;
    let listed = post(&w, &fresh, json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}));
    check(listed.status == 200, format!("a new session after resharding: {}", listed.status))?;
    Ok(ReshardReport { sessions, moved, from, to })
}

/// A shard at its socket limit answers 503 with `Retry-After` and a JSON-RPC error, and serves again
/// once a socket frees up.
pub fn shard_full() -> Result<(), String> {
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    let w = Wrangler::start_with_args(
        None,
        Some("mcp-mesh-limit"),
        &[("SHARD_COUNT", "1"), ("SHARD_MAX_SOCKETS", "3"), ("KEEPALIVE_MS", "500")],
    )?;
    let auth = format!("Bearer {}", w.token);
    let open = |id: &str| {
        SseStream::open(
            w.port,
            &format!("/mesh/stream?session={id}"),
            &[("Authorization", auth.as_str()), ("Accept", "text/event-stream")],
        )
    };
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(open(&format!("full-{i}")).map_err(|(s, b)| format!("stream {i}: {s} {b}"))?);
    }
    let reply = request(
        "GET",
        &w.url("/mesh/stream?session=full-3"),
        &[("Authorization", auth.as_str()), ("Accept", "text/event-stream")],
        None,
    );
    check(reply.status == 503, format!("the fourth stream got {} {}", reply.status, reply.body))?;
    check(reply.header("retry-after").is_some(), "503 without Retry-After".into())?;
    check(reply.json()["error"]["code"].is_i64(), format!("503 without a JSON-RPC error: {}", reply.body))?;
    if let Some(stream) = held.pop() {
        stream.disconnect();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if open("full-4").is_ok() {
            return Ok(());
        }
        check(Instant::now() < deadline, "no stream could open after one closed".into())?;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// SSE polling (`STREAM_MAX_EVENTS=1`): a fresh GET stream carries the priming event (an id, empty
/// data) and ends; each poll with `Last-Event-ID` then carries exactly the next event, including the
/// ones sent while no stream was open, in order.
pub fn polling() -> Result<(), String> {
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    let w = Wrangler::start_with_args(
        None,
        Some("mcp-mesh-poll"),
        &[("SHARD_COUNT", "2"), ("STREAM_MAX_EVENTS", "1"), ("KEEPALIVE_MS", "500")],
    )?;
    let session = initialize(&w)?;
    let poll = |cursor: Option<&str>| -> Result<SseStream, String> {
        let mut headers = vec![("Accept", "text/event-stream"), ("Mcp-Session-Id", session.as_str())];
        if let Some(cursor) = cursor {
            headers.push(("Last-Event-ID", cursor));
        }
        let mut stream =
            SseStream::open(w.port, "/mcp", &headers).map_err(|(status, body)| format!("poll: {status} {body}"))?;
        if stream.wait_until(Duration::from_secs(10), |s| s.closed) {
            Ok(stream)
        } else {
            Err(format!("a poll did not end: {:?}", stream.data()))
        }
    };
    let first = poll(None)?;
    let primed: Vec<_> = first.events.iter().filter(|e| e.id.is_some()).collect();
    check(
        primed.len() == 1 && primed[0].data.is_empty(),
        format!("the first poll should carry only the priming event: {:?}", first.events),
    )?;
    let mut cursor = primed[0].id.clone().unwrap_or_default();
    for text in ["poll-a", "poll-b"] {
        check(announce(&w, &session, text), format!("announce {text} failed"))?;
    }
    for text in ["poll-a", "poll-b"] {
        let got = poll(Some(&cursor))?;
        let events: Vec<_> = got.events.iter().filter(|e| !e.data.is_empty()).collect();
        check(
            events.len() == 1 && events[0].data.contains(text),
            format!("the poll for {text} carried {:?}", got.data()),
        )?;
        cursor = events[0].id.clone().ok_or_else(|| format!("{text} came without an event id"))?;
    }
    Ok(())
}

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

struct Client {
    id: String,
    stream: Option<SseStream>,
    /// Notification index → times seen.
    seen: BTreeMap<usize, usize>,
    consumed: usize,
    last_event_id: Option<String>,
    reconnects: usize,
}

impl Client {
    /// Takes in what arrived; notes a closed stream.
    fn pump(&mut self, tag: &str) {
        let Some(stream) = self.stream.as_mut() else { return };
        stream.wait_until(Duration::ZERO, |_| false);
        for event in &stream.events[self.consumed..] {
            if let Some(id) = &event.id {
                self.last_event_id = Some(id.clone());
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

    fn ensure_connected(&mut self, port: u16) {
        if self.stream.is_some() {
            return;
        }
        let mut headers = vec![("Accept", "text/event-stream"), ("Mcp-Session-Id", self.id.as_str())];
        if let Some(last) = &self.last_event_id {
            headers.push(("Last-Event-ID", last.as_str()));
        }
        // A refused or failed attempt (server restarting, old socket not yet gone) is retried later.
        if let Ok(stream) = SseStream::open(port, "/mcp", &headers) {
            self.stream = Some(stream);
            self.consumed = 0;
            self.reconnects += 1;
        }
    }
}

fn initialize(w: &Wrangler) -> Result<String, String> {
    let headers = [("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json")];
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "chaos", "version": "1"}}});
    let reply = request("POST", &w.url("/mcp"), &headers, Some(&body.to_string()));
    reply.header("mcp-session-id").map(str::to_owned).ok_or_else(|| format!("initialize: {} {}", reply.status, reply.body))
}

fn announce(w: &Wrangler, session: &str, text: &str) -> bool {
    let headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Mcp-Session-Id", session),
    ];
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "announce", "arguments": {"text": text}}});
    let reply = request("POST", &w.url("/mcp"), &headers, Some(&body.to_string()));
    reply.status == 200 && reply.body.contains("\"result\"")
}

pub fn run(sessions: usize, notifications: usize) -> Result<ChaosReport, String> {
    let mut w = Wrangler::start_with_args(None, Some("mcp-mesh-chaos"), &[("SHARD_COUNT", "4"), ("KEEPALIVE_MS", "500")])?;
    let tag = format!("chaos{}", std::process::id());
    let mut clients = Vec::new();
    for _ in 0..sessions {
        let mut client = Client { id: initialize(&w)?, stream: None, seen: BTreeMap::new(), consumed: 0, last_event_id: None, reconnects: 0 };
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
        let deadline = Instant::now() + Duration::from_secs(30);
        while !announce(&w, &sender, &format!("{tag}-{i}")) {
            if Instant::now() > deadline {
                return Err(format!("announce {i} kept failing; log: {}", w.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
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

//! Chaos at scale (`make chaos`): K sessions hold resuming GET streams while broadcasts (`announce`)
//! and targeted sends (`increment` to the 10 % subscribed to `mesh://counter`) go out round after
//! round, with four faults on the way: a random 10 % of clients drop and reconnect at once, the
//! runtime restarts, every shard is left idle long enough to hibernate, and the shard count changes
//! under load (`PREVIOUS_SHARD_COUNTS`). Each session's deliveries are counted against what was sent
//! to it: lost, duplicated, and reconnects the server refused. Writes `loadtest/results/chaos.json`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::chaos::{announce_until_accepted, initialize, post, Client};
use super::workerd::Wrangler;

pub struct ScaleReport {
    pub sessions: usize,
    pub faults: Vec<String>,
    pub sent: usize,
    pub delivered: usize,
    pub lost: usize,
    pub duplicates: usize,
    pub reconnects: usize,
    pub refused: usize,
}

/// A small xorshift generator: the dropped clients are random but the seed is passed in, so a run
/// can be repeated exactly.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub fn run(sessions: usize, rounds: usize, seed: u64) -> Result<ScaleReport, String> {
    let (from, to) = (4u32, 6u32);
    let mut w = Wrangler::start_with_args(None, Some("mcp-mesh-chaos-scale"), &[("SHARD_COUNT", &from.to_string())])?;
    let tag = format!("scale{}", std::process::id());
    let mut clients = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let mut client = Client::new(initialize(&w)?);
        client.ensure_connected(w.port);
        clients.push(client);
    }
    let subscribers: Vec<usize> = (0..sessions).step_by(10).collect();
    for &i in &subscribers {
        let reply = post(
            &w,
            &clients[i].id,
            json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe", "params": {"uri": "mesh://counter"}}),
        );
        if reply.status != 200 {
            return Err(format!("subscribe: {} {}", reply.status, reply.body));
        }
    }
    let sender = clients[0].id.clone();
    let mut random = Random(seed.max(1));
    let mut faults = Vec::new();
    let mut values = Vec::new();
    for round in 0..rounds {
        if round == rounds / 5 {
            let mut dropped = 0;
            for client in clients.iter_mut() {
                if random.next().is_multiple_of(10) {
                    if let Some(stream) = client.stream.take() {
                        stream.disconnect();
                        dropped += 1;
                    }
                }
            }
            // At once: before the Worker can notice the old streams are gone.
            for client in clients.iter_mut() {
                client.ensure_connected(w.port);
            }
            faults.push(format!("round {round}: {dropped} clients dropped and reconnected at once"));
        }
        if round == 2 * rounds / 5 {
            w.restart()?;
            faults.push(format!("round {round}: runtime restarted"));
        }
        if round == 3 * rounds / 5 {
            // No event for longer than the runtime's ~10 s idle window: every shard hibernates.
            std::thread::sleep(Duration::from_secs(15));
            faults.push(format!("round {round}: 15 s without traffic (shards hibernate)"));
        }
        if round == 4 * rounds / 5 {
            w.redeploy_with_vars(&[("SHARD_COUNT", &to.to_string()), ("PREVIOUS_SHARD_COUNTS", &from.to_string())])?;
            faults.push(format!("round {round}: SHARD_COUNT {from} -> {to} with PREVIOUS_SHARD_COUNTS={from}"));
        }
        announce_until_accepted(&w, &sender, &format!("{tag}-{round}"), Duration::from_secs(60))?;
        let call = json!({
            "jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "increment", "arguments": {}}
        });
        let reply = post(&w, &sender, call);
        let value = reply
            .body
            .split("\"value\":")
            .nth(1)
            .and_then(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u64>().ok());
        match value {
            Some(value) => values.push(value),
            None => return Err(format!("increment {round}: {} {}", reply.status, reply.body)),
        }
        for client in &mut clients {
            client.pump(&tag);
            client.ensure_connected(w.port);
        }
    }
    let expected_of = |i: usize| rounds + if subscribers.contains(&i) { values.len() } else { 0 };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for client in &mut clients {
            client.pump(&tag);
            client.ensure_connected(w.port);
        }
        let complete = clients.iter().enumerate().all(|(i, c)| received(c, &values) >= expected_of(i));
        if complete || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent: usize = (0..sessions).map(expected_of).sum();
    let delivered: usize = clients.iter().map(|c| received(c, &values)).sum();
    let duplicates: usize =
        clients.iter().map(|c| c.seen.values().chain(c.updates.values()).map(|n| n - 1).sum::<usize>()).sum();
    Ok(ScaleReport {
        sessions,
        faults,
        sent,
        delivered,
        lost: sent.saturating_sub(delivered),
        duplicates,
        reconnects: clients.iter().map(|c| c.reconnects.saturating_sub(1)).sum(),
        refused: clients.iter().map(|c| c.refused).sum(),
    })
}

/// Distinct notifications this client got of those sent in the run.
fn received(client: &Client, values: &[u64]) -> usize {
    client.seen.len() + values.iter().filter(|v| client.updates.contains_key(v)).count()
}

/// Writes the reports as `loadtest/results/chaos.json`.
pub fn write(reports: &[ScaleReport], path: &std::path::Path) -> Result<(), String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let doc = json!({
        "machine": {"cores": cores, "memory_gb": (memory_kb / 104_857.6).round() / 10.0, "cpu": cpu},
        "runs": reports.iter().map(|report| json!({
            "sessions": report.sessions,
            "faults": report.faults,
            "sent": report.sent,
            "delivered": report.delivered,
            "lost": report.lost,
            "duplicates": report.duplicates,
            "reconnects": report.reconnects,
            "refused": report.refused,
        })).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))
}

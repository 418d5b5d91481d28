//! Chaos at scale (`make chaos`): K sessions hold resuming GET streams while broadcasts (`announce`)
//! and targeted sends (`increment` to the 10 % subscribed to `mesh://counter`) go out continuously
//! from another thread, through four faults: a random 10 % of clients drop and reconnect at once, the
//! runtime restarts, every shard is left idle long enough to hibernate, and the shard count changes
//! under load (`PREVIOUS_SHARD_COUNTS`). Each session's deliveries are counted against what was sent
//! to it: lost, duplicated, and reconnects the server refused. Writes `loadtest/results/chaos.json`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use super::chaos::{initialize, post, Client};
use super::workerd::{request, Wrangler};

pub struct ScaleReport {
    pub sessions: usize,
    /// The run's `RELAY_ABOVE_SHARDS` (0: broadcasts go straight to the shards).
    pub relay_above_shards: u32,
    pub faults: Vec<String>,
    pub sent: usize,
    pub delivered: usize,
    pub lost: usize,
    pub duplicates: usize,
    pub reconnects: usize,
    pub refused: usize,
    /// Deliveries of sends whose call failed (the runtime went down mid-call): not counted as sent,
    /// so neither lost nor delivered.
    pub unconfirmed: usize,
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

/// Time between one send pair (an `announce`, an `increment`) and the next.
const SEND_GAP: Duration = Duration::from_millis(50);
/// One round: the clients take in what arrived and reconnect what dropped, then wait this long.
const ROUND_PAUSE: Duration = Duration::from_millis(250);

/// What the sender got accepted: announce indices and the counter values of accepted increments.
#[derive(Default)]
struct Accepted {
    announces: Vec<usize>,
    values: Vec<u64>,
}

/// Sends continuously from its own thread, through whatever the main thread does to the runtime;
/// only the calls answered with a result count as sent. `pause` holds it (for the idle window
/// hibernation needs), `stop` ends it.
fn spawn_sender(
    url: String,
    session: String,
    tag: String,
    pause: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Accepted> {
    std::thread::spawn(move || {
        let mut accepted = Accepted::default();
        let mut index = 0;
        while !stop.load(Ordering::Relaxed) {
            if pause.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let text = format!("{tag}-{index}");
            if call_tool(&url, &session, "announce", json!({ "text": text })).is_some() {
                accepted.announces.push(index);
            }
            index += 1;
            let value = call_tool(&url, &session, "increment", json!({})).and_then(|body| {
                let rest = body.split("\"value\":").nth(1)?;
                rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u64>().ok()
            });
            accepted.values.extend(value);
            std::thread::sleep(SEND_GAP);
        }
        accepted
    })
}

/// A tool call's response body when it carries a result; None when the call failed in any way.
fn call_tool(url: &str, session: &str, name: &str, arguments: serde_json::Value) -> Option<String> {
    let headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Mcp-Session-Id", session),
    ];
    let body =
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}});
    let reply = request("POST", url, &headers, Some(&body.to_string()));
    (reply.status == 200 && reply.body.contains("\"result\"")).then_some(reply.body)
}

pub fn run(sessions: usize, rounds: usize, seed: u64, relay_above_shards: u32) -> Result<ScaleReport, String> {
    let (from, to) = (4u32, 6u32);
    let vars = [("SHARD_COUNT", from.to_string()), ("RELAY_ABOVE_SHARDS", relay_above_shards.to_string())];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let mut w = Wrangler::start_with_args(None, Some("mcp-mesh-chaos-scale"), &vars)?;
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
    let (pause, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let sender = spawn_sender(w.url("/mcp"), clients[0].id.clone(), tag.clone(), Arc::clone(&pause), Arc::clone(&stop));
    let mut random = Random(seed.max(1));
    let mut faults = Vec::new();
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
            // No event for longer than the runtime's ~10 s idle window: every shard hibernates, and
            // the sends resume into the wake.
            pause.store(true, Ordering::Relaxed);
            std::thread::sleep(Duration::from_secs(15));
            pause.store(false, Ordering::Relaxed);
            faults.push(format!("round {round}: 15 s without traffic (shards hibernate)"));
        }
        if round == 4 * rounds / 5 {
            w.redeploy_with_vars(&[("SHARD_COUNT", &to.to_string()), ("PREVIOUS_SHARD_COUNTS", &from.to_string())])?;
            faults.push(format!("round {round}: SHARD_COUNT {from} -> {to} with PREVIOUS_SHARD_COUNTS={from}"));
        }
        for client in &mut clients {
            client.pump(&tag);
            client.ensure_connected(w.port);
        }
        std::thread::sleep(ROUND_PAUSE);
    }
    stop.store(true, Ordering::Relaxed);
    let accepted = sender.join().map_err(|_| "the sender thread panicked".to_owned())?;
    faults.push(format!(
        "sends all along: {} announces and {} increments accepted",
        accepted.announces.len(),
        accepted.values.len()
    ));
    let expected_of =
        |i: usize| accepted.announces.len() + if subscribers.contains(&i) { accepted.values.len() } else { 0 };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for client in &mut clients {
            client.pump(&tag);
            client.ensure_connected(w.port);
        }
        let complete = clients.iter().enumerate().all(|(i, c)| received(c, &accepted) >= expected_of(i));
        if complete || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent: usize = (0..sessions).map(expected_of).sum();
    let delivered: usize = clients.iter().map(|c| received(c, &accepted)).sum();
    let all: usize = clients.iter().map(|c| c.seen.len() + c.updates.len()).sum();
    let duplicates: usize =
        clients.iter().map(|c| c.seen.values().chain(c.updates.values()).map(|n| n - 1).sum::<usize>()).sum();
    Ok(ScaleReport {
        relay_above_shards,
        sessions,
        faults,
        sent,
        delivered,
        lost: sent.saturating_sub(delivered),
        duplicates,
        reconnects: clients.iter().map(|c| c.reconnects.saturating_sub(1)).sum(),
        refused: clients.iter().map(|c| c.refused).sum(),
        unconfirmed: all.saturating_sub(delivered),
    })
}

/// Distinct notifications this client got of those accepted in the run.
fn received(client: &Client, accepted: &Accepted) -> usize {
    accepted.announces.iter().filter(|i| client.seen.contains_key(i)).count()
        + accepted.values.iter().filter(|v| client.updates.contains_key(v)).count()
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
            "relay_above_shards": report.relay_above_shards,
            "faults": report.faults,
            "sent": report.sent,
            "delivered": report.delivered,
            "lost": report.lost,
            "duplicates": report.duplicates,
            "reconnects": report.reconnects,
            "refused": report.refused,
            "unconfirmed": report.unconfirmed,
        })).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))
}

//! Delivery-latency load probe for an MCP Streamable HTTP server (the mesh or the baseline).
//!
//! ```sh
//! cargo run --release --example probe -- --url http://127.0.0.1:8787/mcp --sessions 1000 \
//!     --broadcasts 10 --targeted 100 --label mesh-16 --out result.json [--server-pids 1,2]
//! ```
//!
//! 1. Opens `--sessions` K sessions (initialize, notifications/initialized, GET /mcp stream) with
//!    `--create-concurrency` workers and measures creates/s.
//! 2. Sends `--broadcasts` B `announce` calls with unique texts and records, for every stream that
//!    receives one, receive time (ms since epoch) − `params.data.sent_at_ms`.
//! 3. Subscribes ~`--subscribe-fraction` of the sessions to `mesh://counter`, then calls `increment`
//!    `--targeted` T times from `--callers` concurrent callers (targeted sends per second), recording
//!    receive time − `params._meta.sent_at_ms` for every `notifications/resources/updated`.
//! 4. Waits for deliveries up to `--wait-secs` after the last send of each phase; whatever has not
//!    arrived by then is counted as lost.
//! 5. Reports peak RSS (VmHWM) summed over the server's workerd processes, DELETEs the sessions and
//!    closes every socket.
//!
//! Streams are read by one thread per socket with blocking reads (small stacks), so a receive is
//! timestamped the moment its bytes arrive and idle streams cost no CPU. Only loopback URLs are
//! accepted.

use std::collections::{HashMap, HashSet};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const ANNOUNCE_PREFIX: &str = "probe-bcast";
fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

mod args;
mod client;
mod cluster;
mod memory;
mod poller;
mod report;
mod storm;
mod streams;
use args::{parse_args, Args};
use client::{delete_sessions, subscribe_sessions, Client};
use cluster::Cluster;
use memory::*;
use poller::Poller;
use report::{each_broadcast, percentile, round1, write_report};
use streams::*;

// ---------------------------------------------------------------------------------------------

/// Drains deliveries into the tallies until `done()` or the deadline.
fn drain(rx: &Receiver<Delivery>, deadline: Instant, mut take: impl FnMut(Delivery), mut done: impl FnMut() -> bool) {
    loop {
        if done() {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            while let Ok(d) = rx.try_recv() {
                take(d);
            }
            return;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(d) => take(d),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn main() {
    let args = parse_args();
    let started = Instant::now();
    let url = format!("http://{}:{}{}", args.host, args.port, args.path);
    let client = Client::pooled(&url);
    let errors = Arc::new(AtomicUsize::new(0));
    let error_samples: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let note_error = {
        let errors = errors.clone();
        let samples = error_samples.clone();
        move |e: String| {
            errors.fetch_add(1, Ordering::Relaxed);
            let mut s = samples.lock().unwrap();
            if s.len() < 5 {
                eprintln!("probe: error: {e}");
                s.push(e);
            }
        }
    };
    let (tx, rx) = channel::<Delivery>();
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicUsize::new(0));
    let args = Arc::new(args);
    if args.storm {
        write_report(&args, &storm::run(&args, &client));
        return;
    }
    let cluster =
        args.cluster_dir.as_deref().map(|dir| Cluster::new(dir, &args.label, args.cluster_leader, args.cluster_peers));
    // Alone, this process sends; in a cluster only the leader does.
    let sends = cluster.as_ref().is_none_or(|c| c.leader);
    let mut poller = if args.epoll {
        match Poller::start(tx.clone(), stop.clone(), closed.clone()) {
            Ok(poller) => Some(Arc::new(poller)),
            Err(e) => {
                eprintln!("probe: {e}");
                std::process::exit(1)
            }
        }
    } else {
        None
    };

    // ---- 1. sessions
    eprintln!("probe[{}]: opening {} sessions on {} ...", args.label, args.sessions, client.url);
    let next = Arc::new(AtomicUsize::new(0));
    let opened: Arc<Mutex<Vec<(usize, String, Stream)>>> = Arc::new(Mutex::new(Vec::new()));
    let create_start = Instant::now();
    let create_started_ms = now_ms();
    // The server's CPU by phase (single process, where --server-pids names it): create, broadcast, targeted.
    let cpu_at = || cpu_ms(&args.server_pids);
    let mut cpu = PhaseCpu::default();
    cpu.create.0 = cpu_at();
    let create_deadline = create_start + Duration::from_secs(args.create_timeout_secs);
    let mut workers = Vec::new();
    for _ in 0..args.create_concurrency.min(args.sessions.max(1)) {
        let (client, args, next, opened, tx, stop, closed, note_error, poller) = (
            client.clone(),
            args.clone(),
            next.clone(),
            opened.clone(),
            tx.clone(),
            stop.clone(),
            closed.clone(),
            note_error.clone(),
            poller.clone(),
        );
        workers.push(thread::spawn(move || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= args.sessions || Instant::now() > create_deadline {
                return;
            }
            let init = json!({
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}
            });
            let sid = match client.rpc(None, 1, "initialize", init) {
                Ok((Some(sid), _)) => sid,
                Ok((None, _)) => {
                    note_error("initialize: no mcp-session-id".into());
                    continue;
                }
                Err(e) => {
                    note_error(e);
                    continue;
                }
            };
            if let Err(e) = client.post(Some(&sid), &json!({"jsonrpc": "2.0", "method": "notifications/initialized"})) {
                note_error(format!("initialized: {e}"));
                continue;
            }
            match open_stream(&args, i, &sid, tx.clone(), stop.clone(), closed.clone(), poller.as_deref()) {
                Ok(stream) => opened.lock().unwrap().push((i, sid, stream)),
                Err(e) => {
                    note_error(e);
                    client.delete(&sid);
                }
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let create_secs = create_start.elapsed().as_secs_f64();
    cpu.create.1 = cpu_at();
    let mut sessions = std::mem::take(&mut *opened.lock().unwrap());
    sessions.sort_by_key(|(i, _, _)| *i);
    let k_open = sessions.len();
    let creates_per_s = k_open as f64 / create_secs.max(1e-9);
    eprintln!(
        "probe[{}]: {k_open}/{} sessions open in {create_secs:.1}s ({creates_per_s:.1}/s)",
        args.label, args.sessions
    );
    thread::sleep(Duration::from_millis(args.settle_ms));
    // Resident memory with every session open and idle, before any send: what an idle session costs.
    let pids = if args.server_pids.is_empty() { find_server_pids(args.port) } else { args.server_pids.clone() };
    let idle_rss_kb: u64 = pids.iter().filter_map(|&p| status_kb(p, "VmRSS:")).sum();
    if let Some(cluster) = &cluster {
        cluster.report("open", &json!({"open": k_open, "create_secs": create_secs}));
        if cluster.leader {
            let opened = cluster.gather("open").unwrap_or_else(|e| fail(&e));
            let total: u64 = opened.iter().filter_map(|v| v["open"].as_u64()).sum();
            eprintln!("probe[{}]: {total} sessions open over {} processes", args.label, opened.len());
        }
    }

    // ---- 2. broadcasts
    // Every phase starts with an empty connection pool: a keep-alive connection left idle through the
    // previous phase may have been closed by the server, and reusing it fails a POST with an EOF.
    let client = Client::pooled(&url);
    let run_id = format!("{:x}", uuid::Uuid::new_v4().as_u128() as u32);
    let mut bcast_lat: Vec<f64> = Vec::new();
    // How long the announcing caller waited for its tool call's answer (the fan-out's totals).
    let mut announce_call_ms: Vec<f64> = Vec::new();
    // Each broadcast's own latencies (by its text), to tell a slow broadcast from a slow recipient.
    let mut bcast_each: HashMap<String, Vec<f64>> = HashMap::new();
    let mut bcast_seen: HashSet<(usize, String)> = HashSet::new();
    let mut stray_targeted = 0usize;
    let mut sent_texts = Vec::new();
    let broadcast_started_ms = now_ms();
    cpu.broadcast.0 = cpu_at();
    if k_open > 0 && sends {
        let caller = sessions[0].1.clone();
        for b in 0..args.broadcasts {
            let text = format!("{ANNOUNCE_PREFIX}-{run_id}-{b}");
            let called = Instant::now();
            let answer = client.rpc(
                Some(&caller),
                100 + b as u64,
                "tools/call",
                json!({"name": "announce", "arguments": {"text": text}}),
            );
            match answer {
                Ok(_) => {
                    announce_call_ms.push(called.elapsed().as_secs_f64() * 1000.0);
                    sent_texts.push(text);
                }
                Err(e) => note_error(format!("announce: {e}")),
            }
            // Take what already arrived so the channel stays short.
            while let Ok(d) = rx.try_recv() {
                if let Kind::Broadcast(t) = &d.kind {
                    if bcast_seen.insert((d.stream, t.clone())) {
                        bcast_lat.push(d.latency_ms);
                        bcast_each.entry(t.clone()).or_default().push(d.latency_ms);
                    }
                } else {
                    stray_targeted += 1;
                }
            }
            if b + 1 < args.broadcasts {
                thread::sleep(Duration::from_millis(args.broadcast_gap_ms));
            }
        }
    }
    if let Some(cluster) = &cluster {
        if cluster.leader {
            cluster.publish("broadcasts", &json!(sent_texts));
        } else {
            let published = cluster.await_published("broadcasts").unwrap_or_else(|e| fail(&e));
            sent_texts = serde_json::from_value(published).unwrap_or_default();
        }
    }
    let bcast_expected = sent_texts.len() * k_open;
    let sent_set: HashSet<String> = sent_texts.iter().cloned().collect();
    {
        let deadline = Instant::now() + Duration::from_secs(args.wait_secs);
        let seen = std::cell::RefCell::new(&mut bcast_seen);
        let lat = std::cell::RefCell::new(&mut bcast_lat);
        let each = std::cell::RefCell::new(&mut bcast_each);
        drain(
            &rx,
            deadline,
            |d| {
                if let Kind::Broadcast(t) = &d.kind {
                    if sent_set.contains(t) && seen.borrow_mut().insert((d.stream, t.clone())) {
                        lat.borrow_mut().push(d.latency_ms);
                        each.borrow_mut().entry(t.clone()).or_default().push(d.latency_ms);
                    }
                }
            },
            || seen.borrow().len() >= bcast_expected,
        );
    }
    // When this process saw its last broadcast delivery (or gave up): the end of the broadcast phase.
    let broadcast_drained_ms = now_ms();
    cpu.broadcast.1 = cpu_at();
    let bcast_delivered = bcast_seen.iter().filter(|(_, t)| sent_set.contains(t)).count();
    eprintln!("probe[{}]: broadcasts delivered {bcast_delivered}/{bcast_expected}", args.label);

    // ---- 3. targeted
    let client = Client::pooled(&url);
    let mut subscribers: Vec<usize> = Vec::new();
    let mut targeted_per_s = 0.0;
    let mut targ_lat: Vec<f64> = Vec::new();
    let mut targ_ok_calls = 0usize;
    let mut targ_expected = 0usize;
    // The targeted phase for CPU accounting: first call to last notification (or giving up).
    let (mut targeted_started_ms, mut targeted_drained_ms) = (0.0, 0.0);
    if k_open > 0 && args.targeted > 0 {
        let n_sub = ((k_open as f64 * args.subscribe_fraction).round() as usize).clamp(1, k_open);
        let step = k_open as f64 / n_sub as f64;
        let picks: Vec<usize> = (0..n_sub).map(|j| ((j as f64 * step) as usize).min(k_open - 1)).collect();
        let sub_sids: Vec<(usize, String)> = picks.iter().map(|&p| (sessions[p].0, sessions[p].1.clone())).collect();
        subscribers = subscribe_sessions(&client, sub_sids, args.create_concurrency, note_error.clone());
        if let Some(cluster) = &cluster {
            cluster.report("subscribed", &json!({"subscribers": subscribers.len()}));
            if cluster.leader {
                cluster.gather("subscribed").unwrap_or_else(|e| fail(&e));
            }
        }
        thread::sleep(Duration::from_millis(args.settle_ms.min(1000)));
        // Anything stray (e.g. a late broadcast) is dropped before the targeted phase.
        while let Ok(d) = rx.try_recv() {
            if matches!(d.kind, Kind::Targeted) {
                stray_targeted += 1;
            }
        }
        let calls_done = Arc::new(AtomicUsize::new(0));
        let calls_ok = Arc::new(AtomicUsize::new(0));
        let call_sids: Arc<Vec<String>> = Arc::new(sessions.iter().map(|(_, s, _)| s.clone()).collect());
        let t_start = Instant::now();
        targeted_started_ms = now_ms();
        cpu.targeted.0 = cpu_at();
        let mut hs = Vec::new();
        for _ in 0..if sends { args.callers } else { 0 } {
            let (client, call_sids, calls_done, calls_ok, note_error, total) = (
                client.clone(),
                call_sids.clone(),
                calls_done.clone(),
                calls_ok.clone(),
                note_error.clone(),
                args.targeted,
            );
            hs.push(thread::spawn(move || loop {
                let n = calls_done.fetch_add(1, Ordering::Relaxed);
                if n >= total || t_start.elapsed() > Duration::from_secs(300) {
                    return;
                }
                let sid = &call_sids[n % call_sids.len()];
                match client.rpc(
                    Some(sid),
                    1000 + n as u64,
                    "tools/call",
                    json!({"name": "increment", "arguments": {}}),
                ) {
                    Ok(_) => {
                        calls_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => note_error(format!("increment: {e}")),
                }
            }));
        }
        // Collect while calling.
        let mut counts: HashMap<usize, usize> = HashMap::new();
        let sub_set: HashSet<usize> = subscribers.iter().copied().collect();
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(d) => {
                    if matches!(d.kind, Kind::Targeted) && sub_set.contains(&d.stream) {
                        *counts.entry(d.stream).or_default() += 1;
                        targ_lat.push(d.latency_ms);
                    }
                }
                Err(_) => {
                    if hs.iter().all(|h| h.is_finished()) {
                        break;
                    }
                }
            }
        }
        for h in hs {
            let _ = h.join();
        }
        let t_secs = t_start.elapsed().as_secs_f64();
        targ_ok_calls = calls_ok.load(Ordering::Relaxed);
        if let Some(cluster) = &cluster {
            if cluster.leader {
                cluster.publish("targeted", &json!({"calls": targ_ok_calls}));
            } else {
                let published = cluster.await_published("targeted").unwrap_or_else(|e| fail(&e));
                targ_ok_calls = published["calls"].as_u64().unwrap_or(0) as usize;
            }
        }
        targeted_per_s = targ_ok_calls as f64 / t_secs.max(1e-9);
        targ_expected = targ_ok_calls * subscribers.len();
        let deadline = Instant::now() + Duration::from_secs(args.wait_secs);
        let total = std::cell::Cell::new(targ_lat.len());
        drain(
            &rx,
            deadline,
            |d| {
                if matches!(d.kind, Kind::Targeted) && sub_set.contains(&d.stream) {
                    targ_lat.push(d.latency_ms);
                    total.set(total.get() + 1);
                }
            },
            || total.get() >= targ_expected,
        );
        targeted_drained_ms = now_ms();
        cpu.targeted.1 = cpu_at();
        eprintln!(
            "probe[{}]: targeted {targ_ok_calls} calls in {t_secs:.1}s ({targeted_per_s:.1}/s), {} subscribers, \
             notified {}/{targ_expected}",
            args.label,
            subscribers.len(),
            targ_lat.len()
        );
    }
    let targ_delivered = targ_lat.len().min(targ_expected);

    // ---- 4. memory, report, cleanup
    let hwm_kb: u64 = pids.iter().filter_map(|&p| status_kb(p, "VmHWM:")).sum();
    let rss_kb: u64 = pids.iter().filter_map(|&p| status_kb(p, "VmRSS:")).sum();
    let streams_closed_early = closed.load(Ordering::Relaxed);

    bcast_lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    announce_call_ms.sort_by(f64::total_cmp);
    let broadcast_each = each_broadcast(&sent_texts, bcast_each);
    targ_lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let total_errors = errors.load(Ordering::Relaxed);
    let mut report = json!({
        "system": args.label,
        "sessions": args.sessions,
        "sessions_open": k_open,
        "broadcast_p50_ms": round1(percentile(&bcast_lat, 50.0)),
        "broadcast_p95_ms": round1(percentile(&bcast_lat, 95.0)),
        "broadcast_p99_ms": round1(percentile(&bcast_lat, 99.0)),
        "announce_call_p50_ms": round1(percentile(&announce_call_ms, 50.0)),
        "announce_call_p99_ms": round1(percentile(&announce_call_ms, 99.0)),
        "broadcast_max_ms": round1(bcast_lat.last().copied()),
        "delivered": bcast_delivered,
        "expected": bcast_expected,
        "broadcasts_sent": sent_texts.len(),
        "broadcast_each": broadcast_each,
        "errors": total_errors,
        "error_samples": *error_samples.lock().unwrap(),
        "streams_closed_early": streams_closed_early,
        "targeted_calls": targ_ok_calls,
        "targeted_subscribers": subscribers.len(),
        "targeted_per_s": (targeted_per_s * 10.0).round() / 10.0,
        "targeted_delivered": targ_delivered,
        "targeted_expected": targ_expected,
        "targeted_p50_ms": round1(percentile(&targ_lat, 50.0)),
        "targeted_p99_ms": round1(percentile(&targ_lat, 99.0)),
        "creates_per_s": (creates_per_s * 10.0).round() / 10.0,
        "rss_mb": if pids.is_empty() { Value::Null } else {
            json!(((hwm_kb as f64 / 1024.0) * 10.0).round() / 10.0)
        },
        "rss_idle_mb": if pids.is_empty() { Value::Null } else {
            json!(((idle_rss_kb as f64 / 1024.0) * 10.0).round() / 10.0)
        },
        "rss_now_mb": if pids.is_empty() { Value::Null } else {
            json!(((rss_kb as f64 / 1024.0) * 10.0).round() / 10.0)
        },
        "server_pids": pids,
        "stray_targeted": stray_targeted,
        "probe_secs": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    if !args.server_pids.is_empty() {
        report["server_cpu_ms"] = cpu.report();
    }
    if cluster.is_some() {
        // Percentiles over several processes need every sample.
        report["create_secs"] = json!(create_secs);
        report["create_started_ms"] = json!(create_started_ms);
        report["broadcast_started_ms"] = json!(broadcast_started_ms);
        report["broadcast_drained_ms"] = json!(broadcast_drained_ms);
        report["broadcast_latencies_ms"] = json!(bcast_lat);
        report["targeted_latencies_ms"] = json!(targ_lat);
        report["targeted_started_ms"] = json!(targeted_started_ms);
        report["targeted_drained_ms"] = json!(targeted_drained_ms);
    }

    // Close: stop readers, DELETE sessions (bounded), shut sockets, join.
    let client = Client::pooled(&url);
    stop.store(true, Ordering::Relaxed);
    if !args.no_delete {
        let sids: Vec<String> = sessions.iter().map(|(_, s, _)| s.clone()).collect();
        delete_sessions(&client, &sids, args.create_concurrency);
    }
    for (_, _, s) in sessions.iter() {
        let _ = s.socket.shutdown(Shutdown::Both);
    }
    for (_, _, s) in sessions.iter_mut() {
        if let Some(h) = s.handle.take() {
            let _ = h.join();
        }
    }
    if let Some(poller) = poller.take().and_then(|p| Arc::try_unwrap(p).ok()) {
        let mut poller = poller;
        poller.join();
    }
    drop(sessions);

    write_report(&args, &report);
}

fn fail(error: &str) -> ! {
    eprintln!("probe: {error}");
    std::process::exit(1)
}

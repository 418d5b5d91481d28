//! The fan-out scenarios of the end-to-end run, in the real runtime: a shard answers a send's headers
//! before it writes, so a broadcast calls every shard while none has written yet, and a shard that
//! fails after its headers fails the send instead of counting as delivered. The shards' sends are
//! held (after their headers, before their writes) or failed through the test build's
//! `/mesh/hold-sends`; `wrangler dev` does not enforce the runtime's six-connection rule, the mesh's
//! own limit (six calls waiting for headers) is what these show.

use std::time::{Duration, Instant};

use mcp_mesh::fanout::MAX_CONCURRENT_SUBREQUESTS;
use mcp_mesh::routing::shard_for;
use serde_json::{json, Value};

use super::e2e_http::{check, encode_query, JSON, PATIENCE, SHARD_COUNT};
use super::mcp_scenarios::Fleet;
use super::workerd::{request, Reply, SseStream, Wrangler};

/// One open manager stream on each shard, so every shard is a member and a broadcast calls them all.
fn a_stream_per_shard(w: &Wrangler, prefix: &str) -> Result<Vec<(String, SseStream)>, String> {
    let auth = format!("Bearer {}", w.token);
    let mut streams = Vec::new();
    for shard in 0..SHARD_COUNT {
        let id = (0..)
            .map(|i| format!("{prefix}-{}-{i}", std::process::id()))
            .find(|id| shard_for(id, SHARD_COUNT) == shard)
            .expect("some id lands on every shard");
        let path = format!("/mesh/stream?session={}", encode_query(&id));
        let stream = SseStream::open(w.port, &path, &[("Authorization", &auth), ("Accept", "text/event-stream")])
            .map_err(|(status, body)| format!("stream on shard {shard}: {status} {body}"))?;
        streams.push((id, stream));
    }
    Ok(streams)
}

fn admin(w: &Wrangler, path: &str, body: &Value) -> Reply {
    let auth = format!("Bearer {}", w.token);
    request("POST", &w.url(path), &[("Authorization", &auth), JSON], Some(&body.to_string()))
}

/// Sets the hold mode (of `shards`, or of every shard); the shards' (sends started, sends held).
fn hold(w: &Wrangler, mode: &str, shards: Option<&[u32]>) -> Result<(u64, u64), String> {
    let counts = hold_counts(w, mode, shards, 0)?;
    Ok((counts["started"].as_u64().unwrap_or(0), counts["held"].as_u64().unwrap_or(0)))
}

fn hold_counts(w: &Wrangler, mode: &str, shards: Option<&[u32]>, relays: u32) -> Result<Value, String> {
    let mut body = json!({ "mode": mode, "relays": relays });
    if let Some(shards) = shards {
        body["shards"] = json!(shards);
    }
    let reply = admin(w, "/mesh/hold-sends", &body);
    check(reply.status == 200, format!("hold-sends {mode}: {} {}", reply.status, reply.body))?;
    Ok(reply.json())
}

/// What relays 0 to `relays` - 1 have relayed so far.
fn relayed(w: &Wrangler, relays: u32) -> Result<u64, String> {
    Ok(hold_counts(w, "release", Some(&[]), relays)?["relayed"].as_u64().unwrap_or(0))
}

/// A worker of its own whose sends to more than 4 shards go through relays (⌈√16⌉ = 4 of them).
pub fn relays_keep_every_guarantee(_w: &Wrangler, fixture: &mut Option<Fleet>) -> Result<(), String> {
    let vars = [("SHARD_COUNT", "16"), ("KEEPALIVE_MS", "500"), ("RELAY_ABOVE_SHARDS", "4")];
    let relaying = Wrangler::start_with_args(None, Some("mcp-mesh-relays"), &vars)?;
    let before = relayed(&relaying, 4)?;
    a_broadcast_calls_every_shard_while_reports_are_held(&relaying, fixture)?;
    let after_broadcast = relayed(&relaying, 4)?;
    check(
        after_broadcast == before + 4,
        format!("the broadcast went through {} relays, not 4", after_broadcast - before),
    )?;
    a_shard_failing_after_its_headers_fails_the_send(&relaying, fixture)?;
    check(relayed(&relaying, 4)? == after_broadcast + 8, "the two targeted sends did not go through the 4 relays each")
}

fn payload(text: &str) -> String {
    mcp_mesh::sse::encode_message(&format!("\"{text}\""), None)
}

fn got(stream: &mut SseStream, text: &str) -> bool {
    let data = format!("\"{text}\"");
    stream.wait_until(PATIENCE, |s| s.events.iter().any(|e| e.data == data))
}

pub fn a_broadcast_calls_every_shard_while_reports_are_held(
    w: &Wrangler,
    _fixture: &mut Option<Fleet>,
) -> Result<(), String> {
    let mut streams = a_stream_per_shard(w, "held")?;
    let (started_before, _) = hold(w, "hold", None)?;
    let text = format!("held-broadcast-{}", std::process::id());
    let (port, token, data) = (w.port, w.token.clone(), payload(&text));
    let send = std::thread::spawn(move || {
        let url = format!("http://127.0.0.1:{port}/mesh/send");
        let auth = format!("Bearer {token}");
        request("POST", &url, &[("Authorization", &auth), JSON], Some(&json!({ "data": data }).to_string()))
    });
    // Every member shard has its call answered though none has written: a fan-out that counted open
    // bodies against its limit would stop at six, and a shard that wrote before its headers would
    // never be held.
    let deadline = Instant::now() + PATIENCE;
    let mut counts = (0, 0);
    while Instant::now() < deadline {
        counts = hold(w, "hold", None)?;
        if counts.0 - started_before >= u64::from(SHARD_COUNT) && counts.1 >= u64::from(SHARD_COUNT) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = counts.0 - started_before;
    let result = (|| {
        check(
            started >= u64::from(SHARD_COUNT),
            format!(
                "with every report held, {started} of {SHARD_COUNT} shards got the broadcast (the limit is \
                 {MAX_CONCURRENT_SUBREQUESTS} calls waiting for headers)"
            ),
        )?;
        check(counts.1 >= u64::from(SHARD_COUNT), format!("{} sends held, expected {SHARD_COUNT}", counts.1))?;
        let data = format!("\"{text}\"");
        for (id, stream) in &mut streams {
            stream.wait_until(Duration::from_millis(20), |_| false);
            check(!stream.events.iter().any(|e| e.data == data), format!("{id} got the broadcast while held"))?;
        }
        check(!send.is_finished(), "the broadcast answered before the shards reported")
    })();
    hold(w, "release", None)?;
    let reply = send.join().map_err(|_| "the send thread panicked".to_owned())?;
    result?;
    for (id, stream) in &mut streams {
        check(got(stream, &text), format!("{id} did not get the broadcast once released"))?;
    }
    check(reply.status == 200, format!("the broadcast failed once released: {} {}", reply.status, reply.body))?;
    let report = reply.json();
    let delivered = report["delivered"].as_u64().unwrap_or(0);
    check(
        delivered >= u64::from(SHARD_COUNT) && report["failed"] == json!(0),
        format!("the broadcast's report does not count every shard's streams: {report}"),
    )
}

pub fn a_shard_failing_after_its_headers_fails_the_send(
    w: &Wrangler,
    _fixture: &mut Option<Fleet>,
) -> Result<(), String> {
    let mut streams = a_stream_per_shard(w, "dies")?;
    let ids: Vec<String> = streams.iter().map(|(id, _)| id.clone()).collect();
    let dying = shard_for(&ids[3], SHARD_COUNT);
    hold(w, "fail", Some(&[dying]))?;
    let text = format!("one-shard-dies-{}", std::process::id());
    let reply = admin(w, "/mesh/send", &json!({ "sessions": ids, "data": payload(&text) }));
    hold(w, "release", Some(&[dying]))?;
    check(
        reply.status >= 500,
        format!("a send whose shard {dying} failed after its headers answered {} {}", reply.status, reply.body),
    )?;
    check(
        reply.body.contains("failed after its headers"),
        format!("the error does not say what happened: {}", reply.body),
    )?;
    // The other shards wrote theirs; the send fails for the one that did not report.
    check(got(&mut streams[0].1, &text), "a healthy shard's stream did not get the send")?;
    let again = format!("{text}-again");
    let reply = admin(w, "/mesh/send", &json!({ "sessions": ids, "data": payload(&again) }));
    check(reply.status == 200, format!("the send after the shard recovered: {} {}", reply.status, reply.body))?;
    check(
        reply.json()["delivered"] == json!(ids.len()),
        format!("the send after recovery did not reach all {}: {}", ids.len(), reply.body),
    )
}

//! Pins the tmcp adapter's sends to the Rust mesh's: for sends of each shape (targeted, broadcast,
//! straight and through relays, and mid-resharding with a retry on the previous layout), this renders
//! the calls the Rust planning makes (`mcp_mesh::send_plan`, `mcp_mesh::fanout`) and every answer
//! those functions gave on the way, into tests/fixtures/send_plans.json. The adapter gets those
//! answers from the wasm exports of the same functions; tests/js/send_plan_pin.test.mjs replays them
//! and checks the adapter makes exactly these calls and reports exactly this total. The test fails if
//! the committed fixture is not what the Rust renders now; `MESH_UPDATE_GOLDEN=1 cargo test --test
//! send_plan_golden` rewrites it.

use std::collections::BTreeMap;

use mcp_mesh::fanout::{plan_broadcast, plan_targeted, ShardBatch};
use mcp_mesh::protocol::{Member, SendReply, SendReport};
use mcp_mesh::routing::shard_for;
use mcp_mesh::send_plan::{absorb_retry, ids_to_retry, plan_send, PlannedCall};
use serde_json::{json, Value};

const FIXTURE: &str = "tests/fixtures/send_plans.json";

/// One send: where each id really is, and the layouts it is planned with.
struct Case {
    name: &'static str,
    shard_count: u32,
    previous: Vec<u32>,
    relay_above: u32,
    /// `None`: a broadcast to every shard holding one of `live`'s ids.
    targets: Option<Vec<String>>,
    /// Each live id's shard.
    live: BTreeMap<String, u32>,
}

/// What the shards answer a call: the targeted ids live on each, or everything they hold (read from
/// the call as the adapter sends it, as the JS objects of the pin test do).
fn answer(call: &PlannedCall, live: &BTreeMap<String, u32>) -> SendReply {
    let batches: Vec<ShardBatch> = match call.body.get("batches") {
        Some(batches) => serde_json::from_value(batches.clone()).unwrap(),
        None => {
            let shard = call.object.trim_start_matches("shard-").parse().unwrap();
            let sessions = call.body.get("sessions").map(|ids| serde_json::from_value(ids.clone()).unwrap());
            vec![ShardBatch { shard, sessions }]
        }
    };
    let mut reply = SendReply::default();
    for batch in batches {
        match &batch.sessions {
            None => reply.report.delivered += live.values().filter(|&&shard| shard == batch.shard).count() as u64,
            Some(ids) => {
                for id in ids {
                    if live.get(id) == Some(&batch.shard) {
                        reply.report.delivered += 1;
                    } else {
                        reply.report.missing += 1;
                        reply.missing_ids.push(id.clone());
                    }
                }
            }
        }
    }
    reply
}

fn reply_json(reply: &SendReply) -> Value {
    serde_json::to_value(reply).unwrap()
}

/// The send as the Rust mesh runs it, with every planning answer recorded under its question.
fn render(case: &Case) -> Value {
    let mut answers: Vec<Value> = Vec::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut send = |batches: Vec<ShardBatch>, answers: &mut Vec<Value>| -> SendReply {
        let planned = plan_send(batches.clone(), case.relay_above).calls();
        answers.push(json!({ "ask": ["planCalls", batches, case.relay_above], "answer": planned }));
        let mut total = SendReply::default();
        for call in &planned {
            calls.push(serde_json::to_value(call).unwrap());
            total.merge(answer(call, &case.live));
        }
        total
    };
    let reply = match &case.targets {
        None => {
            let mut members: Vec<Member> = Vec::new();
            for shard in 0..case.shard_count {
                let sessions = case.live.values().filter(|&&s| s == shard).count() as u64;
                members.push(Member { shard, sessions });
            }
            let batches = plan_broadcast(&members);
            answers.push(json!({ "ask": ["planBroadcast", members], "answer": batches }));
            send(batches, &mut answers)
        }
        Some(ids) => {
            let batches = plan_targeted(ids, case.shard_count);
            answers.push(json!({ "ask": ["planTargeted", ids, case.shard_count], "answer": batches }));
            let mut reply = send(batches, &mut answers);
            for &previous in &case.previous {
                let missing = reply.missing_ids.clone();
                let retry = ids_to_retry(missing.clone(), case.shard_count, previous);
                answers.push(json!({ "ask": ["idsToRetry", missing, case.shard_count, previous], "answer": retry }));
                if retry.is_empty() {
                    break;
                }
                let batches = plan_targeted(&retry, previous);
                answers.push(json!({ "ask": ["planTargeted", retry, previous], "answer": batches }));
                let again = send(batches, &mut answers);
                let before = reply_json(&reply);
                absorb_retry(&mut reply, retry.len(), again.clone());
                answers.push(json!({ "ask": ["absorbRetry", before, retry.len(), reply_json(&again)],
                    "answer": reply_json(&reply) }));
            }
            reply
        }
    };
    let SendReport { delivered, failed, missing } = reply.report;
    json!({
        "name": case.name,
        "settings": { "shardCount": case.shard_count, "previousShardCounts": case.previous,
            "relayAboveShards": case.relay_above },
        "targets": case.targets,
        "live": case.live,
        "answers": answers,
        "calls": calls,
        "report": { "delivered": delivered, "failed": failed, "missing": missing },
    })
}

fn cases() -> Vec<Case> {
    let ids: Vec<String> = (0..40).map(|i| format!("session-{i}")).collect();
    // Every third session still lives where the previous layout (4 shards) put it.
    let resharding: BTreeMap<String, u32> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), if i % 3 == 0 { shard_for(id, 4) } else { shard_for(id, 8) }))
        .collect();
    let settled: BTreeMap<String, u32> = ids.iter().map(|id| (id.clone(), shard_for(id, 8))).collect();
    let mut targets = ids[..30].to_vec();
    targets.push("nobody".into());
    targets.push(ids[1].clone());
    vec![
        Case {
            name: "targeted, straight",
            shard_count: 8,
            previous: vec![],
            relay_above: 0,
            targets: Some(targets.clone()),
            live: settled.clone(),
        },
        Case {
            name: "targeted mid-resharding 4 -> 8, retried on the old layout",
            shard_count: 8,
            previous: vec![4],
            relay_above: 0,
            targets: Some(targets.clone()),
            live: resharding.clone(),
        },
        Case {
            name: "targeted mid-resharding, through relays",
            shard_count: 8,
            previous: vec![4],
            relay_above: 3,
            targets: Some(targets),
            live: resharding,
        },
        Case {
            name: "broadcast, straight",
            shard_count: 8,
            previous: vec![],
            relay_above: 0,
            targets: None,
            live: settled.clone(),
        },
        Case {
            name: "broadcast, through relays",
            shard_count: 8,
            previous: vec![],
            relay_above: 4,
            targets: None,
            live: settled,
        },
    ]
}

#[test]
fn the_adapters_sends_are_pinned_to_the_rust_plan() {
    let rendered = serde_json::to_string_pretty(&json!({ "cases": cases().iter().map(render).collect::<Vec<_>>() }))
        .unwrap()
        + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    if std::env::var_os("MESH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).expect("writing the send-plan fixture");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{FIXTURE} is not what the Rust send planning renders; rewrite it with \
         `MESH_UPDATE_GOLDEN=1 cargo test --test send_plan_golden` (then tests/js must still pass)"
    );
}

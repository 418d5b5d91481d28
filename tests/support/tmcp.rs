//! The tmcp example (examples/tmcp: a tmcp server on the mesh through js/tmcp-mesh) end to end: the
//! official TypeScript and Python clients against it, and its sessions checked against the Rust
//! routing, so a tmcp Worker and a Rust one put every session on the same shard. Used by tests/e2e.rs.

use std::collections::BTreeMap;
use std::time::Duration;

use mcp_mesh::routing::shard_for;

use super::interop::{finish, node, root, run};
use super::workerd::Wrangler;

/// Shards the example runs with (its wrangler.toml's `SHARD_COUNT`).
const SHARD_COUNT: u32 = 16;
/// Sessions the TypeScript run opens.
const TS_SESSIONS: usize = 24;

/// Each check's name and outcome.
pub fn run_all() -> Vec<(String, Result<(), String>)> {
    // `changed`: `increment` notifies through tmcp's own server.changed() path, the one the seed lost.
    let vars = [("KEEPALIVE_MS", "500"), ("INCREMENT_NOTIFY", "changed")];
    let example = match Wrangler::start_with_args(Some("examples/tmcp/wrangler.toml"), None, &vars) {
        Ok(example) => example,
        Err(error) => return vec![("tmcp::example_starts".into(), Err(error))],
    };
    let url = example.url("/mcp");
    let mut results = Vec::new();
    let node = node();
    let sessions = TS_SESSIONS.to_string();
    let args = ["tests/clients/tmcp_ts_client.mjs", url.as_str(), example.token.as_str(), sessions.as_str()];
    match run(&node, &args, Duration::from_secs(180)) {
        Ok((ok, output)) => {
            results.push(("tmcp::typescript_sdk".into(), verdict(ok, &output, "tmcp-ts:")));
            results.push(("tmcp::sessions_on_the_rust_routing_shards".into(), same_shards_as_rust(&output)));
        }
        Err(error) => results.push(("tmcp::typescript_sdk".into(), Err(error))),
    }
    let python = root().join(".venv/bin/python").to_string_lossy().into_owned();
    let outcome = run(&python, &["tests/clients/tmcp_py_client.py", &url], Duration::from_secs(120))
        .and_then(|(ok, output)| verdict(ok, &output, "tmcp-py:"));
    results.push(("tmcp::python_sdk".into(), outcome));
    results.push(("tmcp::listen_across_processes".into(), listen_across_processes(&example)));
    drop(example);
    results.push(("tmcp::sse_transport_across_two_processes".into(), sse_transport()));
    results
}

/// A `subscriptions/listen` stream on the example hearing `increment`'s change made by a second
/// process (examples/tmcp/wrangler.peer.toml): raw HTTP (tests/clients/tmcp_listen_client.mjs), then
/// the v2 TypeScript SDK's `client.listen()` (tests/clients/tmcp_listen_sdk.mjs).
fn listen_across_processes(example: &Wrangler) -> Result<(), String> {
    let peer = Wrangler::start_with_args(Some("examples/tmcp/wrangler.peer.toml"), None, &[("KEEPALIVE_MS", "500")])?;
    let args = ["tests/clients/tmcp_listen_client.mjs".to_owned(), example.url("/mcp"), peer.url("/mcp")];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, output) = run(&node(), &args, Duration::from_secs(120))?;
    let mut outcome = verdict(ok, &output, "tmcp-listen:");
    if outcome.is_ok() {
        let sdk = ["tests/clients/tmcp_listen_sdk.mjs".to_owned(), example.url("/mcp"), peer.url("/mcp")];
        let sdk: Vec<&str> = sdk.iter().map(String::as_str).collect();
        outcome = run(&node(), &sdk, Duration::from_secs(120))
            .and_then(|(ok, output)| verdict(ok, &output, "tmcp-listen-sdk:"));
    }
    if outcome.is_err() {
        eprintln!("--- example log (tail) ---\n{}\n--- peer ---\n{}", example.log_tail(), peer.log_tail());
    }
    outcome
}

/// tmcp's SSE transport (examples/tmcp/src/sse.js) on the mesh, its streams in one process and half
/// the clients' POSTs answered by another (tests/clients/tmcp_sse_client.mjs).
fn sse_transport() -> Result<(), String> {
    let vars = [("KEEPALIVE_MS", "500")];
    let server = Wrangler::start_with_args(Some("examples/tmcp/wrangler.sse.toml"), None, &vars)?;
    let peer = Wrangler::start_with_args(Some("examples/tmcp/wrangler.sse-peer.toml"), None, &vars)?;
    let args = ["tests/clients/tmcp_sse_client.mjs".to_owned(), server.url("/sse"), peer.url("")];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, output) = run(&node(), &args, Duration::from_secs(120))?;
    for line in output.lines().filter(|l| l.starts_with("ok   tmcp-sse::") || l.starts_with("FAIL tmcp-sse::")) {
        println!("     {line}");
    }
    let outcome = verdict(ok, &output, "tmcp-sse:");
    if outcome.is_err() {
        eprintln!("--- SSE server log (tail) ---\n{}\n--- peer ---\n{}", server.log_tail(), peer.log_tail());
    }
    outcome
}

/// The per-shard stream counts the example reported equal those the Rust routing gives its sessions.
fn same_shards_as_rust(output: &str) -> Result<(), String> {
    let line = |prefix: &str| {
        output.lines().find_map(|l| l.strip_prefix(prefix)).ok_or(format!("no `{prefix}` line in the client's output"))
    };
    let ids: Vec<&str> = line("sessions: ")?.split_whitespace().collect();
    let reported: Vec<u64> = line("per-shard: ")?
        .split_whitespace()
        .map(|n| n.parse().map_err(|_| format!("bad count {n}")))
        .collect::<Result<_, _>>()?;
    if ids.len() != TS_SESSIONS || reported.len() != SHARD_COUNT as usize {
        return Err(format!("{} ids and {} shard counts", ids.len(), reported.len()));
    }
    let mut expected: BTreeMap<u32, u64> = (0..SHARD_COUNT).map(|shard| (shard, 0)).collect();
    for id in &ids {
        *expected.entry(shard_for(id, SHARD_COUNT)).or_default() += 1;
    }
    let expected: Vec<u64> = expected.into_values().collect();
    if expected == reported {
        Ok(())
    } else {
        Err(format!("streams per shard {reported:?}, the Rust routing puts the sessions at {expected:?}"))
    }
}

/// [`finish`], with the summary line printed as the other interop runs print theirs.
fn verdict(ok: bool, output: &str, prefix: &str) -> Result<(), String> {
    finish(ok, output, prefix).map(|summary| println!("     {summary}"))
}

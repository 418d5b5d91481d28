//! The tmcp adapter (js/tmcp-mesh) speaks the worker↔object protocol from JavaScript: its paths,
//! header and names must be the Rust ones, or a tmcp Worker and the shards would talk past each other.
//! (Its routing is the Rust routing itself, exported from the wasm build; see src/worker/exports.rs.)

use mcp_mesh::fanout::MAX_CONCURRENT_SUBREQUESTS;
use mcp_mesh::protocol::{coordinator_path, shard_path, COORDINATOR_NAME, HEADER_OBJECT_NAME, STUB_ORIGIN};
use mcp_mesh::routing::SHARD_NAME_PREFIX;

fn adapter_protocol() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/js/tmcp-mesh/src/protocol.js");
    std::fs::read_to_string(path).expect("js/tmcp-mesh/src/protocol.js")
}

#[test]
fn the_adapter_uses_the_rust_paths_header_and_names() {
    let js = adapter_protocol();
    let expected = [
        ("CONNECT", shard_path::CONNECT),
        ("SEND", shard_path::SEND),
        ("HAS", shard_path::HAS),
        ("DELETE", shard_path::DELETE),
        ("SESSION_REGISTER", shard_path::SESSION_REGISTER),
        ("SESSION_GET", shard_path::SESSION_GET),
        ("SESSION_UPDATE", shard_path::SESSION_UPDATE),
        ("SESSION_END", shard_path::SESSION_END),
        ("TOPIC_SUBSCRIBE", shard_path::TOPIC_SUBSCRIBE),
        ("TOPIC_UNSUBSCRIBE", shard_path::TOPIC_UNSUBSCRIBE),
        ("TOPIC_SUBSCRIBERS", shard_path::TOPIC_SUBSCRIBERS),
        ("STATUS", shard_path::STATUS),
        ("MEMBERS", coordinator_path::MEMBERS),
    ];
    for (name, path) in expected {
        let line = format!("{name}: \"{path}\",");
        assert!(js.contains(&line), "protocol.js should have `{line}`");
    }
    for (name, value) in [
        ("STUB_ORIGIN", STUB_ORIGIN),
        ("HEADER_OBJECT_NAME", HEADER_OBJECT_NAME),
        ("SHARD_NAME_PREFIX", SHARD_NAME_PREFIX),
        ("COORDINATOR_NAME", COORDINATOR_NAME),
    ] {
        let line = format!("export const {name} = \"{value}\";");
        assert!(js.contains(&line), "protocol.js should have `{line}`");
    }
    let line = format!("export const MAX_CONCURRENT_CALLS = {MAX_CONCURRENT_SUBREQUESTS};");
    assert!(js.contains(&line), "protocol.js should have `{line}`");
}

//! The constants the JavaScript side needs, as a module for the tmcp adapter (`js/tmcp-mesh`): every
//! path, header, name, query key, log level and limit of the protocol it speaks, rendered from the
//! Rust definitions (`crate::protocol`, `crate::delivery`, `crate::frames`, `crate::fanout`) so none is
//! written twice. `tests/js_protocol.rs` checks the committed module against [`module`]. Must not touch
//! the runtime.

use std::fmt::Write as _;

use crate::delivery::LogLevel;
use crate::fanout::{MAX_CONCURRENT_SUBREQUESTS, RELAY_NAME_PREFIX};
use crate::frames::{listener_event_tail, KEEPALIVE_EVENT};
use crate::listen_index::LISTENER_ID_PREFIX;
use crate::protocol::{
    query_key, ObjectUpgrade, OpenStream, ADAPTER_AWAIT_RECORD_MS, COORDINATOR_CALLS, COORDINATOR_NAME,
    HEADERS_FIRST_SHARD_CALLS, HEADER_OBJECT_NAME, PROTOCOL_VERSION, SHARD_CALLS, STUB_ORIGIN,
};
use crate::routing::SHARD_NAME_PREFIX;

/// Where the module lives, relative to the crate root.
pub const MODULE_PATH: &str = "js/tmcp-mesh/src/protocol.js";

/// The module's text.
pub fn module() -> String {
    let mut js = String::new();
    js.push_str("// The worker <-> object protocol as the adapter speaks it. Generated from the Rust definitions\n");
    js.push_str(concat!(
        "// (src/js_constants.rs); do not edit. Rewrite it with ",
        "`MESH_UPDATE_GOLDEN=1 cargo test --test js_protocol`.\n\n"
    ));
    constant(&mut js, "The protocol version every path carries.", "PROTOCOL_VERSION", &PROTOCOL_VERSION.to_string());
    constant(&mut js, "Any host works for a stub URL; it only has to be absolute.", "STUB_ORIGIN", &quote(STUB_ORIGIN));
    constant(
        &mut js,
        "Every call names its object, so a shard reached without its id's name learns its number.",
        "HEADER_OBJECT_NAME",
        &quote(HEADER_OBJECT_NAME),
    );
    constant(
        &mut js,
        "A shard object's name is this prefix and its number.",
        "SHARD_NAME_PREFIX",
        &quote(SHARD_NAME_PREFIX),
    );
    constant(
        &mut js,
        "A relay of the fan-out is an object of the shard class named with this prefix and its index.",
        "RELAY_NAME_PREFIX",
        &quote(RELAY_NAME_PREFIX),
    );
    constant(&mut js, "The one coordinator object's name.", "COORDINATOR_NAME", &quote(COORDINATOR_NAME));
    constant(
        &mut js,
        concat!(
            "Paths of the calls a `SyncLayer` answers (POST, JSON; SEND and RELAY_SEND headers first, ",
            "their report as the body)."
        ),
        "SHARD_PATH",
        &paths(&HEADERS_FIRST_SHARD_CALLS.iter().chain(SHARD_CALLS).copied().collect::<Vec<_>>()),
    );
    constant(
        &mut js,
        "Paths of the calls the coordinator answers (POST, JSON).",
        "COORDINATOR_PATH",
        &paths(COORDINATOR_CALLS),
    );
    constant(
        &mut js,
        "A session's stream: a WebSocket upgrade on its shard.",
        "CONNECT_PATH",
        &quote(OpenStream::PATH),
    );
    let keys: Vec<(&str, &str)> = vec![
        ("SESSION", query_key::SESSION),
        ("REQUIRE_SESSION", query_key::REQUIRE_SESSION),
        ("OWNER", query_key::OWNER),
        ("LAST_EVENT_ID", query_key::LAST_EVENT_ID),
        ("LISTENER", query_key::LISTENER),
        ("TOPIC", query_key::TOPIC),
        ("AWAIT_RECORD_MS", query_key::AWAIT_RECORD_MS),
    ];
    constant(&mut js, "The query keys of a stream's upgrade.", "CONNECT_QUERY", &frozen_object(&keys));
    let levels: Vec<String> = LogLevel::ALL.iter().map(|level| quote(level.as_str())).collect();
    constant(
        &mut js,
        "The log levels of `logging/setLevel`, least severe first.",
        "LOG_LEVELS",
        &format!("Object.freeze([{}])", levels.join(", ")),
    );
    constant(
        &mut js,
        "Calls waiting for their headers at once from one invocation (the runtime's limit is 6).",
        "MAX_CONCURRENT_CALLS",
        &MAX_CONCURRENT_SUBREQUESTS.to_string(),
    );
    constant(&mut js, "The SSE comment a stream is kept alive with.", "KEEPALIVE_EVENT", &quote(KEEPALIVE_EVENT));
    constant(
        &mut js,
        "The prefix of a JavaScript server's listen stream ids (crate::listen_index).",
        "LISTENER_ID_PREFIX",
        &quote(LISTENER_ID_PREFIX),
    );
    constant(
        &mut js,
        "What completes a shard's listen-stream frame into an event whose subscription id is null.",
        "LISTENER_EVENT_NULL_TAIL",
        &quote(&listener_event_tail(&serde_json::Value::Null)),
    );
    constant(
        &mut js,
        "How long a shard waits for a GET's session record that tmcp is still writing (ms).",
        "AWAIT_RECORD_MS",
        &ADAPTER_AWAIT_RECORD_MS.to_string(),
    );
    js
}

fn constant(js: &mut String, doc: &str, name: &str, value: &str) {
    let _ = writeln!(js, "/** {doc} */\nexport const {name} = {value};\n");
}

/// A JSON string, which is also a JavaScript string literal.
fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `{ NAME: "/path", ... }` from (handler name, path), the names in upper case.
fn paths(calls: &[(&str, &str)]) -> String {
    let named: Vec<(String, &str)> = calls.iter().map(|(name, path)| (name.to_ascii_uppercase(), *path)).collect();
    frozen_object(&named.iter().map(|(name, path)| (name.as_str(), *path)).collect::<Vec<_>>())
}

fn frozen_object(entries: &[(&str, &str)]) -> String {
    let mut out = String::from("Object.freeze({\n");
    for (name, value) in entries {
        let _ = writeln!(out, "  {name}: {},", quote(value));
    }
    out.push_str("})");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_names_every_call_once() {
        let js = module();
        for (name, path) in SHARD_CALLS.iter().chain(HEADERS_FIRST_SHARD_CALLS).chain(COORDINATOR_CALLS) {
            let line = format!("  {}: \"{path}\",", name.to_ascii_uppercase());
            assert_eq!(js.matches(&line).count(), 1, "{line}");
        }
        assert!(js.contains("export const KEEPALIVE_EVENT = \": keepalive\\n\\n\";"));
    }
}

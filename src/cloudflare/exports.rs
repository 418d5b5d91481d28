//! What the wasm build hands to JavaScript Workers besides the `SyncLayer` and `Coordinator` classes:
//! the session → shard mapping and the settings, so the tmcp adapter (`js/tmcp-mesh`) routes ids and
//! reads the vars exactly as the Rust Worker does, by construction rather than by a port.
//!
//! worker-build puts every free exported function on the default entrypoint's prototype, so the
//! adapter reads them from there (`js/tmcp-mesh/src/wasm.js`).

use worker::js_sys;
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsError, JsValue};

use crate::config::MeshConfig;
use crate::routing::{candidate_shards, shards_for_many};

/// The deployment's settings from a Worker's `env` (vars and secrets), under the same rules as the
/// Rust Worker; a JSON object `{shardCount, previousShardCounts, shardBinding, coordinatorBinding,
/// keepaliveMs, streamBufferBytes}`, or an error naming the bad var.
#[wasm_bindgen(js_name = meshSettings)]
pub fn mesh_settings(env: JsValue) -> Result<String, JsError> {
    let config = MeshConfig::from_lookup(|name| {
        js_sys::Reflect::get(&env, &JsValue::from_str(name)).ok().and_then(|value| value.as_string())
    })
    .map_err(|error| JsError::new(&error.to_string()))?;
    Ok(serde_json::json!({
        "shardCount": config.shard_count,
        "previousShardCounts": config.previous_shard_counts,
        "shardBinding": config.shard_binding,
        "coordinatorBinding": config.coordinator_binding,
        "keepaliveMs": config.keepalive_ms,
        "streamBufferBytes": config.stream_buffer_bytes,
    })
    .to_string())
}

/// The shard of each id for `shard_count` shards, in order: one crossing for a whole targeted send.
#[wasm_bindgen(js_name = meshShardsFor)]
pub fn mesh_shards_for(ids: Vec<String>, shard_count: u32) -> Vec<u32> {
    shards_for_many(&ids, shard_count)
}

/// Where `key` (a session id or a topic) may live: its shard now, then under each previous count.
#[wasm_bindgen(js_name = meshCandidateShards)]
pub fn mesh_candidate_shards(key: &str, shard_count: u32, previous_counts: Vec<u32>) -> Vec<u32> {
    candidate_shards(key, shard_count, &previous_counts)
}

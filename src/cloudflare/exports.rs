//! What the wasm build hands to JavaScript Workers besides the `SyncLayer` and `Coordinator` classes:
//! the session → shard mapping, the settings and the caller check, so the tmcp adapter
//! (`js/tmcp-mesh`) routes ids, reads the vars and authenticates exactly as the Rust Worker does, by
//! construction rather than by a port.
//!
//! worker-build puts every free exported function on the default entrypoint's prototype, so the
//! adapter reads them from there (`js/tmcp-mesh/src/wasm.js`).

use worker::js_sys;
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsError, JsValue};

use crate::auth::PROTECTED_RESOURCE_PATH;
use crate::config::MeshConfig;
use crate::mcp::endpoint::{check_caller, protected_resource};
use crate::mcp::http::{HttpReply, HttpRequest};
use crate::routing::{candidate_shards, shards_for_many};

/// The deployment's settings from a Worker's `env` (vars and secrets), under the same rules as the
/// Rust Worker; a JSON object `{shardCount, previousShardCounts, shardBinding, coordinatorBinding,
/// relayAboveShards, keepaliveMs, streamBufferBytes}`, or an error naming the bad var.
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
        "relayAboveShards": config.relay_above_shards,
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

/// How many relays a send to `batches` shards goes through (`crate::fanout::relay_count`).
#[wasm_bindgen(js_name = meshRelayCount)]
pub fn mesh_relay_count(batches: u32) -> u32 {
    crate::fanout::relay_count(batches as usize) as u32
}

/// Where `key` (a session id or a topic) may live: its shard now, then under each previous count.
#[wasm_bindgen(js_name = meshCandidateShards)]
pub fn mesh_candidate_shards(key: &str, shard_count: u32, previous_counts: Vec<u32>) -> Vec<u32> {
    candidate_shards(key, shard_count, &previous_counts)
}

/// The MCP endpoint's caller check for a JavaScript server on the mesh (the tmcp adapter's
/// `meshOAuth`): the same settings (`AUTH_*` vars) and the same verifier as the Rust server, with its
/// caches kept per isolate. For the protected-resource metadata paths, the metadata. Resolves to JSON:
/// `{"principal": {"id", "scopes"}}` (or `{"principal": null}` when authentication is off), or
/// `{"reply": {"status", "headers": [[name, value]], "body"}}` to answer with instead.
#[wasm_bindgen(js_name = meshCheckCaller)]
pub async fn mesh_check_caller(
    env: JsValue,
    method: String,
    path: String,
    host: Option<String>,
    authorization: Option<String>,
) -> Result<String, JsError> {
    let config = MeshConfig::from_lookup(|name| {
        js_sys::Reflect::get(&env, &JsValue::from_str(name)).ok().and_then(|value| value.as_string())
    })
    .map_err(|error| JsError::new(&error.to_string()))?;
    let endpoint = super::auth::endpoint_config(&config, Vec::new);
    let mut request = HttpRequest::new(&method, &path);
    for (name, value) in [("host", host), ("authorization", authorization)] {
        if let Some(value) = value {
            request = request.with_header(name, &value);
        }
    }
    let reply = |reply: HttpReply| serde_json::json!({ "reply": { "status": reply.status, "headers": reply.headers, "body": reply.body } });
    let answer = if path.starts_with(PROTECTED_RESOURCE_PATH) {
        reply(protected_resource(&request, &endpoint))
    } else {
        match check_caller(&request, &endpoint, js_sys::Date::now() as u64).await {
            Ok(principal) => serde_json::json!({ "principal": principal.map(|p| serde_json::json!({
                "id": p.id, "scopes": p.scopes })) }),
            Err(refusal) => reply(refusal),
        }
    };
    Ok(answer.to_string())
}

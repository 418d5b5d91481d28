//! What the wasm build hands to JavaScript Workers besides the `SyncLayer` and `Coordinator` classes:
//! the session → shard mapping, a send's plan (its batches, its calls straight or through relays, the
//! resharding retry), the settings and the caller check, so the tmcp adapter (`js/tmcp-mesh`) routes,
//! sends, reads the vars and authenticates exactly as the Rust Worker does, by construction rather
//! than by a port.
//!
//! worker-build puts every free exported function on the default entrypoint's prototype, so the
//! adapter reads them from there (`js/tmcp-mesh/src/wasm.js`).

use worker::js_sys;
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsError, JsValue};

use crate::auth::PROTECTED_RESOURCE_PATH;
use crate::config::MeshConfig;
use crate::delivery::ListenerFilter;
use crate::fanout::{plan_broadcast, plan_targeted, ShardBatch};
use crate::listen_index::{listener_index, listener_send};
use crate::mcp::endpoint::{check_caller, protected_resource};
use crate::mcp::http::{HttpReply, HttpRequest};
use crate::protocol::{Member, SendReply};
use crate::routing::{candidate_shards, shards_for_many};
use crate::send_plan::{absorb_retry, ids_to_retry, plan_send};

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

/// A targeted send's batches: `ids` grouped by their shard for `shard_count` shards, each id once
/// (`crate::fanout::plan_targeted`), as JSON `[{shard, sessions}]`.
#[wasm_bindgen(js_name = meshPlanTargeted)]
pub fn mesh_plan_targeted(ids: Vec<String>, shard_count: u32) -> Result<String, JsError> {
    to_json(&plan_targeted(&ids, shard_count))
}

/// A broadcast's batches: the coordinator's members that hold sessions (`crate::fanout::plan_broadcast`);
/// `members` is the coordinator's JSON `[{shard, sessions}]`.
#[wasm_bindgen(js_name = meshPlanBroadcast)]
pub fn mesh_plan_broadcast(members: &str) -> Result<String, JsError> {
    let members: Vec<Member> = serde_json::from_str(members).map_err(|e| JsError::new(&e.to_string()))?;
    to_json(&plan_broadcast(&members))
}

/// A send's calls for `batches` (JSON, as the two functions above give them): straight, or above
/// `relay_above` shards through relays (`crate::send_plan::plan_send`); JSON
/// `[{object, path, body}]`, each body without its payload.
#[wasm_bindgen(js_name = meshPlanCalls)]
pub fn mesh_plan_calls(batches: &str, relay_above: u32) -> Result<String, JsError> {
    let batches: Vec<ShardBatch> = serde_json::from_str(batches).map_err(|e| JsError::new(&e.to_string()))?;
    to_json(&plan_send(batches, relay_above).calls())
}

/// Mid-resharding, the missing ids of a targeted send to retry on the `previous` layout
/// (`crate::send_plan::ids_to_retry`).
#[wasm_bindgen(js_name = meshIdsToRetry)]
pub fn mesh_ids_to_retry(missing: Vec<String>, current: u32, previous: u32) -> Vec<String> {
    ids_to_retry(missing, current, previous)
}

/// Folds a retry's reply into the send's (`crate::send_plan::absorb_retry`); both are the shards'
/// reply JSON (`{delivered, failed, missing, missing_ids}`).
#[wasm_bindgen(js_name = meshAbsorbRetry)]
pub fn mesh_absorb_retry(reply: &str, retried: u32, again: &str) -> Result<String, JsError> {
    let read = |text: &str| serde_json::from_str::<SendReply>(text).map_err(|e| JsError::new(&e.to_string()));
    let mut reply = read(reply)?;
    absorb_retry(&mut reply, retried as usize, read(again)?);
    to_json(&reply)
}

/// A listen stream's flags and the topics to index it under (`crate::listen_index::listener_index`),
/// as JSON `{flags, topics}`.
#[wasm_bindgen(js_name = meshListenerIndex)]
pub fn mesh_listener_index(tools: bool, prompts: bool, resources: bool, uris: Vec<String>) -> Result<String, JsError> {
    to_json(&listener_index(ListenerFilter { tools, prompts, resources }, &uris))
}

/// A notification's send to listen streams (`crate::listen_index::listener_send`), as JSON
/// `{topic, payload, kind}`, or `null` when no listen stream takes it.
#[wasm_bindgen(js_name = meshListenerSend)]
pub fn mesh_listener_send(notification: &str) -> Result<String, JsError> {
    to_json(&listener_send(notification).map_err(|e| JsError::new(&e.to_string()))?)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))
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
    let reply = |reply: HttpReply| {
        let HttpReply { status, headers, body } = reply;
        serde_json::json!({ "reply": { "status": status, "headers": headers, "body": body } })
    };
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

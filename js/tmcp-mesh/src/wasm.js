// The pieces of the crate's wasm build (../wasm, copied there by scripts/build.sh) the adapter uses:
// the two object classes, and the routing, send-plan and settings functions of
// src/cloudflare/exports.rs, which
// worker-build puts on its default entrypoint's prototype. Routing through the very code the Rust
// Worker runs is what keeps a tmcp Worker and a Rust one mapping every id to the same shard.

import MeshEntrypoint, { Coordinator, SyncLayer } from "../wasm/index.js";

const exported = MeshEntrypoint.prototype;

export { Coordinator, SyncLayer };

/** @type {import("./mesh.js").Routing} */
export const routing = {
  shardsFor: (ids, count) => exported.meshShardsFor(ids, count),
  candidates: (key, count, previous) => exported.meshCandidateShards(key, count, Uint32Array.from(previous)),
  planTargeted: (ids, count) => JSON.parse(exported.meshPlanTargeted(ids, count)),
  planBroadcast: (members) => JSON.parse(exported.meshPlanBroadcast(JSON.stringify(members))),
  planCalls: (batches, relayAbove) => JSON.parse(exported.meshPlanCalls(JSON.stringify(batches), relayAbove)),
  idsToRetry: (missing, current, previous) => exported.meshIdsToRetry(missing, current, previous),
  absorbRetry: (reply, retried, again) =>
    JSON.parse(exported.meshAbsorbRetry(JSON.stringify(reply), retried, JSON.stringify(again))),
  listenerIndex: (tools, prompts, resources, uris) =>
    JSON.parse(exported.meshListenerIndex(tools, prompts, resources, uris)),
  listenerSend: (notification) => JSON.parse(exported.meshListenerSend(JSON.stringify(notification))),
};

/** The Rust server's caller check (see auth.js). */
export const callerCheck = {
  checkCaller: (env, method, path, host, authorization) =>
    exported.meshCheckCaller(env, method, path, host, authorization),
};

/** The deployment's settings from `env`, under the Rust Worker's rules; throws naming a bad var. */
export function settingsFrom(env) {
  return JSON.parse(exported.meshSettings(env));
}

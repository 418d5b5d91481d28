// @mcp-mesh/tmcp: the sharded mesh as tmcp session managers. Swap the seed's imports for these and
// export the two object classes from your Worker:
//
//   import { MeshStreamSessionManager, MeshInfoSessionManager, respond } from "@mcp-mesh/tmcp";
//   ... respond(transport, request, sessionManager.info, sessionManager.streams)
//   export { SyncLayer, Coordinator } from "@mcp-mesh/tmcp";
//
// Settings come from the same wrangler vars as the Rust Worker (SHARD_COUNT, PREVIOUS_SHARD_COUNTS,
// SHARD_BINDING, COORDINATOR_BINDING, KEEPALIVE_MS), read by the same code.

import { env, waitUntil } from "cloudflare:workers";

import { meshOAuthWith } from "./auth.js";
import { MeshInfo } from "./info.js";
import { Mesh } from "./mesh.js";
import { respond as respondCore } from "./respond.js";
import { MeshStreams } from "./streams.js";
import { MeshSubscriptions } from "./subscriptions.js";
import { callerCheck, routing, settingsFrom } from "./wasm.js";

export { Coordinator, SyncLayer } from "./wasm.js";
export { MeshCallError } from "./mesh.js";
export { sessionNotFound } from "./respond.js";

/** Per isolate: the settings are read once, as the Rust Worker reads them. */
let settings;
const meshes = new Map();

/** The mesh over the shard namespace bound as `binding` (default: `SHARD_BINDING`'s value). */
function meshFor(binding) {
  settings ??= settingsFrom(env);
  const name = binding ?? settings.shardBinding;
  let mesh = meshes.get(name);
  if (!mesh) {
    const shards = env[name];
    const coordinator = env[settings.coordinatorBinding];
    if (!shards || typeof shards.getByName !== "function") {
      throw new Error(`${name} is not a Durable Object namespace (bind it to the SyncLayer class)`);
    }
    if (!coordinator || typeof coordinator.getByName !== "function") {
      throw new Error(`${settings.coordinatorBinding} is not a Durable Object namespace (bind it to Coordinator)`);
    }
    mesh = new Mesh({ shards, coordinator, settings, routing });
    meshes.set(name, mesh);
  }
  return mesh;
}

/** tmcp's `StreamSessionManager`: each session's stream lives in the shard its id hashes to. */
export class MeshStreamSessionManager extends MeshStreams {
  /** @param {string} [binding] the `SyncLayer` binding; defaults to `SHARD_BINDING` ("TMCP_DURABLE_OBJECT"). */
  constructor(binding) {
    super({ mesh: () => meshFor(binding), waitUntil });
  }
}

/**
 * The stream manager for `@tmcp/transport-sse` (the 2024-11-05 HTTP+SSE protocol): its GET stream
 * opens the session, before any record exists, and every response travels over it through the
 * session's shard, whichever isolate received the POST.
 */
export class MeshSseStreamSessionManager extends MeshStreams {
  /** @param {string} [binding] the `SyncLayer` binding, as for `MeshStreamSessionManager`. */
  constructor(binding) {
    super({ mesh: () => meshFor(binding), waitUntil, requireSession: false });
  }
}

/** tmcp's `InfoSessionManager`: session info in the session's shard, subscriptions in the topic's. */
export class MeshInfoSessionManager extends MeshInfo {
  /** @param {string} [binding] the `SyncLayer` binding, as for `MeshStreamSessionManager`. */
  constructor(binding) {
    super({ mesh: () => meshFor(binding), waitUntil });
  }
}

/**
 * tmcp's `SubscriptionManager` (the HTTP transport's `subscriptionManager` option): a
 * `subscriptions/listen` stream served by one isolate hears the `changed()` notifications of every
 * isolate, through the shards.
 */
export class MeshSubscriptionManager extends MeshSubscriptions {
  /** @param {string} [binding] the `SyncLayer` binding, as for `MeshStreamSessionManager`. */
  constructor(binding) {
    super({ mesh: () => meshFor(binding) });
  }
}

/**
 * `transport.respond(request)` plus what the mesh needs around it: 404 for an unknown session,
 * responses held until the session writes they caused have landed, and, given the stream manager, a
 * GET with `Last-Event-ID` resumed from the shard's log (see respond.js).
 */
export function respond(transport, request, info, streams) {
  return respondCore(transport, request, info, streams);
}

/**
 * tmcp's `oauth` option (`new HttpTransport(server, { oauth: meshOAuth(env) })`): the MCP endpoint
 * as an OAuth 2.1 resource server with the mesh's verifier and the AUTH_* vars (see auth.js).
 */
export function meshOAuth(workerEnv = env, options) {
  return meshOAuthWith(workerEnv, callerCheck, options);
}

// The adapter's view of the mesh: calls to the shard and coordinator objects, the routing of ids
// onto shards, and the fan-out of a send (one call per member shard for a broadcast, ids grouped per
// shard for a targeted send). A shard answers a send headers first (its report ends the body once its
// sockets are written), and the runtime bounds the calls waiting for headers, so the fan-out keeps at
// most MAX_CONCURRENT_CALLS waiting for headers and reads the bodies as they end. Above
// `relayAboveShards` member shards a send goes through relays (objects of the shard class that call
// their share of the shards the same way), as the Rust Worker's does. Plain JS with every runtime piece passed in, so node:test drives it
// with a fake namespace; src/index.js wires the real one.

import {
  AWAIT_RECORD_MS,
  CONNECT_PATH,
  CONNECT_QUERY,
  COORDINATOR_NAME,
  COORDINATOR_PATH,
  HEADER_OBJECT_NAME,
  LISTENER_ID_PREFIX,
  MAX_CONCURRENT_CALLS,
  SHARD_NAME_PREFIX,
  SHARD_PATH,
  STUB_ORIGIN,
} from "./protocol.js";

/** A failed object call: `status` is the object's HTTP status, `message` its error text. */
export class MeshCallError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "MeshCallError";
    this.status = status;
  }
}

/**
 * @typedef {{ shardCount: number, previousShardCounts: number[], keepaliveMs: number,
 *             relayAboveShards?: number }} Settings
 * @typedef {{ shard: number, sessions?: string[] }} ShardBatch
 * @typedef {{ delivered: number, failed: number, missing: number, missing_ids: string[] }} SendReply
 * @typedef {{ shardsFor(ids: string[], count: number): ArrayLike<number>,
 *             candidates(key: string, count: number, previous: number[]): ArrayLike<number>,
 *             planTargeted(ids: string[], count: number): ShardBatch[],
 *             planBroadcast(members: { shard: number, sessions: number }[]): ShardBatch[],
 *             planCalls(batches: ShardBatch[], relayAbove: number): { object: string, path: string, body: object }[],
 *             idsToRetry(missing: string[], current: number, previous: number): string[],
 *             absorbRetry(reply: SendReply, retried: number, again: SendReply): SendReply,
 *             listenerIndex(tools: boolean, prompts: boolean, resources: boolean, uris: string[]):
 *               { flags: string, topics: string[] },
 *             listenerSend(notification: object): { topic: string, payload: object, kind: unknown } | null }} Routing
 * @typedef {{ delivered: number, failed: number, missing: number }} SendReport
 */

export class Mesh {
  /**
   * @param {{ shards: DurableObjectNamespace, coordinator: DurableObjectNamespace, settings: Settings,
   *           routing: Routing }} parts
   */
  constructor({ shards, coordinator, settings, routing }) {
    this.shards = shards;
    this.coordinator = coordinator;
    this.settings = settings;
    this.routing = routing;
  }

  /** The shard that holds (or will hold) `key` in the current layout. */
  shardOf(key) {
    return this.routing.shardsFor([key], this.settings.shardCount)[0];
  }

  /** Where `key` may be: its shard now, then under each previous count (mid-resharding). */
  candidates(key) {
    return Array.from(this.routing.candidates(key, this.settings.shardCount, this.settings.previousShardCounts));
  }

  /** POSTs `body` to `path` on shard `shard`; resolves to the parsed reply. */
  callShard(shard, path, body) {
    return call(this.shards, SHARD_NAME_PREFIX + shard, path, body);
  }

  callCoordinator(path, body) {
    return call(this.coordinator, COORDINATOR_NAME, path, body);
  }

  /**
   * Opens a session's stream socket on `shard` (the one holding its record; by default its shard in
   * the current layout); resolves to the (not yet accepted) WebSocket. With `requireSession` (the
   * Streamable HTTP transport) the shard refuses (404) a session it has no record of, so a client
   * reconnecting while its session is being deleted cannot leave a stream behind for a session that
   * no longer exists; without it (the SSE transport, where the stream opens the session) it does not.
   * With `lastEventId` the shard replays what the client missed and takes over an open stream.
   */
  async connect(session, shard = this.shardOf(session), { lastEventId, requireSession = true } = {}) {
    // tmcp answers `initialize` before its record writes land: a GET that beats them waits for them.
    const query = new URLSearchParams({ [CONNECT_QUERY.SESSION]: session });
    if (requireSession) {
      query.set(CONNECT_QUERY.REQUIRE_SESSION, "1");
      query.set(CONNECT_QUERY.AWAIT_RECORD_MS, String(AWAIT_RECORD_MS));
    }
    // A resuming client: the shard replays what it missed and takes over a stream still open.
    if (lastEventId) query.set(CONNECT_QUERY.LAST_EVENT_ID, lastEventId);
    return this.#upgrade(shard, query);
  }

  /** Opens a stream socket on `shard` with the connect `query`; rejects with the shard's refusal. */
  async #upgrade(shard, query) {
    const name = SHARD_NAME_PREFIX + shard;
    const response = await this.shards.getByName(name).fetch(`${STUB_ORIGIN}${CONNECT_PATH}?${query}`, {
      headers: { upgrade: "websocket", [HEADER_OBJECT_NAME]: name },
    });
    if (response.status !== 101 || !response.webSocket) {
      throw new MeshCallError(response.status, errorText(await response.text()));
    }
    return response.webSocket;
  }

  /**
   * Sends `data` (a framed SSE event) to `sessions`, or to every session when it is undefined.
   * Rejects if any shard failed: the caller must not believe everyone was reached.
   * @returns {Promise<SendReport>}
   */
  async send(sessions, data) {
    // Every decision below is the Rust mesh's (src/send_plan.rs, through the wasm exports): this
    // only makes the calls and adds them up.
    if (sessions === undefined || sessions === null) {
      const { members } = await this.callCoordinator(COORDINATOR_PATH.LIST_MEMBERS, {});
      return report(await this.#sendBatches(this.routing.planBroadcast(members), data));
    }
    const { shardCount, previousShardCounts } = this.settings;
    let reply = await this.#sendBatches(this.routing.planTargeted(sessions, shardCount), data);
    // Mid-resharding, an id missing on its current shard may live on a previous layout's shard.
    for (const previous of previousShardCounts) {
      const retry = this.routing.idsToRetry(reply.missing_ids, shardCount, previous);
      if (retry.length === 0) break;
      const again = await this.#sendBatches(this.routing.planTargeted(retry, previous), data);
      reply = this.routing.absorbRetry(reply, retry.length, again);
    }
    return report(reply);
  }

  /**
   * Sends `notification` (a JSON-RPC notification object) to the listen streams that asked for it,
   * wherever they are: the ones indexed under its topic (see subscriptions.js). Resolves to what it
   * reached; a notification no listen stream takes reaches none.
   * @returns {Promise<SendReport>}
   */
  async sendToListeners(notification) {
    const plan = this.routing.listenerSend(notification);
    if (!plan) return { delivered: 0, failed: 0, missing: 0 };
    const listeners = new Set();
    for (const shard of this.candidates(plan.topic)) {
      const { sessions } = await this.callShard(shard, SHARD_PATH.LIST_SUBSCRIBERS, { topic: plan.topic });
      for (const id of sessions) if (id.startsWith(LISTENER_ID_PREFIX)) listeners.add(id);
    }
    if (listeners.size === 0) return { delivered: 0, failed: 0, missing: 0 };
    const batches = this.routing.planTargeted([...listeners], this.settings.shardCount);
    return report(await this.#sendBatches(batches, null, { payload: plan.payload, kind: plan.kind }));
  }

  /** Indexes listen stream `listener` under `topic` on the topic's shard. */
  async subscribe(topic, listener) {
    await this.callShard(this.shardOf(topic), SHARD_PATH.SUBSCRIBE, { topic, session: listener });
  }

  /**
   * Opens listen stream `listener`'s socket on its shard, with its filter `flags` and the `topics` it
   * is indexed under (the shard takes it out of them when the socket closes).
   */
  async connectListener(listener, flags, topics) {
    const query = new URLSearchParams({ [CONNECT_QUERY.SESSION]: listener, [CONNECT_QUERY.LISTENER]: flags });
    for (const topic of topics) query.append(CONNECT_QUERY.TOPIC, topic);
    return this.#upgrade(this.shardOf(listener), query);
  }

  /**
   * Sends to `batches` as the plan says (`data`: a framed SSE event; or `message`: a payload and kind
   * the shards frame); resolves to the replies summed (the shards' reply shape).
   */
  async #sendBatches(batches, data, message = null) {
    const extra = message ?? { payload: { event: data } };
    const calls = this.routing.planCalls(batches, this.settings.relayAboveShards ?? 0);
    const headers = await pool(calls, MAX_CONCURRENT_CALLS, ({ object, path, body }) =>
      callHeadersFirst(this.shards, object, path, { ...body, ...extra }),
    );
    const replies = await Promise.all(
      headers.map((answer) => (answer.status === "rejected" ? answer : answer.value.settled)),
    );
    const total = { delivered: 0, failed: 0, missing: 0, missing_ids: [] };
    let firstError;
    for (const reply of replies) {
      if (reply.status === "rejected") {
        firstError ??= reply.reason;
        continue;
      }
      total.delivered += reply.value.delivered;
      total.failed += reply.value.failed;
      total.missing += reply.value.missing ?? 0;
      if (reply.value.missing_ids) total.missing_ids.push(...reply.value.missing_ids);
    }
    if (firstError) throw firstError;
    return total;
  }

  /** Whether `session` has a live stream on any shard it may be on. */
  async has(session) {
    for (const shard of this.candidates(session)) {
      if ((await this.callShard(shard, SHARD_PATH.HAS_STREAM, { session })).has) return true;
    }
    return false;
  }

  /** Closes `session`'s stream wherever it is. */
  async closeStream(session) {
    for (const shard of this.candidates(session)) {
      await this.callShard(shard, SHARD_PATH.CLOSE_STREAM, { session });
    }
  }

  /** Every shard's live view of itself (`ShardStatus`), in shard order. */
  async status() {
    const shards = Array.from({ length: this.settings.shardCount }, (_, shard) => shard);
    const replies = await pool(shards, MAX_CONCURRENT_CALLS, (shard) => this.callShard(shard, SHARD_PATH.GET_STATUS, {}));
    return replies.map((reply) => {
      if (reply.status === "rejected") throw reply.reason;
      return reply.value;
    });
  }
}

async function call(namespace, name, path, body) {
  const response = await namespace.getByName(name).fetch(STUB_ORIGIN + path, {
    method: "POST",
    headers: { "content-type": "application/json", [HEADER_OBJECT_NAME]: name },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new MeshCallError(response.status, `${name}${path}: ${errorText(text)}`);
  return JSON.parse(text);
}

/**
 * POSTs like `call` to an object that answers headers first; resolves once the headers came, to
 * `{ settled }`: a promise of the body's reply, settled like `Promise.allSettled`'s entries (so a body
 * failing before it is awaited is not an unhandled rejection). A body that fails, or ends without a
 * reply, is a rejection: whatever the shard did is not known to have happened.
 */
async function callHeadersFirst(namespace, name, path, body) {
  const response = await namespace.getByName(name).fetch(STUB_ORIGIN + path, {
    method: "POST",
    headers: { "content-type": "application/json", [HEADER_OBJECT_NAME]: name },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new MeshCallError(response.status, `${name}${path}: ${errorText(await response.text())}`);
  const settled = response.text().then(
    (text) => {
      if (text === "") throw new MeshCallError(502, `${name}${path}: ended its answer without a reply`);
      return { status: "fulfilled", value: JSON.parse(text) };
    },
    (error) => {
      throw new MeshCallError(502, `${name}${path}: failed after its headers: ${error?.message ?? error}`);
    },
  ).catch((reason) => ({ status: "rejected", reason }));
  return { settled };
}

/** The `error` of an object's error body, or the text as it came. */
function errorText(text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return body.error;
  } catch {
    // Not JSON: the runtime's own error page.
  }
  return text;
}

/** A shards' reply as the manager's `SendReport`. */
function report({ delivered, failed, missing }) {
  return { delivered, failed, missing };
}

/** Runs `task` over `items` with at most `limit` in flight; settles like `Promise.allSettled`. */
async function pool(items, limit, task) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: "fulfilled", value: await task(items[i]) };
      } catch (reason) {
        results[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

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
  MAX_CONCURRENT_CALLS,
  RELAY_NAME_PREFIX,
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
 * @typedef {{ shardsFor(ids: string[], count: number): ArrayLike<number>,
 *             candidates(key: string, count: number, previous: number[]): ArrayLike<number>,
 *             relayCount(batches: number): number }} Routing
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
    const name = SHARD_NAME_PREFIX + shard;
    // tmcp answers `initialize` before its record writes land: a GET that beats them waits for them.
    const query = new URLSearchParams({ [CONNECT_QUERY.SESSION]: session });
    if (requireSession) {
      query.set(CONNECT_QUERY.REQUIRE_SESSION, "1");
      query.set(CONNECT_QUERY.AWAIT_RECORD_MS, String(AWAIT_RECORD_MS));
    }
    // A resuming client: the shard replays what it missed and takes over a stream still open.
    if (lastEventId) query.set(CONNECT_QUERY.LAST_EVENT_ID, lastEventId);
    const url = `${STUB_ORIGIN}${CONNECT_PATH}?${query}`;
    const response = await this.shards.getByName(name).fetch(url, {
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
    if (sessions === undefined || sessions === null) {
      const { members } = await this.callCoordinator(COORDINATOR_PATH.LIST_MEMBERS, {});
      const batches = members.filter((m) => m.sessions > 0).map((m) => ({ shard: m.shard, sessions: undefined }));
      return (await this.#sendBatches(batches, data)).report;
    }
    const ids = [...new Set(sessions)];
    let reply = await this.#sendBatches(group(ids, this.routing.shardsFor(ids, this.settings.shardCount)), data);
    // Mid-resharding, an id missing on its current shard may live on a previous layout's shard.
    for (const previous of this.settings.previousShardCounts) {
      const retry = reply.missingIds;
      if (retry.length === 0) break;
      const again = await this.#sendBatches(group(retry, this.routing.shardsFor(retry, previous)), data);
      reply = {
        report: {
          delivered: reply.report.delivered + again.report.delivered,
          failed: reply.report.failed + again.report.failed,
          missing: reply.report.missing - retry.length + again.report.missing,
        },
        missingIds: again.missingIds,
      };
    }
    return reply.report;
  }

  async #sendBatches(batches, data) {
    const headers = await pool(this.#calls(batches, { event: data }), MAX_CONCURRENT_CALLS, ([name, path, body]) =>
      callHeadersFirst(this.shards, name, path, body),
    );
    const replies = await Promise.all(
      headers.map((answer) => (answer.status === "rejected" ? answer : answer.value.settled)),
    );
    const total = { report: { delivered: 0, failed: 0, missing: 0 }, missingIds: [] };
    let firstError;
    for (const reply of replies) {
      if (reply.status === "rejected") {
        firstError ??= reply.reason;
        continue;
      }
      total.report.delivered += reply.value.delivered;
      total.report.failed += reply.value.failed;
      total.report.missing += reply.value.missing ?? 0;
      if (reply.value.missing_ids) total.missingIds.push(...reply.value.missing_ids);
    }
    if (firstError) throw firstError;
    return total;
  }

  /** A send's calls, as [object name, path, body]: one per shard, or one per relay above the limit. */
  #calls(batches, payload) {
    const share = (batch) => (batch.sessions ? { shard: batch.shard, sessions: batch.sessions } : { shard: batch.shard });
    const relayAbove = this.settings.relayAboveShards ?? 0;
    if (relayAbove === 0 || batches.length <= relayAbove) {
      return batches.map((batch) => {
        const body = batch.sessions ? { sessions: batch.sessions, payload } : { payload };
        return [SHARD_NAME_PREFIX + batch.shard, SHARD_PATH.SEND, body];
      });
    }
    const relays = this.routing.relayCount(batches.length);
    const shares = Array.from({ length: relays }, () => []);
    batches.forEach((batch, i) => shares[i % relays].push(share(batch)));
    return shares
      .filter((batches) => batches.length > 0)
      .map((batches, i) => [RELAY_NAME_PREFIX + i, SHARD_PATH.RELAY_SEND, { batches, payload }]);
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

/** Groups `ids` by their shard (`shards[i]` is `ids[i]`'s), one batch per shard. */
function group(ids, shards) {
  const byShard = new Map();
  ids.forEach((id, i) => {
    const batch = byShard.get(shards[i]);
    if (batch) batch.push(id);
    else byShard.set(shards[i], [id]);
  });
  return [...byShard].map(([shard, sessions]) => ({ shard, sessions }));
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

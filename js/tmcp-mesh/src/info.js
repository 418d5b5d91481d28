// tmcp's InfoSessionManager on the mesh: client info, capabilities and log level live in the session's
// record in its shard's SQLite, and resource subscriptions in the subscriber index of the topic's
// shard. Unlike KV, a read after a write sees it: the seed's targeted sends that found no subscribers
// (KV's eventual consistency) cannot happen here.
//
// tmcp calls the setters without awaiting them. Within one request (a `scope`, which `respond` opens
// around each one), a session's writes run in order, its reads wait for them, and its record is
// looked up once; the response is held until the writes have landed, so the client's next request
// reads them wherever it runs. Nothing in flight is shared between requests: the runtime cancels a
// request that waits on a promise only another request's I/O can settle (it looks hung).

import { AsyncLocalStorage } from "node:async_hooks";

import { LOG_LEVELS, SHARD_PATH } from "./protocol.js";

/** What one request has in flight for the sessions and topics it touches. */
export class RequestScope {
  /** Session id -> the tail of its write chain. */
  writes = new Map();
  /** Topic -> index writes in flight. */
  topicWrites = new Map();
  /** Session id -> the lookup of its record: `Promise<{ shard, record } | null>`. */
  records = new Map();
  /** Session id -> the fields of a record being created (tmcp sets info and capabilities in one tick). */
  creating = new Map();

  /** Resolves once every write for `id` started in this request has landed (or failed). */
  settled(id) {
    return this.writes.get(id) ?? Promise.resolve();
  }

  /** Whether this request has writes for `id` in flight. */
  writing(id) {
    return this.writes.has(id);
  }
}

const scopes = new AsyncLocalStorage();

/** The runtime-free core of `MeshInfoSessionManager` (src/index.js); see `MeshStreams` for `parts`. */
export class MeshInfo {
  #mesh;
  #waitUntil;

  constructor({ mesh, waitUntil = () => {} }) {
    this.#mesh = mesh;
    this.#waitUntil = waitUntil;
  }

  /** Runs `fn(scope)` as one request: what it starts, including tmcp's handlers, shares `scope`. */
  scope(fn) {
    const scope = new RequestScope();
    return scopes.run(scope, () => fn(scope));
  }

  async getClientInfo(id) {
    const record = await this.#record(id);
    if (!record) throw new Error(`Client info not found for session ${id}`);
    return record.client_info;
  }

  async getClientCapabilities(id) {
    const record = await this.#record(id);
    if (!record) throw new Error(`Client capabilities not found for session ${id}`);
    return record.client_capabilities;
  }

  async getLogLevel(id) {
    const record = await this.#record(id);
    if (!record || !LOG_LEVELS.includes(record.log_level)) throw new Error(`Log level not found for session ${id}`);
    return record.log_level;
  }

  setClientInfo(id, clientInfo) {
    this.#create(id, { client_info: clientInfo });
  }

  setClientCapabilities(id, capabilities) {
    this.#create(id, { client_capabilities: capabilities });
  }

  setLogLevel(id, level) {
    this.#write(id, async (mesh) => {
      const shard = await home(mesh, id);
      await mesh.callShard(shard, SHARD_PATH.UPDATE_SESSION, { session: id, log_level: level });
    });
  }

  /**
   * Session ids subscribed to `uri`, from the topic's shard in every layout still in service. Kept
   * alive with `waitUntil`: tmcp's broadcast listener looks subscribers up after the tool that called
   * `server.changed()` has returned, and its send follows from here.
   */
  getSubscriptions(uri) {
    const found = this.#subscribers(uri);
    this.#waitUntil(found.catch(() => {}));
    return found;
  }

  async #subscribers(uri) {
    await Promise.allSettled([...(current().topicWrites.get(uri) ?? [])]);
    const mesh = this.#mesh();
    const sessions = new Set();
    for (const shard of mesh.candidates(uri)) {
      const reply = await mesh.callShard(shard, SHARD_PATH.LIST_SUBSCRIBERS, { topic: uri });
      for (const session of reply.sessions) sessions.add(session);
    }
    return [...sessions];
  }

  addSubscription(id, uri) {
    const written = this.#write(id, async (mesh) => {
      const shard = await home(mesh, id);
      await Promise.all([
        mesh.callShard(shard, SHARD_PATH.UPDATE_SESSION, { session: id, add_subscription: uri }),
        mesh.callShard(mesh.shardOf(uri), SHARD_PATH.SUBSCRIBE, { topic: uri, session: id }),
      ]);
    });
    track(current().topicWrites, uri, written);
  }

  removeSubscription(id, uri) {
    const written = this.#write(id, async (mesh) => {
      const shard = await home(mesh, id);
      await mesh.callShard(shard, SHARD_PATH.UPDATE_SESSION, { session: id, remove_subscription: uri });
      await unsubscribe(mesh, uri, id);
    });
    track(current().topicWrites, uri, written);
  }

  /** Forgets the session: its record (the shard also closes its stream) and its topic-index entries. */
  delete(id) {
    this.#write(id, async (mesh) => {
      const found = await locate(mesh, id);
      if (!found) return;
      await mesh.callShard(found.shard, SHARD_PATH.END_SESSION, { session: id });
      // Index entries live on other shards; a stale one only costs a "missing" on a later send.
      for (const topic of found.record.subscriptions ?? []) {
        await unsubscribe(mesh, topic, id).catch((error) =>
          console.warn(`tmcp-mesh: index cleanup for ${id} failed: ${error.message}`),
        );
      }
    });
  }

  /**
   * Whether the session exists (has a record): the Worker answers 404 for one that does not. An id
   * the shard refuses as malformed (400) names no session either.
   */
  async exists(id) {
    try {
      return (await this.#record(id)) !== null;
    } catch (error) {
      if (error?.status === 400) return false;
      throw error;
    }
  }

  /** `id`'s record, looked up once per request, after the request's own writes for it. */
  async #record(id) {
    const scope = current();
    await scope.settled(id);
    let found = scope.records.get(id);
    if (!found) {
      found = locate(this.#mesh(), id);
      scope.records.set(id, found);
      found.catch(() => scope.records.delete(id));
    }
    return (await found)?.record ?? null;
  }

  /** Gathers the fields tmcp sets at `initialize` in one tick into one record write. */
  #create(id, fields) {
    const scope = current();
    const pending = scope.creating.get(id);
    if (pending) {
      Object.assign(pending, fields);
      return;
    }
    const record = { ...fields };
    scope.creating.set(id, record);
    this.#write(id, async (mesh) => {
      scope.creating.delete(id);
      const now = Date.now();
      // Both fields together are an `initialize`; one alone updates a record that exists.
      const existing = record.client_info && record.client_capabilities ? null : await locate(mesh, id);
      const full = {
        protocol_version: "",
        client_info: null,
        client_capabilities: null,
        subscriptions: [],
        created_ms: now,
        last_seen_ms: now,
        ...(existing?.record ?? {}),
        ...record,
      };
      await mesh.callShard(existing?.shard ?? mesh.shardOf(id), SHARD_PATH.REGISTER_SESSION, {
        session: id,
        record: full,
      });
    });
  }

  /** Runs `task` after the request's earlier writes for `id`; failures are logged (tmcp does not await). */
  #write(id, task) {
    const scope = current();
    scope.records.delete(id);
    const previous = scope.writes.get(id) ?? Promise.resolve();
    const written = previous
      .then(() => task(this.#mesh()))
      .catch((error) => console.error(`tmcp-mesh: writing session ${id} failed: ${error.message}`))
      .finally(() => {
        if (scope.writes.get(id) === written) scope.writes.delete(id);
        scope.records.delete(id);
      });
    scope.writes.set(id, written);
    this.#waitUntil(written);
    return written;
  }
}

/**
 * This request's lookup of `id` (`{ shard, record, streamOpen }` or null), if it made one and has not
 * written the session since: the stream manager answers `has` and picks the stream's shard from it
 * instead of asking again. Undefined outside a scope or without a lookup.
 */
export function lookupInThisRequest(id) {
  return scopes.getStore()?.records.get(id);
}

/** The request's scope; outside one (no `respond` around the call), a scope of this call alone. */
function current() {
  return scopes.getStore() ?? new RequestScope();
}

function track(inFlight, key, written) {
  let set = inFlight.get(key);
  if (!set) inFlight.set(key, (set = new Set()));
  set.add(written);
  written.finally(() => {
    set.delete(written);
    if (set.size === 0 && inFlight.get(key) === set) inFlight.delete(key);
  });
}

/**
 * The first shard among `id`'s candidates that has its record: `{ shard, record, streamOpen }` (whether
 * the session has a stream there), or null.
 */
async function locate(mesh, id) {
  for (const shard of mesh.candidates(id)) {
    const { record, stream_open } = await mesh.callShard(shard, SHARD_PATH.GET_SESSION, { session: id });
    if (record) return { shard, record, streamOpen: stream_open === true };
  }
  return null;
}

/**
 * The shard holding `id`'s record (where its stream opens too): the layout alone answers unless a
 * resharding is in progress (`PREVIOUS_SHARD_COUNTS`), when the record may be on a previous layout's
 * shard; this request's own lookup answers then if it made one.
 */
export async function home(mesh, id) {
  const candidates = mesh.candidates(id);
  if (candidates.length === 1) return candidates[0];
  const found = (await lookupInThisRequest(id)) ?? (await locate(mesh, id));
  return found?.shard ?? candidates[0];
}

/** Removes `session` from `topic`'s index on its shard in every layout in service. */
async function unsubscribe(mesh, topic, session) {
  for (const shard of mesh.candidates(topic)) {
    await mesh.callShard(shard, SHARD_PATH.UNSUBSCRIBE, { topic, session });
  }
}

// tmcp's InfoSessionManager on the mesh: client info, capabilities and log level live in the session's
// record in its shard's SQLite, and resource subscriptions in the subscriber index of the topic's
// shard. Unlike KV, a read after a write sees it: the seed's targeted sends that found no subscribers
// (KV's eventual consistency) cannot happen here.
//
// tmcp calls the setters without awaiting them, so each session's writes from this isolate run in
// order on a chain; reads of that session (and of a topic's subscribers) wait for the writes this
// isolate has in flight, and `settled(id)` lets the Worker hold a response until they land.

import { SHARD_PATH } from "./protocol.js";

const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/**
 * How long one isolate reuses a session's record for its reads: tmcp reads capabilities, client info
 * and log level one after another for every request, and the 404 check reads it before that. A write
 * from this isolate drops the copy at once.
 */
export const RECORD_REUSE_MS = 100;

/** The runtime-free core of `MeshInfoSessionManager` (src/index.js); see `MeshStreams` for `parts`. */
export class MeshInfo {
  #mesh;
  #waitUntil;
  #now;
  /** Session id -> the tail of its write chain. */
  #writes = new Map();
  /** Topic -> index writes in flight. */
  #topicWrites = new Map();
  /** Session id -> { at, record: Promise<{ shard, record } > }. */
  #records = new Map();
  /** Session id -> the fields of a record being created (tmcp sets info and capabilities in one tick). */
  #creating = new Map();

  constructor({ mesh, waitUntil = () => {}, now = Date.now }) {
    this.#mesh = mesh;
    this.#waitUntil = waitUntil;
    this.#now = now;
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
      const shard = await this.#home(mesh, id);
      await mesh.callShard(shard, SHARD_PATH.SESSION_UPDATE, { session: id, log_level: level });
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
    await Promise.allSettled([...(this.#topicWrites.get(uri) ?? [])]);
    const mesh = this.#mesh();
    const sessions = new Set();
    for (const shard of mesh.candidates(uri)) {
      const reply = await mesh.callShard(shard, SHARD_PATH.TOPIC_SUBSCRIBERS, { topic: uri });
      for (const session of reply.sessions) sessions.add(session);
    }
    return [...sessions];
  }

  addSubscription(id, uri) {
    const written = this.#write(id, async (mesh) => {
      const shard = await this.#home(mesh, id);
      await Promise.all([
        mesh.callShard(shard, SHARD_PATH.SESSION_UPDATE, { session: id, add_subscription: uri }),
        mesh.callShard(mesh.shardOf(uri), SHARD_PATH.TOPIC_SUBSCRIBE, { topic: uri, session: id }),
      ]);
    });
    this.#trackTopic(uri, written);
  }

  removeSubscription(id, uri) {
    const written = this.#write(id, async (mesh) => {
      const shard = await this.#home(mesh, id);
      await mesh.callShard(shard, SHARD_PATH.SESSION_UPDATE, { session: id, remove_subscription: uri });
      await unsubscribe(mesh, uri, id);
    });
    this.#trackTopic(uri, written);
  }

  /** Forgets the session: its record (the shard also closes its stream) and its topic-index entries. */
  delete(id) {
    this.#write(id, async (mesh) => {
      const found = await locate(mesh, id);
      if (!found) return;
      await mesh.callShard(found.shard, SHARD_PATH.SESSION_END, { session: id });
      // Index entries live on other shards; a stale one only costs a "missing" on a later send.
      for (const topic of found.record.subscriptions ?? []) {
        await unsubscribe(mesh, topic, id).catch((error) =>
          console.warn(`tmcp-mesh: index cleanup for ${id} failed: ${error.message}`),
        );
      }
    });
  }

  /** Whether the session exists (has a record): the Worker answers 404 for one that does not. */
  async exists(id) {
    return (await this.#record(id)) !== null;
  }

  /** Resolves once every write for `id` this isolate has started has landed (or failed). */
  settled(id) {
    return this.#writes.get(id) ?? Promise.resolve();
  }

  /** Whether this isolate has writes for `id` in flight. */
  writing(id) {
    return this.#writes.has(id);
  }

  async #record(id) {
    await this.settled(id);
    const cached = this.#records.get(id);
    if (cached && this.#now() - cached.at <= RECORD_REUSE_MS) return (await cached.found)?.record ?? null;
    const found = locate(this.#mesh(), id);
    this.#records.set(id, { at: this.#now(), found });
    try {
      return (await found)?.record ?? null;
    } catch (error) {
      this.#records.delete(id);
      throw error;
    }
  }

  /** The shard holding `id`'s record: the layout alone answers unless a resharding is in progress. */
  async #home(mesh, id) {
    const candidates = mesh.candidates(id);
    if (candidates.length === 1) return candidates[0];
    return (await locate(mesh, id))?.shard ?? candidates[0];
  }

  /** Gathers the fields tmcp sets at `initialize` in one tick into one record write. */
  #create(id, fields) {
    const pending = this.#creating.get(id);
    if (pending) {
      Object.assign(pending, fields);
      return;
    }
    const record = { ...fields };
    this.#creating.set(id, record);
    this.#write(id, async (mesh) => {
      this.#creating.delete(id);
      const now = this.#now();
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
      await mesh.callShard(existing?.shard ?? mesh.shardOf(id), SHARD_PATH.SESSION_REGISTER, {
        session: id,
        record: full,
      });
    });
  }

  /** Runs `task` after the session's earlier writes; failures are logged (tmcp does not await). */
  #write(id, task) {
    this.#records.delete(id);
    const previous = this.#writes.get(id) ?? Promise.resolve();
    const written = previous
      .then(() => task(this.#mesh()))
      .catch((error) => console.error(`tmcp-mesh: writing session ${id} failed: ${error.message}`))
      .finally(() => {
        if (this.#writes.get(id) === written) this.#writes.delete(id);
        this.#records.delete(id);
      });
    this.#writes.set(id, written);
    this.#waitUntil(written);
    return written;
  }

  #trackTopic(uri, written) {
    let inFlight = this.#topicWrites.get(uri);
    if (!inFlight) this.#topicWrites.set(uri, (inFlight = new Set()));
    inFlight.add(written);
    written.finally(() => {
      inFlight.delete(written);
      if (inFlight.size === 0 && this.#topicWrites.get(uri) === inFlight) this.#topicWrites.delete(uri);
    });
  }
}

/** The first shard among `id`'s candidates that has its record: `{ shard, record }`, or null. */
async function locate(mesh, id) {
  for (const shard of mesh.candidates(id)) {
    const { record } = await mesh.callShard(shard, SHARD_PATH.SESSION_GET, { session: id });
    if (record) return { shard, record };
  }
  return null;
}

/** Removes `session` from `topic`'s index on its shard in every layout in service. */
async function unsubscribe(mesh, topic, session) {
  for (const shard of mesh.candidates(topic)) {
    await mesh.callShard(shard, SHARD_PATH.TOPIC_UNSUBSCRIBE, { topic, session });
  }
}

// tmcp's StreamSessionManager on the mesh: each session's GET stream is a hibernatable WebSocket into
// the shard its id hashes to; sends fan out per shard (see mesh.js).

import { home, lookupInThisRequest } from "./info.js";
import { relay } from "./relay.js";

/**
 * The runtime-free core of `MeshStreamSessionManager` (src/index.js): `mesh()` returns the `Mesh` to
 * use, `waitUntil(promise)` keeps a send alive past the response that started it.
 */
export class MeshStreams {
  #mesh;
  #waitUntil;
  #timers;

  /**
   * @param {{ mesh: () => import("./mesh.js").Mesh, waitUntil?: (p: Promise<unknown>) => void,
   *           timers?: any }} parts
   */
  #requireSession;

  /**
   * @param {{ mesh: () => import("./mesh.js").Mesh, waitUntil?: (p: Promise<unknown>) => void,
   *           timers?: any, requireSession?: boolean }} parts `requireSession` (default true): a
   *   stream needs its session's record (false for the SSE transport, whose stream opens the session)
   */
  constructor({ mesh, waitUntil = () => {}, timers = globalThis, requireSession = true }) {
    this.#mesh = mesh;
    this.#waitUntil = waitUntil;
    this.#timers = timers;
    this.#requireSession = requireSession;
  }

  /**
   * Opens `id`'s stream on its shard and relays it into `controller`. Rejects if the shard refused
   * (another stream is open for the session: 409; the shard is full: 503).
   * @param {string} id
   * @param {ReadableStreamDefaultController} controller
   */
  async create(id, controller) {
    const mesh = this.#mesh();
    const ws = await mesh.connect(id, await home(mesh, id), { requireSession: this.#requireSession });
    relay(ws, controller, mesh.settings.keepaliveMs, this.#timers);
  }

  /**
   * A GET that resumes `id`'s stream after `lastEventId`, which tmcp's transport cannot do (it does
   * not pass `Last-Event-ID` on): the session's shard replays what the client missed from its log
   * and takes over a stream still open, and the response relays the socket as `create` does.
   * @param {string} id
   * @param {string} lastEventId
   * @returns {Promise<Response>}
   */
  async resume(id, lastEventId) {
    const mesh = this.#mesh();
    const ws = await mesh.connect(id, await home(mesh, id), { lastEventId });
    let finish = () => {};
    const body = new ReadableStream({
      start: (controller) => {
        finish = relay(ws, controller, mesh.settings.keepaliveMs, this.#timers);
      },
      cancel: () => finish("cancelled"),
    });
    const headers = { "content-type": "text/event-stream", "cache-control": "no-cache", "mcp-session-id": id };
    return new Response(body, { headers });
  }

  /** Closes `id`'s stream (the shard closes the socket; the relay ends the body). */
  async delete(id) {
    await this.#mesh().closeStream(id);
  }

  /**
   * Whether `id` has a live stream. tmcp asks right after `respond` looked the session up in the same
   * request, and that lookup says so too: no second call then.
   */
  async has(id) {
    const found = await lookupInThisRequest(id);
    if (found) return found.streamOpen;
    return this.#mesh().has(id);
  }


  /**
   * Sends `data` (tmcp frames it as an SSE event) to `sessions`, or to every session. Resolves to
   * `{ delivered, failed, missing }`; kept alive with `waitUntil`, so a send that tmcp starts after
   * the response (its broadcast listener) is not cut off when the invocation ends.
   * @param {string[] | undefined} sessions
   * @param {string} data
   */
  send(sessions, data) {
    const sent = this.#mesh().send(sessions, data);
    this.#waitUntil(sent.catch((error) => console.error(`tmcp-mesh: send failed: ${error.message}`)));
    return sent;
  }

  /** Every shard's status (`{ shard, sessions, registered, instance }`): who holds how many streams. */
  async status() {
    return this.#mesh().status();
  }
}

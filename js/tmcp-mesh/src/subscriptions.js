// tmcp's SubscriptionManager on the mesh: a `subscriptions/listen` stream served by one isolate hears
// the `changed()` notifications any isolate makes. Each listen stream is a socket into its shard (a
// listen stream of the mesh, with its filter), indexed under the topics it asked for (crate::
// listen_index, through the wasm exports); a notification goes to the listen streams indexed under
// its topic, through their shards, and arrives here as the shard framed it. The callbacks (tmcp's
// sink for the stream) stay with the isolate holding the stream, as tmcp requires.

import { LISTENER_EVENT_NULL_TAIL, LISTENER_ID_PREFIX } from "./protocol.js";

const decoder = new TextDecoder();
const SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId";

/** A shard's listen-stream frame (SSE bytes up to the subscription id) as the notification it carries. */
export function notificationOf(frame) {
  const text = (typeof frame === "string" ? frame : decoder.decode(frame)) + LISTENER_EVENT_NULL_TAIL;
  const data = text
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5))
    .join("\n");
  const notification = JSON.parse(data);
  const meta = notification.params?._meta;
  if (meta) {
    delete meta[SUBSCRIPTION_ID];
    if (Object.keys(meta).length === 0) delete notification.params._meta;
  }
  return notification;
}

/** The runtime-free core of `MeshSubscriptionManager` (src/index.js); `mesh()` returns the `Mesh`. */
export class MeshSubscriptions {
  #mesh;
  /** origin -> subscription id -> { ws, callbacks, closing } */
  #open = new Map();

  /** @param {{ mesh: () => import("./mesh.js").Mesh }} parts */
  constructor({ mesh }) {
    this.#mesh = mesh;
  }

  /**
   * Registers `subscription` ({ id, origin, filters }): indexes a new listen stream under its topics,
   * opens its socket, acknowledges, then hands each notification to `callbacks.send` in order.
   * False if the origin already has a subscription with this id.
   */
  async create(subscription, callbacks) {
    const { id, origin, filters } = subscription;
    let open = this.#open.get(origin);
    if (!open) this.#open.set(origin, (open = new Map()));
    if (open.has(id)) return false;
    const record = { ws: null, callbacks, closing: null };
    open.set(id, record);
    try {
      const mesh = this.#mesh();
      const listener = LISTENER_ID_PREFIX + crypto.randomUUID();
      const { flags, topics } = mesh.routing.listenerIndex(
        filters.toolsListChanged === true,
        filters.promptsListChanged === true,
        filters.resourcesListChanged === true,
        filters.resourceSubscriptions ?? [],
      );
      for (const topic of topics) await mesh.subscribe(topic, listener);
      record.ws = await mesh.connectListener(listener, flags, topics);
      await callbacks.acknowledge();
    } catch (error) {
      open.delete(id);
      if (open.size === 0) this.#open.delete(origin);
      record.ws?.close(1000, "failed");
      throw error;
    }
    // Notifications queue behind the acknowledgement and each other: tmcp wants them in order.
    let queue = Promise.resolve();
    record.ws.addEventListener("message", (event) => {
      const frame = typeof event.data === "string" ? event.data : new Uint8Array(event.data);
      queue = queue.then(() => callbacks.send(notificationOf(frame))).catch(() => {});
    });
    record.ws.addEventListener("close", () => void this.close(id, origin, "closed"));
    record.ws.binaryType = "arraybuffer";
    record.ws.accept();
    return true;
  }

  /** Sends `notification` to every listen stream that asked for it, on any isolate. */
  async send(notification) {
    await this.#mesh().sendToListeners(notification);
  }

  /** Closes one subscription (its socket, so its shard drops its index entries). */
  async close(id, origin, reason) {
    const open = this.#open.get(origin);
    const record = open?.get(id);
    if (!record) return false;
    if (record.closing) return record.closing;
    record.closing = (async () => {
      try {
        record.ws?.close(1000, reason);
      } catch {
        // Already closed.
      }
      try {
        await record.callbacks.close(reason);
      } finally {
        open.delete(id);
        if (open.size === 0) this.#open.delete(origin);
      }
      return true;
    })();
    return record.closing;
  }

  /** Closes every subscription, or those of `origin`. */
  async closeAll(origin, reason = "cancelled") {
    const targets = [];
    for (const [stored, open] of this.#open) {
      if (origin !== undefined && stored !== origin) continue;
      for (const id of open.keys()) targets.push([id, stored]);
    }
    await Promise.all(targets.map(([id, stored]) => this.close(id, stored, reason)));
  }
}

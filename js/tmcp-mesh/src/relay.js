// The per-message path of a tmcp GET stream: a shard's socket relayed into tmcp's stream controller.
// The shard sends each event already framed as the stream's SSE bytes (binary messages), so a message
// is enqueued as it arrived: no parse, no re-encode, no copy beyond the view.

import { KEEPALIVE_EVENT } from "./protocol.js";

const encoder = new TextEncoder();

/**
 * Events a client may leave unread before its stream is cut off (it reconnects; nothing is buffered
 * without bound). tmcp's stream counts chunks, not bytes: one event is one chunk.
 */
export const MAX_UNREAD_EVENTS = 4096;

/**
 * Pipes `ws` into `controller` until either ends. A keepalive comment every `keepaliveMs` is also how
 * a vanished client is noticed (the write fails, or the runtime cancels the body and tmcp deletes the
 * stream). `timers` is `{ setInterval, clearInterval }` (passed in for tests).
 */
export function relay(ws, controller, keepaliveMs, timers = globalThis) {
  let timer = null;
  let open = true;
  const finish = (reason) => {
    if (!open) return;
    open = false;
    if (timer !== null) timers.clearInterval(timer);
    try {
      ws.close(1000, reason);
    } catch {
      // Already closed.
    }
    try {
      controller.close();
    } catch {
      // The body was cancelled or errored already.
    }
  };
  const write = (bytes) => {
    if (!open) return;
    if (controller.desiredSize !== null && controller.desiredSize < 1 - MAX_UNREAD_EVENTS) {
      return finish("client too slow");
    }
    try {
      controller.enqueue(bytes);
    } catch {
      finish("sse closed");
    }
  };
  ws.addEventListener("message", (event) => {
    write(typeof event.data === "string" ? encoder.encode(event.data) : new Uint8Array(event.data));
  });
  // The shard closed the socket (a deleted or taken-over session) or it failed: the stream ends.
  ws.addEventListener("close", () => finish("closed"));
  ws.addEventListener("error", () => finish("error"));
  // Blob (the standard default) would cost an async read per message.
  ws.binaryType = "arraybuffer";
  ws.accept();
  timer = timers.setInterval(() => write(encoder.encode(KEEPALIVE_EVENT)), keepaliveMs);
  return finish;
}

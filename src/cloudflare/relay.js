// The per-message path of a GET or listen stream, in JS so that wasm never wakes per message (see
// relay.rs, which sets this up). The shard sends frames that are already the stream's SSE bytes
// (binary WebSocket messages), so a message is enqueued as it arrived: no parse, no re-encode. A
// listen stream's frames stop where its subscription id goes; the relay appends the stream's own
// tail (crate::frames), still without parsing.

const encoder = new TextEncoder();

// Streams this isolate cut off for being over budget since Rust last took the count (metrics.rs).
let cutoffs = 0;

/// The cut-off count since the last call, reset.
export function takeCutoffs() {
  const taken = cutoffs;
  cutoffs = 0;
  return taken;
}

// Whether `bytes` starts with `prefix` (an event id's "id: ": resumable events end a poll).
function startsWith(bytes, prefix) {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function concat(head, tail) {
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head, 0);
  joined.set(tail, head.length);
  return joined;
}

/// An SSE response body with a byte budget for what the client has not read yet. Past the budget
/// the stream is cut off (the client resumes from the shard's log with Last-Event-ID) rather than
/// buffered without bound. A single chunk larger than the budget is admitted into an empty queue.
export class SseBody {
  constructor(budgetBytes) {
    this.budget = budgetBytes;
    this.open = true;
    this.onEnd = null;
    this.readable = new ReadableStream(
      {
        start: (controller) => {
          this.controller = controller;
        },
        cancel: () => this.end(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: budgetBytes }),
    );
  }

  /// Enqueues bytes; false if the stream is closed or was just cut off for being over budget.
  writeBytes(bytes) {
    if (!this.open) return false;
    const queued = this.budget - this.controller.desiredSize;
    if (queued > 0 && queued + bytes.byteLength > this.budget) {
      cutoffs++;
      // The same structured line as crate::log_event's, once per stream cut, never per message.
      console.warn(
        JSON.stringify({
          level: "warn",
          event: "stream_cut_off",
          message: `the client stopped reading: ${queued} bytes unread, budget ${this.budget}`,
          kind: "backpressure",
        }),
      );
      this.close();
      return false;
    }
    try {
      this.controller.enqueue(bytes);
    } catch (_) {
      // The runtime errored or closed the body (the client went away): the stream is over.
      this.end();
      return false;
    }
    return true;
  }

  /// For the few writes Rust makes (the retry hint, a listen stream's first event).
  write(text) {
    return this.writeBytes(encoder.encode(text));
  }

  close() {
    if (!this.open) return;
    try {
      this.controller.close();
    } catch (_) {
      // Already errored or closed by the runtime.
    }
    this.end();
  }

  end() {
    if (!this.open) return;
    this.open = false;
    const onEnd = this.onEnd;
    this.onEnd = null;
    if (onEnd) onEnd();
  }
}

/// Pipes the shard socket `ws` into `body` until either ends: `keepalive` every `keepaliveMs` (also
/// how a vanished client is noticed), at most `maxEvents` resumable events (those starting with
/// `eventIdPrefix`) when it is non-zero (SSE polling), and, with `listenerTail` (a listen stream),
/// each frame completed with it.
export function relay(ws, body, keepaliveMs, maxEvents, listenerTail, keepalive, eventIdPrefix) {
  let left = maxEvents > 0 ? maxEvents : -1;
  const tail = listenerTail === undefined || listenerTail === null ? null : encoder.encode(listenerTail);
  const keepaliveBytes = encoder.encode(keepalive);
  const idPrefix = encoder.encode(eventIdPrefix);
  let timer = null;
  const finish = (reason) => {
    if (timer !== null) clearInterval(timer);
    timer = null;
    try {
      ws.close(1000, reason);
    } catch (_) {
      // Already closed.
    }
    body.close();
  };
  body.onEnd = () => finish("sse closed");
  ws.addEventListener("message", (event) => {
    let bytes = typeof event.data === "string" ? encoder.encode(event.data) : new Uint8Array(event.data);
    const resumable = startsWith(bytes, idPrefix);
    if (tail !== null) bytes = concat(bytes, tail);
    if (!body.writeBytes(bytes)) return finish("sse closed");
    if (resumable && left > 0 && --left === 0) finish("poll complete");
  });
  // The shard closed the socket (a deleted session) or it failed: the stream ends, and the client
  // reconnects.
  ws.addEventListener("close", () => finish("closed"));
  ws.addEventListener("error", () => finish("error"));
  // The standard default (and workerd's from 2025 compatibility dates) is Blob, which would cost an
  // async read per message.
  ws.binaryType = "arraybuffer";
  ws.accept();
  timer = setInterval(() => {
    if (!body.writeBytes(keepaliveBytes.slice())) finish("sse closed");
  }, keepaliveMs);
}

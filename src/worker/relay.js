// The per-message path of a GET or listen stream, in JS so that wasm never wakes per message (see
// relay.rs, which sets this up). The shard sends frames that are already the stream's SSE bytes
// (binary WebSocket messages), so a message is enqueued as it arrived: no parse, no re-encode.

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const KEEPALIVE = encoder.encode(": keepalive\n\n");

// A frame with an event id ("id:" first) is resumable; only those end a poll (STREAM_MAX_EVENTS).
function hasEventId(bytes) {
  return bytes.length > 2 && bytes[0] === 0x69 && bytes[1] === 0x64 && bytes[2] === 0x3a;
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

// A listen stream's notifications carry its subscription id in params._meta: the one stream kind
// whose bytes differ per recipient, so the one that parses (only its own messages).
function tagSubscription(bytes, key, value) {
  const text = decoder.decode(bytes);
  const lines = text.split("\n");
  const data = [];
  let event = null;
  for (const line of lines) {
    if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    else if (line.startsWith("event:")) event = line.slice(line.startsWith("event: ") ? 7 : 6);
  }
  if (data.length === 0) return bytes;
  let message;
  try {
    message = JSON.parse(data.join("\n"));
  } catch (_) {
    return bytes;
  }
  if (message === null || typeof message !== "object") return bytes;
  const params = (message.params ??= {});
  const meta = (params._meta ??= {});
  meta[key] = value;
  return encoder.encode((event === null ? "" : `event: ${event}\n`) + `data: ${JSON.stringify(message)}\n\n`);
}

/// Pipes the shard socket `ws` into `body` until either ends: keepalives every `keepaliveMs` (also
/// how a vanished client is noticed), at most `maxEvents` resumable events when it is non-zero
/// (SSE polling), and, with `tagValue` (a listen stream), each notification tagged with it.
export function relay(ws, body, keepaliveMs, maxEvents, tagKey, tagValue) {
  let left = maxEvents > 0 ? maxEvents : -1;
  const tag = tagValue === undefined || tagValue === null ? null : JSON.parse(tagValue);
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
    const resumable = hasEventId(bytes);
    if (tag !== null) bytes = tagSubscription(bytes, tagKey, tag);
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
    if (!body.writeBytes(KEEPALIVE.slice())) finish("sse closed");
  }, keepaliveMs);
}

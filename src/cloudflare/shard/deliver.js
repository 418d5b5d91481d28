// A shard's send, per socket, in JS (see sockets.rs and crate::delivery): one call from wasm hands
// over the frame and the keys of the stream classes that take it, and this loop sends and counts, so
// wasm is not crossed per socket and the frame is not re-encoded per socket. It holds no delivery rule:
// a socket takes the send if its attachment's class is among the keys.

const OPEN = 1;

function classOf(ws) {
  const attachment = ws.deserializeAttachment();
  return attachment ? attachment.class : undefined;
}

/// Sends `frame` (the SSE bytes with the event's id) to the session streams and `listenerFrame` (the
/// event without an id, up to the subscription id each listen stream's relay appends) to the listen
/// streams whose class is admitted. `ids`: the sessions addressed, or null for every stream on this
/// shard. `everySession`: every session class is admitted, so a broadcast reads no attachment.
/// Returns [delivered, failed, ...ids with no open socket].
export function deliver(
  state,
  sessionTag,
  listenerTag,
  frame,
  listenerFrame,
  ids,
  sessionClasses,
  everySession,
  listenerClasses,
) {
  let delivered = 0;
  let failed = 0;
  const missing = [];
  const sessions = new Set(sessionClasses);
  const listeners = new Set(listenerClasses);
  const sessionBytes = frame.slice();
  // Most sends reach no listen stream: their frame is copied out of wasm memory only when one does.
  let listenerCopy = null;
  const listenerBytes = () => (listenerCopy ??= listenerFrame.slice());
  const send = (ws, bytes) => {
    try {
      ws.send(bytes);
      delivered++;
    } catch (_) {
      // A socket that cannot be written is dead: close it so it stops counting.
      failed++;
      try {
        ws.close(1011, "send failed");
      } catch (_) {}
    }
  };
  if (ids === null || ids === undefined) {
    if (everySession || sessions.size > 0) {
      for (const ws of state.getWebSockets(sessionTag)) {
        if (ws.readyState !== OPEN) continue;
        if (!everySession && !sessions.has(classOf(ws))) continue;
        send(ws, sessionBytes);
      }
    }
    if (listeners.size > 0) {
      for (const ws of state.getWebSockets(listenerTag)) {
        if (ws.readyState !== OPEN) continue;
        if (!listeners.has(classOf(ws))) continue;
        send(ws, listenerBytes());
      }
    }
  } else {
    for (const id of ids) {
      let open = 0;
      for (const ws of state.getWebSockets(id)) {
        if (ws.readyState !== OPEN) continue;
        open++;
        const cls = classOf(ws);
        if (listeners.has(cls)) send(ws, listenerBytes());
        else if (sessions.has(cls)) send(ws, sessionBytes);
      }
      if (open === 0) missing.push(id);
    }
  }
  return [delivered, failed, ...missing];
}

// A shard's send, per socket, in JS (see shard.rs and crate::delivery): one call from wasm hands
// over the frame and the audience, and this loop sends and counts, so wasm is not crossed per socket
// and the frame is not re-encoded per socket.

const OPEN = 1;

function admitted(attachment, blockedLevels, listenerKey) {
  const listener = attachment ? attachment.listener : undefined;
  if (listener) {
    if (listenerKey === undefined || listenerKey === null) return false;
    return listenerKey === "*" || listener[listenerKey] === true;
  }
  const level = attachment ? attachment.log_level : undefined;
  return !(level && blockedLevels.includes(level));
}

/// Sends `frame` (the SSE bytes with the event's id) to session streams and `listenerFrame` (the
/// same event without an id: listen streams do not resume) to the listen streams it admits.
/// `ids`: the sessions addressed, or null for everyone on this shard. Returns
/// [delivered, failed, ...ids with no open socket].
export function deliver(state, sessionTag, listenerTag, frame, listenerFrame, ids, blockedLevels, listenerKey) {
  let delivered = 0;
  let failed = 0;
  const missing = [];
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
    const filterSessions = blockedLevels.length > 0;
    for (const ws of state.getWebSockets(sessionTag)) {
      if (ws.readyState !== OPEN) continue;
      if (filterSessions && !admitted(ws.deserializeAttachment(), blockedLevels, listenerKey)) continue;
      send(ws, sessionBytes);
    }
    if (listenerKey !== undefined && listenerKey !== null) {
      for (const ws of state.getWebSockets(listenerTag)) {
        if (ws.readyState !== OPEN) continue;
        if (listenerKey !== "*" && !admitted(ws.deserializeAttachment(), blockedLevels, listenerKey)) continue;
        send(ws, listenerBytes());
      }
    }
  } else {
    for (const id of ids) {
      let open = 0;
      for (const ws of state.getWebSockets(id)) {
        if (ws.readyState !== OPEN) continue;
        open++;
        const attachment = ws.deserializeAttachment();
        if (!admitted(attachment, blockedLevels, listenerKey)) continue;
        send(ws, attachment && attachment.listener ? listenerBytes() : sessionBytes);
      }
      if (open === 0) missing.push(id);
    }
  }
  return [delivered, failed, ...missing];
}

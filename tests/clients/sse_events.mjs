// Reads a fetch Response's body as Server-Sent Events, for the raw-HTTP clients (tests/clients/*.mjs,
// loadtest/sse_probe.mjs): each complete event is handed to `onEvent({ event, id, data })` as it
// arrives (`event` defaults to "message", `data` joins its data lines).

/**
 * @param {Response} response
 * @param {(event: { event: string, id: string | null, data: string }) => void} onEvent
 * @returns {{ stop: () => Promise<void>, done: Promise<void> }}
 */
export function readSse(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const done = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ done: true }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { event: "message", id: null, data: "" };
        for (const line of block.split("\n")) {
          const value = line.slice(line.indexOf(":") + 1).trim();
          if (line.startsWith("event:")) event.event = value;
          else if (line.startsWith("id:")) event.id = value;
          else if (line.startsWith("data:")) event.data += value;
        }
        if (event.id !== null || event.data) onEvent(event);
      }
    }
  })();
  return { stop: () => reader.cancel().catch(() => {}), done };
}

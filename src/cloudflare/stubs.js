// Calls to shard and coordinator objects (see stubs.rs): the request is built and the answer read in
// JS, so a call crosses into wasm once for its result instead of once per body chunk and header.
// Every call names its object in `nameHeader` (protocol::HEADER_OBJECT_NAME): a shard reached without
// its id's name (the local dev registry's cross-process proxy) learns its number from it.

/// POSTs a JSON `body` to `url` on object `name`; resolves to [status, text].
export async function callObject(namespace, name, nameHeader, url, body) {
  const response = await namespace.getByName(name).fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", [nameHeader]: name },
    body,
  });
  return [response.status, await response.text()];
}

/// POSTs like `callObject` but resolves as soon as the headers came (a call answered headers first,
/// see crate::headers_first): [status, the response, its body still open] for a 2xx, else
/// [status, text].
export async function callObjectHeadersFirst(namespace, name, nameHeader, url, body) {
  const response = await namespace.getByName(name).fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", [nameHeader]: name },
    body,
  });
  if (response.status >= 200 && response.status < 300) return [response.status, response];
  return [response.status, await response.text()];
}

/// The rest of a headers-first answer: its body's text. Rejects if the object failed the body.
export function readBody(response) {
  return response.text();
}

/// The object side of a headers-first answer: a body whose first read runs `produce` (a function
/// returning a promise of the reply's text) and ends with its text, or fails with its error. With no
/// high-water mark nothing is pulled before a read, and the runtime reads a body only once its
/// headers are on their way: the work runs after them, without waiting for a timer turn.
export function bodyOnRead(produce) {
  return new ReadableStream(
    {
      async pull(controller) {
        try {
          controller.enqueue(new TextEncoder().encode(await produce()));
          controller.close();
        } catch (error) {
          controller.error(error instanceof Error ? error : new Error(String(error)));
        }
      },
    },
    { highWaterMark: 0 },
  );
}

/// Opens a WebSocket to `url` on object `name`; resolves to [101, socket, the `header` value] or,
/// when the object refused, [status, null, text].
export async function upgradeObject(namespace, name, nameHeader, url, header) {
  const response = await namespace.getByName(name).fetch(url, {
    headers: { upgrade: "websocket", [nameHeader]: name },
  });
  if (response.status === 101 && response.webSocket) {
    return [101, response.webSocket, response.headers.get(header)];
  }
  return [response.status, null, await response.text()];
}

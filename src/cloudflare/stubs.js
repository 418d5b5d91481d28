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

// The two things tmcp's transport leaves to the session manager's Worker, done around
// `transport.respond`: a request naming a session that does not exist gets 404 (the MCP rule that
// tells a client to initialize again; tmcp would serve it with empty session info), and a response is
// held until the session writes it caused have landed, so the client's next request, on any isolate,
// reads them (tmcp fires its setters without awaiting them). Each request runs in its own scope
// (info.js): nothing it waits for belongs to another request.

/** JSON-RPC code for an unknown session, as the Rust server answers it. */
export const CODE_SESSION_NOT_FOUND = -32001;

const SESSION_HEADER = "mcp-session-id";
const LAST_EVENT_ID_HEADER = "last-event-id";

/**
 * `transport.respond(request)` with the session rules above, and a GET with `Last-Event-ID` resumed
 * through `streams` (replayed from the shard's log); null when the transport does not serve the
 * request (another path).
 * @param {{ respond(request: Request): Promise<Response | null> }} transport
 * @param {Request} request
 * @param {import("./info.js").MeshInfo} info
 * @param {import("./streams.js").MeshStreams} [streams] the stream manager, for resumed GETs
 */
export async function respond(transport, request, info, streams) {
  try {
    return await info.scope((scope) => respondChecked(transport, request, info, streams, scope));
  } catch (error) {
    // A shard or the coordinator failed (or tmcp threw): a JSON-RPC error the client can read, and
    // the cause in the log, instead of the runtime's bare 500.
    console.error(`tmcp-mesh: ${request.method} failed: ${error?.stack ?? error}`);
    return meshUnavailable(error);
  }
}

async function respondChecked(transport, request, info, streams, scope) {
  const session = request.headers.get(SESSION_HEADER);
  if (session && request.method !== "OPTIONS" && !(await info.exists(session))) {
    return sessionNotFound();
  }
  const lastEventId = request.headers.get(LAST_EVENT_ID_HEADER);
  if (streams && session && lastEventId && request.method === "GET") return streams.resume(session, lastEventId);
  const response = await transport.respond(request);
  // tmcp forgets a session without awaiting it: the 200 goes back once it is gone.
  if (session && request.method === "DELETE") await scope.settled(session);
  const minted = response?.headers.get(SESSION_HEADER);
  if (!response || !response.body || !minted || request.method !== "POST") return response;
  return new Response(response.body.pipeThrough(holdFor(scope, minted)), response);
}

/** A 404 with the JSON-RPC error body MCP clients expect for an expired or deleted session. */
export function sessionNotFound() {
  const body = { jsonrpc: "2.0", id: null, error: { code: CODE_SESSION_NOT_FOUND, message: "Session not found" } };
  return new Response(JSON.stringify(body), { status: 404, headers: { "content-type": "application/json" } });
}

/** JSON-RPC code for an internal error. */
export const CODE_INTERNAL_ERROR = -32603;

/** 503 (with Retry-After) when a shard said it is full or unreachable, else 500; the message names the cause. */
export function meshUnavailable(error) {
  const unavailable = error?.status === 503;
  const message = `Internal error: ${error?.message ?? error}`;
  const body = { jsonrpc: "2.0", id: null, error: { code: CODE_INTERNAL_ERROR, message } };
  const headers = { "content-type": "application/json", ...(unavailable ? { "retry-after": "1" } : {}) };
  return new Response(JSON.stringify(body), { status: unavailable ? 503 : 500, headers });
}

/** Passes chunks through, each after the writes for the session this request has in flight. */
function holdFor(scope, session) {
  return new TransformStream({
    async transform(chunk, controller) {
      if (scope.writing(session)) await scope.settled(session);
      controller.enqueue(chunk);
    },
  });
}

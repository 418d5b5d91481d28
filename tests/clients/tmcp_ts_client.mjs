// The official TypeScript SDK client against the tmcp example on the mesh (examples/tmcp): many
// sessions spread over the shards, 409 for a second GET stream, a broadcast reaching each exactly
// once, resources/updated reaching exactly the subscribers (through tmcp's own server.changed path
// when the example runs with INCREMENT_NOTIFY=changed), DELETE then 404, a dropped client's stream
// removed from its shard, and a GET resumed with Last-Event-ID getting exactly what it missed. Usage: node tmcp_ts_client.mjs <url> <admin-token> [sessions].
// Prints `sessions: <id> ...` and `per-shard: <n> ...` for tests/e2e.rs to check against the Rust
// routing, one line per check and `tmcp-ts: N passed, M failed`; exits non-zero on any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

import { readSse } from "./sse_events.mjs";
import { check, reachesEachExactlyOnce, reachesExactlyTheSubscribers, sleep, steps, waitFor } from "./steps.mjs";

const [url, token, count = "24"] = process.argv.slice(2);
if (!url || !token) {
  console.error("usage: node tmcp_ts_client.mjs <url> <admin-token> [sessions]");
  process.exit(2);
}
const SESSIONS = Number(count);
// After everything expected has arrived, how long to keep listening for a duplicate.
const SETTLE_MS = 500;
const COUNTER = "mesh://counter";

async function shardStatus() {
  const response = await fetch(new URL("/mesh/status", url), { headers: { authorization: `Bearer ${token}` } });
  check(response.ok, `/mesh/status answered ${response.status}`);
  return (await response.json()).shards;
}

const liveStreams = async () => (await shardStatus()).reduce((sum, shard) => sum + shard.sessions, 0);

const { step, finish } = steps("tmcp-ts");

const clients = [];
for (let i = 0; i < SESSIONS; i++) {
  const client = new Client({ name: `tmcp-ts-${i}`, version: "1.0.0" }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const seen = { messages: [], updates: [] };
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => seen.messages.push(n.params.data?.text));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => seen.updates.push(n.params.uri));
  await client.connect(transport);
  clients.push({ client, transport, seen });
}

await step("every_session_holds_a_stream_on_its_shard", async () => {
  // The SDK opens its GET stream after `initialized`, in the background.
  await waitFor(async () => (await liveStreams()) === SESSIONS, `${SESSIONS} live streams`);
  const shards = await shardStatus();
  const used = shards.filter((shard) => shard.sessions > 0).length;
  console.log(`     ${SESSIONS} sessions on ${used} of ${shards.length} shards`);
  check(used >= Math.min(8, shards.length), `only ${used} shards hold sessions`);
  console.log(`sessions: ${clients.map((c) => c.transport.sessionId).join(" ")}`);
  console.log(`per-shard: ${shards.map((shard) => shard.sessions).join(" ")}`);
});

await step("a_second_get_stream_gets_409", async () => {
  const response = await fetch(url, {
    headers: { accept: "text/event-stream", "mcp-session-id": clients[0].transport.sessionId },
  });
  check(response.status === 409, `a second GET got ${response.status}`);
  await response.body?.cancel();
});

await step("a_broadcast_reaches_every_session_exactly_once", () =>
  reachesEachExactlyOnce(clients, (text) => clients[0].client.callTool({ name: "announce", arguments: { text } }), SETTLE_MS),
);

await step("resources_updated_reaches_exactly_the_subscribers", () =>
  reachesExactlyTheSubscribers(
    clients,
    COUNTER,
    () => clients[1].client.callTool({ name: "increment", arguments: {} }),
    SETTLE_MS,
  ),
);

await step("delete_then_404", async () => {
  const { transport } = clients.at(-1);
  const id = transport.sessionId;
  await transport.terminateSession();
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-session-id": id,
      "mcp-protocol-version": "2025-06-18",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }),
  });
  check(response.status === 404, `a request after DELETE got ${response.status}`);
  const body = await response.json();
  check(body.error?.code === -32001, `error body ${JSON.stringify(body)}`);
  await waitFor(async () => (await liveStreams()) === SESSIONS - 1, "the deleted session's stream to close");
});

await step("a_dropped_client_is_removed", async () => {
  const before = await liveStreams();
  // close() drops the connections without DELETE: a client that went away.
  await clients.at(-2).client.close();
  let now = before;
  await waitFor(
    async () => (now = await liveStreams()) === before - 1,
    `the dropped stream to leave (${before} -> ${now})`,
  );
  // The rest still get everything.
  const text = `after-drop-${Date.now()}`;
  await clients[0].client.callTool({ name: "announce", arguments: { text } });
  const remaining = clients.slice(0, -2);
  await waitFor(() => remaining.every((c) => c.seen.messages.includes(text)), "the announcement after the drop");
});

/** The events of a raw SSE response so far (`{id, data}`), and a stop switch. */
function readEvents(response) {
  const events = [];
  const { stop, done } = readSse(response, ({ id, data }) => events.push({ id, data }));
  return { events, stop, done };
}

await step("a_resumed_get_stream_gets_exactly_what_it_missed", async () => {
  // A raw session, so nothing reconnects on its own.
  const post = (body, session) =>
    fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
        ...(session ? { "mcp-session-id": session } : {}),
      },
      body: JSON.stringify(body),
    });
  const init = await post({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
  });
  const session = init.headers.get("mcp-session-id");
  check(init.ok && session, `initialize: ${init.status}`);
  await init.text();
  await (await post({ jsonrpc: "2.0", method: "notifications/initialized" }, session)).text();
  const get = (lastEventId) =>
    fetch(url, {
      headers: {
        accept: "text/event-stream",
        "mcp-session-id": session,
        ...(lastEventId ? { "last-event-id": lastEventId } : {}),
      },
    });
  const first = await get();
  check(first.status === 200, `GET: ${first.status}`);
  const stream = readEvents(first);
  const seen = `before-drop-${Date.now()}`;
  await clients[0].client.callTool({ name: "announce", arguments: { text: seen } });
  await waitFor(() => stream.events.some((e) => e.data.includes(seen)), "the first announcement on the raw stream");
  const last = stream.events.filter((e) => e.id).at(-1).id;
  await stream.stop();
  const missed = [`missed-1-${Date.now()}`, `missed-2-${Date.now()}`];
  for (const text of missed) await clients[0].client.callTool({ name: "announce", arguments: { text } });
  const resumed = await get(last);
  check(resumed.status === 200, `GET with Last-Event-ID: ${resumed.status}`);
  const again = readEvents(resumed);
  const count = (text) => again.events.filter((e) => e.data.includes(text)).length;
  await waitFor(() => missed.every((text) => count(text) >= 1), `the missed announcements (${missed.map(count)})`);
  const after = `after-resume-${Date.now()}`;
  await clients[0].client.callTool({ name: "announce", arguments: { text: after } });
  await waitFor(() => count(after) >= 1, "a live announcement after the resume");
  await sleep(SETTLE_MS);
  check(missed.every((text) => count(text) === 1), `missed announcements delivered ${missed.map(count)} times`);
  check(count(seen) === 0, "an event from before Last-Event-ID was replayed");
  await again.stop();
  await (await fetch(url, { method: "DELETE", headers: { "mcp-session-id": session } })).text();
});

for (const { client, transport } of clients.slice(0, -2)) {
  await transport.terminateSession().catch(() => {});
  await client.close();
}
finish();

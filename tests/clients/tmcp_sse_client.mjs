// The TypeScript SDK's SSEClientTransport (the 2024-11-05 HTTP+SSE protocol) against the tmcp example
// on @tmcp/transport-sse (examples/tmcp/src/sse.js), served by two processes on the same mesh: each
// client's stream is held by the first, and every other client POSTs its messages to the second, so
// their responses reach them through the session's shard. Checks: tools listed and called, a broadcast
// reaching each client exactly once, a resource update reaching exactly the subscribers.
// Usage: node tmcp_sse_client.mjs <sse-url> <peer-origin> [clients]. Prints one line per check and
// `tmcp-sse: N passed, M failed`.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const [sseUrl, peerOrigin, count = "6"] = process.argv.slice(2);
if (!sseUrl || !peerOrigin) {
  console.error("usage: node tmcp_sse_client.mjs <sse-url> <peer-origin> [clients]");
  process.exit(2);
}
const CLIENTS = Number(count);
const SETTLE_MS = 500;
const COUNTER = "mesh://counter";

const results = [];
async function step(name, body) {
  try {
    await body();
    results.push(null);
    console.log(`ok   tmcp-sse::${name}`);
  } catch (error) {
    results.push(error);
    console.log(`FAIL tmcp-sse::${name}: ${error.message}`);
  }
}
const check = (condition, what) => {
  if (!condition) throw new Error(what);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function waitFor(predicate, what, ms = 15000) {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Sends POSTs to the peer process: the stream stays with the first one. */
const viaPeer = (input, init) => {
  if ((init?.method ?? "GET") !== "POST") return fetch(input, init);
  const url = new URL(input instanceof Request ? input.url : input);
  const peer = new URL(peerOrigin);
  url.protocol = peer.protocol;
  url.host = peer.host;
  return fetch(url, init);
};

const clients = [];
let postedToPeer = 0;
for (let i = 0; i < CLIENTS; i++) {
  const client = new Client({ name: `tmcp-sse-${i}`, version: "1.0.0" }, { capabilities: {} });
  const seen = { messages: [], updates: [] };
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => seen.messages.push(n.params.data?.text));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => seen.updates.push(n.params.uri));
  const crossing = i % 2 === 1;
  const fetchFn = crossing ? (input, init) => (postedToPeer++, viaPeer(input, init)) : undefined;
  const transport = new SSEClientTransport(new URL(sseUrl), fetchFn ? { fetch: fetchFn } : {});
  await client.connect(transport);
  clients.push({ client, transport, seen, crossing });
}

await step("initialize_and_tools_answer_over_the_stream", async () => {
  for (const { client } of clients) {
    const { tools } = await client.listTools();
    check(tools.some((t) => t.name === "announce"), `tools: ${tools.map((t) => t.name)}`);
  }
  check(postedToPeer > 0, "no client posted through the peer process");
});

await step("a_broadcast_reaches_every_client_exactly_once", async () => {
  const text = `sse-broadcast-${Date.now()}`;
  const result = await clients[1].client.callTool({ name: "announce", arguments: { text } });
  check(!result.isError, `announce: ${JSON.stringify(result)}`);
  const got = () => clients.map((c) => c.seen.messages.filter((t) => t === text).length);
  await waitFor(() => got().every((n) => n >= 1), `the announcement everywhere (${got()})`);
  await sleep(SETTLE_MS);
  check(got().every((n) => n === 1), `deliveries per client: ${got()}`);
});

await step("a_resource_update_reaches_exactly_the_subscribers", async () => {
  const subscribers = clients.filter((_, i) => i % 3 === 0);
  for (const { client } of subscribers) await client.subscribeResource({ uri: COUNTER });
  await clients[1].client.callTool({ name: "increment", arguments: {} });
  const got = () => clients.map((c) => c.seen.updates.filter((uri) => uri === COUNTER).length);
  await waitFor(() => subscribers.every((c) => c.seen.updates.length >= 1), `updates to subscribers (${got()})`);
  await sleep(SETTLE_MS);
  const expected = clients.map((_, i) => (i % 3 === 0 ? 1 : 0));
  check(JSON.stringify(got()) === JSON.stringify(expected), `updates per client ${got()}, expected ${expected}`);
});

for (const { client } of clients) await client.close().catch(() => {});
const failed = results.filter(Boolean).length;
console.log(`tmcp-sse: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

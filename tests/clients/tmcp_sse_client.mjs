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

import { check, reachesEachExactlyOnce, reachesExactlyTheSubscribers, steps } from "./steps.mjs";

const [sseUrl, peerOrigin, count = "6"] = process.argv.slice(2);
if (!sseUrl || !peerOrigin) {
  console.error("usage: node tmcp_sse_client.mjs <sse-url> <peer-origin> [clients]");
  process.exit(2);
}
const CLIENTS = Number(count);
const SETTLE_MS = 500;
const COUNTER = "mesh://counter";

const { step, finish } = steps("tmcp-sse");

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

await step("a_broadcast_reaches_every_client_exactly_once", () =>
  reachesEachExactlyOnce(
    clients,
    async (text) => {
      const result = await clients[1].client.callTool({ name: "announce", arguments: { text } });
      check(!result.isError, `announce: ${JSON.stringify(result)}`);
    },
    SETTLE_MS,
  ),
);

await step("a_resource_update_reaches_exactly_the_subscribers", () =>
  reachesExactlyTheSubscribers(
    clients,
    COUNTER,
    () => clients[1].client.callTool({ name: "increment", arguments: {} }),
    SETTLE_MS,
  ),
);

for (const { client } of clients) await client.close().catch(() => {});
finish();

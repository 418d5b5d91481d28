// The v2 TypeScript SDK client (`@modelcontextprotocol/client`, 2026-07-28 pinned) against the tmcp
// example on the mesh: `client.listen()` on one process hears the `resources/updated` that `increment`,
// called by another v2 client on a second process, makes through tmcp's server.changed() (carried by
// MeshSubscriptionManager). Usage: node tmcp_listen_sdk.mjs <url> <peer-url>. Prints
// `tmcp-listen-sdk: N passed, M failed`.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const [url, peerUrl] = process.argv.slice(2);
if (!url || !peerUrl) {
  console.error("usage: node tmcp_listen_sdk.mjs <url> <peer-url>");
  process.exit(2);
}
const COUNTER = "mesh://counter";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function connect(target, name) {
  const client = new Client({ name, version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(target)));
  return client;
}

let failed = 0;
try {
  const listener = await connect(url, "tmcp-listen-sdk");
  const updates = [];
  listener.setNotificationHandler("notifications/resources/updated", (n) => updates.push(n.params.uri));
  const subscription = await listener.listen({ resourceSubscriptions: [COUNTER] });
  const caller = await connect(peerUrl, "tmcp-listen-sdk-peer");
  await caller.callTool({ name: "increment", arguments: {} });
  const started = Date.now();
  while (!updates.includes(COUNTER)) {
    if (Date.now() - started > 15000) throw new Error(`no update through client.listen(): ${JSON.stringify(updates)}`);
    await sleep(50);
  }
  await sleep(500);
  if (updates.length !== 1) throw new Error(`the update arrived ${updates.length} times`);
  console.log("ok   tmcp-listen-sdk::client_listen_hears_a_change_made_in_another_process");
  await subscription.close();
  await listener.close();
  await caller.close();
} catch (error) {
  failed = 1;
  console.log(`FAIL tmcp-listen-sdk::client_listen_hears_a_change_made_in_another_process: ${error?.stack ?? error}`);
}
console.log(`tmcp-listen-sdk: ${1 - failed} passed, ${failed} failed`);
process.exit(failed);

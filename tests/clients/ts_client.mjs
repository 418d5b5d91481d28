// The official TypeScript SDK client (@modelcontextprotocol/sdk, pinned) against the mesh:
// list and call tools, subscribe and receive an update, receive a broadcast, and answer an
// elicitation whose response is POSTed to a *different* worker process (another isolate) than the
// one running the tool. Usage: node ts_client.mjs <url> <peer-url>. Exits non-zero on any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const [url, peerUrl] = process.argv.slice(2);
if (!url || !peerUrl) {
  console.error("usage: node ts_client.mjs <url> <peer-url>");
  process.exit(2);
}

function check(condition, what) {
  if (!condition) throw new Error(what);
}

function waitFor(predicate, what, ms = 15000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

// Routes the client's answers to server requests (JSON-RPC responses) to the peer worker.
let answersViaPeer = 0;
const splitFetch = async (input, init) => {
  if (init?.method === "POST" && typeof init.body === "string") {
    const message = JSON.parse(init.body);
    if (message.id !== undefined && message.method === undefined) {
      answersViaPeer += 1;
      return fetch(peerUrl, init);
    }
  }
  return fetch(input, init);
};

async function connect(name, fetchImpl) {
  const client = new Client({ name, version: "1.0.0" }, { capabilities: { elicitation: {}, sampling: {} } });
  const transport = new StreamableHTTPClientTransport(new URL(url), fetchImpl ? { fetch: fetchImpl } : {});
  await client.connect(transport);
  return { client, transport };
}

const results = [];
async function step(name, body) {
  try {
    await body();
    results.push([name, null]);
    console.log(`ok   ts-sdk::${name}`);
  } catch (error) {
    results.push([name, error]);
    console.log(`FAIL ts-sdk::${name}: ${error.message}`);
  }
}

const alice = await connect("ts-alice", splitFetch);
const bob = await connect("ts-bob");
check(alice.transport.sessionId && bob.transport.sessionId, "no session ids");

await step("list_and_call_tools", async () => {
  const { tools } = await alice.client.listTools();
  const names = tools.map((t) => t.name);
  for (const name of ["announce", "increment", "test_simple_text"]) {
    check(names.includes(name), `${name} missing from ${names}`);
  }
  const result = await alice.client.callTool({ name: "test_simple_text", arguments: {} });
  check(result.content[0].text === "This is a simple text response for testing.", JSON.stringify(result));
});

await step("subscribe_and_receive_update", async () => {
  const updates = [];
  bob.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params.uri));
  await bob.client.subscribeResource({ uri: "mesh://counter" });
  // The GET stream opens after `initialized`; give the subscription a moment to exist on the mesh.
  const result = await alice.client.callTool({ name: "increment", arguments: {} });
  check(result.structuredContent.subscribers >= 1, JSON.stringify(result));
  await waitFor(() => updates.includes("mesh://counter"), "notifications/resources/updated");
  await bob.client.unsubscribeResource({ uri: "mesh://counter" });
});

await step("broadcast_reaches_both_clients", async () => {
  const seen = { alice: [], bob: [] };
  alice.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => seen.alice.push(n.params.data?.text));
  bob.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => seen.bob.push(n.params.data?.text));
  const text = `ts-broadcast-${Date.now()}`;
  const result = await bob.client.callTool({ name: "announce", arguments: { text } });
  console.log("     announce:", JSON.stringify(result.structuredContent));
  await waitFor(
    () => seen.alice.includes(text) && seen.bob.includes(text),
    `the announcement on both GET streams (alice saw ${JSON.stringify(seen.alice)}, bob ${JSON.stringify(seen.bob)})`,
  );
});

await step("elicitation_answered_through_another_isolate", async () => {
  alice.client.setRequestHandler(ElicitRequestSchema, async (request) => {
    check(request.params.requestedSchema?.properties?.username, "unexpected elicitation schema");
    return { action: "accept", content: { username: "ada", email: "ada@example.com" } };
  });
  const before = answersViaPeer;
  const result = await alice.client.callTool({ name: "test_elicitation", arguments: { message: "Who are you?" } });
  const text = result.content[0].text;
  check(text.includes("ada@example.com") && text.includes("accept"), text);
  check(answersViaPeer === before + 1, `the answer went to the peer ${answersViaPeer - before} times`);
});

await alice.transport.terminateSession();
await bob.transport.terminateSession();
await alice.client.close();
await bob.client.close();
const failed = results.filter(([, e]) => e).length;
console.log(`ts-sdk: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

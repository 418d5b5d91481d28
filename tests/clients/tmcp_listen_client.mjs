// A 2026-07-28 `subscriptions/listen` stream on the tmcp example (through MeshSubscriptionManager)
// hearing a change made by another process: the stream is opened on <url>, `increment` is called on
// <peer-url> (a second process on the same mesh; tmcp's server.changed() there), and the stream must
// receive that `notifications/resources/updated`, tagged with its subscription id, while a stream that
// asked only for tool-list changes does not. Raw HTTP, stateless requests. Usage:
// node tmcp_listen_client.mjs <url> <peer-url>. Prints one line per check and `tmcp-listen: N passed, M failed`.
import { readSse } from "./sse_events.mjs";
import { check, sleep, steps } from "./steps.mjs";

const [url, peerUrl] = process.argv.slice(2);
if (!url || !peerUrl) {
  console.error("usage: node tmcp_listen_client.mjs <url> <peer-url>");
  process.exit(2);
}
const VERSION = "2026-07-28";
const meta = {
  "io.modelcontextprotocol/protocolVersion": VERSION,
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "tmcp-listen", version: "1" },
};

const { step, finish } = steps("tmcp-listen");

function post(target, method, params, extra = {}) {
  return fetch(target, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": VERSION,
      "mcp-method": method,
      ...extra,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: `${method}-${Date.now()}`, method, params: { ...params, _meta: meta } }),
  });
}

/** The JSON-RPC messages of an SSE response, as they arrive. */
function messages(response) {
  const seen = [];
  const { stop } = readSse(response, ({ data }) => data && seen.push(JSON.parse(data)));
  return { seen, stop };
}

async function listen(id, notifications) {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": VERSION,
      "mcp-method": "subscriptions/listen",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "subscriptions/listen", params: { notifications, _meta: meta } }),
  });
  if (response.status !== 200) throw new Error(`subscriptions/listen answered ${response.status}: ${await response.text()}`);
  const stream = messages(response);
  const started = Date.now();
  while (!stream.seen.some((m) => m.method === "notifications/subscriptions/acknowledged")) {
    check(Date.now() - started < 10000, `no acknowledgement on ${id}: ${JSON.stringify(stream.seen)}`);
    await sleep(50);
  }
  return stream;
}

await step("a_listen_stream_hears_a_change_made_in_another_process", async () => {
  const resources = await listen("listen-resources", { resourceSubscriptions: ["mesh://counter"] });
  const tools = await listen("listen-tools", { toolsListChanged: true });
  const called = await post(peerUrl, "tools/call", { name: "increment", arguments: {} }, { "mcp-name": "increment" });
  const answer = await called.text();
  check(called.status === 200, `increment on the peer answered ${called.status}: ${answer}`);
  const updated = () => resources.seen.filter((m) => m.method === "notifications/resources/updated");
  const started = Date.now();
  while (updated().length === 0) {
    check(Date.now() - started < 15000, `no update reached the listen stream: ${JSON.stringify(resources.seen)}`);
    await sleep(50);
  }
  const [update] = updated();
  check(update.params?.uri === "mesh://counter", `update ${JSON.stringify(update)}`);
  check(
    update.params?._meta?.["io.modelcontextprotocol/subscriptionId"] === "listen-resources",
    `update not tagged with its subscription: ${JSON.stringify(update)}`,
  );
  await sleep(500);
  check(updated().length === 1, `the update arrived ${updated().length} times`);
  const stray = tools.seen.filter((m) => m.method === "notifications/resources/updated");
  check(stray.length === 0, "a stream that asked only for tool-list changes got the resource update");
  await resources.stop();
  await tools.stop();
});

finish();

// The TypeScript SDK client against a server built from @mcp-mesh/tmcp's README alone (installed from
// the packed tarball; tests/support/package.rs): its tool is listed, an `announce` from one session
// reaches another session's GET stream, and a request naming an unknown session gets 404.
// Usage: node package_client.mjs <url>. Prints one line per check and `package: N passed, M failed`.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

import { check, sleep, steps } from "./steps.mjs";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node package_client.mjs <url>");
  process.exit(2);
}

const { step, finish } = steps("package");

async function connect() {
  const client = new Client({ name: "package-check", version: "1.0.0" }, { capabilities: {} });
  const heard = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => heard.push(n.params.data?.text));
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport, heard };
}

const listener = await connect();
const caller = await connect();

await step("the_readme_server_lists_its_tool", async () => {
  const { tools } = await caller.client.listTools();
  check(tools.some((tool) => tool.name === "announce"), `tools: ${tools.map((t) => t.name)}`);
});

await step("an_announce_reaches_another_sessions_stream", async () => {
  const text = `package-${Date.now()}`;
  // The SDK opens its GET stream in the background after `initialized`: retry until it is there.
  const started = Date.now();
  while (!listener.heard.includes(text)) {
    check(Date.now() - started < 15000, "the announcement never reached the listener");
    const result = await caller.client.callTool({ name: "announce", arguments: { text } });
    check(!result.isError, `announce: ${JSON.stringify(result)}`);
    await sleep(300);
  }
});

await step("an_unknown_session_is_404", async () => {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-session-id": "no-such-session",
      "mcp-protocol-version": "2025-06-18",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  check(response.status === 404, `status ${response.status}`);
});

for (const { client, transport } of [listener, caller]) {
  await transport.terminateSession().catch(() => {});
  await client.close();
}
finish();

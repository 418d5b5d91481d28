// Tasks end to end with the MCP organisation's own clients: `@modelcontextprotocol/ext-tasks` 0.2.2 over
// the v2 SDK client (`@modelcontextprotocol/client` 2.4.0) for the 2026-07-28 tasks extension, and the
// TypeScript SDK 1.32.2's `client.experimental.tasks` for 2025-11-25's tasks. A task is started on one
// Worker process and followed, listened to, answered and cancelled from another (the peer), whose
// objects are the first process's.
// Usage: node tasks_client.mjs <url> <peer-url> <admin-token>. Prints `tasks: N passed, M failed`.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createTaskSessionFromClient, resultFromTaskOutcome } from "@modelcontextprotocol/ext-tasks/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateTaskResultSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { readSse } from "./sse_events.mjs";
import { check, sleep, steps, waitFor } from "./steps.mjs";

const [url, peerUrl, adminToken] = process.argv.slice(2);
if (!url || !peerUrl || !adminToken) {
  console.error("usage: node tasks_client.mjs <url> <peer-url> <admin-token>");
  process.exit(2);
}
const EXTENSION = "io.modelcontextprotocol/tasks";
const VERSION = "2026-07-28";
const LONG_TASK_SECONDS = Number(process.env.TASKS_LONG_SECONDS ?? 120);
const { step, finish } = steps("tasks");

/** The host's raw dispatch ext-tasks needs for 2026-07-28 (its codecs own the task wire shapes). */
function rawDispatchTo(target) {
  let nextId = 1;
  return async (request, { signal, context } = {}) => {
    const params = request.params ?? {};
    const name = request.method === "tools/call" ? params.name : params.taskId;
    const headers = new Headers({
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": VERSION,
      "mcp-method": request.method,
      ...(name ? { "mcp-name": name } : {}),
    });
    // The package's routing headers (Mcp-Name of tasks/*) replace ours, whatever their case.
    for (const [header, value] of Object.entries(context?.headers ?? {})) headers.set(header, value);
    const body = JSON.stringify({ ...request, jsonrpc: "2.0", id: nextId++ });
    const response = await fetch(target, { method: "POST", signal, body, headers });
    const message = await lastMessage(response);
    return message.error ? { kind: "error", error: message.error } : { kind: "result", result: message.result };
  };
}

/** The JSON-RPC response of a POST answered as JSON or as SSE. */
async function lastMessage(response) {
  if (!(response.headers.get("content-type") ?? "").includes("text/event-stream")) return response.json();
  let last;
  const reading = readSse(response, (event) => {
    const message = JSON.parse(event.data);
    if ("result" in message || "error" in message) last = message;
  });
  await reading.done;
  return last;
}

async function taskSession(target, name, onInputRequest) {
  const client = new Client({ name, version: "1.0.0" }, { versionNegotiation: { mode: { pin: VERSION } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(target)));
  const session = createTaskSessionFromClient(client, {
    endpointId: "mcp-mesh-e2e",
    rawDispatch: rawDispatchTo(target),
    v2RequestFraming: {
      protocolVersion: VERSION,
      clientInfo: { name, version: "1.0.0" },
      clientCapabilities: { elicitation: {} },
    },
    onInputRequest,
  });
  // `leave` ends the connection and keeps the tasks (closing the package's session cancels the tasks it
  // started, handed off or not).
  return { client, session, close: async () => (await session.close(), await client.close()), leave: () => client.close() };
}

/** Hands `execution` off (its reference) and leaves: the task goes on without its client. */
async function handOff(started, execution) {
  let reference;
  await execution.handoff((saved) => (reference = saved));
  await started.leave();
  return reference;
}

/** A 2026-07-28 POST: the extension declared unless `declare` is false; `Mcp-Name` from the params. */
function statelessPost(target, method, params, { name, declare = true } = {}) {
  const capabilities = declare ? { elicitation: {}, extensions: { [EXTENSION]: {} } } : {};
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": VERSION,
    "mcp-method": method,
  };
  const routed = name ?? params.name ?? params.taskId;
  if (routed) headers["mcp-name"] = routed;
  const meta = { "io.modelcontextprotocol/protocolVersion": VERSION, "io.modelcontextprotocol/clientCapabilities": capabilities };
  const id = method === "subscriptions/listen" ? "listen-tasks" : 1;
  return fetch(target, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: meta } }) });
}

/** One 2026-07-28 request: `{status, body}` (the JSON-RPC response). */
async function raw(target, method, params, options) {
  const response = await statelessPost(target, method, params, options);
  return { status: response.status, body: await lastMessage(response) };
}

/** A `subscriptions/listen` stream naming `taskIds`: its acknowledgement and every notifications/tasks. */
async function listen(target, taskIds) {
  const response = await statelessPost(target, "subscriptions/listen", { notifications: { taskIds } });
  const seen = { ack: null, tasks: [] };
  const reading = readSse(response, (event) => {
    const message = JSON.parse(event.data);
    if (message.method === "notifications/subscriptions/acknowledged") seen.ack = message.params;
    if (message.method === "notifications/tasks") seen.tasks.push(message.params);
  });
  await waitFor(() => seen.ack, "the listen acknowledgement");
  return { seen, stop: reading.stop };
}

/** Task handlers running on every shard (the test build's `/mesh/tasks-running`). */
async function tasksRunning() {
  const answer = await fetch(new URL("/mesh/tasks-running", url), { headers: { authorization: `Bearer ${adminToken}` } });
  return (await answer.json()).running;
}

const accept = async (request) => {
  const properties = Object.keys(request.params?.requestedSchema?.properties ?? {});
  return { action: "accept", content: properties.includes("name") ? { name: "mesh", confirm: true } : { confirm: true } };
};

// The long task starts first and is fetched last, from the other process.
let longReference;
const longStarted = Date.now();
await step("a_long_task_starts_and_its_request_ends", async () => {
  const main = await taskSession(url, "tasks-long");
  const execution = await main.session.callTool("countdown", { seconds: LONG_TASK_SECONDS }, { task: { preference: "require" } });
  check(execution.kind === "task", `countdown answered ${execution.kind}`);
  longReference = await handOff(main, execution);
});

await step("started_on_one_process_followed_and_heard_on_another", async () => {
  const main = await taskSession(url, "tasks-main");
  const execution = await main.session.callTool("countdown", { seconds: 3 }, { task: { preference: "require" } });
  check(execution.kind === "task", `countdown answered ${execution.kind}`);
  const reference = await handOff(main, execution);
  check(reference.generation === "v2", `the reference is ${reference.generation}`);
  const listener = await listen(peerUrl, [reference.taskId, "no-such-task"]);
  check(
    JSON.stringify(listener.seen.ack.notifications.taskIds) === JSON.stringify([reference.taskId]),
    `the listen stream honoured ${JSON.stringify(listener.seen.ack.notifications)}`,
  );
  const peer = await taskSession(peerUrl, "tasks-peer");
  const resumed = await peer.session.resumeTask(reference);
  const events = [];
  const { outcome } = await resumed.settle({ onEvent: (event) => events.push(event.type) });
  const result = resultFromTaskOutcome(outcome);
  check(result.content?.[0]?.text === "counted down 3 s", `result ${JSON.stringify(result)}`);
  await waitFor(() => listener.seen.tasks.some((t) => t.status === "completed"), "notifications/tasks completed on the peer");
  const statuses = listener.seen.tasks.map((t) => t.status);
  check(statuses.filter((s) => s === "completed").length === 1, `completed heard ${statuses}`);
  check(listener.seen.tasks.every((t) => t.taskId === reference.taskId && t.ttlMs === 3600000), "every notification is the task's");
  check(listener.seen.tasks.some((t) => t.statusMessage?.endsWith("s left")), `progress heard: ${JSON.stringify(listener.seen.tasks.map((t) => t.statusMessage))}`);
  const done = listener.seen.tasks.find((t) => t.status === "completed");
  check(done.result?.content?.[0]?.text === "counted down 3 s", "the completed notification carries the result");
  await listener.stop();
  await peer.close();
});

await step("cancelled_from_the_other_process_the_work_stops", async () => {
  const main = await taskSession(url, "tasks-cancel-main");
  const execution = await main.session.callTool("countdown", { seconds: 60 }, { task: { preference: "require" } });
  const reference = await handOff(main, execution);
  // The long task runs beside it: the cancelled one's handler is the one that must stop.
  await waitFor(async () => (await tasksRunning()) >= 2, "the countdown running on its shard", 5000);
  const running = await tasksRunning();
  const peer = await taskSession(peerUrl, "tasks-cancel-peer");
  await peer.session.task(reference.taskId).cancel();
  const view = await peer.session.task(reference.taskId).snapshot();
  check(view.status === "cancelled", `status after cancel ${view.status}`);
  await waitFor(async () => (await tasksRunning()) === running - 1, `the cancelled handler to stop (of ${running})`, 5000);
  await sleep(1500);
  const later = await raw(peerUrl, "tasks/get", { taskId: reference.taskId });
  check(later.body.result.status === "cancelled", `status later ${later.body.result.status}`);
  check(later.body.result.lastUpdatedAt === view.lastUpdatedAt || !view.lastUpdatedAt, "nothing moved it after the cancel");
  const again = await raw(peerUrl, "tasks/cancel", { taskId: reference.taskId });
  check(again.body.result?.resultType === "complete", `a second cancel: ${JSON.stringify(again.body)}`);
  await peer.close();
});

await step("input_is_asked_and_answered_through_the_client", async () => {
  const asked = [];
  const main = await taskSession(url, "tasks-input", async (request) => (asked.push(request.kind), accept(request)));
  const execution = await main.session.callTool("confirm_delete", { filename: "report.txt" }, { task: { preference: "require" } });
  const result = resultFromTaskOutcome((await execution.settle()).outcome);
  check(result.content?.[0]?.text === "deleted report.txt", `result ${JSON.stringify(result)}`);
  check(asked.join() === "elicitation", `asked ${asked}`);
  const two = await main.session.callTool("multi_input", {}, { task: { preference: "require" } });
  const both = resultFromTaskOutcome((await two.settle()).outcome);
  check(both.content?.[0]?.text === "answered: mesh, mesh", `result ${JSON.stringify(both)}`);
  await main.close();
});

await step("bad_task_requests_get_their_errors_and_change_nothing", async () => {
  const created = await raw(url, "tools/call", { name: "confirm_delete", arguments: { filename: "x" } });
  const taskId = created.body.result.taskId;
  await waitFor(async () => (await raw(url, "tasks/get", { taskId })).body.result.status === "input_required", "input_required");
  const mismatch = await raw(url, "tasks/get", { taskId }, { name: "another-task" });
  check(mismatch.status === 400 && mismatch.body.error?.code === -32020, `Mcp-Name mismatch: ${mismatch.status} ${JSON.stringify(mismatch.body)}`);
  const unknown = await raw(url, "tasks/get", { taskId: "no-such-task" });
  check(unknown.body.error?.code === -32602, `unknown id: ${JSON.stringify(unknown.body)}`);
  const undeclared = await raw(url, "tasks/get", { taskId }, { declare: false });
  check(undeclared.status === 400 && undeclared.body.error?.code === -32021, `no extension: ${JSON.stringify(undeclared.body)}`);
  const malformed = await raw(url, "tasks/update", { taskId, inputResponses: { confirm: { action: "maybe" } } });
  check(malformed.body.error?.code === -32602, `malformed answer: ${JSON.stringify(malformed.body)}`);
  const notAnObject = await raw(url, "tasks/update", { taskId, inputResponses: "yes" });
  check(notAnObject.body.error?.code === -32602, `inputResponses not an object: ${JSON.stringify(notAnObject.body)}`);
  const still = await raw(url, "tasks/get", { taskId });
  check(Object.keys(still.body.result.inputRequests ?? {}).join() === "confirm", "the question is still open");
  const listenUndeclared = await statelessPost(url, "subscriptions/listen", { notifications: { taskIds: [taskId] } }, { declare: false });
  const refused = await listenUndeclared.json();
  check(refused.error?.code === -32021, `listen for tasks without the extension: ${JSON.stringify(refused)}`);
  await raw(url, "tasks/cancel", { taskId });
  const late = await raw(url, "tasks/update", { taskId, inputResponses: { confirm: { action: "accept", content: { confirm: true } } } });
  check(late.body.result?.resultType === "complete", `an answer to a finished task is ignored: ${JSON.stringify(late.body)}`);
  check((await raw(url, "tasks/get", { taskId })).body.result.status === "cancelled", "still cancelled");
});

await step("session_era_tasks_with_the_typescript_sdks_task_api", async () => {
  const client = new ClientV1({ name: "tasks-v1", version: "1.0.0" }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { confirm: true } }));
  await client.connect(new TransportV1(new URL(url)));
  check(client.getServerCapabilities()?.tasks?.requests?.tools?.call, "the tasks capability");
  const { tools } = await client.listTools();
  check(tools.find((t) => t.name === "countdown")?.execution?.taskSupport === "optional", "countdown declares its task support");
  const seen = [];
  let result;
  for await (const message of client.experimental.tasks.callToolStream({ name: "countdown", arguments: { seconds: 2 } })) {
    seen.push(message.type);
    if (message.type === "result") result = message.result;
    if (message.type === "error") throw message.error;
  }
  check(seen[0] === "taskCreated" && seen.includes("taskStatus") && seen.at(-1) === "result", `stream ${seen}`);
  check(result.content?.[0]?.text === "counted down 2 s", `result ${JSON.stringify(result)}`);
  let asked;
  for await (const message of client.experimental.tasks.callToolStream({ name: "confirm_delete", arguments: { filename: "v1.txt" } })) {
    if (message.type === "result") asked = message.result;
    if (message.type === "error") throw message.error;
  }
  check(asked?.content?.[0]?.text === "deleted v1.txt", `input through tasks/result: ${JSON.stringify(asked)}`);
  const created = await client.request(
    { method: "tools/call", params: { name: "countdown", arguments: { seconds: 30 }, task: { ttl: 60000 } } },
    CreateTaskResultSchema,
  );
  check(created.task.ttl === 60000, `ttl ${created.task.ttl}`);
  const brief = await client.request(
    { method: "tools/call", params: { name: "countdown", arguments: { seconds: 1 }, task: { ttl: 1000 } } },
    CreateTaskResultSchema,
  );
  check(brief.task.ttl === 1000, `a brief task's ttl ${brief.task.ttl}`);
  await sleep(2500);
  const expired = await client.experimental.tasks.getTask(brief.task.taskId).then((t) => t.status, (e) => e.code);
  check(expired === -32602, `a task past its ttl: ${expired}`);
  const other = new ClientV1({ name: "tasks-v1-other", version: "1.0.0" });
  await other.connect(new TransportV1(new URL(peerUrl)));
  const foreign = await other.experimental.tasks.getTask(created.task.taskId).then(() => "found", (e) => e.code);
  check(foreign === -32602, `another session's task: ${foreign}`);
  const cancelled = await client.experimental.tasks.cancelTask(created.task.taskId);
  check(cancelled.status === "cancelled", `cancel ${JSON.stringify(cancelled)}`);
  const twice = await client.experimental.tasks.cancelTask(created.task.taskId).then(() => "ok", (e) => e.code);
  check(twice === -32602, `a second cancel in 2025-11-25: ${twice}`);
  await other.close();
  await client.close();
});

await step(`the_long_task_completes_after_its_request_and_is_fetched_from_the_other_process`, async () => {
  const peer = await taskSession(peerUrl, "tasks-long-peer");
  const resumed = await peer.session.resumeTask(longReference, { requestTimeoutMs: 30000 });
  const { outcome } = await resumed.settle();
  const result = resultFromTaskOutcome(outcome);
  check(result.content?.[0]?.text === `counted down ${LONG_TASK_SECONDS} s`, `result ${JSON.stringify(result)}`);
  const took = (Date.now() - longStarted) / 1000;
  check(took >= LONG_TASK_SECONDS - 1, `it ended after ${took} s`);
  console.log(`     tasks: a ${LONG_TASK_SECONDS} s task completed after ${took.toFixed(1)} s, fetched from the peer`);
  await peer.close();
});

finish();

// The tasks load run: TASKS concurrent `countdown` tasks (2026-07-28, the tasks extension) on the mesh,
// followed by listen streams that name them (at most 256 ids each), until every task reaches a final
// state. Measures how long creating a task takes, and how late each `notifications/tasks` arrives after
// the change it reports (its `lastUpdatedAt`, stamped by the shard); then checks every task with
// `tasks/get`.
// Usage: node tasks_probe.mjs <mcp-url> [tasks=1000] [seconds=15] [create-concurrency=32]
// Prints progress on stderr and one JSON document on stdout.
import { readSse } from "../tests/clients/sse_events.mjs";

const [url, tasksArg, secondsArg, concurrencyArg] = process.argv.slice(2);
if (!url) {
  console.error("usage: node tasks_probe.mjs <mcp-url> [tasks] [seconds] [create-concurrency]");
  process.exit(2);
}
const TASKS = Number(tasksArg ?? 1000);
const SECONDS = Number(secondsArg ?? 15);
const CONCURRENCY = Number(concurrencyArg ?? 32);
const PER_LISTENER = 250;
const VERSION = "2026-07-28";
const META = {
  "io.modelcontextprotocol/protocolVersion": VERSION,
  "io.modelcontextprotocol/clientCapabilities": { extensions: { "io.modelcontextprotocol/tasks": {} } },
};
const FINAL = new Set(["completed", "failed", "cancelled"]);
const log = (...args) => console.error("tasks-probe:", ...args);

function post(method, params, name) {
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": VERSION,
    "mcp-method": method,
  };
  if (name) headers["mcp-name"] = name;
  return fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: { ...params, _meta: META } }) });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99), max_ms: sorted.at(-1) ?? null };
};

const started = Date.now();
const ids = [];
const createMs = [];
const errors = [];
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < TASKS) {
      next++;
      const t0 = performance.now();
      try {
        const response = await post("tools/call", { name: "countdown", arguments: { seconds: SECONDS } }, "countdown");
        const body = await response.json();
        if (!body.result?.taskId) throw new Error(JSON.stringify(body).slice(0, 200));
        ids.push(body.result.taskId);
        createMs.push(performance.now() - t0);
      } catch (error) {
        errors.push(String(error.message ?? error));
      }
    }
  }),
);
const createdAfterMs = Date.now() - started;
log(`created ${ids.length} of ${TASKS} in ${createdAfterMs} ms`);

const latest = new Map();
const latencyMs = [];
const finalLatencyMs = [];
let notifications = 0;
const streams = [];
for (let i = 0; i < ids.length; i += PER_LISTENER) {
  const chunk = ids.slice(i, i + PER_LISTENER);
  const response = await post("subscriptions/listen", { notifications: { taskIds: chunk } });
  let acknowledged = 0;
  streams.push(
    readSse(response, (event) => {
      const message = JSON.parse(event.data);
      if (message.method === "notifications/subscriptions/acknowledged") acknowledged = message.params.notifications.taskIds.length;
      if (message.method !== "notifications/tasks") return;
      notifications++;
      const task = message.params;
      const late = Date.now() - Date.parse(task.lastUpdatedAt);
      latencyMs.push(late);
      if (FINAL.has(task.status) && !FINAL.has(latest.get(task.taskId))) finalLatencyMs.push(late);
      if (!FINAL.has(latest.get(task.taskId))) latest.set(task.taskId, task.status);
    }),
  );
  const deadline = Date.now() + 10000;
  while (!acknowledged && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (acknowledged !== chunk.length) errors.push(`a listen stream honoured ${acknowledged} of ${chunk.length} ids`);
}
log(`${streams.length} listen streams open`);

const deadline = Date.now() + (SECONDS + 120) * 1000;
const finals = () => ids.filter((id) => FINAL.has(latest.get(id))).length;
while (finals() < ids.length && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 250));
}
const heardFinal = finals();
log(`final state heard for ${heardFinal} of ${ids.length} after ${Date.now() - started} ms`);
for (const stream of streams) await stream.stop();

// Every task, by tasks/get: its final state as stored.
const stored = {};
for (let i = 0; i < ids.length; i += CONCURRENCY) {
  const states = await Promise.all(
    ids.slice(i, i + CONCURRENCY).map(async (id) => (await (await post("tasks/get", { taskId: id }, id)).json()).result?.status ?? "missing"),
  );
  for (const status of states) stored[status] = (stored[status] ?? 0) + 1;
}

const report = {
  tasks: TASKS,
  created: ids.length,
  seconds_per_task: SECONDS,
  create_concurrency: CONCURRENCY,
  listen_streams: streams.length,
  create: summary(createMs),
  created_in_ms: createdAfterMs,
  final_state_heard: heardFinal,
  stored_states: stored,
  notifications,
  notification_latency: summary(latencyMs),
  final_notification_latency: summary(finalLatencyMs),
  wall_ms: Date.now() - started,
  errors: errors.slice(0, 10),
  error_count: errors.length,
};
console.log(JSON.stringify(report, null, 2));
process.exit(heardFinal === TASKS && (stored.completed ?? 0) === TASKS ? 0 : 1);

// Load probe for tmcp's SSE transport on the mesh (examples/tmcp/src/sse.js, the 2024-11-05 HTTP+SSE
// protocol): opens <sessions> SSE sessions (GET /sse, then initialize over POST /message, answered on
// the stream), sends <broadcasts> `announce` calls from the first session, and counts every
// announcement each session's stream receives, with its delay from the call. Raw HTTP (the SDK client
// is too heavy for thousands of sessions in one process).
// Usage: node loadtest/sse_probe.mjs <origin> [sessions=1000] [broadcasts=20]. Prints one JSON line.
import { readSse } from "../tests/clients/sse_events.mjs";

const [origin, sessionsArg = "1000", broadcastsArg = "20"] = process.argv.slice(2);
if (!origin) {
  console.error("usage: node loadtest/sse_probe.mjs <origin> [sessions] [broadcasts]");
  process.exit(2);
}
const SESSIONS = Number(sessionsArg);
const BROADCASTS = Number(broadcastsArg);
const OPEN_CONCURRENCY = 32;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One session: its stream's parsed events, and its message endpoint. */
async function openSession(index) {
  const response = await fetch(new URL("/sse", origin), { headers: { accept: "text/event-stream" } });
  if (response.status !== 200) throw new Error(`GET /sse: ${response.status}`);
  const session = { index, endpoint: null, heard: new Map(), responses: new Set(), errors: 0 };
  const reader = readSse(response, ({ event, data }) => {
    if (event === "endpoint") session.endpoint = new URL(data, origin);
    else if (data) onMessage(session, JSON.parse(data));
  });
  session.closed = reader.done;
  session.stop = reader.stop;
  while (!session.endpoint) await sleep(5);
  return session;
}

function onMessage(session, message) {
  if (message.id !== undefined) session.responses.add(message.id);
  const text = message.params?.data?.text;
  if (message.method === "notifications/message" && typeof text === "string" && text.startsWith("probe-")) {
    const [, round, sentAt] = text.split("-");
    session.heard.set(round, (session.heard.get(round) ?? 0) + 1);
    session.delays ??= [];
    session.delays.push(Date.now() - Number(sentAt));
  }
}

async function post(session, body) {
  const response = await fetch(session.endpoint, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.text();
  if (response.status !== 202) session.errors++;
}

async function initialize(session) {
  await post(session, {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "sse-probe", version: "1" } },
  });
  const started = Date.now();
  while (!session.responses.has(1)) {
    if (Date.now() - started > 30000) throw new Error(`session ${session.index}: no initialize response`);
    await sleep(10);
  }
  await post(session, { jsonrpc: "2.0", method: "notifications/initialized" });
}

const sessions = [];
const openStarted = Date.now();
for (let i = 0; i < SESSIONS; i += OPEN_CONCURRENCY) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(OPEN_CONCURRENCY, SESSIONS - i) }, (_, j) => openSession(i + j)),
  );
  await Promise.all(batch.map(initialize));
  sessions.push(...batch);
}
const openMs = Date.now() - openStarted;

const caller = sessions[0];
for (let round = 0; round < BROADCASTS; round++) {
  const text = `probe-${round}-${Date.now()}`;
  await post(caller, {
    jsonrpc: "2.0",
    id: 100 + round,
    method: "tools/call",
    params: { name: "announce", arguments: { text } },
  });
  await sleep(200);
}
const expected = SESSIONS * BROADCASTS;
const count = () => sessions.reduce((sum, s) => sum + [...s.heard.values()].reduce((a, b) => a + b, 0), 0);
const waitStarted = Date.now();
while (count() < expected && Date.now() - waitStarted < 60000) await sleep(100);
await sleep(500);
const delays = sessions.flatMap((s) => s.delays ?? []).sort((a, b) => a - b);
const quantile = (q) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? null;
const duplicates = sessions.reduce((sum, s) => sum + [...s.heard.values()].filter((n) => n > 1).length, 0);
console.log(
  JSON.stringify({
    sessions: SESSIONS,
    broadcasts: BROADCASTS,
    delivered: count(),
    expected,
    duplicates,
    post_errors: sessions.reduce((sum, s) => sum + s.errors, 0),
    open_and_initialize_ms: openMs,
    broadcast_delay_p50_ms: quantile(0.5),
    broadcast_delay_p99_ms: quantile(0.99),
  }),
);
for (const session of sessions) session.stop();
process.exit(count() === expected && duplicates === 0 ? 0 : 1);

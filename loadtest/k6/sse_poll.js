// Delivery measured by SSE polling, against a mesh started with STREAM_MAX_EVENTS=1.
//
// k6 reads a response only once it has ended, so it cannot hold a long-lived SSE stream. With
// STREAM_MAX_EVENTS=1 the mesh ends each GET stream after one event with an id (2025-11-25 polling:
// the stream starts with `retry:` and a priming event, and the client resumes with Last-Event-ID),
// and every event missed between two polls is replayed from the shard's log. So a poll that returns
// carries exactly one event, and its arrival time is the response's end.
//
// LISTENERS VUs each open a session and poll its GET stream; one trigger VU waits SETTLE_S (so every
// listener holds its first cursor), then calls `announce` BROADCASTS times, GAP_MS apart. Each
// listener records, per broadcast, the latency from the `sent_at_ms` the notification carries to
// the poll's end, and at the end whether it saw every broadcast: `delivered` must be 100 %.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8787 -e LISTENERS=50 -e BROADCASTS=20 loadtest/k6/sse_poll.js
//
// The baseline (tmcp) has no resumable streams, so this script runs against the mesh only; the
// native probe (loadtest/PROBE.md) compares both with long-lived streams.
import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { MCP_URL, PROTOCOL_VERSION, callTool, deleteSession, header, initialize } from './lib/mcp.js';
import { envNumber, summaryTrendStats } from './lib/options.js';
import { makeHandleSummary } from './lib/summary.js';

const LISTENERS = envNumber('LISTENERS', 50);
const BROADCASTS = envNumber('BROADCASTS', 20);
const GAP_MS = envNumber('GAP_MS', 250);
const SETTLE_S = envNumber('SETTLE_S', 5);
// How long a listener keeps polling for broadcasts it has not seen, after the last one was sent.
const DRAIN_S = envNumber('DRAIN_S', 30);
const POLL_TIMEOUT = `${Math.ceil(SETTLE_S + (BROADCASTS * GAP_MS) / 1000 + DRAIN_S)}s`;

const deliveryMs = new Trend('poll_delivery_ms', true);
const delivered = new Rate('delivered');
const polls = new Counter('polls');
const announced = new Counter('broadcasts_sent');

export const options = {
  scenarios: {
    listen: { executor: 'per-vu-iterations', vus: LISTENERS, iterations: 1, maxDuration: '15m', exec: 'listen' },
    trigger: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '15m', exec: 'trigger' },
  },
  thresholds: {
    delivered: ['rate==1'],
    checks: ['rate>0.99'],
    http_req_failed: ['rate<0.01'],
  },
  summaryTrendStats,
};

/** The events of one SSE body: { id, data } for each event that has an id or data. */
function sseEvents(body) {
  const out = [];
  for (const block of String(body || '').split(/\r?\n\r?\n/)) {
    let id;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('id:')) id = line.slice(3).trim();
      else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    }
    if (id !== undefined || data.length > 0) out.push({ id, data: data.join('\n') });
  }
  return out;
}

/** The broadcast index and send time in an `announce` notification of run `runId`, or undefined. */
function broadcastOf(data, runId) {
  try {
    const message = JSON.parse(data);
    const payload = message && message.params && message.params.data;
    const match = payload && typeof payload.text === 'string' && payload.text.match(/^poll (\d+) (\d+)$/);
    if (!match || match[1] !== runId) return undefined;
    return { index: Number(match[2]), sentAtMs: Number(payload.sent_at_ms) };
  } catch (_) {
    return undefined;
  }
}

// One id for the whole run: init code runs once per VU, so an id made there would differ between the
// trigger and the listeners.
export function setup() {
  return { runId: `${Date.now()}` };
}

export function listen(data) {
  const session = initialize();
  if (!check(session, { 'listener: session opened': (s) => s.ok })) {
    for (let i = 0; i < BROADCASTS; i++) delivered.add(false);
    return;
  }
  const seen = new Set();
  let cursor;
  const deadline = Date.now() + (SETTLE_S + (BROADCASTS * GAP_MS) / 1000 + DRAIN_S) * 1000;
  while (seen.size < BROADCASTS && Date.now() < deadline) {
    const headers = {
      Accept: 'text/event-stream',
      'Mcp-Session-Id': session.sessionId,
      'MCP-Protocol-Version': PROTOCOL_VERSION,
    };
    if (cursor) headers['Last-Event-ID'] = cursor;
    const res = http.get(MCP_URL, { headers, timeout: POLL_TIMEOUT, tags: { name: 'mcp GET poll' } });
    const arrivedMs = Date.now();
    polls.add(1);
    const ok = check(res, {
      'poll: status 200': (r) => r.status === 200,
      'poll: event stream': (r) => String(header(r, 'Content-Type') || '').includes('text/event-stream'),
    });
    if (!ok) {
      sleep(0.2);
      continue;
    }
    for (const event of sseEvents(res.body)) {
      if (event.id) cursor = event.id;
      const broadcast = broadcastOf(event.data, data.runId);
      if (broadcast && !seen.has(broadcast.index)) {
        seen.add(broadcast.index);
        deliveryMs.add(arrivedMs - broadcast.sentAtMs);
      }
    }
  }
  for (let i = 0; i < BROADCASTS; i++) delivered.add(seen.has(i));
  deleteSession(session.sessionId);
}

export function trigger(data) {
  sleep(SETTLE_S);
  const session = initialize();
  if (!check(session, { 'trigger: session opened': (s) => s.ok })) return;
  for (let i = 0; i < BROADCASTS; i++) {
    const r = callTool(session.sessionId, 'announce', { text: `poll ${data.runId} ${i}` }, { kind: 'broadcast' });
    if (r.ok) announced.add(1);
    sleep(GAP_MS / 1000);
  }
  deleteSession(session.sessionId);
}

export const handleSummary = makeHandleSummary('sse_poll', ['poll_delivery_ms'], ['polls', 'broadcasts_sent']);

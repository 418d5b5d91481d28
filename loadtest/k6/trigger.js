// Broadcast and targeted-send triggering: setup() opens SESSIONS sessions and subscribes the first
// SUBSCRIBE_FRACTION of them to mesh://counter; the load then alternates `announce` (a broadcast to
// every session) and `increment` (a targeted send to the counter's subscribers), round-robin over
// the sessions; teardown() DELETEs them.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8787 -e RATE=10 -e SESSIONS=20 loadtest/k6/trigger.js
//
// RATE is tool calls per second (half announce, half increment). This measures how long the
// triggering call takes; the delivery latency to GET streams is measured by a separate probe,
// since k6 cannot read long-lived SSE streams.
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { callTool, deleteMany, openSessions, subscribe } from './lib/mcp.js';
import { envNumber, envString, scenarioFromEnv, summaryTrendStats, thresholds } from './lib/options.js';
import { makeHandleSummary } from './lib/summary.js';

const SESSIONS = envNumber('SESSIONS', 20);
const SUBSCRIBE_FRACTION = envNumber('SUBSCRIBE_FRACTION', 0.5);
const SETUP_PARALLEL = envNumber('SETUP_PARALLEL', 20);
const THINK_TIME = envNumber('THINK_TIME', 0);
const COUNTER_URI = 'mesh://counter';

const broadcastCall = new Trend('broadcast_call_ms', true);
const targetedCall = new Trend('targeted_call_ms', true);
// Reported by the mesh only (structuredContent.delivered / .notified); absent on the baseline.
const broadcastDelivered = new Counter('broadcast_delivered');
const targetedNotified = new Counter('targeted_notified');

export const options = {
  scenarios: { trigger: scenarioFromEnv({ rate: 10, duration: '30s', vusPerRate: 3, vus: 10 }) },
  thresholds: thresholds(['broadcast_call_ms', 'targeted_call_ms']),
  summaryTrendStats,
  setupTimeout: envString('SETUP_TIMEOUT', '5m'),
  teardownTimeout: envString('TEARDOWN_TIMEOUT', '5m'),
};

export function setup() {
  const sessions = openSessions(SESSIONS, SETUP_PARALLEL);
  const want = Math.min(sessions.length, Math.round(sessions.length * SUBSCRIBE_FRACTION));
  let subscribed = 0;
  for (let i = 0; i < want; i++) if (subscribe(sessions[i], COUNTER_URI).ok) subscribed += 1;
  console.log(`setup: ${sessions.length} sessions, ${subscribed} subscribed to ${COUNTER_URI}`);
  return { sessions, subscribed };
}

export default function (data) {
  const i = exec.scenario.iterationInTest;
  const sid = data.sessions[Math.floor(i / 2) % data.sessions.length];
  if (i % 2 === 0) {
    const r = callTool(sid, 'announce', { text: `k6 trigger ${i}` }, { kind: 'broadcast' });
    if (r.res.status !== 0) broadcastCall.add(r.durationMs);
    const sc = r.result && r.result.structuredContent;
    if (sc && typeof sc.delivered === 'number') broadcastDelivered.add(sc.delivered);
  } else {
    const r = callTool(sid, 'increment', {}, { kind: 'targeted' });
    if (r.res.status !== 0) targetedCall.add(r.durationMs);
    const sc = r.result && r.result.structuredContent;
    if (sc && typeof sc.notified === 'number') targetedNotified.add(sc.notified);
  }
  if (THINK_TIME > 0) sleep(THINK_TIME);
}

export function teardown(data) {
  deleteMany(data.sessions, SETUP_PARALLEL);
}

export const handleSummary = makeHandleSummary(
  'trigger',
  ['broadcast_call_ms', 'targeted_call_ms'],
  ['broadcast_delivered', 'targeted_notified'],
);

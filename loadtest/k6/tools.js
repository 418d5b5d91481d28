// Tool-call throughput over long-lived sessions: setup() opens SESSIONS sessions, then every
// iteration is one tools/call (`increment`, or `announce` with TOOL=announce) on the next session,
// round-robin; teardown() DELETEs them.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8787 -e RATE=20 -e SESSIONS=20 loadtest/k6/tools.js
//
// RATE is tool calls per second.
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Trend } from 'k6/metrics';
import { callTool, deleteMany, openSessions } from './lib/mcp.js';
import { envNumber, envString, scenarioFromEnv, summaryTrendStats, thresholds } from './lib/options.js';
import { makeHandleSummary } from './lib/summary.js';

const SESSIONS = envNumber('SESSIONS', 20);
const TOOL = envString('TOOL', 'increment');
const SETUP_PARALLEL = envNumber('SETUP_PARALLEL', 20);
const THINK_TIME = envNumber('THINK_TIME', 0);
if (TOOL !== 'increment' && TOOL !== 'announce') throw new Error(`TOOL=${TOOL}: use increment or announce`);

const toolCall = new Trend('tool_call_ms', true);

export const options = {
  scenarios: { tools: scenarioFromEnv({ rate: 10, duration: '30s', vusPerRate: 3, vus: 10 }) },
  thresholds: thresholds(['tool_call_ms']),
  summaryTrendStats,
  setupTimeout: envString('SETUP_TIMEOUT', '5m'),
  teardownTimeout: envString('TEARDOWN_TIMEOUT', '5m'),
};

export function setup() {
  const sessions = openSessions(SESSIONS, SETUP_PARALLEL);
  return { sessions };
}

export default function (data) {
  const i = exec.scenario.iterationInTest;
  const sid = data.sessions[i % data.sessions.length];
  const args = TOOL === 'announce' ? { text: `k6 tools ${i}` } : {};
  const r = callTool(sid, TOOL, args);
  if (r.res.status !== 0) toolCall.add(r.durationMs);
  if (THINK_TIME > 0) sleep(THINK_TIME);
}

export function teardown(data) {
  deleteMany(data.sessions, SETUP_PARALLEL);
}

export const handleSummary = makeHandleSummary(`tools (${TOOL})`, ['tool_call_ms'], []);

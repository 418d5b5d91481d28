// Session churn: every iteration is one whole session lifetime —
// initialize, notifications/initialized, tools/list, tools/call increment, DELETE.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8787 -e RATE=5 -e DURATION=30s loadtest/k6/churn.js
//
// RATE is sessions (iterations) per second; each is 5 HTTP requests.
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { callTool, deleteSession, initialize, request } from './lib/mcp.js';
import { envNumber, scenarioFromEnv, summaryTrendStats, thresholds } from './lib/options.js';
import { makeHandleSummary } from './lib/summary.js';

const sessionCreate = new Trend('session_create_ms', true);
const sessionsCreated = new Counter('sessions_created');
const THINK_TIME = envNumber('THINK_TIME', 0);

export const options = {
  scenarios: { churn: scenarioFromEnv({ rate: 5, duration: '30s', vusPerRate: 2, vus: 5 }) },
  thresholds: thresholds(['session_create_ms']),
  summaryTrendStats,
};

export default function () {
  const s = initialize();
  if (!s.sessionId) return;
  sessionCreate.add(s.durationMs);
  if (s.ok) sessionsCreated.add(1);
  request(s.sessionId, 'tools/list');
  callTool(s.sessionId, 'increment', {});
  deleteSession(s.sessionId);
  if (THINK_TIME > 0) sleep(THINK_TIME);
}

export const handleSummary = makeHandleSummary('churn', ['session_create_ms'], ['sessions_created']);

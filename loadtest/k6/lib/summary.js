// End-of-test summary for the MCP scripts.
//
// k6 prints its built-in text summary only when handleSummary() returns nothing, and the helper
// that renders it (textSummary) lives in a remote jslib this machine cannot fetch. So the stdout
// written here has two parts: a full listing in the spirit of k6's default (thresholds, checks,
// every metric) and, last, a compact MCP block that is easy to grep. With SUMMARY_JSON=<path> the
// k6 summary data (plus a `compact` object with the same key numbers) is written to that path.
import { MCP_URL } from './mcp.js';

function fmtMs(v) {
  if (v === undefined || v === null || !Number.isFinite(v)) return '-';
  if (v >= 1000) return `${(v / 1000).toFixed(2)}s`;
  if (v >= 1) return `${v.toFixed(2)}ms`;
  return `${(v * 1000).toFixed(0)}µs`;
}

function fmtNum(v) {
  if (v === undefined || v === null || !Number.isFinite(v)) return '-';
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

function pct(v) {
  return Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '-';
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s + ' ' : s + '.'.repeat(n - s.length) + ' ';
}

function trendLine(values, isTime) {
  const f = isTime ? fmtMs : fmtNum;
  const order = ['avg', 'min', 'med', 'max'];
  const rank = (k) =>
    order.includes(k) ? order.indexOf(k) : k.startsWith('p(') ? 4 + parseFloat(k.slice(2)) / 1000 : 9;
  return Object.keys(values)
    .filter((k) => k !== 'count')
    .sort((a, b) => rank(a) - rank(b))
    .map((k) => `${k}=${f(values[k])}`)
    .join(' ');
}

function metricLine(m) {
  const v = m.values || {};
  switch (m.type) {
    case 'trend':
      return trendLine(v, m.contains === 'time');
    case 'counter':
      return `${fmtNum(v.count)} ${fmtNum(v.rate)}/s`;
    case 'rate':
      return `${pct(v.rate)} ${v.passes} out of ${v.passes + v.fails}`;
    case 'gauge':
      return `value=${fmtNum(v.value)} min=${fmtNum(v.min)} max=${fmtNum(v.max)}`;
    default:
      return JSON.stringify(v);
  }
}

function collectChecks(group, out) {
  for (const c of group.checks || []) out.push(c);
  for (const g of group.groups || []) collectChecks(g, out);
  return out;
}

function thresholdResults(data) {
  const out = [];
  for (const name of Object.keys(data.metrics).sort()) {
    const th = data.metrics[name].thresholds;
    if (!th) continue;
    for (const expr of Object.keys(th)) out.push({ metric: name, expr, ok: th[expr].ok });
  }
  return out;
}

function fullText(data) {
  const lines = [];
  const ths = thresholdResults(data);
  if (ths.length) {
    lines.push('  █ THRESHOLDS', '');
    for (const t of ths) {
      lines.push(`    ${t.ok ? '✓' : '✗'} ${t.metric} '${t.expr}' (${metricLine(data.metrics[t.metric])})`);
    }
    lines.push('');
  }
  const checks = collectChecks(data.root_group || {}, []);
  if (checks.length) {
    lines.push('  █ CHECKS', '');
    for (const c of checks) {
      lines.push(`    ${c.fails === 0 ? '✓' : '✗'} ${c.name} (${c.passes} passed, ${c.fails} failed)`);
    }
    lines.push('');
  }
  lines.push('  █ METRICS', '');
  const names = Object.keys(data.metrics).sort();
  const width = Math.max(...names.map((n) => n.length), 20) + 4;
  for (const name of names) lines.push(`    ${pad(name, width)}: ${metricLine(data.metrics[name])}`);
  lines.push('');
  return lines.join('\n');
}

/** The key numbers as a plain object (also written into SUMMARY_JSON as `compact`). */
export function compact(data, title, trendNames, counterNames) {
  const m = data.metrics;
  const val = (name, key) => (m[name] && m[name].values ? m[name].values[key] : undefined);
  const trends = {};
  for (const name of ['http_req_duration', ...(trendNames || [])]) {
    if (!m[name]) continue;
    const v = m[name].values;
    trends[name] = { avg: v.avg, med: v.med, p95: v['p(95)'], p99: v['p(99)'], max: v.max, count: v.count };
  }
  const counters = {};
  for (const name of counterNames || []) if (m[name]) counters[name] = val(name, 'count');
  // Every Rate metric (checks, http_req_failed, and a script's own such as sse_poll's `delivered`).
  const rates = {};
  for (const name of Object.keys(m)) if (m[name].type === 'rate') rates[name] = val(name, 'rate');
  const ths = thresholdResults(data);
  return {
    script: title,
    target: MCP_URL,
    duration_s: (data.state && data.state.testRunDurationMs ? data.state.testRunDurationMs : 0) / 1000,
    http_reqs: val('http_reqs', 'count') || 0,
    http_reqs_per_s: val('http_reqs', 'rate') || 0,
    iterations: val('iterations', 'count') || 0,
    iterations_per_s: val('iterations', 'rate') || 0,
    dropped_iterations: val('dropped_iterations', 'count') || 0,
    http_req_failed_rate: val('http_req_failed', 'rate'),
    checks_rate: val('checks', 'rate'),
    trends,
    counters,
    rates,
    thresholds: ths,
    passed: ths.every((t) => t.ok),
  };
}

function compactText(c) {
  const lines = [];
  lines.push(`  █ MCP SUMMARY (${c.script}) ${c.target} ${c.duration_s.toFixed(1)}s`);
  lines.push(
    `    requests ${c.http_reqs} (${c.http_reqs_per_s.toFixed(1)}/s), failed ${pct(c.http_req_failed_rate)}, ` +
      `checks ${pct(c.checks_rate)}, iterations ${c.iterations} (${c.iterations_per_s.toFixed(1)}/s), ` +
      `dropped ${c.dropped_iterations}`,
  );
  for (const name of Object.keys(c.trends)) {
    const t = c.trends[name];
    lines.push(
      `    ${pad(name, 22)}n=${t.count} avg=${fmtMs(t.avg)} p50=${fmtMs(t.med)} p95=${fmtMs(t.p95)} ` +
        `p99=${fmtMs(t.p99)} max=${fmtMs(t.max)}`,
    );
  }
  for (const name of Object.keys(c.counters)) lines.push(`    ${pad(name, 22)}${c.counters[name]}`);
  lines.push(
    `    thresholds: ${c.thresholds.map((t) => `${t.ok ? '✓' : '✗'} ${t.metric} ${t.expr}`).join(', ')}`,
  );
  lines.push(`    result: ${c.passed ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}

/** handleSummary for a script: `trendNames` / `counterNames` are its custom metrics. */
export function makeHandleSummary(title, trendNames, counterNames) {
  return function handleSummary(data) {
    const c = compact(data, title, trendNames, counterNames);
    const out = { stdout: `\n${fullText(data)}\n${compactText(c)}\n\n` };
    if (__ENV.SUMMARY_JSON) {
      out[__ENV.SUMMARY_JSON] = JSON.stringify(Object.assign({}, data, { compact: c }), null, 2);
    }
    return out;
  };
}

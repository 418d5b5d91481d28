// Minimal MCP Streamable HTTP client for k6 (protocol revision 2025-11-25).
//
// Uses only standard MCP requests, so the same scripts run against the mesh (src/mcp/reference.rs)
// and the baseline Worker (loadtest/baseline). Every POST response may be `application/json` or a
// `text/event-stream` that ends once the JSON-RPC response has been written; k6 reads the whole
// body and `parseMessages` pulls the JSON-RPC messages out of it. k6 cannot read long-lived SSE
// streams (the GET stream), so nothing here opens one.
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8787').replace(/\/+$/, '');
export const MCP_PATH = __ENV.MCP_PATH || '/mcp';
export const MCP_URL = BASE_URL + MCP_PATH;
export const PROTOCOL_VERSION = '2025-11-25';
// Per-request timeout (k6 duration string).
export const REQUEST_TIMEOUT = __ENV.REQUEST_TIMEOUT || '30s';

const CLIENT_INFO = { name: 'k6', version: '1' };

// JSON-RPC ids must not repeat within a session, and several VUs may share one session
// (tools.js, trigger.js), so ids are made unique per VU: vu * 1e7 + n. Setup/teardown run as VU 0.
let idCounter = 0;
function vuNumber() {
  try {
    return exec.vu.idInTest || 0;
  } catch (_) {
    return 0;
  }
}
export function nextId() {
  idCounter += 1;
  return vuNumber() * 10000000 + idCounter;
}

/** Request headers; `sessionId` is added (with MCP-Protocol-Version) once initialize is done, and
 *  `Authorization: Bearer $BEARER` when BEARER is set (an access token for an OAuth-protected mesh). */
export function mcpHeaders(sessionId) {
  const h = {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
  };
  if (__ENV.BEARER) h.Authorization = `Bearer ${__ENV.BEARER}`;
  if (sessionId) {
    h['Mcp-Session-Id'] = sessionId;
    h['MCP-Protocol-Version'] = PROTOCOL_VERSION;
  }
  return h;
}

/** Case-insensitive response header lookup (k6 canonicalises header names). */
export function header(res, name) {
  if (!res || !res.headers) return undefined;
  const want = name.toLowerCase();
  for (const k in res.headers) {
    if (k.toLowerCase() === want) return res.headers[k];
  }
  return undefined;
}

/** Parses an SSE body into its events' `data` payloads (multi-line data joined with "\n"). */
export function parseSseData(body) {
  const out = [];
  const blocks = String(body || '').split(/\r?\n\r?\n/);
  for (const block of blocks) {
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('data:')) {
        let v = line.slice(5);
        if (v.startsWith(' ')) v = v.slice(1);
        data.push(v);
      }
    }
    if (data.length > 0) out.push(data.join('\n'));
  }
  return out;
}

/**
 * Every JSON-RPC message in a POST response, whether it is `application/json` (one object, or an
 * array) or `text/event-stream` (one message per event; events with empty data, such as the
 * priming event that carries only an id, are skipped).
 */
export function parseMessages(res) {
  if (!res || typeof res.body !== 'string' || res.body.length === 0) return [];
  const ctype = String(header(res, 'Content-Type') || '').toLowerCase();
  const payloads = ctype.includes('text/event-stream') ? parseSseData(res.body) : [res.body];
  const out = [];
  for (const p of payloads) {
    if (!p || !p.trim()) continue;
    try {
      const v = JSON.parse(p);
      if (Array.isArray(v)) out.push(...v);
      else out.push(v);
    } catch (_) {
      // not JSON: ignore the event
    }
  }
  return out;
}

/** The JSON-RPC response (result or error) for `id` among `messages`, or undefined. */
export function findResponse(messages, id) {
  for (const m of messages) {
    if (m && m.id === id && (m.result !== undefined || m.error !== undefined)) return m;
  }
  return undefined;
}

/**
 * Sends one JSON-RPC request and returns { res, msg, ok, durationMs }:
 * `msg` is the matching JSON-RPC response, `ok` is HTTP 200 with a `result` (not an `error`).
 * `label` names the check ("<label>: ...") and the request's `name` tag.
 */
export function request(sessionId, method, params, label, extraTags) {
  const id = nextId();
  const payload = { jsonrpc: '2.0', id, method };
  if (params !== undefined) payload.params = params;
  const name = label || method;
  const res = http.post(MCP_URL, JSON.stringify(payload), {
    headers: mcpHeaders(sessionId),
    timeout: REQUEST_TIMEOUT,
    tags: Object.assign({ name: `mcp ${name}`, mcp_method: method }, extraTags || {}),
  });
  const msg = findResponse(parseMessages(res), id);
  const ok = check(res, {
    [`${name}: status 200`]: (r) => r.status === 200,
    [`${name}: JSON-RPC result`]: () => !!msg && msg.result !== undefined,
  });
  return { res, msg, ok, durationMs: res.timings.duration };
}

/** Sends a JSON-RPC notification; the server answers 202 Accepted. */
export function notify(sessionId, method, params, label) {
  const payload = { jsonrpc: '2.0', method };
  if (params !== undefined) payload.params = params;
  const name = label || method;
  const res = http.post(MCP_URL, JSON.stringify(payload), {
    headers: mcpHeaders(sessionId),
    timeout: REQUEST_TIMEOUT,
    tags: { name: `mcp ${name}`, mcp_method: method },
  });
  const ok = check(res, { [`${name}: status 202`]: (r) => r.status === 202 });
  return { res, ok, durationMs: res.timings.duration };
}

function initializeBody(id) {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: CLIENT_INFO },
  });
}

function checkInitialize(res, id) {
  const sessionId = header(res, 'Mcp-Session-Id');
  const msg = findResponse(parseMessages(res), id);
  const ok = check(res, {
    'initialize: status 200': (r) => r.status === 200,
    'initialize: Mcp-Session-Id header': () => !!sessionId,
    'initialize: JSON-RPC result': () => !!msg && msg.result !== undefined,
  });
  return { sessionId: ok ? sessionId : undefined, ok, msg };
}

/**
 * initialize + notifications/initialized. Returns { sessionId, ok, durationMs } where durationMs is
 * the two requests' k6 `duration` (send + wait + receive) added together.
 */
export function initialize() {
  const id = nextId();
  const res = http.post(MCP_URL, initializeBody(id), {
    headers: mcpHeaders(),
    timeout: REQUEST_TIMEOUT,
    tags: { name: 'mcp initialize', mcp_method: 'initialize' },
  });
  const init = checkInitialize(res, id);
  if (!init.ok) return { sessionId: undefined, ok: false, durationMs: res.timings.duration, res };
  const n = notify(init.sessionId, 'notifications/initialized');
  return {
    sessionId: init.sessionId,
    ok: n.ok,
    durationMs: res.timings.duration + n.durationMs,
    res,
  };
}

/**
 * Opens `count` sessions with http.batch, `parallel` at a time (for setup()). Returns the ids of
 * the sessions that were fully initialized.
 */
export function initializeMany(count, parallel) {
  const ids = [];
  const width = Math.max(1, parallel || 20);
  for (let start = 0; start < count; start += width) {
    const n = Math.min(width, count - start);
    const reqIds = [];
    const reqs = [];
    for (let i = 0; i < n; i++) {
      const id = nextId();
      reqIds.push(id);
      reqs.push({
        method: 'POST',
        url: MCP_URL,
        body: initializeBody(id),
        params: {
          headers: mcpHeaders(),
          timeout: REQUEST_TIMEOUT,
          tags: { name: 'mcp initialize', mcp_method: 'initialize' },
        },
      });
    }
    const inits = http.batch(reqs).map((r, i) => checkInitialize(r, reqIds[i]));
    const opened = inits.filter((x) => x.ok).map((x) => x.sessionId);
    const acks = http.batch(
      opened.map((sid) => ({
        method: 'POST',
        url: MCP_URL,
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
        params: {
          headers: mcpHeaders(sid),
          timeout: REQUEST_TIMEOUT,
          tags: { name: 'mcp notifications/initialized', mcp_method: 'notifications/initialized' },
        },
      })),
    );
    acks.forEach((r, i) => {
      if (check(r, { 'notifications/initialized: status 202': (x) => x.status === 202 })) {
        ids.push(opened[i]);
      }
    });
  }
  return ids;
}

/**
 * tools/call. `ok` additionally requires the tool result not to be an error (isError !== true).
 * Returns { res, msg, result, ok, durationMs }.
 */
/** Opens `count` sessions for a script's setup(); fails the run if none opens, warns if some don't. */
export function openSessions(count, parallel) {
  const sessions = initializeMany(count, parallel);
  if (sessions.length === 0) throw new Error(`setup: no session could be opened at the target`);
  if (sessions.length < count) console.warn(`setup: opened ${sessions.length} of ${count} sessions`);
  return sessions;
}

export function callTool(sessionId, name, args, extraTags) {
  const label = `tools/call ${name}`;
  const tags = Object.assign({ tool: name }, extraTags || {});
  const r = request(sessionId, 'tools/call', { name, arguments: args || {} }, label, tags);
  const result = r.msg && r.msg.result;
  const notError = check(result, { [`${label}: isError false`]: (x) => !!x && x.isError !== true });
  return { res: r.res, msg: r.msg, result, ok: r.ok && notError, durationMs: r.durationMs };
}

/** resources/subscribe to `uri`. */
export function subscribe(sessionId, uri) {
  return request(sessionId, 'resources/subscribe', { uri });
}

/** DELETE the session (the server answers 200; any 2xx passes). */
export function deleteSession(sessionId) {
  const res = http.del(MCP_URL, null, {
    headers: mcpHeaders(sessionId),
    timeout: REQUEST_TIMEOUT,
    tags: { name: 'mcp DELETE', mcp_method: 'DELETE' },
  });
  const ok = check(res, { 'DELETE: status 2xx': (r) => r.status >= 200 && r.status < 300 });
  return { res, ok };
}

/** DELETE many sessions, `parallel` at a time (for teardown()). Returns how many succeeded. */
export function deleteMany(sessionIds, parallel) {
  const width = Math.max(1, parallel || 20);
  let deleted = 0;
  for (let start = 0; start < sessionIds.length; start += width) {
    const chunk = sessionIds.slice(start, start + width);
    const rs = http.batch(
      chunk.map((sid) => ({
        method: 'DELETE',
        url: MCP_URL,
        body: null,
        params: {
          headers: mcpHeaders(sid),
          timeout: REQUEST_TIMEOUT,
          tags: { name: 'mcp DELETE', mcp_method: 'DELETE' },
        },
      })),
    );
    for (const r of rs) {
      if (check(r, { 'DELETE: status 2xx': (x) => x.status >= 200 && x.status < 300 })) deleted += 1;
    }
  }
  return deleted;
}

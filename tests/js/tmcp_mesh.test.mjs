// The tmcp adapter (js/tmcp-mesh) against a fake shard namespace: node --test. What needs the runtime
// (the wasm routing, real sockets, hibernation) is covered end to end in tests/e2e.rs (tmcp::*).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh } from '../../js/tmcp-mesh/src/mesh.js';
import {
  AWAIT_RECORD_MS,
  CONNECT_QUERY,
  COORDINATOR_PATH,
  HEADER_OBJECT_NAME,
  SHARD_PATH,
} from '../../js/tmcp-mesh/src/protocol.js';
import { MeshInfo, RequestScope } from '../../js/tmcp-mesh/src/info.js';
import { MeshStreams } from '../../js/tmcp-mesh/src/streams.js';
import { relay, MAX_UNREAD_EVENTS } from '../../js/tmcp-mesh/src/relay.js';
import { respond, CODE_SESSION_NOT_FOUND } from '../../js/tmcp-mesh/src/respond.js';
import { FakeSocket } from './fake_socket.mjs';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// A stand-in for the wasm routing and send plan: any deterministic map and plan works for the
// adapter's own logic (send_plan_pin.test.mjs pins the adapter's sends to the real plan).
const hash = (key, count) => [...key].reduce((sum, c) => sum * 31 + c.charCodeAt(0), 7) % count;
const routing = {
  shardsFor: (ids, count) => ids.map((id) => hash(id, count)),
  candidates: (key, count, previous) => [...new Set([count, ...previous].map((n) => hash(key, n)))],
  planTargeted: (ids, count) => {
    const byShard = new Map();
    for (const id of new Set(ids)) byShard.set(hash(id, count), [...(byShard.get(hash(id, count)) ?? []), id]);
    return [...byShard].map(([shard, sessions]) => ({ shard, sessions }));
  },
  planBroadcast: (members) => members.filter((m) => m.sessions > 0).map((m) => ({ shard: m.shard })),
  planCalls: (batches, relayAbove) => {
    if (relayAbove === 0 || batches.length <= relayAbove) {
      return batches.map((b) => ({ object: `shard-${b.shard}`, path: SHARD_PATH.SEND, body: b.sessions ? { sessions: b.sessions } : {} }));
    }
    const relays = Math.ceil(Math.sqrt(batches.length));
    const shares = Array.from({ length: relays }, () => []);
    batches.forEach((batch, i) => shares[i % relays].push(batch));
    return shares.map((share, i) => ({ object: `relay-${i}`, path: SHARD_PATH.RELAY_SEND, body: { batches: share } }));
  },
  idsToRetry: (missing, current, previous) => missing.filter((id) => hash(id, previous) !== hash(id, current)),
  absorbRetry: (reply, retried, again) => ({
    delivered: reply.delivered + again.delivered,
    failed: reply.failed + again.failed,
    missing: reply.missing - retried + again.missing,
    missing_ids: again.missing_ids,
  }),
};

/** Shards and a coordinator that answer the protocol's POSTs from memory, and log every call. */
function fakeMesh({ shardCount = 4, previousShardCounts = [], failShard = null, relayAboveShards = 0 } = {}) {
  const calls = [];
  const shards = new Map();
  const shard = (name) => {
    if (!shards.has(name)) shards.set(name, { records: new Map(), topics: new Map(), streams: new Set() });
    return shards.get(name);
  };
  const handle = (name, path, body) => {
    const s = shard(name);
    switch (path) {
      case COORDINATOR_PATH.LIST_MEMBERS:
        return {
          members: [...shards]
            .filter(([n]) => n.startsWith('shard-'))
            .map(([n, v]) => ({ shard: Number(n.slice(6)), sessions: v.streams.size })),
        };
      case SHARD_PATH.SEND: {
        if (name === `shard-${failShard}`) return [503, { error: 'shard unavailable' }];
        assert.equal(typeof body.payload.event, 'string', 'a send carries tmcp\'s framed event as its payload');
        const targets = body.sessions ?? [...s.streams];
        const missing_ids = targets.filter((id) => !s.streams.has(id));
        const delivered = targets.length - missing_ids.length;
        return { delivered, failed: 0, missing: missing_ids.length, ...(body.sessions ? { missing_ids } : {}) };
      }
      case SHARD_PATH.RELAY_SEND: {
        assert.ok(name.startsWith('relay-'), 'a relay send goes to a relay');
        const total = { delivered: 0, failed: 0, missing: 0, missing_ids: [] };
        for (const batch of body.batches) {
          const answer = handle(`shard-${batch.shard}`, SHARD_PATH.SEND, { sessions: batch.sessions, payload: body.payload });
          if (Array.isArray(answer)) return answer;
          total.delivered += answer.delivered;
          total.missing += answer.missing;
          total.missing_ids.push(...(answer.missing_ids ?? []));
        }
        return total;
      }
      case SHARD_PATH.HAS_STREAM:
        return { has: s.streams.has(body.session) };
      case SHARD_PATH.CLOSE_STREAM:
        return { existed: s.streams.delete(body.session) };
      case SHARD_PATH.REGISTER_SESSION:
        s.records.set(body.session, structuredClone(body.record));
        return {};
      case SHARD_PATH.GET_SESSION:
        if (/\s/.test(body.session)) return [400, { error: 'Invalid Request: bad session id' }];
        return { record: s.records.get(body.session) ?? null, stream_open: s.streams.has(body.session) };
      case SHARD_PATH.UPDATE_SESSION: {
        const record = s.records.get(body.session);
        if (!record) return [404, { error: 'Session not found' }];
        if (body.log_level) record.log_level = body.log_level;
        if (body.add_subscription) record.subscriptions.push(body.add_subscription);
        if (body.remove_subscription) {
          record.subscriptions = record.subscriptions.filter((t) => t !== body.remove_subscription);
        }
        return {};
      }
      case SHARD_PATH.END_SESSION: {
        const existed = s.records.delete(body.session);
        s.streams.delete(body.session);
        return { existed };
      }
      case SHARD_PATH.SUBSCRIBE:
        if (!s.topics.has(body.topic)) s.topics.set(body.topic, new Set());
        s.topics.get(body.topic).add(body.session);
        return {};
      case SHARD_PATH.UNSUBSCRIBE:
        s.topics.get(body.topic)?.delete(body.session);
        return {};
      case SHARD_PATH.LIST_SUBSCRIBERS:
        return { sessions: [...(s.topics.get(body.topic) ?? [])] };
      case SHARD_PATH.GET_STATUS:
        return { shard: Number(name.slice(6)), sessions: s.streams.size, registered: s.records.size, instance: 'x' };
      default:
        return [404, { error: 'not found' }];
    }
  };
  const namespace = {
    getByName: (name) => ({
      async fetch(url, init) {
        const path = new URL(url).pathname;
        assert.equal(init.headers[HEADER_OBJECT_NAME], name, 'every call names its object');
        const body = init.body === undefined ? undefined : JSON.parse(init.body);
        calls.push({ name, path, body });
        // A turn of the event loop, as a real call takes: lets out-of-order bugs show.
        await new Promise((resolve) => setTimeout(resolve, 1));
        const answer = handle(name, path, body);
        const [status, reply] = Array.isArray(answer) ? answer : [200, answer];
        return new Response(JSON.stringify(reply), { status });
      },
    }),
  };
  const settings = { shardCount, previousShardCounts, keepaliveMs: 25000, relayAboveShards };
  const mesh = new Mesh({ shards: namespace, coordinator: namespace, settings, routing });
  const open = (id, count = shardCount) => shard(`shard-${hash(id, count)}`).streams.add(id);
  return { mesh, calls, shard, open };
}

test('a targeted send makes one call per shard with exactly that shard\'s ids', async () => {
  const { mesh, calls, open } = fakeMesh();
  const ids = Array.from({ length: 40 }, (_, i) => `s-${i}`);
  ids.forEach((id) => open(id));
  const report = await mesh.send([...ids, ids[0]], 'event: message\ndata: {}\n\n');
  assert.deepEqual(report, { delivered: 40, failed: 0, missing: 0 });
  const sends = calls.filter((c) => c.path === SHARD_PATH.SEND);
  assert.equal(new Set(sends.map((c) => c.name)).size, sends.length, 'one call per shard');
  for (const call of sends) {
    assert.ok(call.body.sessions.every((id) => `shard-${hash(id, 4)}` === call.name), 'ids on their own shard');
  }
  assert.equal(sends.flatMap((c) => c.body.sessions).length, 40, 'duplicates dropped');
});

test('a broadcast reaches the member shards only, and a failed shard fails the send', async () => {
  const { mesh, calls, open, shard } = fakeMesh({ failShard: null });
  ['a', 'b', 'c'].forEach((id) => open(id));
  shard('shard-9'); // known to the coordinator, but holds nothing
  const report = await mesh.send(undefined, 'x');
  assert.equal(report.delivered, 3);
  const sent = calls.filter((c) => c.path === SHARD_PATH.SEND);
  assert.ok(sent.every((c) => c.body.sessions === undefined && c.name !== 'shard-9'));
  const failing = fakeMesh({ failShard: hash('a', 4) });
  failing.open('a');
  await assert.rejects(failing.mesh.send(undefined, 'x'), /shard unavailable/);
});

/**
 * Shards whose sends answer headers first, as the real ones do: each send's headers resolve when the
 * test says so, and its body (the report) stays open until the test ends it or fails it.
 */
function headersFirstShards(count) {
  const sends = [];
  const namespace = {
    getByName: (name) => ({
      async fetch(url, init) {
        if (new URL(url).pathname === COORDINATOR_PATH.LIST_MEMBERS) {
          const members = Array.from({ length: count }, (_, shard) => ({ shard, sessions: 1 }));
          return new Response(JSON.stringify({ members }));
        }
        let controller;
        const body = new ReadableStream({ start: (c) => (controller = c) });
        let answerHeaders;
        const headers = new Promise((resolve) => (answerHeaders = resolve));
        sends.push({
          name,
          headers: () => answerHeaders(),
          report: (delivered) => {
            controller.enqueue(encoder.encode(JSON.stringify({ delivered, failed: 0, missing: 0 })));
            controller.close();
          },
          die: () => controller.error(new Error('object reset')),
          endEmpty: () => controller.close(),
        });
        await headers;
        return new Response(body);
      },
    }),
  };
  const settings = { shardCount: count, previousShardCounts: [], keepaliveMs: 25000 };
  return { mesh: new Mesh({ shards: namespace, coordinator: namespace, settings, routing }), sends };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

test('a broadcast keeps six calls waiting for headers, and starts the seventh when the first headers come', async () => {
  const { mesh, sends } = headersFirstShards(8);
  const outcome = mesh.send(undefined, 'x');
  await turns();
  assert.equal(sends.length, 6, 'six calls wait for their headers');
  sends[0].headers();
  await turns();
  assert.equal(sends.length, 7, 'call 7 starts when call 1 has its headers, its body still open');
  sends.forEach((send) => send.headers());
  await turns();
  assert.equal(sends.length, 8, 'the last call starts as headers come');
  sends[7].headers();
  await turns();
  let settled = false;
  outcome.then(() => (settled = true));
  await turns();
  assert.equal(settled, false, 'the send waits for every report');
  sends.forEach((send, i) => send.report(i + 1));
  assert.deepEqual(await outcome, { delivered: 36, failed: 0, missing: 0 }, 'every report counted');
});

test('a shard that fails after its headers, or ends without a report, fails the send', async () => {
  for (const end of ['die', 'endEmpty']) {
    const { mesh, sends } = headersFirstShards(3);
    const outcome = mesh.send(undefined, 'x');
    await turns();
    sends.forEach((send) => send.headers());
    await turns();
    sends[0].report(5);
    sends[1][end]();
    sends[2].report(7);
    await assert.rejects(outcome, end === 'die' ? /failed after its headers: object reset/ : /without a reply/);
  }
});

test('above relayAboveShards a send goes through about √N relays, each shard in exactly one', async () => {
  const { mesh, calls, open } = fakeMesh({ shardCount: 40, relayAboveShards: 8 });
  const ids = Array.from({ length: 400 }, (_, i) => `r-${i}`);
  ids.forEach((id) => open(id));
  const members = new Set(ids.map((id) => hash(id, 40))).size;
  assert.deepEqual(await mesh.send(undefined, 'x'), { delivered: 400, failed: 0, missing: 0 });
  const relayed = calls.filter((c) => c.path === SHARD_PATH.RELAY_SEND);
  assert.equal(relayed.length, Math.ceil(Math.sqrt(members)), 'one call per relay');
  assert.equal(calls.filter((c) => c.path === SHARD_PATH.SEND).length, 0, 'the Worker calls no shard itself');
  const shards = relayed.flatMap((c) => c.body.batches.map((b) => b.shard)).sort((a, b) => a - b);
  assert.deepEqual(shards, [...new Set(shards)], 'no shard twice');
  assert.equal(shards.length, members);
  // Targeted, with ids missing: the relays' missing ids come back for the previous-layout retry.
  const report = await mesh.send([...ids.slice(0, 300), 'gone-1', 'gone-2'], 'y');
  assert.deepEqual(report, { delivered: 300, failed: 0, missing: 2 });
  // At or under the limit the shards are called directly.
  const small = fakeMesh({ shardCount: 8, relayAboveShards: 8 });
  ids.slice(0, 50).forEach((id) => small.open(id));
  await small.mesh.send(undefined, 'z');
  assert.equal(small.calls.filter((c) => c.path === SHARD_PATH.RELAY_SEND).length, 0);
});

test('mid-resharding, ids missing on their new shard are tried on their previous one', async () => {
  const { mesh, open } = fakeMesh({ shardCount: 6, previousShardCounts: [4] });
  const ids = Array.from({ length: 30 }, (_, i) => `old-${i}`);
  ids.forEach((id) => open(id, 4)); // streams opened under the old layout
  const moved = ids.filter((id) => hash(id, 6) !== hash(id, 4)).length;
  assert.ok(moved > 0, 'the test needs some ids whose shard changed');
  assert.deepEqual(await mesh.send(ids, 'x'), { delivered: 30, failed: 0, missing: 0 });
  assert.deepEqual(await mesh.send(['nobody'], 'x'), { delivered: 0, failed: 0, missing: 1 });
});

test('initialize\'s two setters become one record write, and reads in the request see it', async () => {
  const { mesh, calls } = fakeMesh();
  const info = new MeshInfo({ mesh: () => mesh });
  await info.scope(async () => {
    info.setClientCapabilities('s1', { sampling: {} });
    info.setClientInfo('s1', { name: 'c', version: '1' });
    assert.deepEqual(await info.getClientInfo('s1'), { name: 'c', version: '1' });
    assert.deepEqual(await info.getClientCapabilities('s1'), { sampling: {} });
  });
  assert.equal(calls.filter((c) => c.path === SHARD_PATH.REGISTER_SESSION).length, 1);
  await info.scope(async () => {
    await assert.rejects(info.getLogLevel('s1'), /Log level not found/);
    info.setLogLevel('s1', 'warning');
    assert.equal(await info.getLogLevel('s1'), 'warning');
    await assert.rejects(info.getClientInfo('other'), /Client info not found/);
  });
});

test('a subscription is seen by the next lookup, and delete removes the session and its entries', async () => {
  const { mesh } = fakeMesh();
  const info = new MeshInfo({ mesh: () => mesh });
  await info.scope(async (scope) => {
    for (const id of ['s1', 's2', 's3']) {
      info.setClientInfo(id, { name: id, version: '1' });
      info.setClientCapabilities(id, {});
    }
    info.addSubscription('s1', 'mesh://counter');
    info.addSubscription('s3', 'mesh://counter');
    // No await in between: the lookup waits for the writes this request has in flight.
    assert.deepEqual((await info.getSubscriptions('mesh://counter')).sort(), ['s1', 's3']);
    info.removeSubscription('s3', 'mesh://counter');
    assert.deepEqual(await info.getSubscriptions('mesh://counter'), ['s1']);
    assert.equal(await info.exists('s1'), true);
    info.delete('s1');
    await scope.settled('s1');
  });
  await info.scope(async () => {
    assert.equal(await info.exists('s1'), false);
    assert.deepEqual(await info.getSubscriptions('mesh://counter'), []);
  });
});

test('one request looks a record up once; the next request looks again', async () => {
  const { mesh, calls } = fakeMesh();
  const info = new MeshInfo({ mesh: () => mesh });
  await info.scope(async (scope) => {
    info.setClientInfo('s', { name: 'c', version: '1' });
    info.setClientCapabilities('s', {});
    await scope.settled('s');
  });
  const gets = () => calls.filter((c) => c.path === SHARD_PATH.GET_SESSION).length;
  const before = gets();
  await info.scope(async () => {
    await info.exists('s');
    await info.getClientInfo('s');
    await info.getClientCapabilities('s');
  });
  assert.equal(gets() - before, 1);
  await info.scope(() => info.getClientInfo('s'));
  assert.equal(gets() - before, 2, 'a later request does not reuse an earlier one\'s copy');
});

test('a request never waits on what another request has in flight', { timeout: 5000 }, async () => {
  // The runtime cancels a request that waits on a promise only another request's I/O can settle.
  const { mesh } = fakeMesh();
  const info = new MeshInfo({ mesh: () => mesh });
  await info.scope(async (scope) => {
    info.setClientInfo('s', { name: 'c', version: '1' });
    info.setClientCapabilities('s', {});
    await scope.settled('s');
  });
  let release;
  const stuck = new Promise((resolve) => (release = resolve));
  // Writes hang until released; reads go through.
  const hanging = new Set([SHARD_PATH.UPDATE_SESSION, SHARD_PATH.SUBSCRIBE]);
  const original = mesh.callShard.bind(mesh);
  mesh.callShard = async (shard, path, body) => {
    if (hanging.has(path)) await stuck;
    return original(shard, path, body);
  };
  const first = info.scope(async (scope) => {
    info.setLogLevel('s', 'error');
    info.addSubscription('s', 'mesh://counter');
    await scope.settled('s');
  });
  const second = await info.scope(() =>
    Promise.all([info.getLogLevel('s').catch((e) => e.message), info.getSubscriptions('mesh://counter')]),
  );
  assert.deepEqual(second, ['Log level not found for session s', []]);
  release();
  await first;
});

test('stream manager: create opens the session\'s socket on its shard, has/delete ask every candidate', async () => {
  const { mesh, calls, open } = fakeMesh({ shardCount: 6, previousShardCounts: [4] });
  const socket = new FakeSocket();
  mesh.connect = async (id) => {
    calls.push({ path: 'connect', id });
    return socket;
  };
  const streams = new MeshStreams({ mesh: () => mesh, timers: fakeTimers() });
  const { controller, read } = fakeController();
  await streams.create('s1', controller);
  assert.ok(socket.accepted);
  socket.deliver('id: 1\nevent: message\ndata: {}\n\n');
  assert.equal(read(), 'id: 1\nevent: message\ndata: {}\n\n');
  open('s2', 4);
  assert.equal(await streams.has('s2'), true, 'found on its previous shard');
  assert.equal(await streams.has('s3'), false);
  await streams.delete('s2');
  assert.equal(await streams.has('s2'), false);
});

test('has after the request\'s own lookup asks no shard; mid-resharding a stream opens where the record is', async () => {
  const { mesh, calls, open } = fakeMesh({ shardCount: 6, previousShardCounts: [4] });
  const info = new MeshInfo({ mesh: () => mesh });
  const streams = new MeshStreams({ mesh: () => mesh, timers: fakeTimers() });
  // Sessions recorded under the old layout (4 shards), one of them with a stream open.
  const moved = Array.from({ length: 40 }, (_, i) => `m-${i}`).filter((id) => hash(id, 6) !== hash(id, 4));
  assert.ok(moved.length >= 2, 'the test needs ids whose shard changed');
  const [withStream, without] = moved;
  for (const id of [withStream, without]) {
    await mesh.callShard(hash(id, 4), SHARD_PATH.REGISTER_SESSION, { session: id, record: { subscriptions: [] } });
  }
  open(withStream, 4);
  const has = () => calls.filter((c) => c.path === SHARD_PATH.HAS_STREAM).length;
  await info.scope(async () => {
    assert.equal(await info.exists(withStream), true);
    assert.equal(await streams.has(withStream), true);
    assert.equal(await info.exists(without), true);
    assert.equal(await streams.has(without), false);
  });
  assert.equal(has(), 0, 'answered from the lookup');
  assert.equal(await streams.has(withStream), true, 'outside a request it asks the shards');
  assert.ok(has() > 0);
  const connected = [];
  mesh.connect = async (id, shard) => (connected.push([id, shard]), new FakeSocket());
  await info.scope(() => streams.create(without, fakeController().controller));
  await streams.create(withStream, fakeController().controller);
  assert.deepEqual(connected, [
    [without, hash(without, 4)],
    [withStream, hash(withStream, 4)],
  ]);
});

test('relay: bytes go through untouched, keepalives flow, and the stream ends with the socket', () => {
  const socket = new FakeSocket();
  const timers = fakeTimers();
  const { controller, read, closed } = fakeController();
  relay(socket, controller, 500, timers);
  assert.equal(socket.binaryType, 'arraybuffer');
  const frame = 'id: 3-7\nevent: message\ndata: {"a":1}\n\n';
  socket.deliver(frame);
  timers.tick();
  assert.equal(read(), frame + ': keepalive\n\n');
  socket.end();
  assert.equal(closed(), true);
  assert.equal(timers.active(), 0, 'the keepalive stops with the stream');
});

test('relay: a client that stops reading is cut off, not buffered without bound', () => {
  const socket = new FakeSocket();
  const { controller } = fakeController({ unread: MAX_UNREAD_EVENTS + 1 });
  relay(socket, controller, 500, fakeTimers());
  socket.deliver('data: x\n\n');
  assert.deepEqual(socket.closed, [1000, 'client too slow']);
});

/** Session info over a fake mesh holding one initialized session, `live`. */
async function infoWithLiveSession() {
  const { mesh } = fakeMesh();
  const info = new MeshInfo({ mesh: () => mesh });
  await info.scope(async (scope) => {
    info.setClientInfo('live', { name: 'c', version: '1' });
    info.setClientCapabilities('live', {});
    await scope.settled('live');
  });
  return info;
}

test('respond: an unknown session is 404 with the JSON-RPC error, before the transport sees it', async () => {
  const info = await infoWithLiveSession();
  let served = 0;
  const transport = { respond: async () => (served++, new Response('ok')) };
  const request = new Request('http://x/mcp', { method: 'POST', headers: { 'mcp-session-id': 'gone' } });
  const response = await respond(transport, request, info);
  assert.equal(response.status, 404);
  assert.equal((await response.json()).error.code, CODE_SESSION_NOT_FOUND);
  assert.equal(served, 0);
  const malformed = new Request('http://x/mcp', { method: 'POST', headers: { 'mcp-session-id': 'a b' } });
  assert.equal((await respond(transport, malformed, info)).status, 404, 'a malformed id names no session');
  assert.equal(served, 0);
  const ok = await respond(transport, new Request('http://x/mcp', { headers: { 'mcp-session-id': 'live' } }), info);
  assert.equal(ok.status, 200);
});

test('respond: a GET with Last-Event-ID resumes through the stream manager, other GETs go to tmcp', async () => {
  const info = await infoWithLiveSession();
  const resumed = [];
  const streams = { resume: async (id, last) => (resumed.push([id, last]), new Response('replayed')) };
  let served = 0;
  const transport = { respond: async () => (served++, new Response('tmcp')) };
  const get = (headers) => new Request('http://x/mcp', { headers: { 'mcp-session-id': 'live', ...headers } });
  assert.equal(await (await respond(transport, get({ 'last-event-id': '3-7' }), info, streams)).text(), 'replayed');
  assert.deepEqual(resumed, [['live', '3-7']]);
  assert.equal(await (await respond(transport, get({}), info, streams)).text(), 'tmcp', 'a fresh GET is tmcp\'s');
  assert.equal(await (await respond(transport, get({ 'last-event-id': '3-7' }), info)).text(), 'tmcp', 'no manager: tmcp');
  assert.equal(served, 2);
});

test('respond: a response that minted a session waits for its record before reaching the client', async () => {
  const { mesh } = fakeMesh();
  const info = new MeshInfo({ mesh: () => mesh });
  const transport = {
    respond: async () => {
      const body = new ReadableStream({
        start(controller) {
          // As tmcp does: the initialize event fires the setters, then the result is enqueued.
          info.setClientInfo('new', { name: 'c', version: '1' });
          info.setClientCapabilities('new', {});
          controller.enqueue(encoder.encode('event: message\ndata: {"result":{}}\n\n'));
          controller.close();
        },
      });
      return new Response(body, { headers: { 'mcp-session-id': 'new' } });
    },
  };
  const response = await respond(transport, new Request('http://x/mcp', { method: 'POST' }), info);
  const reader = response.body.getReader();
  await reader.read();
  // The first chunk came out only once the record was stored.
  // (The record is in the shard, read back below, with no request of ours still writing it.)
  const stored = await mesh.callShard(hash('new', 4), SHARD_PATH.GET_SESSION, { session: 'new' });
  assert.equal(stored.record.client_info.name, 'c');
});

function fakeController({ unread = 0 } = {}) {
  const chunks = [];
  let closed = false;
  const controller = {
    get desiredSize() {
      return 1 - unread - chunks.length;
    },
    enqueue(bytes) {
      if (closed) throw new TypeError('closed');
      assert.ok(bytes instanceof Uint8Array);
      chunks.push(bytes);
    },
    close() {
      if (closed) throw new TypeError('already closed');
      closed = true;
    },
  };
  return {
    controller,
    read: () => chunks.splice(0).map((c) => decoder.decode(c)).join(''),
    closed: () => closed,
  };
}

function fakeTimers() {
  const intervals = new Map();
  let next = 1;
  return {
    setInterval(fn) {
      intervals.set(next, fn);
      return next++;
    },
    clearInterval(id) {
      intervals.delete(id);
    },
    tick() {
      for (const fn of intervals.values()) fn();
    },
    active: () => intervals.size,
  };
}

test('respond: a failing shard is a JSON-RPC error with the cause, 503 when the shard said so', async () => {
  const failing = (status) => ({
    scope: (fn) => fn(new RequestScope()),
    exists: async () => {
      throw Object.assign(new Error('shard-3/v3/session/get: overloaded'), { status });
    },
  });
  const request = () => new Request('http://x/mcp', { method: 'POST', headers: { 'mcp-session-id': 's' } });
  const original = console.error;
  console.error = () => {};
  try {
    const busy = await respond({ respond: async () => null }, request(), failing(503));
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get('retry-after'), '1');
    const body = await busy.json();
    assert.equal(body.error.code, -32603);
    assert.match(body.error.message, /overloaded/);
    assert.equal((await respond({ respond: async () => null }, request(), failing(undefined))).status, 500);
  } finally {
    console.error = original;
  }
});

test('a GET stream asks its shard to wait for the session record tmcp may still be writing', async () => {
  const fetched = [];
  const namespace = {
    getByName: (name) => ({
      fetch: async (url, init) => {
        fetched.push({ name, url: new URL(url), init });
        return { status: 404, webSocket: null, text: async () => JSON.stringify({ error: 'Session not found' }) };
      },
    }),
  };
  const settings = { shardCount: 4, previousShardCounts: [], keepaliveMs: 25000 };
  const mesh = new Mesh({ shards: namespace, coordinator: namespace, settings, routing: { shardsFor: () => [2] } });
  await assert.rejects(mesh.connect('s-1', 2), (error) => error.status === 404);
  const [call] = fetched;
  assert.equal(call.name, 'shard-2');
  assert.equal(call.url.searchParams.get(CONNECT_QUERY.REQUIRE_SESSION), '1');
  assert.equal(call.url.searchParams.get(CONNECT_QUERY.AWAIT_RECORD_MS), String(AWAIT_RECORD_MS));
  assert.ok(AWAIT_RECORD_MS > 0);
  // The SSE transport's stream opens its session: no record is required or waited for.
  await assert.rejects(mesh.connect('s-2', 2, { requireSession: false }), (error) => error.status === 404);
  const sse = fetched[1].url.searchParams;
  assert.equal(sse.get(CONNECT_QUERY.REQUIRE_SESSION), null);
  assert.equal(sse.get(CONNECT_QUERY.AWAIT_RECORD_MS), null);
});

test('a listen-stream frame from a shard reads back as its notification, without the subscription tag', async () => {
  const { notificationOf } = await import('../../js/tmcp-mesh/src/subscriptions.js');
  // What a shard sends a listen stream: the event up to where its subscription id goes.
  const head =
    'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"mesh://c",' +
    '"_meta":{"io.modelcontextprotocol/subscriptionId":';
  assert.deepEqual(notificationOf(encoder.encode(head)), {
    jsonrpc: '2.0',
    method: 'notifications/resources/updated',
    params: { uri: 'mesh://c' },
  });
  const kept = head.replace('"_meta":{', '"_meta":{"k":1,');
  assert.deepEqual(notificationOf(kept).params._meta, { k: 1 }, 'other _meta keys stay');
});

// The shard's per-socket send loop (src/worker/shard/deliver.js) against fake sockets: node --test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliver } from '../../src/worker/shard/deliver.js';

const SESSION = '@ session';
const LISTENER = '@ listener';

function socket(tags, attachment, { open = true, broken = false } = {}) {
  return {
    tags,
    attachment,
    readyState: open ? 1 : 3,
    sent: [],
    closed: null,
    deserializeAttachment() {
      return this.attachment;
    },
    send(bytes) {
      if (broken) throw new Error('gone');
      this.sent.push(new TextDecoder().decode(bytes));
    },
    close(code, reason) {
      this.closed = [code, reason];
    },
  };
}

function state(sockets) {
  return { getWebSockets: (tag) => sockets.filter((ws) => ws.tags.includes(tag)) };
}

const bytes = (text) => new TextEncoder().encode(text);
const session = (id, level) => socket([id, SESSION], { v: 1, session: id, log_level: level });
const listener = (id, filter) => socket([id, LISTENER], { v: 1, session: id, listener: filter });

test('a broadcast reaches every open session stream once, with the framed bytes as they were', () => {
  const a = session('a');
  const b = session('b');
  const closing = socket(['c', SESSION], { v: 1, session: 'c' }, { open: false });
  const l = listener('l', { tools: true, prompts: false, resources: false });
  const counts = deliver(
    state([a, b, closing, l]),
    SESSION,
    LISTENER,
    bytes('id: 1-1\ndata: x\n\n'),
    bytes('data: x\n\n'),
    null,
    [],
    undefined,
  );
  assert.deepEqual(counts, [2, 0]);
  assert.deepEqual(a.sent, ['id: 1-1\ndata: x\n\n']);
  assert.deepEqual(b.sent, ['id: 1-1\ndata: x\n\n']);
  assert.deepEqual(closing.sent, []);
  assert.deepEqual(l.sent, [], 'listen streams only get change notifications');
});

test('log levels chosen above the message block it; listeners never get logs', () => {
  const quiet = session('quiet', 'error');
  const chatty = session('chatty', 'debug');
  const unset = session('unset');
  const l = listener('l', { tools: true, prompts: true, resources: true });
  const counts = deliver(
    state([quiet, chatty, unset, l]),
    SESSION,
    LISTENER,
    bytes('A'),
    bytes('B'),
    null,
    ['error', 'critical', 'alert', 'emergency'],
    undefined,
  );
  assert.deepEqual(counts, [2, 0]);
  assert.equal(quiet.sent.length, 0);
  assert.deepEqual(chatty.sent, ['A']);
  assert.deepEqual(unset.sent, ['A']);
  assert.equal(l.sent.length, 0);
});

test('a change notification reaches listeners whose filter has the flag, without the event id', () => {
  const s = session('s');
  const tools = listener('t', { tools: true, prompts: false, resources: false });
  const prompts = listener('p', { tools: false, prompts: true, resources: false });
  const counts = deliver(
    state([s, tools, prompts]),
    SESSION,
    LISTENER,
    bytes('id: 1-2\nX'),
    bytes('X'),
    null,
    [],
    'tools',
  );
  assert.deepEqual(counts, [2, 0]);
  assert.deepEqual(s.sent, ['id: 1-2\nX']);
  assert.deepEqual(tools.sent, ['X']);
  assert.deepEqual(prompts.sent, []);
  const all = deliver(state([s, tools, prompts]), SESSION, LISTENER, bytes('Y'), bytes('y'), null, [], '*');
  assert.deepEqual(all, [3, 0]);
});

test('a targeted send reaches only its ids and reports the ones with no open socket', () => {
  const a = session('a');
  const b = session('b');
  const l = listener('l', { tools: false, prompts: false, resources: false });
  const counts = deliver(state([a, b, l]), SESSION, LISTENER, bytes('S'), bytes('L'), ['a', 'l', 'ghost'], [], '*');
  assert.deepEqual(counts, [2, 0, 'ghost']);
  assert.deepEqual(a.sent, ['S']);
  assert.deepEqual(b.sent, []);
  assert.deepEqual(l.sent, ['L']);
});

test('a socket that cannot be written is counted as failed and closed, and the others still get it', () => {
  const dead = socket(['d', SESSION], { v: 1, session: 'd' }, { broken: true });
  const alive = session('a');
  const counts = deliver(state([dead, alive]), SESSION, LISTENER, bytes('Z'), bytes('Z'), null, [], undefined);
  assert.deepEqual(counts, [1, 1]);
  assert.deepEqual(dead.closed, [1011, 'send failed']);
  assert.deepEqual(alive.sent, ['Z']);
});

// The shard's per-socket send loop (src/cloudflare/shard/deliver.js) against fake sockets: node --test.
// The loop holds no delivery rule (that is crate::delivery, tested natively): a socket takes a send if
// the class key in its attachment is among the keys it is given, so these tests use arbitrary keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliver } from '../../src/cloudflare/shard/deliver.js';

const SESSION = '@ session';
const LISTENER = '@ listener';

function socket(tags, attachment, { open = true, broken = false } = {}) {
  return {
    tags,
    attachment,
    readyState: open ? 1 : 3,
    sent: [],
    closed: null,
    reads: 0,
    deserializeAttachment() {
      this.reads++;
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
const session = (id, cls = 'plain') => socket([id, SESSION], { v: 3, session: id, class: cls });
const listener = (id, cls) => socket([id, LISTENER], { v: 3, session: id, class: cls });

test('a broadcast to every session class reaches every open session stream once, reading no attachment', () => {
  const a = session('a');
  const b = session('b', 'other');
  const closing = socket(['c', SESSION], { v: 3, session: 'c', class: 'plain' }, { open: false });
  const l = listener('l', 'wants-tools');
  const counts = deliver(state([a, b, closing, l]), SESSION, LISTENER, bytes('id: 1-1\ndata: x\n\n'), bytes(''), null, ['plain', 'other'], true, []);
  assert.deepEqual(counts, [2, 0]);
  assert.deepEqual(a.sent, ['id: 1-1\ndata: x\n\n']);
  assert.deepEqual(b.sent, ['id: 1-1\ndata: x\n\n']);
  assert.equal(a.reads + b.reads, 0, 'no attachment read when every session class takes it');
  assert.deepEqual(closing.sent, []);
  assert.deepEqual(l.sent, [], 'no listener class was given');
});

test('a broadcast to some session classes reaches only sockets of those classes', () => {
  const quiet = session('quiet', 'q');
  const chatty = session('chatty', 'c');
  const l = listener('l', 'c');
  const counts = deliver(state([quiet, chatty, l]), SESSION, LISTENER, bytes('A'), bytes('B'), null, ['c'], false, []);
  assert.deepEqual(counts, [1, 0]);
  assert.equal(quiet.sent.length, 0);
  assert.deepEqual(chatty.sent, ['A']);
  assert.equal(l.sent.length, 0, 'a listen stream is reached only through the listener classes');
});

test('listen streams of the given classes get the listener frame', () => {
  const s = session('s');
  const tools = listener('t', 'lt');
  const prompts = listener('p', 'lp');
  const counts = deliver(state([s, tools, prompts]), SESSION, LISTENER, bytes('id: 1-2\nX'), bytes('X'), null, ['plain'], true, ['lt']);
  assert.deepEqual(counts, [2, 0]);
  assert.deepEqual(s.sent, ['id: 1-2\nX']);
  assert.deepEqual(tools.sent, ['X']);
  assert.deepEqual(prompts.sent, []);
});

test('a targeted send reaches only its ids, each with its kind of frame, and reports the ones with no open socket', () => {
  const a = session('a');
  const b = session('b');
  const l = listener('l', 'lx');
  const muted = session('m', 'muted');
  const counts = deliver(state([a, b, l, muted]), SESSION, LISTENER, bytes('S'), bytes('L'), ['a', 'l', 'm', 'ghost'], ['plain'], false, ['lx']);
  assert.deepEqual(counts, [2, 0, 'ghost']);
  assert.deepEqual(a.sent, ['S']);
  assert.deepEqual(b.sent, []);
  assert.deepEqual(l.sent, ['L']);
  assert.deepEqual(muted.sent, [], 'open but not of an admitted class: neither sent nor missing');
});

test('a targeted send with every session class still never gives a listen stream the session frame', () => {
  const l = listener('l', 'lx');
  const counts = deliver(state([l]), SESSION, LISTENER, bytes('S'), bytes('L'), ['l'], ['plain'], true, []);
  assert.deepEqual(counts, [0, 0]);
  assert.deepEqual(l.sent, []);
});

test('a socket that cannot be written is counted as failed and closed, and the others still get it', () => {
  const dead = socket(['d', SESSION], { v: 3, session: 'd', class: 'plain' }, { broken: true });
  const alive = session('a');
  const counts = deliver(state([dead, alive]), SESSION, LISTENER, bytes('Z'), bytes(''), null, ['plain'], true, []);
  assert.deepEqual(counts, [1, 1]);
  assert.deepEqual(dead.closed, [1011, 'send failed']);
  assert.deepEqual(alive.sent, ['Z']);
});

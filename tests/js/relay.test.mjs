// The Worker's relay from a shard socket into an SSE body (src/cloudflare/relay.js): node --test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseBody, relay } from '../../src/cloudflare/relay.js';
import { FakeSocket } from './fake_socket.mjs';

const decoder = new TextDecoder();
// What Rust passes (crate::frames); any values work for the relay's own logic.
const KEEPALIVE = ': keepalive\n\n';
const ID_PREFIX = 'id: ';

async function readAll(body) {
  const reader = body.readable.getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value);
  }
}

test('frames go into the body byte for byte, after what Rust wrote first, until the socket closes', async () => {
  const ws = new FakeSocket();
  const body = new SseBody(1 << 20);
  body.write('retry: 1000\n\n');
  relay(ws, body, 60_000, 0, null, KEEPALIVE, ID_PREFIX);
  assert.equal(ws.accepted, true);
  assert.equal(ws.binaryType, 'arraybuffer');
  ws.deliver('id: 3-1\ndata: \n\n');
  ws.deliver('id: 3-2\nevent: message\ndata: {"a":"é"}\n\n');
  ws.end();
  assert.equal(await readAll(body), 'retry: 1000\n\nid: 3-1\ndata: \n\nid: 3-2\nevent: message\ndata: {"a":"é"}\n\n');
});

test('with max events, the stream ends after that many resumable events', async () => {
  const ws = new FakeSocket();
  const body = new SseBody(1 << 20);
  relay(ws, body, 60_000, 2, null, KEEPALIVE, ID_PREFIX);
  ws.deliver('id: 1-1\ndata: \n\n');
  ws.deliver(': comment\n\n');
  ws.deliver('id: 1-2\ndata: x\n\n');
  ws.deliver('id: 1-3\ndata: y\n\n');
  assert.deepEqual(ws.closed, [1000, 'poll complete']);
  assert.equal(await readAll(body), 'id: 1-1\ndata: \n\n: comment\n\nid: 1-2\ndata: x\n\n');
});

test('a reader that falls behind its budget is cut off and the socket closed', async () => {
  const ws = new FakeSocket();
  const body = new SseBody(16);
  relay(ws, body, 60_000, 0, null, KEEPALIVE, ID_PREFIX);
  ws.deliver('0123456789');
  ws.deliver('0123456789');
  assert.deepEqual(ws.closed, [1000, 'sse closed']);
  assert.equal(await readAll(body), '0123456789');
});

test('a listen stream completes each frame with its own tail, byte for byte', async () => {
  const ws = new FakeSocket();
  const body = new SseBody(1 << 20);
  relay(ws, body, 60_000, 0, '"sub-7"}}}\n\n', KEEPALIVE, ID_PREFIX);
  ws.deliver('event: message\ndata: {"method":"a","params":{"_meta":{"k":');
  ws.deliver('event: message\ndata: {"method":"b","params":{"_meta":{"k":');
  ws.end();
  assert.equal(
    await readAll(body),
    'event: message\ndata: {"method":"a","params":{"_meta":{"k":"sub-7"}}}\n\n' +
      'event: message\ndata: {"method":"b","params":{"_meta":{"k":"sub-7"}}}\n\n',
  );
});

test('a cancelled body closes the socket', async () => {
  const ws = new FakeSocket();
  const body = new SseBody(1 << 20);
  relay(ws, body, 60_000, 0, null, KEEPALIVE, ID_PREFIX);
  await body.readable.cancel();
  assert.deepEqual(ws.closed, [1000, 'sse closed']);
  assert.equal(body.write('late'), false);
});

test('a reader that keeps up never hits its budget, and one oversized frame fits an empty queue only', async () => {
  const ws = new FakeSocket();
  const body = new SseBody(100);
  relay(ws, body, 60_000, 0, null, KEEPALIVE, ID_PREFIX);
  const reader = body.readable.getReader();
  for (let i = 0; i < 1_000; i++) {
    ws.deliver('x'.repeat(60));
    const { value } = await reader.read();
    assert.equal(value.byteLength, 60);
  }
  assert.equal(ws.closed, null, 'a reader that keeps up is never cut off');
  ws.deliver('y'.repeat(1_000));
  assert.equal(ws.closed, null, 'one frame larger than the whole budget fits an empty queue');
  ws.deliver('z');
  assert.deepEqual(ws.closed, [1000, 'sse closed'], 'nothing more fits behind it');
});

test('without max events a stream never ends on its own', async () => {
  const ws = new FakeSocket();
  const body = new SseBody(1 << 24);
  relay(ws, body, 60_000, 0, null, KEEPALIVE, ID_PREFIX);
  for (let i = 0; i < 10_000; i++) ws.deliver(`id: 1-${i}\ndata: \n\n`);
  assert.equal(ws.closed, null);
  ws.end();
});

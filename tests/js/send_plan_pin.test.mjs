// The adapter's sends, pinned to the Rust mesh's (tests/send_plan_golden.rs renders the fixture from
// the Rust planning): with the Rust planning's answers for its routing, the adapter must make exactly
// the calls the Rust mesh makes, in order, with exactly those bodies, and report the same total —
// targeted and broadcast sends, straight and through relays, and mid-resharding with the retry on the
// previous layout. The adapter gets those answers from the wasm exports of the same functions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { Mesh } from '../../js/tmcp-mesh/src/mesh.js';
import { COORDINATOR_PATH, SHARD_PATH } from '../../js/tmcp-mesh/src/protocol.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/send_plans.json', import.meta.url), 'utf8'));

/** JSON with sorted keys and no empty lists (Rust leaves `missing_ids: []` out). */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((key) => !(Array.isArray(value[key]) && value[key].length === 0))
        .map((key) => [key, canonical(value[key])]),
    );
  }
  return value;
}
const key = (value) => JSON.stringify(canonical(value));

function pinned(testCase) {
  const answers = new Map(testCase.answers.map(({ ask, answer }) => [key(ask), answer]));
  const ask = (...question) => {
    const found = answers.get(key(question));
    assert.ok(found !== undefined, `the adapter asked what the Rust mesh did not: ${JSON.stringify(question)}`);
    return structuredClone(found);
  };
  return {
    shardsFor: () => assert.fail('a send must not route ids itself'),
    candidates: () => assert.fail('a send must not route ids itself'),
    planTargeted: (ids, count) => ask('planTargeted', ids, count),
    planBroadcast: (members) => ask('planBroadcast', members),
    planCalls: (batches, relayAbove) => ask('planCalls', batches, relayAbove),
    idsToRetry: (missing, current, previous) => ask('idsToRetry', missing, current, previous),
    absorbRetry: (reply, retried, again) => ask('absorbRetry', reply, retried, again),
  };
}

/** Shards and relays that answer a send from where each id really lives. */
function objects(testCase, calls) {
  const live = testCase.live;
  const answerBatch = (batch, total) => {
    if (!batch.sessions) {
      total.delivered += Object.values(live).filter((shard) => shard === batch.shard).length;
      return;
    }
    for (const id of batch.sessions) {
      if (live[id] === batch.shard) total.delivered += 1;
      else {
        total.missing += 1;
        total.missing_ids.push(id);
      }
    }
  };
  const members = testCase.answers.find(({ ask }) => ask[0] === 'planBroadcast')?.ask[1] ?? [];
  return {
    getByName: (name) => ({
      async fetch(url, init) {
        const path = new URL(url).pathname;
        const body = JSON.parse(init.body);
        if (path === COORDINATOR_PATH.LIST_MEMBERS) return Response.json({ members });
        const { payload, ...rest } = body;
        assert.deepEqual(payload, { event: 'data: x\n\n' }, 'every call carries the payload as given');
        calls.push({ object: name, path, body: rest });
        const total = { delivered: 0, failed: 0, missing: 0, missing_ids: [] };
        if (path === SHARD_PATH.SEND) answerBatch({ shard: Number(name.slice('shard-'.length)), ...rest }, total);
        else if (path === SHARD_PATH.RELAY_SEND) rest.batches.forEach((batch) => answerBatch(batch, total));
        else assert.fail(`unexpected call ${path}`);
        return Response.json(total);
      },
    }),
  };
}

for (const testCase of fixture.cases) {
  test(`a send makes the Rust mesh's calls: ${testCase.name}`, async () => {
    const calls = [];
    const namespace = objects(testCase, calls);
    const settings = { ...testCase.settings, keepaliveMs: 25000 };
    const mesh = new Mesh({ shards: namespace, coordinator: namespace, settings, routing: pinned(testCase) });
    const report = await mesh.send(testCase.targets ?? undefined, 'data: x\n\n');
    assert.deepEqual(canonical(calls), canonical(testCase.calls));
    assert.deepEqual(report, testCase.report);
  });
}

test('the fixture covers a retry on the previous layout and sends through relays', () => {
  const asked = fixture.cases.flatMap((c) => c.answers.map(({ ask }) => ask[0]));
  assert.ok(asked.includes('absorbRetry'), 'some case retries');
  assert.ok(fixture.cases.some((c) => c.calls.some((call) => call.path === SHARD_PATH.RELAY_SEND)));
});

// What the Node test clients share (tests/clients/*.mjs): named steps that print `ok`/`FAIL` lines and
// a `<prefix>: N passed, M failed` summary the end-to-end harness reads, waiting for a condition,
// and the two delivery checks the tmcp clients make on every transport.

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Throws `what` unless `condition` holds. */
export function check(condition, what) {
  if (!condition) throw new Error(what);
}

/** Waits until `predicate()` (sync or async) holds, at most `ms`. */
export async function waitFor(predicate, what, ms = 15000) {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Steps reported as `ok|FAIL <prefix>::<name>`; `finish()` prints the summary and exits. */
export function steps(prefix) {
  const failures = [];
  let count = 0;
  return {
    async step(name, body) {
      count++;
      try {
        await body();
        console.log(`ok   ${prefix}::${name}`);
      } catch (error) {
        failures.push(name);
        console.log(`FAIL ${prefix}::${name}: ${error.message}`);
      }
    },
    finish() {
      console.log(`${prefix}: ${count - failures.length} passed, ${failures.length} failed`);
      process.exit(failures.length ? 1 : 0);
    },
  };
}

/**
 * `announce(text)` must reach each of `clients` (each with `seen.messages`) exactly once: all of them,
 * then, after `settleMs` more, no second copy anywhere.
 */
export async function reachesEachExactlyOnce(clients, announce, settleMs) {
  const text = `broadcast-${Date.now()}`;
  await announce(text);
  const got = () => clients.map((c) => c.seen.messages.filter((t) => t === text).length);
  await waitFor(() => got().every((n) => n >= 1), `the announcement everywhere (${got()})`);
  await sleep(settleMs);
  check(got().every((n) => n === 1), `deliveries per client: ${got()}`);
}

/**
 * Every third of `clients` (each with `client` and `seen.updates`) subscribes to `uri`; after
 * `change()`, exactly the subscribers get one update each.
 */
export async function reachesExactlyTheSubscribers(clients, uri, change, settleMs) {
  const subscribers = clients.filter((_, i) => i % 3 === 0);
  for (const { client } of subscribers) await client.subscribeResource({ uri });
  await change();
  const got = () => clients.map((c) => c.seen.updates.filter((u) => u === uri).length);
  await waitFor(() => subscribers.every((c) => c.seen.updates.length >= 1), `updates to subscribers (${got()})`);
  await sleep(settleMs);
  const expected = clients.map((_, i) => (i % 3 === 0 ? 1 : 0));
  check(JSON.stringify(got()) === JSON.stringify(expected), `updates per client ${got()}, expected ${expected}`);
}

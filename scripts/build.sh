#!/usr/bin/env bash
# Builds the Worker (build/index.js + wasm) with worker-build, using only tools from the package
# registries: wasm-bindgen-cli from crates.io (matching Cargo.lock), esbuild and binaryen from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# wrangler runs this on every start; skip the minutes-long release build when nothing changed.
if [ -f build/index_bg.wasm ] && [ -f build/index.js ] && [ -z "${FORCE_BUILD:-}" ] \
   && [ -z "$(find src Cargo.toml Cargo.lock -newer build/index_bg.wasm -print -quit)" ]; then
  echo "build: up to date" >&2
else
  export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
  export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
  export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
  "$HOME/.cargo/bin/worker-build" --release
fi
# The tmcp adapter (js/tmcp-mesh) ships the same build: its object classes and routing are these.
mkdir -p js/tmcp-mesh/wasm
for file in index.js index_bg.wasm; do
  cmp -s "build/$file" "js/tmcp-mesh/wasm/$file" || cp "build/$file" "js/tmcp-mesh/wasm/$file"
done

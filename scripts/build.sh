#!/usr/bin/env bash
# Builds the Worker (build/index.js + wasm) with worker-build, using only tools from the package
# registries: wasm-bindgen-cli from crates.io (matching Cargo.lock), esbuild and binaryen from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
exec "$HOME/.cargo/bin/worker-build" --release

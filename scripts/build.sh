#!/usr/bin/env bash
# Builds a Worker (index.js + wasm) with worker-build, using only tools from the package registries:
# wasm-bindgen-cli from crates.io (matching Cargo.lock), esbuild and binaryen from npm.
#   bash scripts/build.sh [reference|test]
#   reference (default): build/, the reference server (`make dev`, the benchmarks, the tmcp adapter).
#   test: build-test/, the conformance fixtures beside the reference tools and the manager API over
#         HTTP (`make dev-conformance`, the end-to-end tests).
set -euo pipefail
cd "$(dirname "$0")/.."
variant="${1:-reference}"
case "$variant" in
  reference) out=build; features=reference-server ;;
  test) out=build-test; features=conformance,test-routes ;;
  *) echo "build: unknown variant $variant (reference or test)" >&2; exit 2 ;;
esac
bash scripts/setup.sh
# wrangler runs this on every start; skip the minutes-long release build when nothing changed.
if [ -f "$out/index_bg.wasm" ] && [ -f "$out/index.js" ] && [ -z "${FORCE_BUILD:-}" ] \
   && [ -z "$(find src Cargo.toml Cargo.lock -newer "$out/index_bg.wasm" -print -quit)" ]; then
  echo "build: $out/ up to date" >&2
else
  export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
  export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
  export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
  "$HOME/.cargo/bin/worker-build" --release --out-dir "$out" . --features "$features"
fi
if [ "$variant" = reference ]; then
  # The tmcp adapter (js/tmcp-mesh) ships the same build: its object classes and routing are these.
  mkdir -p js/tmcp-mesh/wasm
  for file in index.js index_bg.wasm; do
    cmp -s "build/$file" "js/tmcp-mesh/wasm/$file" || cp "build/$file" "js/tmcp-mesh/wasm/$file"
  done
fi

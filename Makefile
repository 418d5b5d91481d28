# The two commands a fresh machine needs (see README.md):
#   make dev    set everything up and serve the reference MCP server on http://127.0.0.1:$${PORT:-8787}/mcp
#   make test   set everything up and run every test (native, then end to end against wrangler dev)
# Both install only what is missing, from crates.io and npm.

PORT ?= 8787

.PHONY: dev test setup build unit e2e bench bench-latency clean

setup:
	bash scripts/setup.sh

build: setup
	bash scripts/build.sh

dev: build
	bash scripts/dev-vars.sh
	node_modules/.bin/wrangler dev --ip 127.0.0.1 --port $(PORT) --show-interactive-dev-session=false

unit:
	cargo test --all-targets

e2e: build
	MESH_E2E=1 cargo test --test e2e

test: setup unit e2e

# Benchmarks (issue 4 in progress): the criterion benches of the core today.
bench: setup
	cargo bench --bench mesh

# Delivery latency, side by side: the tmcp single-object baseline vs the mesh with 1 and 16 shards
# (examples/probe/; writes loadtest/results/latest.json and latency.svg; see loadtest/PROBE.md).
bench-latency: build
	bash scripts/bench.sh

clean:
	rm -rf build target/wasm32-unknown-unknown .wrangler

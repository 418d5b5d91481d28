#!/usr/bin/env bash
# Delivery-latency benchmark: baseline (tmcp, one Durable Object) vs the mesh with SHARD_COUNT=1 and
# SHARD_COUNT=16, each at every session count in SESSIONS_LIST. For every (system, K) a fresh
# `wrangler dev` is started on a free loopback port with its own state directory, examples/probe/
# runs against it, and the server's whole process group is stopped. Results go to
# loadtest/results/latest.json; scripts/plot_latency.py draws loadtest/results/latency.svg and prints
# a markdown table.
#
# Environment (defaults in brackets):
#   SESSIONS_LIST ["100 1000"]       session counts K
#   SYSTEMS ["baseline mesh-1 mesh-16"]
#   BROADCASTS [10]  TARGETED [100]  CALLERS [4]  CREATE_CONCURRENCY [8]  WAIT_SECS [30]
#   SUBSCRIBE_FRACTION [0.1]  BROADCAST_GAP_MS [200]
#   BENCH_K6 [auto]  "0" skips the optional k6 tools.js run; BENCH_K6_DURATION [10s]  BENCH_K6_RATE [20]
#   RESULTS_DIR [loadtest/results]   LOG_DIR [/tmp/mcp-bench-logs] (wrangler logs, k6 output)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SESSIONS_LIST="${SESSIONS_LIST:-100 1000}"
SYSTEMS="${SYSTEMS:-baseline mesh-1 mesh-16}"
BROADCASTS="${BROADCASTS:-10}"
TARGETED="${TARGETED:-100}"
CALLERS="${CALLERS:-4}"
CREATE_CONCURRENCY="${CREATE_CONCURRENCY:-8}"
WAIT_SECS="${WAIT_SECS:-30}"
SUBSCRIBE_FRACTION="${SUBSCRIBE_FRACTION:-0.1}"
BROADCAST_GAP_MS="${BROADCAST_GAP_MS:-200}"
BENCH_K6_DURATION="${BENCH_K6_DURATION:-10s}"
BENCH_K6_RATE="${BENCH_K6_RATE:-20}"
RESULTS_DIR="${RESULTS_DIR:-loadtest/results}"
LOG_DIR="${LOG_DIR:-/tmp/mcp-bench-logs}"
WRANGLER="$ROOT/node_modules/.bin/wrangler"

mkdir -p "$RESULTS_DIR" "$LOG_DIR"
WORK="$(mktemp -d /tmp/mcp-bench.XXXXXX)"
RUNS_DIR="$WORK/runs"
mkdir -p "$RUNS_DIR"
SERVER_PGID=""

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

# start_server SYSTEM PORT STATE_DIR LOG -> sets SERVER_PGID
start_server() {
  local system="$1" port="$2" state="$3" logf="$4" inspector
  inspector="$(free_port)"
  local -a cmd
  case "$system" in
    baseline)
      cmd=("$WRANGLER" dev --config loadtest/baseline/wrangler.toml --ip 127.0.0.1 --port "$port"
           --inspector-port "$inspector" --persist-to "$state" --show-interactive-dev-session=false)
      ;;
    mesh-*)
      local shards="${system#mesh-}"
      cmd=("$WRANGLER" dev --name mcp-mesh-bench --ip 127.0.0.1 --port "$port" --inspector-port "$inspector"
           --persist-to "$state" --show-interactive-dev-session=false
           --var "SHARD_COUNT:$shards" --var KEEPALIVE_MS:25000)
      ;;
    *) log "unknown system $system"; return 1 ;;
  esac
  # setsid: the server gets its own process group (pgid = its pid), stopped as a whole later.
  setsid "${cmd[@]}" </dev/null >"$logf" 2>&1 &
  SERVER_PGID=$!
  local deadline=$((SECONDS + 180)) code
  while [ $SECONDS -lt $deadline ]; do
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" || true)"
    if [ -n "$code" ] && [ "$code" != "000" ]; then return 0; fi
    if ! kill -0 "$SERVER_PGID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  log "server $system did not come up on $port; log tail:"; tail -20 "$logf" >&2
  return 1
}

server_pids() {
  ps -eo pid=,pgid=,comm= | awk -v g="$1" '$2==g && $3=="workerd"{print $1}' | paste -sd, -
}

K6_BIN=""
if [ "${BENCH_K6:-auto}" != "0" ]; then
  if [ -x /tmp/k6venv/bin/k6 ]; then K6_BIN=/tmp/k6venv/bin/k6
  elif command -v k6 >/dev/null 2>&1; then K6_BIN="$(command -v k6)"; fi
fi

log "building the probe"
cargo build --release --example probe >&2
PROBE="$ROOT/target/release/examples/probe"

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
    port="$(free_port)"
    state="$WORK/state-$system-$k"
    logf="$WORK/wrangler-$system-$k.log"
    log "$system K=$k: starting on 127.0.0.1:$port"
    if ! start_server "$system" "$port" "$state" "$logf"; then
      stop_server
      printf '{"system":"%s","sessions":%s,"errors":1,"error_samples":["server did not start"]}\n' "$system" "$k" >"$RUNS_DIR/$system-$k.json"
      continue
    fi
    sleep 1
    pids="$(server_pids "$SERVER_PGID")"
    log "$system K=$k: workerd pids $pids; running probe"
    if ! timeout 600 "$PROBE" --url "http://127.0.0.1:$port/mcp" --sessions "$k" --broadcasts "$BROADCASTS" \
        --targeted "$TARGETED" --callers "$CALLERS" --create-concurrency "$CREATE_CONCURRENCY" \
        --wait-secs "$WAIT_SECS" --subscribe-fraction "$SUBSCRIBE_FRACTION" --broadcast-gap-ms "$BROADCAST_GAP_MS" \
        --label "$system" --server-pids "$pids" --out "$RUNS_DIR/$system-$k.json" >/dev/null; then
      log "$system K=$k: probe failed"
      [ -s "$RUNS_DIR/$system-$k.json" ] || printf '{"system":"%s","sessions":%s,"errors":1,"error_samples":["probe failed"]}\n' "$system" "$k" >"$RUNS_DIR/$system-$k.json"
    fi
    if [ -n "$K6_BIN" ] && [ $k6_done -eq 0 ]; then
      k6_done=1
      log "$system: k6 tools.js for $BENCH_K6_DURATION at $BENCH_K6_RATE/s"
      # env -u: k6 reads K6_* variables (K6_DURATION...) as its own options.
      env -u K6_DURATION -u K6_VUS -u K6_ITERATIONS -u K6_STAGES "$K6_BIN" run --quiet -e BASE_URL="http://127.0.0.1:$port" -e RATE="$BENCH_K6_RATE" -e SESSIONS=10 \
        -e DURATION="$BENCH_K6_DURATION" loadtest/k6/tools.js >"$LOG_DIR/k6-tools-$system.txt" 2>&1 \
        || log "$system: k6 exited non-zero (see $LOG_DIR/k6-tools-$system.txt)"
      log "$system k6: $(grep -m1 -E 'tool_call_ms\.+ n=' "$LOG_DIR/k6-tools-$system.txt" | sed -E 's/ +/ /g' || true)"
    fi
    stop_server
    cp "$logf" "$LOG_DIR/wrangler-$system-$k.log" 2>/dev/null || true
  done
done

python3 - "$RUNS_DIR" "$RESULTS_DIR/latest.json" "$SYSTEMS" "$SESSIONS_LIST" <<'PY'
import json, os, platform, sys
runs_dir, out, systems, ks = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
mem_kb = 0
with open("/proc/meminfo") as f:
    for line in f:
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
runs = []
for s in systems:
    for k in ks:
        p = os.path.join(runs_dir, f"{s}-{k}.json")
        if os.path.exists(p):
            with open(p) as f:
                runs.append(json.load(f))
doc = {"machine": {"cores": os.cpu_count(), "memory_gb": round(mem_kb / 1048576, 1), "kernel": platform.release()}, "runs": runs}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
PY
log "wrote $RESULTS_DIR/latest.json"
python3 scripts/plot_latency.py "$RESULTS_DIR/latest.json" "$RESULTS_DIR/latency.svg"

#!/usr/bin/env bash
# `make bench-cluster`: the mesh and the seed's single object past one process, on one machine, in
# Cloudflare's shape (loadtest/CLUSTER.md): one `wrangler dev` serves the Durable Objects, F others run
# the stateless Worker with Durable Object bindings that name the objects' script (`script_name`; the
# local dev registry connects them over workerd's RPC port, as Workers reach objects in production).
# Configuration only: the same build/ (or loadtest/baseline) with a generated wrangler config per
# process. The probe runs as one process per front (`--epoll --cluster-dir`); the first one sends.
#
# Writes loadtest/results/cluster.json (runs; `cargo run --release --example capacity` adds "model").
#
# Environment (defaults in brackets):
#   CLUSTER_RUNS [see DEFAULT_RUNS below: ~55 minutes]
#     SYSTEM:SESSIONS[:FRONTS] each, a point listed twice is run twice; SYSTEM is mesh-N, tmcp-mesh-N
#     (the tmcp example, examples/tmcp) or baseline; FRONTS defaults to SESSIONS / FRONT_SESSIONS rounded
#     up. The capacity model takes its unit costs from the runs at 10,000 sessions on 1 front and 50,000
#     on 4 (the median of each point's runs: one run's CPU per delivery varies by up to a fifth) and
#     checks itself against the other points.
#   FRONT_SESSIONS [12500]: client connections per front (ulimit -n is 20,000 per process)
#   BROADCASTS [10]  TARGETED [100]  CALLERS [4]  CREATE_CONCURRENCY [8] (per probe process)
#   WAIT_SECS [120]  SUBSCRIBE_FRACTION [0.1]  BROADCAST_GAP_MS [1000]
#   HIBERNATION_CHECK [1]  HIBERNATION_IDLE_SECS [20]: before each mesh run, a stream opened through a
#     front must still get a broadcast after its shard was evicted while idle
#   KEEP_OTHER_RUNS [0]: 1 keeps the runs of cluster.json this invocation does not repeat; all keeps
#     every run already there, so repeats of a point accumulate (each run carries the date it was
#     measured, `measured_at`; the model takes the median of a point's runs)
#   ALT_BUILDS [unset]: "name=dir ..." build/ directories of other versions of the mesh; SYSTEM
#     name-N serves that build with N shards, so a before/after comparison runs in the same invocation
#   RESULTS_DIR [loadtest/results]  LOG_DIR [/tmp/mcp-cluster-logs]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# The whole script is one block, which bash reads before running any of it: an edit to this file
# while a run goes on (bash otherwise reads a script as it goes) cannot change or break that run.
{

DEFAULT_RUNS="mesh-16:10000 mesh-16:10000 mesh-16:50000 mesh-16:50000 mesh-16:10000:4 mesh-16:30000 mesh-16:50000:5"
DEFAULT_RUNS+=" baseline:10000 baseline:10000 baseline:30000 baseline:50000"
CLUSTER_RUNS="${CLUSTER_RUNS:-$DEFAULT_RUNS}"
FRONT_SESSIONS="${FRONT_SESSIONS:-12500}"
BROADCASTS="${BROADCASTS:-10}"
TARGETED="${TARGETED:-100}"
CALLERS="${CALLERS:-4}"
CREATE_CONCURRENCY="${CREATE_CONCURRENCY:-8}"
WAIT_SECS="${WAIT_SECS:-120}"
SUBSCRIBE_FRACTION="${SUBSCRIBE_FRACTION:-0.1}"
BROADCAST_GAP_MS="${BROADCAST_GAP_MS:-1000}"
HIBERNATION_CHECK="${HIBERNATION_CHECK:-1}"
HIBERNATION_IDLE_SECS="${HIBERNATION_IDLE_SECS:-20}"
RESULTS_DIR="${RESULTS_DIR:-loadtest/results}"
LOG_DIR="${LOG_DIR:-/tmp/mcp-cluster-logs}"
KEEP_OTHER_RUNS="${KEEP_OTHER_RUNS:-0}"
COMPAT_DATE="2026-04-07"

mkdir -p "$RESULTS_DIR" "$LOG_DIR"
WORK="$(mktemp -d /tmp/mcp-cluster.XXXXXX)"
# A registry of this run's own: processes of another `wrangler dev` on the machine stay out of it.
export WRANGLER_REGISTRY_PATH="$WORK/registry"
GROUPS_RUNNING=()

log() { echo "[bench-cluster $(date +%H:%M:%S)] $*" >&2; }

stop_all() {
  local pg
  for pg in "${GROUPS_RUNNING[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  sleep 1
  for pg in "${GROUPS_RUNNING[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
  GROUPS_RUNNING=()
}
trap 'stop_all; rm -rf "$WORK"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# direct_port PGID PUBLIC_PORT: the port of the workerd that runs the Worker itself (not wrangler's
# proxy on PUBLIC_PORT): one that answers an MCP initialize. The dev registry's own socket (it answers
# a GET with a bare "not found") is never POSTed to: it takes a POST body as the new registry.
direct_port() {
  local pgid="$1" public="$2" pid port body code
  local init='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
  init+='"capabilities":{},"clientInfo":{"name":"bench-port-probe","version":"0"}}}'
  for pid in $(ps -eo pid=,pgid=,comm= | awk -v g="$pgid" '$2==g && $3=="workerd"{print $1}'); do
    for port in $(ss -ltnpH 2>/dev/null | grep "pid=$pid," | grep -oE '127\.0\.0\.1:[0-9]+' | cut -d: -f2); do
      [ "$port" = "$public" ] && continue
      body="$(curl -s -m 2 "http://127.0.0.1:$port/" || true)"
      [ "$body" = "not found" ] && continue
      code="$(curl -s -o /dev/null -m 3 -w '%{http_code}' -H 'content-type: application/json' \
        -H 'accept: application/json, text/event-stream' \
        -d "$init" \
        "http://127.0.0.1:$port/mcp" || true)"
      if [ "$code" = 200 ]; then echo "$port"; return 0; fi
    done
  done
  return 1
}

# sample_cpu OUT GROUP:PID...: every 200 ms, "time_ms group pid ticks" (utime + stime in clock ticks) for
# each process, with shell builtins only so that sampling costs next to no CPU itself.
sample_cpu() {
  local out="$1" entry now
  local -a stat
  shift
  while :; do
    now="${EPOCHREALTIME/./}"
    if read -ra stat <"/proc/stat"; then
      echo "$((now / 1000)) machine-idle 0 $(( stat[4] + stat[5] ))"
    fi
    for entry in "$@"; do
      if read -ra stat 2>/dev/null <"/proc/${entry##*:}/stat"; then
        echo "$((now / 1000)) ${entry%%:*} ${entry##*:} $(( stat[13] + stat[14] ))"
      fi
    done
    sleep 0.2
  done >>"$out"
}

# workerd_pids PGID: the workerd processes of one `wrangler dev`.
workerd_pids() {
  ps -eo pid=,pgid=,comm= | awk -v g="$1" '$2==g && $3=="workerd"{print $1}'
}

# node_pids PGID: wrangler's own Node process in one served Worker.
node_pids() {
  ps -eo pid=,pgid=,comm= | awk -v g="$1" '$2==g && $3=="node"{print $1}'
}

# connected LOG: the last bindings table wrangler printed has no binding "[not connected]".
connected() {
  awk '/has access to the following bindings/{table=""} {table=table"\n"$0}
       END{exit index(table,"not connected")>0}' "$1"
}

# group_rss_mb PGID: peak RSS (VmHWM) summed over the workerd processes of one `wrangler dev`.
group_rss_mb() {
  local pgid="$1" pid kb total=0
  for pid in $(ps -eo pid=,pgid=,comm= | awk -v g="$pgid" '$2==g && $3=="workerd"{print $1}'); do
    kb="$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    total=$((total + ${kb:-0}))
  done
  awk -v kb="$total" 'BEGIN{printf "%.1f", kb/1024}'
}

# write_configs SYSTEM DIR FRONTS: the objects' config and one per front. They differ only in their
# names and in where the object classes live (the fronts bind them by script_name, without migrations).
write_configs() {
  local system="$1" dir="$2" fronts="$3" i main objects top tables classes
  local build="$WORK/build"
  if [ -d "$WORK/alt-${system%-*}" ]; then
    build="$WORK/alt-${system%-*}"
    system="mesh-${system##*-}"
  fi
  case "$system" in
    mesh-*)
      main="$build/index.js"
      objects="mesh-cluster-objects"
      top=""
      tables="[vars]
SHARD_COUNT = \"${system#mesh-}\"
KEEPALIVE_MS = \"25000\""
      classes="TMCP_DURABLE_OBJECT=SyncLayer MESH_COORDINATOR=Coordinator"
      ;;
    tmcp-mesh-*)
      # The tmcp example on the mesh (examples/tmcp): its own Worker, the crate's objects.
      main="$ROOT/examples/tmcp/src/index.js"
      objects="tmcp-cluster-objects"
      top='compatibility_flags = ["nodejs_compat"]'
      tables="[vars]
SHARD_COUNT = \"${system#tmcp-mesh-}\"
KEEPALIVE_MS = \"25000\"
INCREMENT_NOTIFY = \"await\""
      classes="TMCP_DURABLE_OBJECT=SyncLayer MESH_COORDINATOR=Coordinator COUNTER=Counter"
      ;;
    baseline)
      main="$ROOT/loadtest/baseline/src/index.js"
      objects="baseline-cluster-objects"
      top='compatibility_flags = ["nodejs_compat"]'
      tables='[vars]
INCREMENT_NOTIFY = "await"'
      classes="TMCP_DURABLE_OBJECT=SyncLayer"
      ;;
    *) log "unknown system $system"; return 1 ;;
  esac
  config_toml "$objects" "$main" "$top" "$tables" "$classes" "" >"$dir/objects.toml"
  for i in $(seq 0 $((fronts - 1))); do
    config_toml "${objects%objects}front-$i" "$main" "$top" "$tables" "$classes" "$objects" >"$dir/front-$i.toml"
  done
}

# config_toml NAME MAIN TOP TABLES CLASSES SCRIPT: one generated config. CLASSES is "BINDING=Class ...";
# with SCRIPT the classes are bound from that script, else they are this one's (with their migration).
config_toml() {
  local name="$1" main="$2" top="$3" tables="$4" classes="$5" script="$6" pair list=""
  printf 'name = "%s"\nmain = "%s"\ncompatibility_date = "%s"\n' "$name" "$main" "$COMPAT_DATE"
  [ -z "$top" ] || printf '%s\n' "$top"
  printf '%s\n[durable_objects]\nbindings = [\n' "$tables"
  for pair in $classes; do
    printf '  { name = "%s", class_name = "%s"%s },\n' "${pair%%=*}" "${pair#*=}" \
      "${script:+, script_name = \"$script\"}"
    list="$list${list:+, }\"${pair#*=}\""
  done
  printf ']\n'
  [ -n "$script" ] || printf '[[migrations]]\ntag = "v1"\nnew_sqlite_classes = [%s]\n' "$list"
  # The seed keeps session info in KV (one local SQLite file, shared by every process here).
  case "$classes" in
    *Coordinator*) ;;
    *) printf '[[kv_namespaces]]\nbinding = "TMCP_SESSION_INFO"\nid = "00000000000000000000000000000000"\n' ;;
  esac
}

# start CONFIG STATE LOG -> STARTED_PGID, STARTED_PORT (the Worker's own workerd port). Served through
# wrangler's API with its inspector off (scripts/serve_worker.mjs): `wrangler dev` gets a DevTools event
# for every object call, and with five processes that Node work took a third of the machine.
start() {
  local config="$1" state="$2" logf="$3" port deadline
  port="$(free_port)"
  setsid node scripts/serve_worker.mjs --config "$config" --port "$port" --persist-to "$state" \
    </dev/null >"$logf" 2>&1 &
  STARTED_PGID=$!
  GROUPS_RUNNING+=("$STARTED_PGID")
  deadline=$((SECONDS + 180))
  while [ $SECONDS -lt $deadline ]; do
    if grep -q "Ready on" "$logf" && connected "$logf" \
        && STARTED_PORT="$(direct_port "$STARTED_PGID" "$port")"; then
      return 0
    fi
    kill -0 "$STARTED_PGID" 2>/dev/null || break
    sleep 0.5
  done
  log "$config did not come up; log tail:"; tail -n 20 "$logf" >&2
  return 1
}

log "building the probe"
cargo build --release --example probe >&2
PROBE="$ROOT/target/release/examples/probe"
cp -r "$ROOT/build" "$WORK/build"
for alt in ${ALT_BUILDS:-}; do cp -r "${alt#*=}" "$WORK/alt-${alt%%=*}"; done
if [ ! -d loadtest/baseline/node_modules ]; then npm ci --prefix loadtest/baseline >&2; fi

# Each finished run's line lands here at once, outside $WORK: if the invocation is cut short, its runs
# can still be written (`python3 scripts/bench_cluster_collect.py write --runs FILE --out ... --keep all`).
RUNS_JSONL="$LOG_DIR/runs-$(date +%Y%m%dT%H%M%S).jsonl"
: >"$RUNS_JSONL"
log "runs go to $RUNS_JSONL as they finish"
declare -A runs_of_tag=()
for run in $CLUSTER_RUNS; do
  IFS=: read -r system sessions fronts <<<"$run"
  [ -n "$fronts" ] || fronts=$(( (sessions + FRONT_SESSIONS - 1) / FRONT_SESSIONS ))
  # A point run again gets a tag (and so a directory, state and probe meeting place) of its own: a
  # repeat that found the previous run's probe files counted before the leader had sent anything.
  tag="$system-$sessions-f$fronts"
  runs_of_tag[$tag]=$(( ${runs_of_tag[$tag]:-0} + 1 ))
  [ "${runs_of_tag[$tag]}" = 1 ] || tag="$tag-r${runs_of_tag[$tag]}"
  dir="$WORK/$tag"
  mkdir -p "$dir/sync"
  write_configs "$system" "$dir" "$fronts"
  # The admin token lets the hibernation check read shard status (wrangler reads .dev.vars beside a config).
  admin_token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  echo "MESH_ADMIN_TOKEN=$admin_token" >"$dir/.dev.vars"
  log "$system K=$sessions: objects process + $fronts fronts"
  failure=""
  if ! start "$dir/objects.toml" "$dir/state-objects" "$LOG_DIR/$tag-objects.log"; then
    failure="the objects process did not start"
  fi
  objects_pgid="$STARTED_PGID"
  front_pgids=()
  front_ports=()
  if [ -z "$failure" ]; then
    for i in $(seq 0 $((fronts - 1))); do
      # The fronts share one state directory: the baseline's KV is one namespace in production too.
      if ! start "$dir/front-$i.toml" "$dir/state-fronts" "$LOG_DIR/$tag-front-$i.log"; then
        failure="front $i did not start"
        break
      fi
      front_pgids+=("$STARTED_PGID")
      front_ports+=("$STARTED_PORT")
    done
  fi
  hibernation=""
  if [ -z "$failure" ] && [ "${system%%-*}" = mesh ] && [ "$HIBERNATION_CHECK" = 1 ]; then
    # A stream opened through a front, held by a shard in the objects' process, must survive the
    # shard's eviction while idle (scripts/cluster_hibernation_check.py).
    hibernation="$(python3 scripts/cluster_hibernation_check.py --url "http://127.0.0.1:${front_ports[0]}/mcp" \
      --token "$admin_token" --idle-secs "$HIBERNATION_IDLE_SECS" || true)"
    log "$system K=$sessions: hibernation check: $hibernation"
  fi
  if [ -z "$failure" ]; then
    log "$system K=$sessions: fronts on ${front_ports[*]}; running $fronts probe processes"
    probe_pids=()
    share=$(( sessions / fronts ))
    for i in $(seq 0 $((fronts - 1))); do
      n=$share
      [ "$i" -eq 0 ] && n=$(( sessions - share * (fronts - 1) ))
      leader=()
      [ "$i" -eq 0 ] && leader=(--cluster-leader)
      "$PROBE" --url "http://127.0.0.1:${front_ports[$i]}/mcp" --sessions "$n" --broadcasts "$BROADCASTS" \
        --targeted "$TARGETED" --callers "$CALLERS" --create-concurrency "$CREATE_CONCURRENCY" \
        --subscribe-fraction "$SUBSCRIBE_FRACTION" --wait-secs "$WAIT_SECS" --broadcast-gap-ms "$BROADCAST_GAP_MS" \
        --epoll --cluster-dir "$dir/sync" --cluster-peers "$fronts" "${leader[@]}" --create-timeout-secs 3600 \
        --label "p$i" --out "$dir/probe-$i.json" >/dev/null 2>"$LOG_DIR/$tag-probe-$i.log" &
      probe_pids+=($!)
    done
    sampled=()
    for pid in $(workerd_pids "$objects_pgid"); do sampled+=("objects:$pid"); done
    for pid in $(node_pids "$objects_pgid"); do sampled+=("wrangler-objects:$pid"); done
    for i in "${!front_pgids[@]}"; do
      for pid in $(workerd_pids "${front_pgids[$i]}"); do sampled+=("front-$i:$pid"); done
      for pid in $(node_pids "${front_pgids[$i]}"); do sampled+=("wrangler-front-$i:$pid"); done
    done
    for i in "${!probe_pids[@]}"; do sampled+=("probe-$i:${probe_pids[$i]}"); done
    sample_cpu "$dir/cpu.tsv" "${sampled[@]}" &
    sampler=$!
    for pid in "${probe_pids[@]}"; do wait "$pid" || true; done
    kill "$sampler" 2>/dev/null || true
  fi
  rss_fronts=()
  for pg in "${front_pgids[@]}"; do rss_fronts+=("$(group_rss_mb "$pg")"); done
  rss_objects="$(group_rss_mb "$objects_pgid")"
  if [ -z "$failure" ] && ! kill -0 "$objects_pgid" 2>/dev/null; then failure="the objects process exited"; fi
  python3 scripts/bench_cluster_collect.py run --system "$system" --sessions "$sessions" --fronts "$fronts" \
    --dir "$dir" --rss-objects "$rss_objects" --rss-fronts "${rss_fronts[*]:-}" --failure "$failure" \
    --objects-log "$LOG_DIR/$tag-objects.log" --hibernation "$hibernation" --log-dir "$LOG_DIR" --tag "$tag" \
    >>"$RUNS_JSONL"
  log "$system K=$sessions: $(tail -n 1 "$RUNS_JSONL" | cut -c1-300)"
  stop_all
done

keep=()
[ "$KEEP_OTHER_RUNS" = 1 ] && keep=(--keep others)
[ "$KEEP_OTHER_RUNS" = all ] && keep=(--keep all)
python3 scripts/bench_cluster_collect.py write --runs "$RUNS_JSONL" --out "$RESULTS_DIR/cluster.json" "${keep[@]}"
log "wrote $RESULTS_DIR/cluster.json"
exit
}

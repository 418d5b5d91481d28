#!/usr/bin/env bash
# `make bench-repeat`: the single-process points the capacity model is checked against (the seed and
# mesh-16 at 1,000 and 10,000 sessions), measured REPEATS more times with scripts/bench.sh alone (no
# criterion, k6 or storm). One run's percentiles on this shared 2-core machine move by a third from run
# to run, so the model is checked against the median of all runs (latest.json's and these), with their
# range beside it. Writes loadtest/results/repeats/run-<i>.json.
#
# Environment: REPEATS [3]  REPEAT_SYSTEMS ["baseline mesh-16"]  REPEAT_SESSIONS ["1000 10000"]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REPEATS="${REPEATS:-3}"
OUT="loadtest/results/repeats"
mkdir -p "$OUT"
for i in $(seq 1 "$REPEATS"); do
  work="$(mktemp -d /tmp/mcp-bench-repeat.XXXXXX)"
  echo "[bench-repeat] run $i of $REPEATS" >&2
  SYSTEMS="${REPEAT_SYSTEMS:-baseline mesh-16}" SESSIONS_LIST="${REPEAT_SESSIONS:-1000 10000}" \
    BENCH_CRITERION=0 BENCH_K6=0 STORM_SESSIONS=0 RESULTS_DIR="$work" bash scripts/bench.sh
  cp "$work/latest.json" "$OUT/run-$i.json"
  rm -rf "$work"
done
echo "[bench-repeat] wrote $OUT/run-1..$REPEATS.json" >&2

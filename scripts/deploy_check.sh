#!/usr/bin/env bash
# Dry-run deploys of the two Workers this repository ships, the Rust reference server (wrangler.toml,
# whose [build] runs scripts/build.sh) and the tmcp example (examples/tmcp/wrangler.toml), and their
# size check: `make deploy-check`, part of `make test`.
#   bash scripts/deploy_check.sh
# `wrangler deploy --dry-run` builds, validates the config (bindings, migrations, observability) and
# bundles exactly what `wrangler deploy` would upload, then stops before any request to Cloudflare, so
# it needs no account or login; the bundles are written to target/deploy-check/<worker>/.
# Exit 1 when a dry run fails or a bundle is over a limit below; one summary line per Worker.
#
# The sizes are wrangler's own report of the upload ("Total Upload: X KiB / gzip: Y KiB": the modules
# wrangler uploads, and the gzip of them together; source maps are not uploaded). Against:
# - Cloudflare's Worker size limit: 64 MiB uncompressed on every plan
#   (https://developers.cloudflare.com/workers/platform/limits/#worker-size, changelog 2026-09-04).
# - A compressed budget: over 10 MiB gzip fails, over 3 MiB gzip warns (issue 23). These are the paid
#   and free plans' former compressed limits, kept because a Worker must start within 1 s and startup
#   grows with the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="$ROOT/target/deploy-check"

LIMIT_KIB=$((64 * 1024))
FAIL_GZIP_KIB=$((10 * 1024))
WARN_GZIP_KIB=$((3 * 1024))

# label and config of each Worker. The Rust Worker comes first: its build also refreshes the wasm the
# tmcp example bundles (js/tmcp-mesh/wasm, scripts/build.sh).
WORKERS=(
  "mcp-mesh wrangler.toml"
  "mcp-tmcp-mesh examples/tmcp/wrangler.toml"
)

# wrangler runs in its own process group so that an interrupted check stops it and everything it
# started (the build, esbuild), and nothing is left running when the check ends.
child=""
stop_child() {
  if [ -n "$child" ]; then
    kill -TERM -- "-$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
    child=""
  fi
}
trap stop_child EXIT
trap 'exit 130' INT TERM

# No Cloudflare credentials reach wrangler, and its user config (where `wrangler login` keeps its
# token) is a fresh directory: the check proves the dry run needs neither. No banner means no update
# check against the npm registry; no metrics means no telemetry request.
dry_run() {
  local config=$1 outdir=$2 log=$3
  env -u CLOUDFLARE_API_TOKEN -u CLOUDFLARE_API_KEY -u CLOUDFLARE_EMAIL -u CLOUDFLARE_ACCOUNT_ID \
    XDG_CONFIG_HOME="$OUT/wrangler-home" WRANGLER_LOG_PATH="$OUT/wrangler-home/logs" \
    WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CI=true NO_COLOR=1 \
    setsid "$ROOT/node_modules/.bin/wrangler" deploy --dry-run --config "$config" --outdir "$outdir" \
    >"$log" 2>&1 </dev/null &
  child=$!
  local status=0
  wait "$child" || status=$?
  stop_child
  return "$status"
}

mib() { awk -v kib="$1" 'BEGIN { printf "%.2f MiB", kib / 1024 }'; }

rm -rf "$OUT/wrangler-home"
mkdir -p "$OUT/wrangler-home"
failed=0
for worker in "${WORKERS[@]}"; do
  read -r name config <<<"$worker"
  outdir="$OUT/$name"
  log="$OUT/$name.log"
  rm -rf "$outdir"
  if ! dry_run "$ROOT/$config" "$outdir" "$log"; then
    cat "$log" >&2
    echo "deploy-check: $name ($config): wrangler deploy --dry-run failed (log: ${log#"$ROOT"/})" >&2
    failed=1
    continue
  fi
  # Strips colour codes in case a tool forces them despite NO_COLOR.
  sizes=$(sed -e 's/\x1b\[[0-9;]*m//g' "$log" |
    sed -n 's/^Total Upload: \([0-9.]*\) KiB \/ gzip: \([0-9.]*\) KiB.*/\1 \2/p')
  if [ -z "$sizes" ]; then
    cat "$log" >&2
    echo "deploy-check: $name ($config): no \"Total Upload\" line in wrangler's output" >&2
    failed=1
    continue
  fi
  read -r upload_kib gzip_kib <<<"$sizes"
  verdict=$(awk -v u="$upload_kib" -v g="$gzip_kib" -v limit="$LIMIT_KIB" -v fail="$FAIL_GZIP_KIB" \
    -v warn="$WARN_GZIP_KIB" 'BEGIN {
      if (u > limit) print "fail over Cloudflare'\''s 64 MiB limit";
      else if (g > fail) print "fail over the 10 MiB gzip budget";
      else if (g > warn) print "warn over the free plan'\''s former 3 MiB gzip limit";
      else print "ok";
    }')
  line="deploy-check: $name ($config): upload $(mib "$upload_kib") ($upload_kib KiB),"
  line="$line gzip $(mib "$gzip_kib") ($gzip_kib KiB); limit 64 MiB upload, budget 10 MiB gzip"
  line="$line (warn at 3 MiB): $verdict"
  case $verdict in
    ok*) echo "$line" ;;
    warn*) echo "$line" >&2 ;;
    *) echo "$line" >&2; failed=1 ;;
  esac
done
exit "$failed"

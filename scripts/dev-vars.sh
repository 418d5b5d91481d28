#!/usr/bin/env bash
# Creates an untracked .dev.vars with a random MESH_ADMIN_TOKEN for local development, once.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .dev.vars ] || ! grep -q '^MESH_ADMIN_TOKEN=' .dev.vars; then
  token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  printf 'MESH_ADMIN_TOKEN=%s\n' "$token" >> .dev.vars
  echo "dev-vars: wrote a new MESH_ADMIN_TOKEN to .dev.vars" \
    "(curl -H \"Authorization: Bearer \$TOKEN\" .../mesh/status)" >&2
fi
if ! grep -q '^REQUEST_STATE_SECRET=' .dev.vars; then
  printf 'REQUEST_STATE_SECRET=%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >> .dev.vars
fi

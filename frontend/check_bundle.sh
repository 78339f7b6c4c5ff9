#!/usr/bin/env bash
# Fails if the committed bundle (tb_layerprof/static) differs from a fresh build of frontend/.
# Used by CI; needs node + npm (installs the locked dependencies with `npm ci`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx tsc --noEmit -p .
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node build.mjs --outdir "$tmp" >/dev/null
if ! diff -r "$tmp" "$here/../tb_layerprof/static" >/dev/null; then
  echo "check_bundle: tb_layerprof/static is stale; run 'cd frontend && npm run build' and commit it." >&2
  diff -rq "$tmp" "$here/../tb_layerprof/static" >&2 || true
  exit 1
fi
echo "check_bundle: committed bundle matches a fresh build"

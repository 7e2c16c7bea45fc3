#!/usr/bin/env bash
# Runs the whole engine locally: the Temporal dev server (state in a SQLite
# file, so a restart resumes where it left off; Web UI on :8233) in the
# background, and the worker with its webhook listener in the foreground.
# Ctrl-C stops both. Called by `make run`.
set -euo pipefail
: "${TEMPORAL:?}" "${STATE:?}" "${SEARCH_ATTRIBUTES:?}"
mkdir -p "$STATE"

sa_flags=()
for sa in $SEARCH_ATTRIBUTES; do sa_flags+=(--search-attribute "$sa"); done

"$TEMPORAL" server start-dev \
  --db-filename "$STATE/temporal.db" \
  --ip 127.0.0.1 --port 7233 --ui-port 8233 \
  --log-level warn \
  "${sa_flags[@]}" >"$STATE/temporal.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM

echo "waiting for the Temporal dev server (log: $STATE/temporal.log)…"
for _ in $(seq 1 120); do
  if "$TEMPORAL" operator cluster health --address 127.0.0.1:7233 >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then echo "the dev server exited; see $STATE/temporal.log" >&2; exit 1; fi
  sleep 0.5
done
echo "Temporal Web UI: http://localhost:8233   frontend: 127.0.0.1:7233"
echo "starting the worker (webhook on ${IDSYNC_WEBHOOK_ADDR:-127.0.0.1:8088}); Ctrl-C stops everything"
./bin/worker --temporal-address 127.0.0.1:7233

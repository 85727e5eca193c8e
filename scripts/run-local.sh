#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole system locally:
# nats-server with JetStream (store in ./data/nats, client port 4222,
# monitoring on 8222) and every service (databases in ./data). Logs go to
# the terminal as JSON lines. Ctrl-C stops the services (they drain), then
# NATS.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh

mkdir -p data/nats
export LB_NATS_URL=${LB_NATS_URL:-nats://127.0.0.1:4222}
export LB_DATA_DIR=${LB_DATA_DIR:-$PWD/data}

pids=()
stop() {
  trap - INT TERM
  echo "stopping..." >&2
  for pid in "${pids[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:1}"; do wait "$pid" 2>/dev/null || true; done
  kill -TERM "${pids[0]}" 2>/dev/null || true
  wait "${pids[0]}" 2>/dev/null || true
  exit 0
}
trap stop INT TERM

# Its own session, so Ctrl-C reaches the services first and NATS outlives their drain.
setsid nats-server -c deploy/nats/local.conf -sd data/nats &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
  sleep 0.1
done

for exe in build/lb-*; do
  [ -x "$exe" ] || continue
  "$exe" &
  pids+=($!)
done
echo "licensebus is running; Ctrl-C stops it" >&2
wait -n "${pids[@]}" || true
stop

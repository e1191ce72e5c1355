#!/usr/bin/env bash
# nova-fcgi's pub/sub dispatcher against a real redis-server (unix socket only) in a temp dir:
# runs test_fcgi_dispatch with its URL. NOVA_BUILD picks the build (build/release or
# build/asan). The Redis started here is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${NOVA_BUILD:-build/release}
tmp=$(mktemp -d)
redis_pid=
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$tmp/redis.sock" --unixsocketperm 700 --dir "$tmp" \
  --save '' --appendonly no --daemonize no --logfile "$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 250); do
  [ "$(redis-cli -s "$tmp/redis.sock" ping 2>/dev/null)" = PONG ] && break
  kill -0 "$redis_pid" 2>/dev/null || break
  sleep 0.02
done
if [ "$(redis-cli -s "$tmp/redis.sock" ping 2>/dev/null)" != PONG ]; then
  echo "redis-server did not start"; cat "$tmp/redis.log"; echo "0 passed, 1 failed"; exit 1
fi
"$build/tests/integration/test_fcgi_dispatch" "unix://$tmp/redis.sock"

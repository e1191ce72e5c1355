#!/usr/bin/env bash
# Worker failure semantics: a real redis-server (unix socket only) and bedrock-sim (free
# loopback port) in a temp dir, then the C test (test_worker_faults), which starts and kills
# nova-worker processes itself (it must kill -9 them and restart Redis on the same socket) and
# records every PID it starts in $tmp/pids/*.pid. On exit this script stops, by PID, what it
# started and what the test recorded, and nothing else. NOVA_BUILD picks the build
# (build/release or build/asan). The last line is the test's "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${NOVA_BUILD:-build/release}
tmp=$(mktemp -d)
mkdir "$tmp/pids"
redis_pid= sim_pid= test_pid=

cleanup() {
  local f p
  if [ -n "$test_pid" ]; then kill "$test_pid" 2>/dev/null || true; fi
  for f in "$tmp"/pids/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f" 2>/dev/null) || continue
    if [ -n "$p" ]; then kill -9 "$p" 2>/dev/null || true; fi
  done
  stop_servers
}
trap cleanup EXIT
source tests/lib/servers.sh

start_redis || exit 1
start_sim || exit 1
echo "redis pid $redis_pid, bedrock-sim pid $sim_pid on port $port"

rc=0
t0=$SECONDS
REDIS_SOCK="$tmp/redis.sock" SIM_URL="http://127.0.0.1:$port" WORKER_DIR="$tmp" \
  WORKER_BIN="$build/bin/nova-worker" \
  "$build/tests/integration/test_worker_faults" >"$tmp/test.out" 2>&1 &
test_pid=$!
wait "$test_pid" || rc=$?
test_pid=
for f in "$tmp"/worker-*.log; do
  [ -f "$f" ] || continue
  # A worker log with a sanitizer report or an error line is worth seeing even on success.
  if [ $rc -ne 0 ] || grep -qE 'Sanitizer|runtime error' "$f"; then
    echo "== $(basename "$f") (tail)"; tail -n 40 "$f"
  fi
done
echo "simulator log (errors only):"; tail -n 5 "$tmp/sim.log"
echo "test took $((SECONDS - t0)) s"
cat "$tmp/test.out"
exit $rc

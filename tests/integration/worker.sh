#!/usr/bin/env bash
# Worker integration: a real redis-server (unix socket only) and bedrock-sim (free loopback
# port) in a temp dir, then three nova-worker processes (micro, pro, kb; ids test-<queue>),
# then the C test (test_worker), which plays nova-fcgi against them and stops them at the end.
# NOVA_BUILD picks the build (build/release or build/asan). Everything started here is stopped
# by PID on exit; the last line is the test's "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${NOVA_BUILD:-build/release}
drain=3
tmp=$(mktemp -d)
redis_pid= sim_pid=

source tests/lib/servers.sh
cleanup() {
  stop_workers micro pro kb
  stop_servers
}
trap cleanup EXIT

start_redis || exit 1
start_sim || exit 1

# The C test reads each worker's pid and exit status (tests/lib/servers.sh) and sends the
# SIGTERMs.
t0=${EPOCHREALTIME/./}
start_worker micro NOVA_DRAIN_SECONDS=20
start_worker pro NOVA_DRAIN_SECONDS="$drain"
start_worker kb NOVA_DRAIN_SECONDS=20
if ! await_beats micro pro kb; then
  echo "workers not ready"; for q in micro pro kb; do echo "== $q"; cat "$tmp/worker-$q.log"; done
  exit 1
fi
echo "3 workers ready in $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms" \
  "(redis pid $redis_pid, bedrock-sim pid $sim_pid on port $port)"

rc=0
REDIS_SOCK="$tmp/redis.sock" SIM_URL="$sim_url" WORKER_DIR="$tmp" WORKER_DRAIN_S="$drain" \
  "$build/tests/integration/test_worker" >"$tmp/test.out" 2>&1 || rc=$?
for q in micro pro kb; do
  # A worker log with a sanitizer report or an error line is worth seeing even on success.
  if [ $rc -ne 0 ] || grep -qE '"level":"error"|Sanitizer|runtime error' "$tmp/worker-$q.log"; then
    echo "== worker $q log (tail)"; tail -n 30 "$tmp/worker-$q.log"
  fi
done
echo "simulator log (errors only):"; tail -n 5 "$tmp/sim.log"
cat "$tmp/test.out"
exit $rc

#!/usr/bin/env bash
# Worker memory per open model stream (issue 15): a real redis-server (unix socket only) and
# bedrock-sim (free loopback port) in a temp dir, two nova-worker processes (micro, pro; ids
# test-<queue>) with room for every held job, then test_worker_memory, which holds
# WORKER_MEMORY_N (default 250) streams open on each worker with the first token after
# WORKER_MEMORY_HOLD_MS (default 8000) and checks the worker's PSS per open stream against
# WORKER_MEMORY_BOUND_KIB. NOVA_BUILD picks the build (build/release or build/asan; under ASan
# the allocator's redzones and quarantine are what is measured, so the bound is not applied
# there unless given). Everything started here is stopped by PID on exit; the last line is the
# test's "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${NOVA_BUILD:-build/release}
n=${WORKER_MEMORY_N:-250}
tmp=$(mktemp -d)
redis_pid= sim_pid=
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null  # a socket per stream

source tests/lib/servers.sh
cleanup() {
  stop_workers micro pro
  stop_servers
}
trap cleanup EXIT

start_redis || exit 1
start_sim || exit 1
start_worker micro NOVA_WORKER_MAX_JOBS=$((n + 64)) NOVA_DRAIN_SECONDS=5
start_worker pro NOVA_WORKER_MAX_JOBS=$((n + 64)) NOVA_DRAIN_SECONDS=5
if ! await_beats micro pro; then
  echo "workers not ready"; for q in micro pro; do echo "== $q"; cat "$tmp/worker-$q.log"; done
  exit 1
fi

bound=${WORKER_MEMORY_BOUND_KIB:-}
[ -z "$bound" ] && [[ $build == *asan* ]] && bound=1000000
rc=0
REDIS_SOCK="$tmp/redis.sock" SIM_URL="$sim_url" WORKER_DIR="$tmp" WORKER_MEMORY_N="$n" \
  WORKER_MEMORY_BOUND_KIB="$bound" \
  timeout 300 "$build/tests/integration/test_worker_memory" >"$tmp/test.out" 2>&1 || rc=$?
for q in micro pro; do
  if [ $rc -ne 0 ] || grep -qE '"level":"error"|Sanitizer|runtime error' "$tmp/worker-$q.log"; then
    echo "== worker $q log (tail)"; grep -vE '"event":"job_(start|done)"' "$tmp/worker-$q.log" | tail -n 30
  fi
done
cat "$tmp/test.out"
[ $rc -eq 0 ] || tail -n 1 "$tmp/test.out" | grep -qE '^[0-9]+ passed, [0-9]+ failed$' ||
  echo "0 passed, 1 failed"
exit $rc

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
declare -a wrappers=()
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null  # a socket per stream

cleanup() {
  local q p
  for q in micro pro; do
    if [ -f "$tmp/$q.pid" ] && [ ! -f "$tmp/$q.exit" ]; then
      p=$(cat "$tmp/$q.pid"); kill "$p" 2>/dev/null || true
    fi
  done
  for p in "${wrappers[@]}"; do wait "$p" 2>/dev/null || true; done
  stop_servers
}
trap cleanup EXIT
source tests/lib/servers.sh

start_redis || exit 1
start_sim || exit 1

start_worker() {
  local q=$1
  (
    env -u AWS_SESSION_TOKEN -u AWS_PROFILE -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      -u AWS_CONTAINER_CREDENTIALS_FULL_URI -u AWS_CONTAINER_AUTHORIZATION_TOKEN \
      -u AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
      AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
      AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
      AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=ap-northeast-1 \
      NOVA_BACKEND=sim NOVA_REDIS_URL="unix://$tmp/redis.sock" \
      NOVA_BEDROCK_ENDPOINT="$sim_url" NOVA_KB_ENDPOINT="$sim_url" \
      NOVA_WORKER_MAX_JOBS=$((n + 64)) NOVA_DRAIN_SECONDS=5 NOVA_LOG_LEVEL=info \
      "$build/bin/nova-worker" --queue "$q" --id "test-$q" 2>"$tmp/worker-$q.log" &
    echo $! >"$tmp/$q.pid.new" && mv "$tmp/$q.pid.new" "$tmp/$q.pid"
    rc=0; wait $! || rc=$?
    echo "$rc" >"$tmp/$q.exit.new" && mv "$tmp/$q.exit.new" "$tmp/$q.exit"
  ) &
  wrappers+=($!)
}

start_worker micro
start_worker pro

# Ready = each worker's heartbeat is in Redis. A bounded poll: no event a shell can wait on.
ready=0
for _ in $(seq 500); do
  k=0
  for q in micro pro; do
    [ "$(redis-cli -s "$tmp/redis.sock" exists "nova:worker:test-$q" 2>/dev/null)" = 1 ] && k=$((k + 1))
    [ -f "$tmp/$q.exit" ] && break 2
  done
  [ $k -eq 2 ] && { ready=1; break; }
  sleep 0.02
done
if [ $ready -ne 1 ]; then
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

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
declare -a wrappers=()

cleanup() {
  local q p
  for q in micro pro kb; do
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

# start_worker QUEUE DRAIN_S: runs a worker under a wrapper that records its pid and, once it
# has exited, its exit status (the C test reads both: it sends the SIGTERMs).
start_worker() {
  local q=$1 d=$2
  (
    env -u AWS_SESSION_TOKEN -u AWS_PROFILE -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      -u AWS_CONTAINER_CREDENTIALS_FULL_URI -u AWS_CONTAINER_AUTHORIZATION_TOKEN \
      -u AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
      AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
      AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
      AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=ap-northeast-1 \
      NOVA_BACKEND=sim NOVA_REDIS_URL="unix://$tmp/redis.sock" \
      NOVA_BEDROCK_ENDPOINT="$sim_url" NOVA_KB_ENDPOINT="$sim_url" \
      NOVA_DRAIN_SECONDS="$d" NOVA_LOG_LEVEL=info \
      "$build/bin/nova-worker" --queue "$q" --id "test-$q" 2>"$tmp/worker-$q.log" &
    echo $! >"$tmp/$q.pid.new" && mv "$tmp/$q.pid.new" "$tmp/$q.pid"
    rc=0; wait $! || rc=$?
    echo "$rc" >"$tmp/$q.exit.new" && mv "$tmp/$q.exit.new" "$tmp/$q.exit"
  ) &
  wrappers+=($!)
}

t0=${EPOCHREALTIME/./}
start_worker micro 20
start_worker pro "$drain"
start_worker kb 20

# Ready = each worker's heartbeat is in Redis (written once its group exists and its cancel
# subscription is live). A bounded poll: there is no event a shell can wait on here.
ready=0
for _ in $(seq 500); do
  n=0
  for q in micro pro kb; do
    hb=$(redis-cli -s "$tmp/redis.sock" exists "nova:worker:test-$q" 2>/dev/null)
    [ "$hb" = 1 ] && n=$((n + 1))
    [ -f "$tmp/$q.exit" ] && break 2
  done
  [ $n -eq 3 ] && { ready=1; break; }
  sleep 0.02
done
if [ $ready -ne 1 ]; then
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

#!/usr/bin/env bash
# Whole-stack failure semantics (issue 7), through nginx as a browser sees them. Two stacks
# (tests/lib/stack.sh):
#   1. on a Redis this script starts outside the stack (the test stops and restarts it), two
#      nova-fcgi children, a 2 s Bedrock idle timeout, a 2 s visibility timeout (a killed
#      worker's job is reclaimed quickly) and a queue depth cap of 4;
#   2. one nova-fcgi child (the slow client shares it with the others) and a simulator that
#      cuts every chunk it writes at random bytes (SIM_SPLIT_WRITES=1);
#   3. with FAULTS_CHAOS=1 (make chaos) only: a plain stack for the children killed at random.
# test_faults starts extra workers and a restarted Redis itself; it writes their PIDs to
# $tmp/pids/*.pid, and this script stops them (and only them) on exit. NOVA_BUILD picks the
# flavour (build/release or build/asan). The last line is the test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
# The test reads jobs back after they ran (workers/retire.h): every worker keeps them, those of
# the stacks and those the test starts itself.
export NOVA_KEEP_JOBS=1
test_bin=$build/tests/integration/test_faults
stack_init faults
mkdir -p "$tmp/pids" "$tmp/redis"
redis_pid=

# Test-started programs first (a killed test leaves them), then the stacks, then our Redis.
# (The test may have stopped a stack's worker with SIGSTOP: it gets SIGCONT first.)
cleanup_faults() {
  local f p
  for f in "$tmp"/run*/nova-worker-*.pid; do
    [ -f "$f" ] && p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill -CONT "$p" 2>/dev/null
  done
  for f in "$tmp"/pids/worker-*.pid; do
    [ -f "$f" ] && p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
  done
  stacks_down
  for f in "$tmp"/pids/*.pid; do
    [ -f "$f" ] && p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
  done
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; fi
  [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"
}
trap cleanup_faults EXIT

fail_early() { echo "$*"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$test_bin" ] || fail_early "missing $test_bin (build it first)"

# The outside Redis: SHUTDOWN SAVE keeps its data in $tmp/redis for the restart.
redis_sock=$tmp/r.sock
redis-server --port 0 --unixsocket "$redis_sock" --unixsocketperm 700 --dir "$tmp/redis" \
  --save '' --appendonly no --daemonize no --logfile "$tmp/redis/redis.log" &
redis_pid=$!
for _ in $(seq 250); do
  [ "$(redis-cli -s "$redis_sock" ping 2>/dev/null)" = PONG ] && break
  kill -0 "$redis_pid" 2>/dev/null || break
  sleep 0.02
done
[ "$(redis-cli -s "$redis_sock" ping 2>/dev/null)" = PONG ] || fail_early "redis-server did not start"
echo "$redis_pid" >"$tmp/redis.pid"

stack_up 1 NOVA_REDIS_URL="unix://$redis_sock" NOVA_FCGI_CHILDREN=2 \
  NOVA_BEDROCK_IDLE_TIMEOUT_S=2 NOVA_VISIBILITY_TIMEOUT_S=2 NOVA_MAX_QUEUE_DEPTH=4 ||
  fail_early "stack 1 did not start"
stack_up 2 NOVA_FCGI_CHILDREN=1 SIM_SPLIT_WRITES=1 || fail_early "stack 2 did not start"
# make chaos: a plain third stack whose children are killed at random under load.
chaos3=()
if [ "${FAULTS_CHAOS:-0}" != 0 ]; then
  stack_up 3 NOVA_FCGI_CHILDREN=2 || fail_early "stack 3 did not start"
  chaos3=(NOVA_URL3="http://127.0.0.1:${port[3]}" NOVA_RUN_DIR3="$tmp/run3"
          SIM_URL3="$(cat "$tmp/run3/bedrock-sim.url")")
fi

t0=$SECONDS
NOVA_URL=http://127.0.0.1:${port[1]} NOVA_RUN_DIR=$tmp/run1 SIM_URL=$(cat "$tmp/run1/bedrock-sim.url") \
NOVA_URL2=http://127.0.0.1:${port[2]} NOVA_RUN_DIR2=$tmp/run2 SIM_URL2=$(cat "$tmp/run2/bedrock-sim.url") \
REDIS_SOCK=$redis_sock REDIS_DIR=$tmp/redis FAULTS_DIR=$tmp WORKER_BIN=$bin/nova-worker \
  env "${chaos3[@]}" "$test_bin" 2>&1 | tee "$tmp/test.out"
rc=${PIPESTATUS[0]}
echo "test took $((SECONDS - t0)) s"
stacks_summary "$tmp/test.out" "$rc"

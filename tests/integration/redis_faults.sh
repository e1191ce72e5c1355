#!/usr/bin/env bash
# No silent loss under Redis faults (issue 16, item 5). One whole stack (tests/lib/stack.sh)
# with NOVA_KEEP_JOBS=1, so every answer can be checked byte for byte against the simulator's
# model; test_redis_faults makes the stack's Redis full (CONFIG SET maxmemory, noeviction) and
# read-only (REPLICAOF a master that never answers) mid-stream, holds Redis's replies back from
# a worker it starts behind a proxy (a re-send), and checks /api/health's and novactl status's
# warnings. It writes the PIDs of the programs it starts to $tmp/pids/*.pid; this script stops
# them (and only them) on exit, and gives a stack worker the test stopped its SIGCONT.
# NOVA_BUILD picks the flavour. The last line is the test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
export NOVA_KEEP_JOBS=1
test_bin=$build/tests/integration/test_redis_faults
stack_init redis_faults
mkdir -p "$tmp/pids"

cleanup_redis_faults() {
  local f p
  for f in "$tmp"/run*/nova-worker-*.pid; do
    [ -f "$f" ] && p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill -CONT "$p" 2>/dev/null
  done
  for f in "$tmp"/pids/worker-*.pid; do
    [ -f "$f" ] && p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
  done
  stacks_down
  [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"
}
trap cleanup_redis_faults EXIT

if [ ! -x "$test_bin" ] || ! stack_up 1; then
  echo "0 passed, 1 failed"
  exit 1
fi
t0=$SECONDS
NOVA_URL=http://127.0.0.1:${port[1]} NOVA_RUN_DIR=$tmp/run1 SIM_URL=$(cat "$tmp/run1/bedrock-sim.url") \
FAULTS_DIR=$tmp WORKER_BIN=$bin/nova-worker NOVACTL_DIR=$bin \
  timeout 300 "$test_bin" 2>&1 | tee "$tmp/test.out"
rc=${PIPESTATUS[0]}
echo "test took $((SECONDS - t0)) s"
stacks_summary "$tmp/test.out" "$rc"

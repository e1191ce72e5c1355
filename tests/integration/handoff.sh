#!/usr/bin/env bash
# Handoff to a person: a real HTTP receiver on loopback (test_handoff in receiver mode, started
# first), stack 1 with NOVA_HANDOFF_URL pointing at it, a signing secret, fast retries (50 ms
# doubling to 200 ms, 4 tries) and a 2 s visibility timeout (the kill -9 check), and stack 2
# without NOVA_HANDOFF_URL (503), and stack 3 whose NOVA_HANDOFF_URL is a free loopback port
# where nothing listens until the test starts tools/handoff-echo there (the dead letter, then
# novactl dead retry, delivered once). test_handoff checks the document that arrives, its signature,
# retries, the dead letter and novactl dead, the refusals and the reclaim of a killed worker's
# delivery. NOVA_BUILD picks the flavour. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
test_bin=$build/tests/integration/test_handoff
stack_init handoff
recv_pid=

cleanup_handoff() {
  if [ -n "$recv_pid" ]; then kill -TERM "$recv_pid" 2>/dev/null; wait "$recv_pid" 2>/dev/null; fi
  # the handoff-echo the test started, if the test died before it stopped it
  local e; e=$(cat "$tmp/run3/handoff-echo.pid" 2>/dev/null)
  [ -n "$e" ] && kill -TERM "$e" 2>/dev/null
  stacks_down
  [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"
}
trap cleanup_handoff EXIT
fail_early() { echo "$*"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$test_bin" ] || fail_early "missing $test_bin (build it first)"

recv=$tmp/receiver
mkdir -p "$recv"
"$test_bin" receive "$recv" >"$tmp/receiver.out" 2>&1 &
recv_pid=$!
for _ in $(seq 250); do            # up to 5 s for its port file (written whole, then renamed)
  [ -s "$recv/port" ] && break
  kill -0 "$recv_pid" 2>/dev/null || fail_early "the receiver did not start: $(cat "$tmp/receiver.out")"
  sleep 0.02
done
[ -s "$recv/port" ] || fail_early "the receiver wrote no port"
recv_port=$(cat "$recv/port")

secret=HandoffSecret$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
stack_up 1 NOVA_HANDOFF_URL="http://127.0.0.1:$recv_port/hook" NOVA_HANDOFF_SECRET="$secret" \
  NOVA_HANDOFF_RETRY_BASE_MS=50 NOVA_HANDOFF_RETRY_CAP_MS=200 NOVA_HANDOFF_MAX_ATTEMPTS=4 \
  NOVA_HANDOFF_TIMEOUT_MS=10000 NOVA_VISIBILITY_TIMEOUT_S=2 || fail_early "stack 1 did not start"
stack_up 2 || fail_early "stack 2 did not start"
port3=$(free_port) || fail_early "no free port for stack 3's receiver"
stack_up 3 NOVA_HANDOFF_URL="http://127.0.0.1:$port3/hook" NOVA_HANDOFF_SECRET="$secret" \
  NOVA_HANDOFF_RETRY_BASE_MS=50 NOVA_HANDOFF_RETRY_CAP_MS=200 NOVA_HANDOFF_MAX_ATTEMPTS=3 \
  NOVA_HANDOFF_TIMEOUT_MS=2000 || fail_early "stack 3 did not start"
[ "$port3" != "${port[3]}" ] || fail_early "stack 3 took its receiver's port"

NOVA_URL=http://127.0.0.1:${port[1]} NOVA_URL2=http://127.0.0.1:${port[2]} \
NOVA_URL3=http://127.0.0.1:${port[3]} NOVA_RUN_DIR3=$tmp/run3 HANDOFF_PORT3=$port3 \
ECHO=$bin/handoff-echo \
NOVA_RUN_DIR=$tmp/run1 RECV_DIR=$recv HANDOFF_SECRET=$secret NOVACTL=$bin/novactl \
  timeout 180 "$test_bin" 2>&1 | tee "$tmp/test.out"
rc=${PIPESTATUS[0]}

# The secret reaches the handoff worker alone: not nova-fcgi's environment, not a log.
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/test.out" | tail -n 1)
if [ -n "$summary" ]; then
  p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed}
  fcgi=$(cat "$tmp/run1/nova-fcgi.pid" 2>/dev/null)
  if [ -n "$fcgi" ] && grep -qaF "$secret" "/proc/$fcgi/environ" 2>/dev/null; then
    echo "FAIL the handoff secret is in nova-fcgi's environment"; f=$((f + 1)); rc=1
  elif grep -rlaF "$secret" "$tmp/run1" >/dev/null 2>&1; then
    echo "FAIL the handoff secret is in a file of the run dir: $(grep -rlaF "$secret" "$tmp/run1")"
    f=$((f + 1)); rc=1
  else
    echo "ok   the handoff secret is in no log and not in nova-fcgi's environment"; p=$((p + 1))
  fi
  echo "$p passed, $f failed" >>"$tmp/test.out"
fi
stacks_summary "$tmp/test.out" "$rc"

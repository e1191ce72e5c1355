#!/usr/bin/env bash
# Kill child: a nova-fcgi child killed with SIGKILL while it holds many open streams (issue 15,
# the small version of make bench's kill profile). Two whole stacks (tests/lib/stack.sh), two
# children each: stack 1 relays its streams from the child's loop (NOVA_FCGI_STREAMS=loop),
# stack 2 with a thread per stream (thread). test_kill_child opens KILL_CHILD_N chats (150) on
# each in turn, kills the child holding the most once every chat has a delta, reconnects every
# broken client with Last-Event-ID as the page does, and checks that every chat ends with done
# (resumed, or typed) within a bound, none hangs, and that each chat's events are exactly its
# transcript. NOVA_BUILD picks the flavour. The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null  # a socket per stream
test_bin=$build/tests/integration/test_kill_child
stack_init kill_child
if [ ! -x "$test_bin" ] || ! stack_up 1 NOVA_FCGI_STREAMS=loop ||
   ! stack_up 2 NOVA_FCGI_STREAMS=thread; then
  echo "0 passed, 1 failed"
  exit 1
fi
env NOVA_URL="http://127.0.0.1:${port[1]}" NOVA_RUN_DIR="$tmp/run1" \
    NOVA_URL2="http://127.0.0.1:${port[2]}" NOVA_RUN_DIR2="$tmp/run2" \
    timeout -k 5 240 "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"
exit $?

#!/usr/bin/env bash
# Max streams: NOVA_MAX_STREAMS and the descriptor limits (issue 15, item 3). Two whole stacks
# (tests/lib/stack.sh), each one nova-fcgi child with NOVA_MAX_STREAMS=3: stack 1 with a thread
# per stream, stack 2 with the streams on the loop. test_max_streams holds 3 chats open on each
# and checks that a 4th chat and a resume get 503 `unavailable` with Retry-After: 1 before
# anything is queued, that /status and /api/metrics count the refusals, and that a chat is
# accepted again once one has ended. The stacks start with a soft open-file limit below the
# hard one: nova-fcgi must run with it raised to the hard one; and a nova-fcgi started under a
# hard limit too small for its settings must say so. NOVA_BUILD picks the flavour. The last
# line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 1024 ]; then ulimit -Sn 1024; fi
test_bin=$build/tests/integration/test_max_streams
stack_init max_streams
if [ ! -x "$test_bin" ] ||
   ! stack_up 1 NOVA_FCGI_CHILDREN=1 NOVA_MAX_STREAMS=3 NOVA_FCGI_STREAMS=thread ||
   ! stack_up 2 NOVA_FCGI_CHILDREN=1 NOVA_MAX_STREAMS=3 NOVA_FCGI_STREAMS=loop NOVA_FCGI_THREADS=4; then
  echo "0 passed, 1 failed"
  exit 1
fi
NOVA_URL="http://127.0.0.1:${port[1]}" NOVA_RUN_DIR="$tmp/run1" \
  NOVA_URL2="http://127.0.0.1:${port[2]}" NOVA_RUN_DIR2="$tmp/run2" NOVA_BIN="$bin" \
  timeout 180 "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"
exit $?

#!/usr/bin/env bash
# The questions it could not answer (issue 17, items 2 and 5): two whole stacks
# (tests/lib/stack.sh). Stack 1 has a guardrail configured (NOVA_GUARDRAIL_ID/VERSION: the
# simulator intervenes only on a message with #sim:guardrail); stack 2 keeps only
# NOVA_GAPS_MAX=2 gaps. test_gaps asks questions on the real stack and reads nova:gaps and
# `novactl kb gaps` (text and --json, --since): a no-documents question and a weak one are
# recorded with their fields and no session id, a well-answered one is not; near-identical
# questions are one group with its count and first/last seen, newest group first; a guardrail
# intervention reaches the stream as a notice in words, is counted in /api/metrics and is
# recorded as reason guardrail; stack 2 keeps its last two. NOVA_BUILD picks the flavour. The
# last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_init gaps
test_bin=$build/tests/integration/test_gaps
if [ ! -x "$test_bin" ] || ! stack_up 1 NOVA_GUARDRAIL_ID=gapstest1 NOVA_GUARDRAIL_VERSION=1 ||
   ! stack_up 2 NOVA_GAPS_MAX=2; then
  echo "0 passed, 1 failed"
  exit 1
fi
env NOVA_URL="http://127.0.0.1:${port[1]}" NOVA_RUN_DIR="$tmp/run1" \
    NOVA_URL2="http://127.0.0.1:${port[2]}" NOVA_RUN_DIR2="$tmp/run2" NOVACTL="$bin/novactl" \
    "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"
exit $?

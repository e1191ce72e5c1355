#!/usr/bin/env bash
# Players' ratings of answers (issue 17, item 1): two whole stacks (tests/lib/stack.sh).
# Stack 1 keeps its jobs (NOVA_KEEP_JOBS=1) so test_feedback can compare the stored record's
# model ids and prompt version with the jobs'; stack 2 keeps only NOVA_FEEDBACK_MAX=3 ratings.
# test_feedback chats in Korean and English, rates the answers through nginx and checks the
# record in nova:feedback field by field, the refusals (404, 400 with the reason, 413), that
# the last rating of a request wins (feedback_latest, novactl feedback list/export), the cap
# and its index, the record outliving the transcript, novactl's JSON lines and CSV parsed back,
# and nova_feedback_total. NOVA_BUILD picks the flavour. The last line is the C test's
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_init feedback
test_bin=$build/tests/integration/test_feedback
if [ ! -x "$test_bin" ] || ! stack_up 1 NOVA_KEEP_JOBS=1 || ! stack_up 2 NOVA_FEEDBACK_MAX=3; then
  echo "0 passed, 1 failed"
  exit 1
fi
env NOVA_URL="http://127.0.0.1:${port[1]}" NOVA_RUN_DIR="$tmp/run1" \
    NOVA_URL2="http://127.0.0.1:${port[2]}" NOVA_RUN_DIR2="$tmp/run2" NOVACTL="$bin/novactl" \
    timeout 300 "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"
exit $?

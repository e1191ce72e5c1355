#!/usr/bin/env bash
# Prompts integration: one whole stack (tests/lib/stack.sh) whose glossary is a temp copy the
# test edits before a reload, then test_prompts (jobs that name their system prompt, finished
# jobs' receipts) through nginx, real workers and the simulator. NOVA_BUILD picks the flavour.
# The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
test_bin=$build/tests/integration/test_prompts
stack_init prompts
[ -x "$test_bin" ] || { echo "missing $test_bin"; echo "0 passed, 1 failed"; exit 1; }
cp config/game_glossary.json "$tmp/glossary.json"
if ! stacks_up 1 NOVA_GLOSSARY_FILE="$tmp/glossary.json"; then
  echo "0 passed, 1 failed"
  exit 1
fi
NOVA_URL=http://127.0.0.1:${port[1]} NOVA_RUN_DIR=$tmp/run1 SIM_URL=$(cat "$tmp/run1/bedrock-sim.url") \
GLOSSARY_FILE=$tmp/glossary.json WORKER_BIN=$bin/nova-worker NOVACTL=$bin/novactl \
  "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"
exit $?

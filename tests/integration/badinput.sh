#!/usr/bin/env bash
# Bad input: one whole stack (tests/lib/stack.sh), then test_badinput sends a generated corpus
# of at least 1,000 malformed requests over raw sockets to nginx and checks that each gets the
# API's 4xx JSON error, that a chat still works afterwards and that no process restarted.
# BADINPUT_COUNT (default 1000) and BADINPUT_SEED (default 7) size and vary the corpus;
# `make chaos` sends a bigger one. NOVA_BUILD picks the flavour. The last line is the test's
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${NOVA_BUILD:-build/release}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
test_bin=$build/tests/integration/test_badinput
source tests/lib/stack.sh
stack_init badinput

if [ ! -x "$test_bin" ] || ! stack_up 1; then
  echo "0 passed, 1 failed"
  exit 1
fi
NOVA_URL=http://127.0.0.1:${port[1]} NOVA_RUN_DIR=$tmp/run1 SIM_URL=$(cat "$tmp/run1/bedrock-sim.url") \
  "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"

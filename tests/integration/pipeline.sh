#!/usr/bin/env bash
# Pipeline integration: starts two whole stacks (tests/lib/stack.sh), runs test_pipeline
# against the first (and the side-by-side check against the second), stops both, and exits with
# the test's status. NOVA_BUILD picks the flavour (build/release or build/asan): its bin/
# provides the programs. The last line is the C test's "N passed, N failed"; diagnostics (log
# tails) come before it.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${NOVA_BUILD:-build/release}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
test_bin=$build/tests/integration/test_pipeline
source tests/lib/stack.sh
stack_init pipeline

if [ ! -x "$test_bin" ] || ! stacks_up 2; then
  echo "0 passed, 1 failed"
  exit 1
fi
NOVA_URL=http://127.0.0.1:${port[1]} NOVA_RUN_DIR=$tmp/run1 SIM_URL=$(cat "$tmp/run1/bedrock-sim.url") \
NOVA_URL2=http://127.0.0.1:${port[2]} NOVA_RUN_DIR2=$tmp/run2 NOVA_DRAIN_SECONDS=3 \
  "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"

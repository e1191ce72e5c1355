#!/usr/bin/env bash
# Product integration: one whole stack (tests/lib/stack.sh) with the sample knowledge base,
# then test_product through nginx. NOVA_BUILD picks the flavour (build/release or build/asan).
# The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${NOVA_BUILD:-build/release}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
test_bin=$build/tests/integration/test_product
source tests/lib/stack.sh
stack_init product

if [ ! -x "$test_bin" ] || ! stacks_up 1; then
  echo "0 passed, 1 failed"
  exit 1
fi
NOVA_URL=http://127.0.0.1:${port[1]} NOVA_RUN_DIR=$tmp/run1 SIM_URL=$(cat "$tmp/run1/bedrock-sim.url") \
  "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"

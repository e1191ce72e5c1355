#!/usr/bin/env bash
# Observability integration: one whole stack (tests/lib/stack.sh) with 3 nova-fcgi children of
# 2 threads each — concurrent chats must then spread over the children — and test_observe
# through nginx: /api/metrics, /status, a killed child, loopback only, the JSON logs of the run
# (nova-fcgi.log, nova-worker-*.log). NOVA_BUILD picks the flavour (build/release or
# build/asan). The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${NOVA_BUILD:-build/release}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
test_bin=$build/tests/integration/test_observe
source tests/lib/stack.sh
stack_init observe

if [ ! -x "$test_bin" ] || ! stacks_up 1 NOVA_FCGI_CHILDREN=3 NOVA_FCGI_THREADS=2; then
  echo "0 passed, 1 failed"
  exit 1
fi
NOVA_URL=http://127.0.0.1:${port[1]} NOVA_RUN_DIR=$tmp/run1 \
  "$test_bin" 2>&1 | tee "$tmp/test.out"
stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"

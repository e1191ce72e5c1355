#!/usr/bin/env bash
# Product integration: one whole stack (tests/lib/stack.sh) with the sample knowledge base,
# then test_product through nginx. NOVA_BUILD picks the flavour (build/release or build/asan).
# The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
# NOVA_KEEP_JOBS=1: the test reads the jobs' prompts back after they ran (workers/retire.h).
stack_suite product 1 NOVA_KEEP_JOBS=1

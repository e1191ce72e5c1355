#!/usr/bin/env bash
# Pipeline integration: starts two whole stacks (tests/lib/stack.sh), runs test_pipeline
# against the first (and the side-by-side check against the second), stops both, and exits with
# the test's status. NOVA_BUILD picks the flavour (build/release or build/asan): its bin/
# provides the programs. The last line is the C test's "N passed, N failed"; diagnostics (log
# tails) come before it.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
# NOVA_KEEP_JOBS=1: the test reads every job back after it ran (workers/retire.h).
stack_suite pipeline 2 NOVA_KEEP_JOBS=1

#!/usr/bin/env bash
# First words: one whole stack (tests/lib/stack.sh) with the simulator at its default pacing,
# then test_first_words through nginx: the time to meta and to the first Micro words of a
# Korean question in the Korean UI, an English question in the English UI and a Korean
# question in the English UI (median of 5 each), and the bounds issue 14 sets on them.
# NOVA_BUILD picks the flavour (build/release or build/asan). The last line is the C test's
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_suite first_words 1

#!/usr/bin/env bash
# Bad input: one whole stack (tests/lib/stack.sh), then test_badinput sends a generated corpus
# of at least 1,000 malformed requests over raw sockets to nginx and checks that each gets the
# API's 4xx JSON error, that a chat still works afterwards and that no process restarted.
# BADINPUT_COUNT (default 1000) and BADINPUT_SEED (default 7) size and vary the corpus;
# `make chaos` sends a bigger one. NOVA_BUILD picks the flavour. The last line is the test's
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_suite badinput 1

#!/usr/bin/env bash
# Admission: paid work only after admission (issue 16, item 2). One whole stack
# (tests/lib/stack.sh) with NOVA_MAX_QUEUE_DEPTH=1; test_admission stops the pro worker,
# fills its queue past the cap and checks that /api/translate, an English chat and a chat
# whose search must wait for a translation are refused at once with 429 `overloaded` and
# Retry-After, and that nothing was queued for them. NOVA_BUILD picks the flavour. The last
# line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_suite admission 1 NOVA_MAX_QUEUE_DEPTH=1

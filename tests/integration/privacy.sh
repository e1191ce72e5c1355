#!/usr/bin/env bash
# Privacy and bounds of resumes (issue 16, items 6 and 7). One whole stack
# (tests/lib/stack.sh) with NOVA_MAX_RESUMES_PER_REQUEST=3; test_privacy checks that a resume
# replays no session id (nor does the transcript hold one), that no log holds it after a chat
# and a DELETE /api/session/<id>, that an answer finished on a resume is saved to the session
# once, that a fourth live resume of one request is refused with 429 rate_limited, and that a
# resume whose client reads nothing is cut with a bounded buffer. NOVA_BUILD picks the
# flavour. The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_suite privacy 1 NOVA_MAX_RESUMES_PER_REQUEST=3

#!/usr/bin/env bash
# Follow-ups find their documents (issue 17, item 3). One whole stack (tests/lib/stack.sh)
# with the shipped synonym file; test_follow asks questions in sessions and checks the
# sources in meta: a follow-up ("그럼 며칠 걸려요?", "how long does it take?") finds the
# previous question's document in its session and nothing without one, a change of topic is
# not dragged back, colloquial and misspelt words (비번, pasword) find their documents through
# config/synonyms.tsv, and nova-fcgi refuses to start with a broken synonym file, naming the
# line. NOVA_BUILD picks the flavour. The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_suite follow 1

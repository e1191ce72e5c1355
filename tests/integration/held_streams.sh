#!/usr/bin/env bash
# Held streams: an open SSE stream holds no thread (issue 15 phase B, NOVA_FCGI_STREAMS=loop).
# One whole stack (tests/lib/stack.sh) with 2 children of only 8 request threads each and the
# streams on the loop; test_held_streams opens 200 chats at once whose first token comes
# after 6 s, and checks that every one has its meta 1 s before that, while all are held (with a thread per
# stream only 16 could), that each child keeps a fixed number of threads, and that every chat
# ends with done, and that nova-fcgi's PSS (master + children) grew by at most 7 KiB per held
# model stream. It prints threads and VmRSS per child, PSS per held and per model stream, and
# nova-fcgi's CPU per chat (HELD_STREAMS_PSS_MAX_KIB sets the bound).
# NOVA_BUILD picks the flavour. The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null  # HELD_STREAMS_N=1000: a socket each
stack_suite held_streams 1 NOVA_FCGI_STREAMS="${HELD_STREAMS_MODE:-loop}" NOVA_FCGI_THREADS="${HELD_STREAMS_THREADS:-8}"

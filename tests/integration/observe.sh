#!/usr/bin/env bash
# Observability integration: one whole stack (tests/lib/stack.sh) with 3 nova-fcgi children of
# 2 threads each — concurrent chats must then spread over the children — and test_observe
# through nginx: /api/metrics, /status, a killed child, loopback only, the JSON logs of the run
# (nova-fcgi.log, nova-worker-*.log). NOVA_BUILD picks the flavour (build/release or
# build/asan). The last line is the C test's "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_suite observe 1 NOVA_FCGI_CHILDREN=3 NOVA_FCGI_THREADS=2

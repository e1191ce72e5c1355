#!/usr/bin/env bash
# fcgi-app/rasync.c (hiredis's async API on the child's event loop) against a real
# redis-server (unix socket only) in a temp dir: runs test_rasync with its URL. NOVA_BUILD
# picks the build (build/release or build/asan). The Redis started here is stopped by PID on
# exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${NOVA_BUILD:-build/release}
tmp=$(mktemp -d)
redis_pid=
trap 'stop_servers' EXIT
. tests/lib/servers.sh
if ! start_redis; then echo "0 passed, 1 failed"; exit 1; fi
"$build/tests/integration/test_rasync" "unix://$tmp/redis.sock"

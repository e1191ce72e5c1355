#!/usr/bin/env bash
# Wire-layer integration: starts bedrock-sim on a free loopback port in a temp dir, with
# --split-writes so every event-stream frame arrives cut at random byte positions, then runs
# the client test (test_bedrock_wire) against it. NOVA_BUILD picks the build (release/asan).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${NOVA_BUILD:-build/release}
tmp=$(mktemp -d)
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

mkfifo "$tmp/ready"
"$build/bin/bedrock-sim" --port 0 --split-writes --kb-dir kb/sample --quiet \
  >"$tmp/ready" 2>"$tmp/sim.log" &
sim_pid=$!
exec 3<"$tmp/ready"
if ! read -r -t 10 line <&3; then
  echo "bedrock-sim did not report its port"; cat "$tmp/sim.log"; exit 1
fi
port=${line##*:}
echo "bedrock-sim pid $sim_pid on port $port"
rc=0
SIM_URL="http://127.0.0.1:$port" "$build/tests/integration/test_bedrock_wire" || rc=$?
echo "simulator log (errors only):"; tail -n 20 "$tmp/sim.log"
exit $rc

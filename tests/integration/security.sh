#!/usr/bin/env bash
# Security: one whole stack (tests/lib/stack.sh) with an API key (NOVA_API_KEY), debug logs,
# and a simulator and workers that share a distinctive fake secret key and session token
# (SIM_SECRET_ACCESS_KEY, SIM_SESSION_TOKEN: scripts/nova-run hands them to the workers as
# AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN). A second nginx on the same nova-fcgi, made from
# the stack's nginx.conf with the loopback exemption of the rate limit removed, shows the limit
# and its 429 JSON. test_security checks the key, CORS, the rate limit, chats with errors, and
# that neither the secret nor the token is in the web tier's environment, a log or an answer;
# after the stack has stopped this script looks through every file of the run dir once more.
# NOVA_BUILD picks the flavour. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
test_bin=$build/tests/integration/test_security
stack_init security
rl_pid=

cleanup_security() {
  if [ -n "$rl_pid" ]; then kill -TERM "$rl_pid" 2>/dev/null; wait "$rl_pid" 2>/dev/null; fi
  stacks_down
  [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"
}
trap cleanup_security EXIT
fail_early() { echo "$*"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$test_bin" ] || fail_early "missing $test_bin (build it first)"

hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
api_key=$(hex 16)
secret=FaultsSecret$(hex 14)
token=FaultsToken$(hex 24)
key_id=AKIDFAULTS$(hex 5)

stack_up 1 NOVA_API_KEY="$api_key" NOVA_LOG_LEVEL=debug SIM_ACCESS_KEY_ID="$key_id" \
  SIM_SECRET_ACCESS_KEY="$secret" SIM_SESSION_TOKEN="$token" || fail_early "the stack did not start"

# The second nginx: the stack's config on another port and prefix, loopback not exempt, and
# the open-stream cap (limit_conn, same key) out of reach of the 100 requests at once, so that
# the count below is the rate limit's alone (tests/integration/ngx.sh tests the cap).
rl=$tmp/rl
mkdir -p "$rl/nginx-tmp"
rl_port=$(free_port) || fail_early "no free port"
sed -e "s|listen 127.0.0.1:${port[1]} |listen 127.0.0.1:$rl_port |" \
    -e "s|$tmp/run1/nginx|$rl/nginx|g" \
    -e '/127\.0\.0\.0\/8  *1;/d' -e '/::1  *1;/d' \
    -e 's/limit_conn nova_streams [0-9]*;/limit_conn nova_streams 1000;/' \
    "$tmp/run1/nginx.conf" >"$rl/nginx.conf"
grep -q "127.0.0.1:$rl_port" "$rl/nginx.conf" && ! grep -q '127.0.0.0/8' "$rl/nginx.conf" &&
  ! grep -qE 'limit_conn nova_streams ([0-9]{1,3});' "$rl/nginx.conf" ||
  fail_early "could not derive the rate-limit nginx.conf"
nginx -p "$rl/" -c "$rl/nginx.conf" -g 'daemon off;' >>"$rl/nginx.out" 2>&1 &
rl_pid=$!
for _ in $(seq 250); do
  (exec 3<>"/dev/tcp/127.0.0.1/$rl_port") 2>/dev/null && break
  kill -0 "$rl_pid" 2>/dev/null || fail_early "the second nginx did not start: $(cat "$rl/nginx.out")"
  sleep 0.02
done

NOVA_URL=http://127.0.0.1:${port[1]} RL_URL=http://127.0.0.1:$rl_port NOVA_RUN_DIR=$tmp/run1 \
SIM_URL=$(cat "$tmp/run1/bedrock-sim.url") API_KEY=$api_key FAKE_SECRET=$secret \
FAKE_TOKEN=$token "$test_bin" 2>&1 | tee "$tmp/test.out"
rc=${PIPESTATUS[0]}

# Once everything has stopped (the last log lines written): every file of the run dir.
kill -TERM "$rl_pid" 2>/dev/null; wait "$rl_pid" 2>/dev/null; rl_pid=
stacks_down
found=$(grep -rlaF -e "$secret" -e "$token" -e "$api_key" "$tmp/run1" "$rl" 2>/dev/null)
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/test.out" | tail -n 1)
if [ -n "$summary" ]; then
  p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed}
  if [ -n "$found" ]; then
    echo "FAIL secret, token or API key in files of the stopped stack: $found"
    f=$((f + 1)); rc=1
  else
    echo "ok   no secret, token or API key in any file of the stopped stack" \
         "($(find "$tmp/run1" "$rl" -type f | wc -l) files)"
    p=$((p + 1))
  fi
  echo "$p passed, $f failed" >>"$tmp/test.out"
fi
stacks_summary "$tmp/test.out" "$rc"

#!/usr/bin/env bash
# Redis over TLS with an ACL user, AUTH without TLS, the compose Redis's persistence (issue 18
# items 1, 2 and 4).
#
# The test makes its own CA and a server certificate for 127.0.0.1/localhost (and a second,
# unrelated CA) with the openssl CLI in its temp dir, and starts two Redis servers on free
# loopback ports: one with --tls-port only (--port 0), an ACL user "nova" whose password needs
# percent-escaping, an "admin" user for the test, and the default user off; one plain, with
# requirepass. The whole stack (tests/lib/stack.sh: nginx, nova-fcgi, workers, simulator) runs
# on rediss://nova:<password>@127.0.0.1:PORT with NOVA_REDIS_TLS_CA_FILE; test_redis_tls
# checks chats, health, a password changed under the running stack (503, no retry storm,
# recovery) and measures what TLS costs. Around it, here: novactl status over TLS, the
# password masked in --print-config and in novactl's output, and start-up refusals —
# nova-fcgi and nova-worker given the wrong CA, a wrong password or no password stop at once
# (status 2) with a clear line, over TLS and plain; rasync (test_rasync_auth) authenticates on
# the loop and backs off a wrong password; and docker-compose.yml's redis command
# (AOF) keeps a session across a restart. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
test_bin=$build/tests/integration/test_redis_tls
stack_init redis_tls
tls_pid= plain_pid= aof_pid=

cleanup_tls() {
  stacks_down
  local p
  for p in $tls_pid $plain_pid $aof_pid; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"
}
trap cleanup_tls EXIT
fail_early() { echo "$*"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$test_bin" ] || fail_early "missing $test_bin (build it first)"
command -v openssl >/dev/null || fail_early "openssl CLI not found"

pass=0 failn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; failn=$((failn + 1)); }

# ---- certificates --------------------------------------------------------------------------
pki=$tmp/pki
mkdir -p "$pki"
mkca() { # name
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.pem" -days 2 \
    -subj "/CN=dual-nova test $1" 2>>"$pki/openssl.log"
}
mkca ca && mkca otherca || fail_early "openssl could not make the CAs: $(tail -3 "$pki/openssl.log")"
openssl req -newkey rsa:2048 -nodes -keyout "$pki/server.key" -out "$pki/server.csr" \
  -subj "/CN=localhost" 2>>"$pki/openssl.log" &&
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$pki/ext.cnf" &&
  openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
    -CAcreateserial -out "$pki/server.pem" -days 2 -extfile "$pki/ext.cnf" 2>>"$pki/openssl.log" ||
  fail_early "openssl could not make the server certificate"

# ---- the two Redis servers -----------------------------------------------------------------
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
pw="p@ss:w/rd%$(hex 6)"     # '@', ':', '/' and '%' must reach AUTH as they are
pw_url="p%40ss%3Aw%2Frd%25${pw#p@ss:w/rd%}"
admin_pw=admin$(hex 8)
plain_pw=plain$(hex 8)
tls_port=$(free_port) || fail_early "no free port"
plain_port=$(free_port) || fail_early "no free port"
redis-server --port 0 --tls-port "$tls_port" --bind 127.0.0.1 -::1 --dir "$tmp" \
  --tls-cert-file "$pki/server.pem" --tls-key-file "$pki/server.key" \
  --tls-ca-cert-file "$pki/ca.pem" --tls-auth-clients no --save '' --appendonly no \
  --user nova on ">$pw" '~*' '&*' '+@all' --user admin on ">$admin_pw" '~*' '&*' '+@all' \
  --user default off >"$tmp/redis-tls.log" 2>&1 &
tls_pid=$!
redis-server --port "$plain_port" --bind 127.0.0.1 --dir "$tmp" --requirepass "$plain_pw" \
  --save '' --appendonly no >"$tmp/redis-plain.log" 2>&1 &
plain_pid=$!
cli_tls() { redis-cli --tls --cacert "$pki/ca.pem" -p "$tls_port" --user admin --pass "$admin_pw" --no-auth-warning "$@"; }
cli_plain() { redis-cli -p "$plain_port" -a "$plain_pw" --no-auth-warning "$@"; }
for _ in $(seq 100); do
  [ "$(cli_tls ping 2>/dev/null)" = PONG ] && [ "$(cli_plain ping 2>/dev/null)" = PONG ] && break
  kill -0 "$tls_pid" 2>/dev/null || fail_early "redis-server (TLS) did not start: $(tail -3 "$tmp/redis-tls.log")"
  sleep 0.05
done
[ "$(cli_tls ping 2>/dev/null)" = PONG ] || fail_early "redis-server (TLS) not ready"

url="rediss://nova:$pw_url@127.0.0.1:$tls_port"
plain_url="redis://:$plain_pw@127.0.0.1:$plain_port"
tls_env=(NOVA_REDIS_URL="$url" NOVA_REDIS_TLS_CA_FILE="$pki/ca.pem")

# ---- start-up refusals (before the stack: nothing else is connected) -------------------------
# expect_refusal WHAT PATTERN VAR=value...: nova-fcgi and nova-worker stop with 2 and say PATTERN.
expect_refusal() {
  local what=$1 pat=$2 prog out rc
  shift 2
  for prog in nova-fcgi nova-worker; do
    local args=()
    [ "$prog" = nova-worker ] && args=(--queue micro)
    out=$(env NOVA_RUN_DIR="$tmp/refusal" NOVA_FCGI_SOCKET="$tmp/refusal.sock" NOVA_BACKEND=sim \
          AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=example NOVA_BEDROCK_ENDPOINT=http://127.0.0.1:9 \
          "$@" timeout 15 "$bin/$prog" "${args[@]}" 2>&1)
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q -- "$pat" <<<"$out" && grep -q "not starting" <<<"$out"; then
      ok "$prog refuses to start: $what ($(grep -o -m1 -- "$pat.\{0,60\}" <<<"$out"))"
    else
      bad "$prog with $what: status $rc, want 2 and \"$pat\"; it said: $(tail -c 400 <<<"$out")"
    fi
    if grep -qF -- "$pw" <<<"$out" || grep -qF -- "$pw_url" <<<"$out"; then
      bad "$prog printed the password"
    fi
  done
}
mkdir -p "$tmp/refusal"
expect_refusal "an untrusted CA" "certificate is not trusted" \
  NOVA_REDIS_URL="$url" NOVA_REDIS_TLS_CA_FILE="$pki/otherca.pem"
# The certificate names 127.0.0.1 and localhost; ::1 (the same server, where the machine has
# IPv6 loopback) is another name: the chain is fine, the name is not.
if cli_tls -h ::1 ping 2>/dev/null | grep -q PONG; then
  expect_refusal "a certificate for another name (::1)" "IP address mismatch" \
    NOVA_REDIS_URL="rediss://nova:$pw_url@[::1]:$tls_port" NOVA_REDIS_TLS_CA_FILE="$pki/ca.pem"
else
  echo "skip host name check: no IPv6 loopback here"
fi
expect_refusal "a wrong password over TLS" "WRONGPASS" \
  NOVA_REDIS_URL="rediss://nova:wrong@127.0.0.1:$tls_port" NOVA_REDIS_TLS_CA_FILE="$pki/ca.pem"
expect_refusal "a wrong password (plain AUTH)" "WRONGPASS" \
  NOVA_REDIS_URL="redis://:wrong@127.0.0.1:$plain_port"
expect_refusal "no password where one is required" "NOAUTH" \
  NOVA_REDIS_URL="redis://127.0.0.1:$plain_port"

# novactl: over TLS as the ACL user, plain with the default user's password, and refused.
out=$(env -u NOVA_REDIS_URL "${tls_env[@]}" timeout 10 "$bin/novactl" status 2>&1)
if [ $? -eq 0 ] && grep -q "^redis_version:" <<<"$out" &&
   grep -q "^redis_url: rediss://nova:\*\*\*@127.0.0.1:$tls_port" <<<"$out" && ! grep -qF -- "$pw_url" <<<"$out"; then
  ok "novactl status over rediss:// as an ACL user, the password masked"
else
  bad "novactl status over TLS: $out"
fi
out=$(NOVA_REDIS_URL="$plain_url" timeout 10 "$bin/novactl" status 2>&1)
if [ $? -eq 0 ] && grep -q "^redis_url: redis://:\*\*\*@127.0.0.1:$plain_port" <<<"$out" &&
   ! grep -qF -- "$plain_pw" <<<"$out"; then
  ok "novactl status with AUTH and no TLS, the password masked"
else
  bad "novactl status with plain AUTH: $out"
fi
out=$(NOVA_REDIS_URL="rediss://nova:wrong@127.0.0.1:$tls_port" NOVA_REDIS_TLS_CA_FILE="$pki/ca.pem" \
      timeout 10 "$bin/novactl" status 2>&1)
if [ $? -ne 0 ] && grep -q "WRONGPASS" <<<"$out"; then
  ok "novactl status with a wrong password fails clearly: $out"
else
  bad "novactl status with a wrong password: $out"
fi
out=$(env "${tls_env[@]}" "$bin/nova-fcgi" --print-config 2>&1)
if grep -q "^redis_url: rediss://nova:\*\*\*@127.0.0.1:$tls_port$" <<<"$out" &&
   grep -q "^redis_tls_ca_file: $pki/ca.pem$" <<<"$out" && ! grep -qF -- "$pw_url" <<<"$out"; then
  ok "nova-fcgi --print-config masks the password"
else
  bad "nova-fcgi --print-config: $(grep redis <<<"$out")"
fi

# nova-fcgi's event-loop client (rasync): AUTH before READY, a wrong password backed off.
rasync_bin=$build/tests/integration/test_rasync_auth
if out=$(timeout 30 "$rasync_bin" "$plain_port" "$plain_pw" 2>&1); then
  ok "rasync: AUTH on the loop ($(grep -c '^ok ' <<<"$out") checks; $(grep -o 'wrong password: [^;]*' <<<"$out"))"
else
  bad "rasync with AUTH: $out"
fi

# ---- the compose file's Redis keeps sessions across a restart (AOF) ------------------------------
# Its redis command, as docker-compose.yml gives it, on a port and data dir of ours: a session
# written, Redis stopped as `docker-compose restart` stops it (SIGTERM) and started again.
mapfile -d '' compose_args < <(perl -MJSON::PP -ne \
  'if (/^\s+command: (\["redis-server".*\])\s*$/) { my @a = @{decode_json($1)}; shift @a; print join("\0", @a), "\0"; }' \
  docker-compose.yml)
aof_port=$(free_port) || fail_early "no free port"
mkdir -p "$tmp/aof"
aof_start() {
  redis-server "${compose_args[@]}" --port "$aof_port" --bind 127.0.0.1 --dir "$tmp/aof" \
    >>"$tmp/redis-aof.log" 2>&1 &
  aof_pid=$!
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$aof_port" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.05
  done
  return 1
}
aof_stop() {
  kill -TERM "$aof_pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$aof_pid" 2>/dev/null || break; sleep 0.05; done
  wait "$aof_pid" 2>/dev/null
}
sess='{"ts":1,"request_id":"r1","question":"q","answer":"a"}'
if [ ${#compose_args[@]} -gt 0 ] && aof_start; then
  redis-cli -p "$aof_port" rpush nova:session:aoftest "$sess" >/dev/null
  redis-cli -p "$aof_port" expire nova:session:aoftest 86400 >/dev/null
  aof_stop
  if aof_start; then
    got=$(redis-cli -p "$aof_port" lrange nova:session:aoftest 0 -1)
    ttl=$(redis-cli -p "$aof_port" ttl nova:session:aoftest)
    if [ "$got" = "$sess" ] && [ "$ttl" -gt 86000 ]; then
      ok "the compose file's Redis (${compose_args[*]}) keeps a session across a restart (ttl $ttl)"
    else
      bad "the compose file's Redis lost the session across a restart: got [$got] ttl $ttl"
    fi
    aof_stop
  else
    bad "the compose file's Redis did not start again: $(tail -3 "$tmp/redis-aof.log")"
  fi
else
  bad "could not start the compose file's redis command (${compose_args[*]:-none found})"
fi

# ---- the whole stack over TLS ----------------------------------------------------------------
if ! stack_up 1 "${tls_env[@]}" NOVA_KEEP_JOBS=1; then
  bad "the stack did not start on rediss://"
  echo "$pass passed, $((failn + 1)) failed"
  exit 1
fi
ok "the whole stack started on rediss:// with an ACL user"
if grep -rqF -e "$pw_url" -e "$pw" "$tmp/run1"/*.log "$tmp/stack1.out" 2>/dev/null; then
  bad "the password is in a log of the running stack"
else
  ok "no log of the running stack holds the password"
fi
clients=$(cli_tls client list 2>/dev/null | grep -c "user=nova")
[ "$clients" -ge 4 ] && ok "$clients connections of the stack on the TLS port as user nova" ||
  bad "only $clients connections as user nova"

NOVA_URL=http://127.0.0.1:${port[1]} REDIS_URL="$url" REDIS_CA="$pki/ca.pem" \
REDIS_ADMIN_URL="rediss://admin:$admin_pw@127.0.0.1:$tls_port" REDIS_USER=nova REDIS_PASSWORD="$pw" \
REDIS_PLAIN_URL="$plain_url" timeout 180 "$test_bin" 2>&1 | tee "$tmp/test.out"
rc=${PIPESTATUS[0]}
stacks_down
if grep -rqF -e "$pw_url" -e "$pw" "$tmp/run1"/*.log 2>/dev/null; then
  echo "FAIL the password is in a log of the stopped stack"
  failn=$((failn + 1))
fi
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/test.out" | tail -n 1)
if [ -n "$summary" ]; then
  p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed}
  echo "$((p + pass)) passed, $((f + failn)) failed" >>"$tmp/test.out"
  [ $((f + failn)) -eq 0 ] || rc=1
fi
stacks_summary "$tmp/test.out" "$rc"

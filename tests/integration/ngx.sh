#!/usr/bin/env bash
# ngx: the shipped nginx configurations, each served for real in front of one stack's
# nova-fcgi (tests/lib/stack.sh). nginx/nova.conf.in is their one source: first the shipped
# nova.conf.template and compose.conf must be what nginx/gen-conf makes of it (no drift). Then
# three nginx on the stack's FastCGI socket, and one on none:
#   run      the stack's own nginx (scripts/nova-run filled the shipped template)
#   compose  the shipped nginx/compose.conf with only its container paths, its port and its user
#            replaced (temp dir, a free loopback port; plus a listener on a unix socket, whose
#            peer is not loopback: how a client from elsewhere is tested without leaving 127.0.0.1)
#   trusted  gen-conf --target run --real-ip-from 127.0.0.1 --real-ip-from unix: (a deployment
#            behind proxies), filled like nova-run fills the template, also on a unix socket
#   dead     the shipped template in front of a socket nobody listens on (nginx's own 502)
# test_ngx checks the security headers on every location, the loopback guard of /api/metrics and
# /status (a forwarded 127.0.0.1 earns nothing), whose X-Forwarded-For counts, the open-stream
# cap per client and the rate limit of /api/translate. NOVA_BUILD picks the flavour. The last
# line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
test_bin=$build/tests/integration/test_ngx
stack_init ngx
ng_pids=()
cleanup_ngx() {
  local p
  for p in "${ng_pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  stacks_down
  [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"
}
trap cleanup_ngx EXIT
fail_early() { echo "$*"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
pass=0 fail=0
[ -x "$test_bin" ] || fail_early "missing $test_bin (build it first)"

# 1. No drift: the shipped files are what the source makes.
if out=$(perl nginx/gen-conf --check 2>&1); then
  echo "ok   nginx/nova.conf.template and nginx/compose.conf are what nginx/gen-conf makes of nginx/nova.conf.in"
  pass=$((pass + 1))
else
  echo "FAIL the shipped nginx configs drifted from nginx/nova.conf.in:"; echo "$out" | head -n 40
  fail=$((fail + 1))
fi

stack_up 1 || fail_early "the stack did not start"
sock=$tmp/run1/nova-fcgi.sock
user_line=
[ "$(id -u)" -eq 0 ] && user_line='user root;'

# start_nginx DIR PORT: nginx on DIR/nginx.conf; waits (bounded) until PORT answers.
start_nginx() {
  local d=$1 p=$2 pid
  nginx -p "$d/" -c "$d/nginx.conf" -g 'daemon off;' >>"$d/nginx.out" 2>&1 &
  pid=$!
  ng_pids+=("$pid")
  for _ in $(seq 250); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "nginx in $d did not start: $(cat "$d/nginx.out")"; return 1; }
    sleep 0.02
  done
  echo "nginx in $d did not answer on $p"; return 1
}

# 2. compose: the shipped file, its container paths, port and user swapped for this test's.
c=$tmp/compose
mkdir -p "$c/nginx-tmp"
c_port=$(free_port) || fail_early "no free port"
sed -e "s|^user www-data;.*|$user_line|" \
    -e "s|^pid /run/nginx.pid;|pid $c/nginx.pid;|" \
    -e "s|error_log stderr |error_log $c/nginx.log |" \
    -e "s|access_log /dev/stdout |access_log $c/access.log |" \
    -e "s|/var/lib/nginx/|$c/nginx-tmp/|" \
    -e "s|^\( *\)listen 8080 sndbuf=64k;|\1listen 127.0.0.1:$c_port sndbuf=64k;\n\1listen unix:$c/peer.sock;|" \
    -e "s|/srv/nova/static;|$root/static;|" \
    -e "s|unix:/run/nova/nova-fcgi.sock;|unix:$sock;|" \
    nginx/compose.conf >"$c/nginx.conf"
# Only those lines changed (user, pid, 2 logs, 5 temp paths, 2 listen, root, each fastcgi_pass);
# none of the container's paths is left.
changed=$(diff nginx/compose.conf "$c/nginx.conf" | grep -c '^>')
if grep -v '^ *#' "$c/nginx.conf" | grep -qE '/run/nova/|/srv/nova|/var/lib/nginx|listen 8080|www-data|/dev/stdout' ||
   [ "$changed" -ne $(( $(grep -c 'fastcgi_pass' nginx/compose.conf) + 12 )) ]; then
  fail_early "could not adapt nginx/compose.conf to the test (changed lines: $changed)"
fi
start_nginx "$c" "$c_port" || fail_early "the compose nginx did not start"

# 3. trusted: a generated variant with two trusted proxies, filled like nova-run fills it.
t=$tmp/trusted
mkdir -p "$t/nginx-tmp"
t_port=$(free_port) || fail_early "no free port"
perl nginx/gen-conf --target run --real-ip-from 127.0.0.1 --real-ip-from unix: \
  -o "$t/nginx.conf.template" || fail_early "gen-conf --target run failed"
sed -e "s|@USER_LINE@|$user_line|g" -e "s|@RUN_DIR@|$t|g" -e "s|@PORT@|$t_port|g" \
    -e "s|@STATIC_DIR@|$root/static|g" -e "s|@FCGI_SOCKET@|$sock|g" \
    -e "s|^\( *\)listen 127.0.0.1:$t_port sndbuf=64k;|&\n\1listen unix:$t/peer.sock;|" \
    "$t/nginx.conf.template" >"$t/nginx.conf"
grep -q "listen unix:$t/peer.sock;" "$t/nginx.conf" && grep -q 'set_real_ip_from unix:;' "$t/nginx.conf" ||
  fail_early "could not make the trusted-proxy nginx.conf"
start_nginx "$t" "$t_port" || fail_early "the trusted nginx did not start"

# 4. dead: the shipped template in front of a socket nobody listens on (nginx's own 502).
x=$tmp/dead
mkdir -p "$x/nginx-tmp"
x_port=$(free_port) || fail_early "no free port"
sed -e "s|@USER_LINE@|$user_line|g" -e "s|@RUN_DIR@|$x|g" -e "s|@PORT@|$x_port|g" \
    -e "s|@STATIC_DIR@|$root/static|g" -e "s|@FCGI_SOCKET@|$x/nobody.sock|g" \
    nginx/nova.conf.template >"$x/nginx.conf"
start_nginx "$x" "$x_port" || fail_early "the dead-socket nginx did not start"

NOVA_URL=http://127.0.0.1:${port[1]} COMPOSE_CONF=$c/nginx.conf DEAD_URL=http://127.0.0.1:$x_port \
COMPOSE_URL=http://127.0.0.1:$c_port COMPOSE_SOCK=$c/peer.sock \
TRUSTED_URL=http://127.0.0.1:$t_port TRUSTED_SOCK=$t/peer.sock \
  timeout 120 "$test_bin" 2>&1 | tee "$tmp/test.out"
rc=${PIPESTATUS[0]}

summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/test.out" | tail -n 1)
if [ -n "$summary" ]; then
  p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed}
  echo "$((p + pass)) passed, $((f + fail)) failed" >>"$tmp/test.out"
  [ "$fail" -eq 0 ] || rc=1
fi
for d in "$c" "$t" "$x"; do
  [ "$rc" -eq 0 ] || { echo "---- $d/nginx.out, nginx.log"; tail -n 20 "$d/nginx.out" "$d/nginx.log" 2>/dev/null; }
done
stacks_summary "$tmp/test.out" "$rc"

#!/usr/bin/env bash
# nova-fcgi's event-loop pieces (fcgi-app/loop.c, fconn.c, fcgi_proto.c) behind a real nginx:
# fcgi_loop_server (one thread) on a unix socket in a temp dir, nginx with the shipped
# template's settings (nginx/nova.conf.template) on a free loopback port, then
# test_fcgi_loop. NOVA_BUILD picks the build (build/release or build/asan). Everything
# started here is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${NOVA_BUILD:-build/release}
tmp=$(mktemp -d)
srv_pid= nginx_pid=
cleanup() {
  local p
  for p in $nginx_pid $srv_pid; do
    kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail_setup() { echo "$1"; for f in "$tmp"/*.log; do [ -s "$f" ] && { echo "---- $f"; tail -n 20 "$f"; }; done; echo "0 passed, 1 failed"; exit 1; }

sock=$tmp/fcgi.sock
mkfifo "$tmp/ready"
"$build/tests/integration/fcgi_loop_server" "$sock" 500 >"$tmp/ready" 2>"$tmp/server.log" &
srv_pid=$!
exec 3<"$tmp/ready"
read -r -t 10 line <&3 || fail_setup "fcgi_loop_server did not start"
exec 3<&-

nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
user_line=
[ "$(id -u)" -eq 0 ] && user_line='user root;'
mkdir -p "$tmp/nginx-tmp"
up=
for attempt in 1 2 3; do
  port=$((20000 + RANDOM % 12000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
  sed -e "s|@USER_LINE@|$user_line|g" -e "s|@RUN_DIR@|$tmp|g" -e "s|@PORT@|$port|g" \
      -e "s|@STATIC_DIR@|$root/static|g" -e "s|@FCGI_SOCKET@|$sock|g" \
      nginx/nova.conf.template >"$tmp/nginx.conf"
  "$nginx_bin" -p "$tmp/" -c "$tmp/nginx.conf" -g 'daemon off;' >>"$tmp/nginx-out.log" 2>&1 &
  nginx_pid=$!
  for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/api/t/stats" || true)
    [ "$code" = 200 ] && { up=1; break; }
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$up" ] && break
  kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; nginx_pid=
done
[ -n "$up" ] || fail_setup "nginx did not come up in front of fcgi_loop_server"

rc=0
"$build/tests/integration/test_fcgi_loop" "http://127.0.0.1:$port" "$sock" "$srv_pid" \
  >"$tmp/test.out" 2>&1 || rc=$?
# The server ends on SIGTERM (its loop stops); under ASan its exit is where leaks show.
kill "$srv_pid" 2>/dev/null || true
srv_rc=0; wait "$srv_pid" 2>/dev/null || srv_rc=$?
srv_pid=
grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/test.out" || true
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/test.out" | tail -n 1)
if [ -s "$tmp/server.log" ]; then echo "---- fcgi_loop_server said:"; cat "$tmp/server.log"; fi
if [ "$srv_rc" -ne 0 ] || grep -qs 'Sanitizer\|runtime error' "$tmp/server.log"; then
  echo "fcgi_loop_server exited $srv_rc or reported a sanitizer error"
  p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed}
  echo "${p:-0} passed, $(( ${f:-0} + 1 )) failed"; exit 1
fi
echo "${summary:-0 passed, 1 failed}"
[ -n "$summary" ] || exit 1
exit $rc

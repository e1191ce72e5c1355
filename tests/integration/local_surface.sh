#!/usr/bin/env bash
# The local surface (issue 16, item 4): what another local user reaches of a `make run` stack.
#
# Without a stack: nova-fcgi --print-config shows the socket's mode and group; a bad
# NOVA_FCGI_SOCKET_MODE or an unknown NOVA_FCGI_SOCKET_GROUP stops the start (status 2, the
# variable named); docker-compose.yml gives nova-fcgi the socket group of nginx's workers.
# Then one whole stack (tests/lib/stack.sh) started by root: nova-fcgi's socket is 0660 and
# belongs to the group nginx's workers run with; the run dir is 0710 with that group (0700 when
# not root: see docs/security.md) and every file in it is its owner's alone; nginx's worker
# processes are not root (/proc/PID/status); a chat is whole through nginx. As nobody (setpriv,
# no groups) the socket refuses the connection (EACCES) and no log, nor the run dir's listing,
# can be read; as nginx's worker user the socket answers FastCGI (FCGI_GET_VALUES) but the
# logs stay unreadable. Needs root (it is skipped, "0 passed, 0 failed", otherwise).
# NOVA_BUILD picks the flavour. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_init local_surface
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
finish() { echo "$pass passed, $fail failed" >"$tmp/test.out"; stacks_summary "$tmp/test.out" "$((fail > 0))"; exit $?; }
fail_early() { bad "$*"; finish; }
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: needs root (nginx's worker user, another user's view)"
  echo "0 passed, 0 failed"; exit 0
fi
fcgi=$bin/nova-fcgi
[ -x "$fcgi" ] || fail_early "missing $fcgi (build it first)"

# ---- without a stack ----------------------------------------------------------------------
out=$(env -u NOVA_FCGI_SOCKET_MODE -u NOVA_FCGI_SOCKET_GROUP "$fcgi" --print-config 2>&1)
check "nova-fcgi --print-config: fcgi_socket_mode: 0660, fcgi_socket_group: (unset) by default" \
  eval 'grep -qx "fcgi_socket_mode: 0660" <<<"$out" && grep -qx "fcgi_socket_group: (unset)" <<<"$out"'
out=$(NOVA_FCGI_SOCKET_GROUP=www-data "$fcgi" --print-config 2>&1)
check "nova-fcgi --print-config: NOVA_FCGI_SOCKET_GROUP=www-data is shown" \
  grep -qx "fcgi_socket_group: www-data" <<<"$out"
for bad_env in NOVA_FCGI_SOCKET_MODE=0777 NOVA_FCGI_SOCKET_MODE=0606x NOVA_FCGI_SOCKET_GROUP=no-such-group-here; do
  out=$(env "$bad_env" "$fcgi" --print-config 2>&1); rc=$?
  check "nova-fcgi refuses $bad_env (status $rc, the variable named)" \
    eval '[ $rc -eq 2 ] && grep -q "${bad_env%%=*}" <<<"$out"'
done
if command -v docker-compose >/dev/null; then
  out=$(docker-compose config 2>/dev/null)
  check "docker-compose: nova-fcgi's socket goes to nginx's group (www-data) and nova-fcgi joins it" \
    python3 -c '
import sys
svc = sys.stdin.read().split("\n  nova-fcgi:\n", 1)[1].split("\n  worker-", 1)[0]
assert "NOVA_FCGI_SOCKET_GROUP: www-data" in svc, svc
assert "group_add:\n    - www-data" in svc, svc
' <<<"$out"
fi

# ---- a stack started by root --------------------------------------------------------------
stack_up 1 || fail_early "the stack did not start"
run=$tmp/run1
sock=$run/nova-fcgi.sock
master=$(cat "$run/nginx.pid")
workers=$(pgrep -P "$master" | tr '\n' ' ')
wuid= wgid= all_nonroot=1
for p in $workers; do
  u=$(awk '/^Uid:/ {print $2}' "/proc/$p/status"); g=$(awk '/^Gid:/ {print $2}' "/proc/$p/status")
  [ "$u" -ne 0 ] || all_nonroot=0
  wuid=$u wgid=$g
done
check "nginx's worker processes ($workers) do not run as root (uid ${wuid:-?}, gid ${wgid:-?})" \
  eval '[ -n "$workers" ] && [ $all_nonroot -eq 1 ]'
check "nova-fcgi's socket is mode 0660, group $(stat -c %G "$sock") = the workers' group (gid ${wgid:-?})" \
  eval '[ "$(stat -c %a "$sock")" = 660 ] && [ "$(stat -c %g "$sock")" = "$wgid" ]'
check "the run dir is mode 0710, group the workers' (enter by name, no listing), owned by root" \
  eval '[ "$(stat -c %a:%g:%u "$run")" = "710:$wgid:0" ]'
open_files=$(find "$run" -maxdepth 1 -type f -perm /077 | tr '\n' ' ')
check "every file in the run dir is its owner's alone (0600): ${open_files:-none other}" \
  eval '[ -z "$open_files" ]'
chat_ok() {
  curl -sN --max-time 20 -H 'Content-Type: application/json' \
    -d '{"message":"폴이 레벨업을 못 해요 #sim:len=6"}' "http://127.0.0.1:${port[1]}/api/chat" >"$tmp/chat.txt"
  [ "$(grep '^event: ' "$tmp/chat.txt" | tail -n 1)" = "event: done" ] &&
    [ "$(grep -c '^event: model_done$' "$tmp/chat.txt")" -eq 2 ]
}
check "a chat through nginx (non-root workers) is whole" chat_ok

# connect_to SOCK: "connected", or the error's name (EACCES, ENOENT...). answers SOCK: nova-fcgi
# answers GET /api/health over FastCGI there (deploy/fcgi-alive, with cgi-fcgi).
py=/usr/bin/python3
[ -x $py ] || py=python3
connect_to() {
  $py -c '
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
' "$1"
}
answers() { NOVA_FCGI_SOCKET=$1 "$root/deploy/fcgi-alive"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
as_worker() { setpriv --reuid="$wuid" --regid="$wgid" --init-groups -- "$@"; }
fns="py=$py; root=$root; $(declare -f connect_to answers)"
check "as root (the owner): the socket answers FastCGI" answers "$sock"
r=$(as_worker bash -c "$fns; connect_to '$sock'")
check "as nginx's worker user: the socket lets it in ($r) and answers FastCGI" \
  eval '[ "$r" = connected ] && as_worker bash -c "$fns; answers \"$sock\""'
r=$(as_nobody bash -c "$fns; connect_to '$sock'")
check "as nobody: the socket refuses the connection ($r), no FastCGI answer" \
  eval '[ "$r" = EACCES ] && ! as_nobody bash -c "$fns; answers \"$sock\"" 2>/dev/null'
# The socket's own mode, were the run dir open: a hard link to it in a directory anyone may
# enter still refuses nobody, and lets nginx's worker user in.
mkdir -p "$tmp/open" && chmod 0755 "$tmp/open" && ln "$sock" "$tmp/open/sock"
r=$(as_nobody bash -c "$fns; connect_to '$tmp/open/sock'")
r2=$(as_worker bash -c "$fns; connect_to '$tmp/open/sock'")
check "through a link outside the run dir: nobody is refused by the socket's mode ($r), nginx's user is not ($r2)" \
  eval '[ "$r" = EACCES ] && [ "$r2" = connected ]'
rm -f "$tmp/open/sock"
readable=
for f in nova-fcgi.log nginx-access.log nginx.log redis.log nova-worker-pro.log nginx.conf kb.sqlite; do
  as_nobody cat "$run/$f" >/dev/null 2>&1 && readable+="$f "
done
check "as nobody: no log, nginx.conf or the index can be read (${readable:-none read})" eval '[ -z "$readable" ]'
check "as nobody: the run dir cannot be listed" eval '! as_nobody ls "$run" >/dev/null 2>&1'
readable=
for f in nova-fcgi.log nginx-access.log redis.log nova-worker-pro.log nginx.conf; do
  as_worker cat "$run/$f" >/dev/null 2>&1 && readable+="$f "
done
check "as nginx's worker user: no log or config can be read either (${readable:-none read})" eval '[ -z "$readable" ]'
check "as nginx's worker user: the run dir cannot be listed" eval '! as_worker ls "$run" >/dev/null 2>&1'

finish

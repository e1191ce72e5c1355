#!/usr/bin/env bash
# Supervision under `make run` (issue 16, item 1): scripts/nova-run restarts a program that dies
# after start-up, gives up on a crash loop, and stops exactly what it started.
#
# Stack 1 (tests/lib/stack.sh, NOVA_VISIBILITY_TIMEOUT_S=2): a chat stream through nginx whose
# pro worker is killed (kill -9) after its first words ends typed (`error` `worker_lost` for pro,
# micro whole, `done` last); the worker is back (a new pid in its pid file, alive, nova-run's
# "restarting in … (restart 1)" line) and the next chat is whole. Then nova-fcgi's master,
# nginx's master, bedrock-sim and Redis are killed in turn: each is back under a new pid with its
# log line, what the killed one left (nginx's workers, nova-fcgi's children) is gone, and a chat
# is whole after each.
# Stacks 2-4 run a bin dir whose nova-worker (or nova-fcgi) is the real one at the first start
# and misbehaves at every restart: stack 2's pro worker exits at once, so nova-run gives up
# (status 1, "crash loop", the log tail) after 5 restarts; stack 3's does the same but nova-run
# gets SIGTERM during a backoff; stack 4's nova-fcgi never becomes ready and nova-run gets
# SIGTERM during that restart. Each time nothing it started is left: no pid it recorded alive,
# no process holding the run dir's lock (every program inherits it), its lock free.
# NOVA_BUILD picks the flavour. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/stack.sh
stack_init supervise
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
finish() { echo "$pass passed, $fail failed" >"$tmp/test.out"; stacks_summary "$tmp/test.out" "$((fail > 0))"; exit $?; }
fail_early() { bad "$*"; finish; }

# until_ok SECONDS CMD...: CMD until it succeeds, bounded. (What is awaited is another process's
# state — a pid file, a log line, a process gone — with no event to wait on.)
until_ok() {
  local end=$(( ${EPOCHREALTIME/./} + $1 * 1000000 )); shift
  until "$@"; do [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1; sleep 0.05; done
}
ms_since() { echo $(( (${EPOCHREALTIME/./} - $1) / 1000 )); }

# chat N OUT MESSAGE: a whole chat stream through stack N's nginx into OUT (20 s at most).
chat() {
  curl -sN --max-time 20 -H 'Content-Type: application/json' \
    -d "{\"message\":\"$3\",\"ui_lang\":\"ko\"}" "http://127.0.0.1:${port[$1]}/api/chat" >"$2" 2>/dev/null
}
last_event() { grep '^event: ' "$1" | tail -n 1 | cut -d' ' -f2; }
events_of() { grep -c "^event: $2\$" "$1"; }
# whole OUT: done last, both models' model_done, no error.
whole() {
  [ "$(last_event "$1")" = done ] && [ "$(events_of "$1" model_done)" -eq 2 ] &&
    [ "$(events_of "$1" error)" -eq 0 ]
}
# chat_whole N: a chat is whole within 15 s (the first tries may meet a program still restarting).
chat_whole() {
  local end=$((SECONDS + 15)) i=0
  while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    chat "$1" "$tmp/chat.txt" "폴이 레벨업을 못 해요 #sim:len=6"
    whole "$tmp/chat.txt" && { chat_tries=$i; return 0; }
    sleep 0.1
  done
  echo "    last chat:"; sed 's/^/      /' "$tmp/chat.txt" | head -20
  return 1
}
pidfile() { cat "$tmp/run$1/$2.pid" 2>/dev/null; }
# new_pid N NAME OLD: NAME's pid file names a live process other than OLD.
new_pid() { local p; p=$(pidfile "$1" "$2"); [ -n "$p" ] && [ "$p" != "$3" ] && running "$p"; }
said() { grep -qF -- "$2" "$tmp/stack$1.out"; }
none_alive() { local p; for p in "$@"; do running "$p" && return 1; done; return 0; }
# lock_holders RUN: pids of processes with the run dir's lock open (nova-run and all it started).
lock_holders() {
  local f
  for f in /proc/[0-9]*/fd/*; do
    [ "$(readlink "$f" 2>/dev/null)" = "$1/nova-run.lock" ] && { f=${f#/proc/}; echo "${f%%/*}"; }
  done | sort -u
}
# nothing_left N PIDS...: after stack N's nova-run ended, none of PIDS (all it started) is alive,
# no process holds its lock, and the lock is free.
nothing_left() {
  local n=$1 left; shift
  left=$(lock_holders "$tmp/run$n")
  none_alive "$@" && [ -z "$left" ] && flock -n "$tmp/run$n/nova-run.lock" true && return 0
  echo "    alive: $(for p in "$@"; do running "$p" && echo -n "$p "; done); lock held by: $left"
  return 1
}
# started_pids N: every pid in stack N's pid files, and their children.
started_pids() {
  local f p
  for f in "$tmp/run$1"/*.pid; do
    p=$(cat "$f" 2>/dev/null) || continue
    [ -n "$p" ] && echo "$p" && pgrep -P "$p"
  done
}

# ---- stack 1: kill each program in turn ---------------------------------------------------
stack_up 1 NOVA_VISIBILITY_TIMEOUT_S=2 || fail_early "stack 1 did not start"

# The pro worker, killed after its first words.
old=$(pidfile 1 nova-worker-pro)
t0=${EPOCHREALTIME/./}
chat 1 "$tmp/killed.txt" "폴이 레벨업을 못 해요 #sim:tps=15 #sim:len=60" &
chat_pid=$!
if until_ok 10 grep -q '"model":"pro"' "$tmp/killed.txt"; then
  kill -KILL "$old"; t_kill=${EPOCHREALTIME/./}
  echo "     (pro worker $old killed $(( (t_kill - t0) / 1000 )) ms into the stream)"
else
  bad "the pro worker's first words within 10 s"
fi
check "pro worker killed: its restart is logged" \
  until_ok 5 said 1 "nova-worker-pro (pid $old) exited (status 137); restarting in 100 ms (restart 1)"
if until_ok 5 new_pid 1 nova-worker-pro "$old"; then
  ok "pro worker killed: a new pro worker runs (pid $(pidfile 1 nova-worker-pro), $(ms_since "$t_kill") ms after the kill)"
else
  bad "pro worker killed: a new pro worker runs within 5 s"
fi
wait "$chat_pid"
lost=$(grep -A1 '^event: error$' "$tmp/killed.txt" | grep '"code":"worker_lost"' | grep -c '"model":"pro"')
if [ "$(last_event "$tmp/killed.txt")" = done ] && { [ "$lost" -eq 1 ] || [ "$(events_of "$tmp/killed.txt" model_done)" -eq 2 ]; } &&
   grep -A1 '^event: model_done$' "$tmp/killed.txt" | grep -q '"model":"micro"'; then
  ok "the stream whose pro worker was killed ends typed: $( [ "$lost" -eq 1 ] && echo "error worker_lost for pro" || echo "pro whole (reclaimed)"), micro whole, done last ($(( (${EPOCHREALTIME/./} - t_kill) / 1000 )) ms after the kill)"
else
  bad "the stream whose pro worker was killed ends typed with done"
  sed 's/^/      /' "$tmp/killed.txt" | grep -v '^data: {"phase' | tail -20
fi
check "after the pro worker's restart a chat is whole" chat_whole 1

# nova-fcgi's master, nginx's master, bedrock-sim, Redis: each killed, each back.
for name in nova-fcgi nginx bedrock-sim redis; do
  old=$(pidfile 1 "$name")
  kids=$(pgrep -P "$old" | tr '\n' ' ')
  t_kill=${EPOCHREALTIME/./}
  kill -KILL "$old"
  if until_ok 10 new_pid 1 "$name" "$old" &&
     until_ok 5 said 1 "$name (pid $old) exited (status 137); restarting in 100 ms (restart 1)"; then
    ok "$name killed: restarted under pid $(pidfile 1 "$name") in $(ms_since "$t_kill") ms, logged"
  else
    bad "$name killed: restarted and logged within 10 s"
  fi
  if [ -n "$kids" ]; then
    # nginx's orphaned workers QUIT at once; nova-fcgi's children drain (NOVA_DRAIN_SECONDS=3).
    # shellcheck disable=SC2086
    check "$name killed: what it left ($kids) is gone" until_ok 10 none_alive $kids
  fi
  if chat_whole 1; then
    ok "$name killed: a chat is whole $(ms_since "$t_kill") ms after the kill (try $chat_tries)"
  else
    bad "$name killed: a chat is whole within 15 s"
  fi
done

# ---- stacks 2-4: a program that misbehaves when restarted ---------------------------------
# bin_with NAME SCRIPT: a bin dir like $bin whose NAME runs SCRIPT (bash) at every start after
# the first; $mark records the first start.
bin_with() {
  local dir=$tmp/bin-$1-$RANDOM f
  mkdir -p "$dir"
  for f in nova-fcgi nova-worker bedrock-sim novactl; do ln -s "$bin/$f" "$dir/$f"; done
  rm "$dir/$1"
  cat >"$dir/$1" <<EOF
#!/usr/bin/env bash
# The real $1 at its first start (of the pro queue, for a worker); then: $2
if [ "$1" = nova-worker ] && [ "\$2" != pro ]; then exec "$bin/$1" "\$@"; fi
if [ -e "$dir/.started" ]; then $2; fi
: >"$dir/.started"
exec "$bin/$1" "\$@"
EOF
  chmod +x "$dir/$1"
  echo "$dir"
}

# Stack 2: the restarted pro worker exits at once, every time: a crash loop.
saved_bin=$bin
bin=$(bin_with nova-worker 'echo "supervise test: exiting at once" >&2; exit 3')
stack_up 2 || fail_early "stack 2 did not start"
bin=$saved_bin
pids=$(started_pids 2)
kill -KILL "$(pidfile 2 nova-worker-pro)"
t0=${EPOCHREALTIME/./}
if until_ok 15 eval '! running "${run_pid[2]}"'; then
  wait "${run_pid[2]}"; rc=$?; run_pid[2]=
  restarts=$(grep -c '^nova-run: nova-worker-pro (pid [0-9]*) exited (status [0-9]*); restarting in' "$tmp/stack2.out")
  if [ "$rc" -ne 0 ] && [ "$restarts" -eq 5 ] && said 2 "a crash loop; giving up" &&
     said 2 "supervise test: exiting at once"; then
    ok "crash loop: 5 restarts (100 to 1600 ms apart), then nova-run gives up with status $rc and the log tail, $(ms_since "$t0") ms after the kill"
  else
    bad "crash loop: nova-run gives up with a non-zero status after 5 restarts (status $rc, $restarts restarts)"
    sed 's/^/      /' "$tmp/stack2.out" | tail -20
  fi
  # shellcheck disable=SC2086
  check "crash loop: nothing nova-run started is left" nothing_left 2 $pids
else
  bad "crash loop: nova-run gave up within 15 s"
fi

# term_stack N: SIGTERM to stack N's nova-run; 0 when it ended with status 0 within 15 s.
term_stack() {
  kill -TERM "${run_pid[$1]}"
  until_ok 15 eval "! running \"\${run_pid[$1]}\"" || return 1
  wait "${run_pid[$1]}"; local rc=$?
  run_pid[$1]=
  [ "$rc" -eq 0 ]
}

# Stack 3: the same worker; SIGTERM while a restart waits out its backoff.
bin=$(bin_with nova-worker 'exit 3')
stack_up 3 || fail_early "stack 3 did not start"
bin=$saved_bin
pids=$(started_pids 3)
kill -KILL "$(pidfile 3 nova-worker-pro)"
if until_ok 10 said 3 "restarting in 800 ms (restart 4)"; then
  pids="$pids $(started_pids 3)"
  t0=${EPOCHREALTIME/./}
  if term_stack 3; then
    ok "SIGTERM during a backoff: nova-run stops (status 0) in $(ms_since "$t0") ms"
  else
    bad "SIGTERM during a backoff: nova-run stops with status 0 within 15 s"
  fi
  # shellcheck disable=SC2086
  check "SIGTERM during a backoff: nothing nova-run started is left" nothing_left 3 $pids
else
  bad "stack 3: the fourth restart's backoff within 10 s"
fi

# Stack 4: the restarted nova-fcgi never makes its socket; SIGTERM during that restart.
bin=$(bin_with nova-fcgi 'exec sleep 60')
stack_up 4 || fail_early "stack 4 did not start"
bin=$saved_bin
pids=$(started_pids 4)
old=$(pidfile 4 nova-fcgi)
kill -KILL "$old"
if until_ok 10 new_pid 4 nova-fcgi "$old"; then
  pids="$pids $(started_pids 4)"
  t0=${EPOCHREALTIME/./}
  if term_stack 4; then
    ok "SIGTERM during a restart (nova-fcgi not ready yet): nova-run stops (status 0) in $(ms_since "$t0") ms"
  else
    bad "SIGTERM during a restart: nova-run stops with status 0 within 15 s"
  fi
  # shellcheck disable=SC2086
  check "SIGTERM during a restart: nothing nova-run started is left (nova-fcgi's draining children included)" \
    nothing_left 4 $pids
else
  bad "stack 4: nova-fcgi restarted within 10 s"
fi

finish

#!/usr/bin/env bash
# Pipeline integration: starts two whole stacks with scripts/nova-run (redis, bedrock-sim, the
# three workers, nova-fcgi, nginx), each in its own temp run dir on its own free loopback port,
# runs test_pipeline against the first (and the side-by-side check against the second), stops
# both, and exits with the test's status. NOVA_BUILD picks the flavour (build/release or
# build/asan): its bin/ provides nova-fcgi, nova-worker and bedrock-sim. The last line is the C
# test's "N passed, N failed"; diagnostics (log tails) come before it.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${NOVA_BUILD:-build/release}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
test_bin=$build/tests/integration/test_pipeline

tmp=$(mktemp -d /tmp/nova-pipeline.XXXXXX)
declare -A run_pid=() drain_pid=()
[ -n "${NOVA_KEEP_RUN:-}" ] && echo "NOVA_KEEP_RUN: run dirs are kept in $tmp"
test_out=$tmp/test.out

running() { # pid: alive and not a zombie
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}

# stop_stack N: SIGTERM to nova-run (it stops what it started), bounded wait, then KILL.
stop_stack() {
  local n=$1 p=${run_pid[$1]:-} i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < 300; i++)); do   # up to 30 s: nova-run itself bounds each stop step
    running "$p" || break
    sleep 0.1
  done
  running "$p" && { echo "nova-run $n did not stop; killing it"; kill -KILL "$p"; }
  wait "$p" 2>/dev/null
  [ -n "${drain_pid[$n]:-}" ] && wait "${drain_pid[$n]}" 2>/dev/null
  run_pid[$n]=
}

cleanup() {
  stop_stack 1
  stop_stack 2
  [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port outside the ephemeral range (so no outgoing connection holds it) that nothing answers on.
free_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# start_stack N PORT: nova-run in the background; its output goes through a fifo so the ready
# line is awaited with read -t, then drained into $tmp/stackN.out.
start_stack() {
  local n=$1 port=$2
  mkdir -p "$tmp/run$n"
  mkfifo "$tmp/stack$n.fifo"
  env -u NOVA_REDIS_URL -u NOVA_FCGI_SOCKET -u NOVA_BEDROCK_ENDPOINT -u NOVA_KB_ENDPOINT \
    NOVA_BACKEND=sim NOVA_KB_BACKEND=local NOVA_RUN_DIR="$tmp/run$n" NOVA_HTTP_PORT="$port" \
    NOVA_BIN_DIR="$bin" NOVA_FCGI_CHILDREN=2 NOVA_FCGI_THREADS=256 NOVA_DRAIN_SECONDS=3 \
    NOVA_KEEPALIVE_SECONDS=2 NOVA_LOG_LEVEL=info AWS_EC2_METADATA_DISABLED=true \
    AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    "$root/scripts/nova-run" >"$tmp/stack$n.fifo" 2>&1 &
  run_pid[$n]=$!
  exec {fd}<"$tmp/stack$n.fifo"
  eval "stack${n}_fd=$fd"
}

# await_ready N: reads stack N's output until its ready line (20 s); 0 when ready.
await_ready() {
  local n=$1 fdv="stack${1}_fd" line deadline=$((SECONDS + 20))
  local fd=${!fdv}
  while [ $SECONDS -lt $deadline ]; do
    if ! IFS= read -r -t $((deadline - SECONDS)) line <&"$fd"; then break; fi
    printf '%s\n' "$line" >>"$tmp/stack$n.out"
    case $line in
      "dual-nova ready on "*)
        echo "stack $n: $line"
        cat <&"$fd" >>"$tmp/stack$n.out" &
        drain_pid[$n]=$!
        exec {fd}<&-
        return 0 ;;
    esac
  done
  if [ $SECONDS -lt $deadline ]; then
    echo "stack $n: nova-run ended before it was ready; it said:"
  else
    echo "stack $n: not ready within 20 s; nova-run said:"
  fi
  sed 's/^/    /' "$tmp/stack$n.out"
  return 1
}

show_logs() {
  local n=$1 f
  for f in "$tmp/run$n"/*.log; do
    [ -s "$f" ] || continue
    echo "---- stack $n: tail of $(basename "$f")"
    tail -n 15 "$f" | sed 's/^/    /'
  done
  if [ -s "$tmp/stack$n.out" ]; then
    echo "---- stack $n: nova-run output"
    tail -n 15 "$tmp/stack$n.out" | sed 's/^/    /'
  fi
}

for f in "$bin/nova-fcgi" "$bin/nova-worker" "$bin/bedrock-sim" "$test_bin"; do
  if [ ! -x "$f" ]; then
    echo "missing $f (build it first)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# launch N: stack N on a fresh free port (never the other stack's).
declare -A port=()
launch() {
  local n=$1 p i
  for ((i = 0; ; i++)); do
    [ $i -lt 10 ] && p=$(free_port) || return 1
    [ "$p" != "${port[1]:-}" ] && [ "$p" != "${port[2]:-}" ] && break
  done
  port[$n]=$p
  start_stack "$n" "$p"
}

t0=${EPOCHREALTIME/./}
ready=1
launch 1 && launch 2 || { echo "no free port found"; echo "0 passed, 1 failed"; exit 1; }
for n in 1 2; do
  for attempt in 1 2 3; do
    await_ready "$n" && break
    # Another program may take a probed port before nginx binds it: try another one.
    if [ $attempt -lt 3 ] &&
       grep -qs -e 'already in use' "$tmp/stack$n.out" "$tmp/run$n/nginx.log"; then
      echo "stack $n: port ${port[$n]} was taken; retrying on another"
      fdv="stack${n}_fd"; fd=${!fdv}; exec {fd}<&-
      stop_stack "$n"
      rm -f "$tmp/stack$n.fifo" "$tmp/stack$n.out"
      launch "$n" || break
      continue
    fi
    ready=0
    break
  done
done
echo "both stacks ready in $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
if [ $ready -ne 1 ]; then
  show_logs 1; show_logs 2
  echo "0 passed, 1 failed"
  exit 1
fi

rc=0
NOVA_URL=http://127.0.0.1:${port[1]} NOVA_RUN_DIR=$tmp/run1 SIM_URL=$(cat "$tmp/run1/bedrock-sim.url") \
NOVA_URL2=http://127.0.0.1:${port[2]} NOVA_RUN_DIR2=$tmp/run2 NOVA_DRAIN_SECONDS=3 \
  "$test_bin" 2>&1 | tee "$test_out"
rc=${PIPESTATUS[0]}

# Keep the logs before the stacks remove their sockets; show them when something failed.
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$test_out" | tail -n 1)
stop_stack 2
stop_stack 1
if [ "$rc" -ne 0 ] || [ -z "$summary" ]; then
  show_logs 1
  show_logs 2
fi
if [ -z "$summary" ]; then
  p=$(grep -c '^ok ' "$test_out"); f=$(grep -c '^FAIL ' "$test_out")
  echo "test_pipeline exited $rc without its summary"
  summary="$p passed, $((f + 1)) failed"
  [ "$rc" -eq 0 ] && rc=1
fi
# A sanitizer report from any program of the stacks (the asan flavour; leaks show at exit) is
# one more failure, even when every check passed.
san=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer' \
      "$tmp"/run[12]/*.log 2>/dev/null)
if [ -n "$san" ]; then
  for f in $san; do
    echo "---- sanitizer report in $f"
    grep -m1 -A 30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | sed 's/^/    /'
  done
  p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed}
  summary="$p passed, $((f + 1)) failed"
  rc=1
fi
echo "$summary"
exit "$rc"

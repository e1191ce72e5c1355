# tests/lib/stack.sh: whole dual-nova stacks for integration tests, sourced by their scripts.
#
# Each stack is scripts/nova-run (redis, bedrock-sim, the three workers, the local knowledge
# base index, nova-fcgi, nginx) in its own run dir under one temp dir, on its own free loopback
# port. The sourcing script runs from the repository's top; sourcing sets root, build (from
# NOVA_BUILD: build/release or build/asan) and bin (its bin/). Then
#   stack_suite NAME N [VAR=value...]
#                              the whole of a suite with one C test: stacks 1..N, then
#                              $build/tests/integration/test_NAME with NOVA_URL, NOVA_RUN_DIR and
#                              SIM_URL of stack 1 (NOVA_URL2, NOVA_RUN_DIR2 of stack 2), then
#                              stacks_summary; exits with the test's status
# or, piece by piece:
#   stack_init NAME            temp dir /tmp/nova-NAME.XXXXXX, cleanup trap
#   stacks_up N [VAR=value...] starts stacks 1..N (extra environment for every stack), waits
#                              until each is ready (retrying on another port if one was
#                              taken); 0 when all are; their URLs are in port[n], $tmp/run<n>
#   stack_up N [VAR=value...]  starts stack N alone with its own extra environment
#   stack_logs N               the tails of stack N's logs
#   stacks_summary OUT RC      stops the stacks, prints the last "N passed, N failed" of the
#                              test output OUT (one more failure when it is missing or any
#                              program of a stack printed a sanitizer report), returns the status
# Stopping is by PID: SIGTERM to nova-run, which stops exactly what it started.

root=$(pwd)
build=${NOVA_BUILD:-build/release}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
declare -A run_pid=() drain_pid=() port=()
stack_env=()

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

stacks_down() {
  local n
  for n in "${!run_pid[@]}"; do stop_stack "$n"; done
}

stack_init() {
  tmp=$(mktemp -d "/tmp/nova-$1.XXXXXX")
  chmod 0711 "$tmp" # as root, nginx's workers (www-data) pass through to the run dirs' sockets
  [ -n "${NOVA_KEEP_RUN:-}" ] && echo "NOVA_KEEP_RUN: run dirs are kept in $tmp"
  trap 'stacks_down; [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"' EXIT
  trap 'exit 130' INT TERM
}

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
  local n=$1 p=$2 fd
  mkdir -p "$tmp/run$n"
  mkfifo "$tmp/stack$n.fifo"
  env -u NOVA_REDIS_URL -u NOVA_FCGI_SOCKET -u NOVA_BEDROCK_ENDPOINT -u NOVA_KB_ENDPOINT \
    -u NOVA_KB_DB -u NOVA_KB_DIR \
    NOVA_BACKEND=sim NOVA_KB_BACKEND=local NOVA_RUN_DIR="$tmp/run$n" NOVA_HTTP_PORT="$p" \
    NOVA_BIN_DIR="$bin" NOVA_FCGI_CHILDREN=2 NOVA_DRAIN_SECONDS=3 \
    NOVA_KEEPALIVE_SECONDS=2 NOVA_LOG_LEVEL=info AWS_EC2_METADATA_DISABLED=true \
    AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    "${stack_env[@]}" "$root/scripts/nova-run" >"$tmp/stack$n.fifo" 2>&1 &
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

stack_logs() {
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

# launch N: stack N on a fresh free port (never another stack's).
launch() {
  local n=$1 p i k taken
  for ((i = 0; i < 10; i++)); do
    p=$(free_port) || return 1
    taken=0
    for k in "${!port[@]}"; do [ "${port[$k]}" = "$p" ] && taken=1; done
    [ $taken -eq 0 ] && break
  done
  port[$n]=$p
  start_stack "$n" "$p"
}

# stack_ready N: awaits stack N's ready line, relaunching it on another port when a probed
# port was taken meanwhile; 0 when ready.
stack_ready() {
  local n=$1 attempt fdv fd
  for attempt in 1 2 3; do
    await_ready "$n" && return 0
    # Another program may take a probed port before nginx binds it: try another one.
    if [ $attempt -lt 3 ] &&
       grep -qs -e 'already in use' "$tmp/stack$n.out" "$tmp/run$n/nginx.log"; then
      echo "stack $n: port ${port[$n]} was taken; retrying on another"
      fdv="stack${n}_fd"; fd=${!fdv}; exec {fd}<&-
      stop_stack "$n"
      rm -f "$tmp/stack$n.fifo" "$tmp/stack$n.out"
      launch "$n" && continue
    fi
    stack_logs "$n"
    return 1
  done
  return 1
}

stacks_have_bins() {
  local f
  for f in "$bin/nova-fcgi" "$bin/nova-worker" "$bin/bedrock-sim" "$bin/novactl"; do
    [ -x "$f" ] || { echo "missing $f (build it first)"; return 1; }
  done
}

stacks_up() {
  local count=$1 n t0=${EPOCHREALTIME/./}
  shift
  stack_env=("$@")
  stacks_have_bins || return 1
  for ((n = 1; n <= count; n++)); do
    launch "$n" || { echo "no free port found"; return 1; }
  done
  for ((n = 1; n <= count; n++)); do
    stack_ready "$n" || return 1
  done
  echo "$count stack(s) ready in $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
}

# stack_up N [VAR=value...]: starts stack N alone, with its own extra environment (suites whose
# stacks differ: one child here, an outside Redis there).
stack_up() {
  local n=$1 t0=${EPOCHREALTIME/./}
  shift
  stack_env=("$@")
  stacks_have_bins || return 1
  launch "$n" || { echo "no free port found"; return 1; }
  stack_ready "$n" || return 1
  echo "stack $n ready in $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
}

stacks_summary() {
  local out=$1 rc=$2 summary n p f san
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
  stacks_down
  if [ "$rc" -ne 0 ] || [ -z "$summary" ]; then
    for n in "${!port[@]}"; do stack_logs "$n"; done
  fi
  if [ -z "$summary" ]; then
    p=$(grep -c '^ok ' "$out"); f=$(grep -c '^FAIL ' "$out")
    echo "the test exited $rc without its summary"
    summary="$p passed, $((f + 1)) failed"
    [ "$rc" -eq 0 ] && rc=1
  fi
  # A sanitizer report from any program of the stacks (the asan flavour; leaks show at exit) is
  # one more failure, even when every check passed.
  san=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer' \
        "$tmp"/run*/*.log 2>/dev/null)
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
  return "$rc"
}

stack_suite() {
  local name=$1 count=$2 test_bin
  shift 2
  test_bin=$build/tests/integration/test_$name
  stack_init "$name"
  if [ ! -x "$test_bin" ] || ! stacks_up "$count" "$@"; then
    echo "0 passed, 1 failed"
    exit 1
  fi
  local env=(NOVA_URL="http://127.0.0.1:${port[1]}" NOVA_RUN_DIR="$tmp/run1"
             SIM_URL="$(cat "$tmp/run1/bedrock-sim.url")")
  [ "$count" -ge 2 ] && env+=(NOVA_URL2="http://127.0.0.1:${port[2]}" NOVA_RUN_DIR2="$tmp/run2")
  env "${env[@]}" "$test_bin" 2>&1 | tee "$tmp/test.out"
  stacks_summary "$tmp/test.out" "${PIPESTATUS[0]}"
  exit $?
}

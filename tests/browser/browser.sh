#!/usr/bin/env bash
# Browser suite: the chat page (static/) in Debian's headless Chromium, driven by playwright-core
# (tests/browser/page.test.mjs), against a whole stack started by scripts/nova-run in a temp run
# dir on a free loopback port. The knowledge base it indexes (NOVA_KB_DIR) is kb/sample plus
# tests/fixtures/kb-xss. NOVA_BUILD picks the binaries (default build/release). Screenshots go
# to build/test-artifacts/ (page.png, page-phone.png, page-en.png). node_modules is installed
# with `npm ci` when missing. Stops only what it started. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${NOVA_BUILD:-build/release}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
artifacts=$root/build/test-artifacts
chromium=${CHROMIUM:-/usr/bin/chromium}

fail_early() { echo "$*"; echo "0 passed, 1 failed"; exit 1; }

for f in "$bin/nova-fcgi" "$bin/nova-worker" "$bin/bedrock-sim"; do
  [ -x "$f" ] || fail_early "missing $f (build it first)"
done
[ -x "$chromium" ] || fail_early "missing $chromium (Debian package chromium; scripts/install-deps installs it)"
command -v node >/dev/null && command -v npm >/dev/null || fail_early "missing node/npm (Debian packages nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
[ "${node_major:-0}" -ge 20 ] || fail_early "node $(node --version 2>/dev/null) is too old: playwright-core needs Node 20 or newer"

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "installing playwright-core (npm ci)"
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
    fail_early "npm ci failed in tests/browser"
fi

tmp=$(mktemp -d /tmp/nova-browser.XXXXXX)
run_pid= drain_pid= test_pid=
[ -n "${NOVA_KEEP_RUN:-}" ] && echo "NOVA_KEEP_RUN: the run dir is kept in $tmp"

running() { # pid: alive and not a zombie
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}

# stop PID SECONDS: SIGTERM, bounded wait, then KILL.
stop_pid() {
  local p=$1 secs=$2 i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < secs * 10; i++)); do
    running "$p" || break
    sleep 0.1
  done
  running "$p" && { echo "pid $p did not stop; killing it"; kill -KILL "$p" 2>/dev/null; }
  wait "$p" 2>/dev/null
}

cleanup() {
  stop_pid "$test_pid" 10   # the test closes its Chromium on SIGTERM
  test_pid=
  stop_pid "$run_pid" 30    # nova-run stops, by pid, what it started
  run_pid=
  [ -n "$drain_pid" ] && wait "$drain_pid" 2>/dev/null
  [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# The knowledge base: the sample documents and the XSS probe.
mkdir -p "$tmp/kb"
cp kb/sample/*.md tests/fixtures/kb-xss/*.md "$tmp/kb/"

# start_stack PORT: nova-run in the background, its ready line awaited through a fifo (20 s).
start_stack() {
  local port=$1 line deadline fd
  rm -rf "$tmp/run" "$tmp/stack.fifo" "$tmp/stack.out"
  mkdir -p "$tmp/run"
  mkfifo "$tmp/stack.fifo"
  env -u NOVA_REDIS_URL -u NOVA_FCGI_SOCKET -u NOVA_BEDROCK_ENDPOINT -u NOVA_KB_ENDPOINT \
    NOVA_BACKEND=sim NOVA_KB_BACKEND=local NOVA_KB_DIR="$tmp/kb" NOVA_RUN_DIR="$tmp/run" \
    NOVA_HTTP_PORT="$port" NOVA_BIN_DIR="$bin" NOVA_FCGI_CHILDREN=2 NOVA_FCGI_THREADS=32 \
    NOVA_DRAIN_SECONDS=3 NOVA_LOG_LEVEL=info AWS_EC2_METADATA_DISABLED=true \
    AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    "$root/scripts/nova-run" >"$tmp/stack.fifo" 2>&1 &
  run_pid=$!
  exec {fd}<"$tmp/stack.fifo"
  deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    IFS= read -r -t $((deadline - SECONDS)) line <&"$fd" || break
    printf '%s\n' "$line" >>"$tmp/stack.out"
    case $line in
      "dual-nova ready on "*)
        echo "stack: $line"
        cat <&"$fd" >>"$tmp/stack.out" &
        drain_pid=$!
        exec {fd}<&-
        return 0 ;;
    esac
  done
  exec {fd}<&-
  echo "stack: not ready; nova-run said:"
  sed 's/^/    /' "$tmp/stack.out"
  return 1
}

show_logs() {
  local f
  for f in "$tmp/run"/*.log; do
    [ -s "$f" ] || continue
    echo "---- tail of $(basename "$f")"
    tail -n 15 "$f" | sed 's/^/    /'
  done
}

port=
for attempt in 1 2 3; do
  port=$(free_port) || fail_early "no free port found"
  start_stack "$port" && break
  # Another program may take the probed port before nginx binds it: try another one.
  if [ $attempt -lt 3 ] && grep -qs 'already in use' "$tmp/stack.out" "$tmp/run/nginx.log"; then
    stop_pid "$run_pid" 30; run_pid=
    continue
  fi
  show_logs
  fail_early "the stack did not start"
done

mkdir -p "$artifacts"
rm -f "$artifacts"/page*.png   # only this run's screenshots
# The test and the tail that shows its output live both run in the background, so that `wait`
# (which a signal interrupts, unlike a foreground command) lets the trap act at once. The file
# exists before tail opens it.
: >"$tmp/test.out"
NOVA_URL=http://127.0.0.1:$port ARTIFACTS=$artifacts CHROMIUM=$chromium \
  node tests/browser/page.test.mjs >>"$tmp/test.out" 2>&1 &
test_pid=$!
tail -n +1 -f --pid="$test_pid" "$tmp/test.out" &
tail_pid=$!
wait "$test_pid"
rc=$?
test_pid=
wait "$tail_pid"

summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/test.out" | tail -n 1)
[ "$rc" -ne 0 ] && show_logs
if [ -z "$summary" ]; then
  p=$(grep -c '^ok ' "$tmp/test.out"); f=$(grep -c '^FAIL ' "$tmp/test.out")
  summary="$p passed, $((f + 1)) failed"
  echo "page.test.mjs exited $rc without its summary"
  [ "$rc" -eq 0 ] && rc=1
fi
ls "$artifacts"/page*.png 2>/dev/null | sed 's/^/artifact: /'
echo "$summary"
exit "$rc"

#!/usr/bin/env bash
# Browser suite: the chat page (static/) in Debian's headless Chromium, driven by playwright-core
# (tests/browser/page.test.mjs), against a whole stack started by scripts/nova-run in a temp run
# dir on a free loopback port. The knowledge base it indexes (NOVA_KB_DIR) is kb/sample plus
# tests/fixtures/kb-xss. NOVA_BUILD picks the binaries (default build/release). Screenshots go
# to build/test-artifacts/ (page.png, page-phone.png, page-en.png). node_modules is installed
# with `npm ci` when missing. Stops only what it started. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
artifacts=$root/build/test-artifacts
chromium=${CHROMIUM:-/usr/bin/chromium}

fail_early() { echo "$*"; echo "0 passed, 1 failed"; exit 1; }

[ -x "$chromium" ] || fail_early "missing $chromium (Debian package chromium; scripts/install-deps installs it)"
command -v node >/dev/null && command -v npm >/dev/null || fail_early "missing node/npm (Debian packages nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
[ "${node_major:-0}" -ge 20 ] || fail_early "node $(node --version 2>/dev/null) is too old: playwright-core needs Node 20 or newer"

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "installing playwright-core (npm ci)"
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
    fail_early "npm ci failed in tests/browser"
fi

stack_init browser
test_pid=

# stop_pid PID SECONDS: SIGTERM, bounded wait, then KILL.
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
# The test first (it closes its Chromium on SIGTERM), then the stack.
trap 'stop_pid "$test_pid" 10; stacks_down; [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"' EXIT

# The knowledge base: the sample documents and the XSS probes.
mkdir -p "$tmp/kb"
cp kb/sample/*.md tests/fixtures/kb-xss/*.md "$tmp/kb/"
# A guardrail configured (every call carries guardrailConfig; the simulator intervenes only on
# #sim:guardrail), so the page's guardrail notice is tested against the real stack.
stacks_up 1 NOVA_KB_DIR="$tmp/kb" NOVA_FCGI_THREADS=32 NOVA_GUARDRAIL_ID=browsertest1 \
  NOVA_GUARDRAIL_VERSION=1 || fail_early "the stack did not start"
http_port=${port[1]}

mkdir -p "$artifacts"
rm -f "$artifacts"/page*.png   # only this run's screenshots
# The test and the tail that shows its output live both run in the background, so that `wait`
# (which a signal interrupts, unlike a foreground command) lets the trap act at once. The file
# exists before tail opens it.
: >"$tmp/test.out"
NOVA_URL=http://127.0.0.1:$http_port ARTIFACTS=$artifacts CHROMIUM=$chromium \
  node tests/browser/page.test.mjs >>"$tmp/test.out" 2>&1 &
test_pid=$!
tail -n +1 -f --pid="$test_pid" "$tmp/test.out" &
tail_pid=$!
wait "$test_pid"
rc=$?
test_pid=
wait "$tail_pid"

ls "$artifacts"/page*.png 2>/dev/null | sed 's/^/artifact: /'
stacks_summary "$tmp/test.out" "$rc"

#!/usr/bin/env bash
# tests/chaos/chaos.sh BUILD_DIR... (make chaos): the fault suites run longer and rougher than
# make test runs them, against each build, summed like tests/run:
#   faults.sh with FAULTS_CHAOS=1, CHAOS_ROUNDS times (default 2): everything make test checks,
#     plus 16 chats while nova-fcgi children are SIGKILLed at random (every chat whole after its
#     resumes, each model paid once) and Redis killed and started empty mid-stream;
#   badinput.sh with BADINPUT_COUNT=20000 (about 17,000 requests) for seeds 1, 2 and 3;
#   once, the libFuzzer targets of issue 7 — the request validator (fuzz_chatreq), jobs and
#     events JSON (fuzz_jobs), the event-stream decoder (fuzz_eventstream), the SSE parser and
#     writer (fuzz_sse) — for CHAOS_FUZZ_SECONDS each (default 60), on a copy of their corpora.
# Logs go to build/chaos-logs/. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

logs=build/chaos-logs
rm -rf "$logs"
mkdir -p "$logs"
rounds=${CHAOS_ROUNDS:-2}
fuzz_s=${CHAOS_FUZZ_SECONDS:-60}
total_pass=0 total_fail=0 t_all=$SECONDS

run_suite() { # LABEL CMD...
  local label=$1; shift
  local log="$logs/$(echo "$label" | tr '/ ' '__').log" start=$SECONDS line p=0 f=0 rc
  "$@" >"$log" 2>&1
  rc=$?
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if [ -n "$line" ]; then p=${line%% passed*}; f=${line#*, }; f=${f%% failed}; fi
  if [ -z "$line" ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then
    f=$((f + 1)); echo "suite $label exited $rc without a clean summary" >>"$log"
  fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  printf '%-44s %4d passed, %d failed  (%ds)\n' "$label" "$p" "$f" $((SECONDS - start))
  if [ "$f" -ne 0 ]; then
    echo "---- tail of $log"; tail -n 40 "$log" | sed 's/^/    /'; echo "----"
  fi
}

# One fuzz target for fuzz_s seconds on a scratch copy of its corpus (the tracked one stays as
# it is); a crash, leak or timeout fails it and leaves the input in the log directory.
fuzz_one() { # NAME
  local n=$1 work
  work=$(mktemp -d "/tmp/nova-chaos-$n.XXXXXX")
  cp -r "tests/fuzz/corpus/$n/." "$work/" 2>/dev/null
  if "build/fuzz/$n" -max_total_time="$fuzz_s" -print_final_stats=1 \
       -artifact_prefix="$logs/$n-" "$work"; then
    echo "1 passed, 0 failed"
  else
    echo "0 passed, 1 failed"
  fi
  rm -rf "$work"
}

for b in "$@"; do
  kind=$(basename "$b")
  for ((r = 1; r <= rounds; r++)); do
    run_suite "$kind/faults (chaos, round $r)" env NOVA_BUILD="$b" FAULTS_CHAOS=1 \
      bash tests/integration/faults.sh
  done
  for seed in 1 2 3; do
    run_suite "$kind/badinput (seed $seed)" env NOVA_BUILD="$b" BADINPUT_COUNT=20000 \
      BADINPUT_SEED="$seed" bash tests/integration/badinput.sh
  done
done
for n in fuzz_chatreq fuzz_jobs fuzz_eventstream fuzz_sse; do
  [ -x "build/fuzz/$n" ] || { echo "missing build/fuzz/$n (make fuzz-build)"; total_fail=$((total_fail + 1)); continue; }
  run_suite "fuzz/$n (${fuzz_s}s)" fuzz_one "$n"
done

echo "chaos took $(( (SECONDS - t_all) / 60 )) min $(( (SECONDS - t_all) % 60 )) s"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]

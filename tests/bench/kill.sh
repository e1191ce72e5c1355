# kill.sh: the kill profile of run-bench (sourced after the stack is up and the warm-up chat
# ran): issue 15's "a nova-fcgi child killed with kill -9 while holding 1,000 streams: every
# one resumes on the other child or ends typed, none hangs". For each N of NS: nova-load kill
# opens N chats (started over RAMP, LEN tokens per model stream), and once every one has its
# meta (every stream open on a child; at N = 2,000 the busier child holds about 1,000) SIGKILLs the child /status?full shows holding the most open streams; every
# client whose connection broke resumes with Last-Event-ID as the page does (static/js/
# stream.js: capped exponential backoff with jitter, 429/5xx retried, 404 or 6 attempts in a
# row without progress: lost). Reported per N: what the victim held, connections broken,
# resumes, chats done (resumed, typed), lost, hung (still open at KILL_TIMEOUT), the time from
# the break to the first new event (resume gap), the last done after the kill, repeats skipped,
# and the master's children afterwards. Then results.{json,md}. Uses lib.sh and run-bench's
# settings.

# How the children relay open streams: NOVA_FCGI_STREAMS as the master got it (unset: the default).
mode=$(tr '\0' '\n' <"/proc/$(pid_of nova-fcgi)/environ" 2>/dev/null | grep '^NOVA_FCGI_STREAMS=')
mode=${mode#*=}
mode=${mode:-the default}
KILL_TIMEOUT=${BENCH_RUN_TIMEOUT_S:-120}   # the run's bound: a chat open then hangs
kruns=()
for n in $NS; do
  alive "$stack_pid" || { say "the stack is gone"; break; }
  say "N=$n: kill -9 of the busiest nova-fcgi child while the chats are open (NOVA_FCGI_STREAMS: $mode)"
  k=$tmp/kill-$n.json
  "$load" kill --url "$url" -n "$n" --len "$LEN" --ramp-ms "$RAMP" --timeout-s "$KILL_TIMEOUT" --out "$k"
  krc=$?
  # The master starts a new child on the freed slot: wait for both (bounded).
  master=$(pid_of nova-fcgi) kids=0
  for ((i = 0; i < 100; i++)); do
    kids=$(kids_of "$master" | wc -w)
    [ "$kids" -ge 2 ] && break
    sleep 0.1
  done
  echo "{\"rc\": $krc, \"children_after\": $kids}" >"$tmp/kill-$n.after.json"
  kruns+=("$n")
done

kobj() { grep -o "\"$2\": {[^}]*}" "$1" 2>/dev/null | grep -o "\"$3\": [-0-9.a-z]*" | awk '{print $2}'; }
{
  echo "{"
  echo "  \"settings\": {\"profile\": \"$PROFILE\", \"len\": $LEN, \"ramp_ms\": $RAMP, \"sim_ttft_ms\": ${TTFT:-null}, \"sim_tps\": ${TPS:-null}, \"fcgi_children\": 2, \"fcgi_threads\": $THREADS, \"fcgi_streams\": \"$mode\", \"worker_max_jobs\": $MAXJOBS, \"cores\": $(nproc), \"run_timeout_s\": $KILL_TIMEOUT},"
  echo "  \"runs\": ["
  first=1
  for n in "${kruns[@]}"; do
    [ $first -eq 1 ] || echo "    ,"
    first=0
    echo "    {\"n\": $n, \"kill\": $(cat "$tmp/kill-$n.json" 2>/dev/null || echo null), \"after\": $(cat "$tmp/kill-$n.after.json")}"
  done
  echo "  ]"
  echo "}"
} >"$out/results.json"

{
  echo "## Benchmark (make bench), profile $PROFILE"
  echo
  echo "$(nproc) cores, not pinned. Simulator pacing: $pacing, \`#sim:len=$LEN\` per model stream, chats (ko: one Micro + one Pro stream each) started evenly over ${RAMP} ms. nova-fcgi 2 children × ${THREADS:-the default pool of} threads, \`NOVA_FCGI_STREAMS\`: $mode. Once every chat has its \`meta\` (its stream open on a child), \`nova-load kill\` sends SIGKILL to the child that \`/status?full\` shows holding the most open streams; each client whose connection broke resumes with \`Last-Event-ID\` as the page does (static/js/stream.js: backoff 300 ms × 2^attempt, capped at 5 s, with jitter; 429/5xx retried; 404 or 6 attempts in a row without progress: lost). Hung: still open at ${KILL_TIMEOUT} s. Times in ms."
  echo
  echo "| N | killed child held / open streams (chats with a delta) | connections broken | resumes | **done** (resumed / typed) | **lost** | **hung** | resume gap p50 / p99 / max | last done after the kill | repeats skipped | children after |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for n in "${kruns[@]}"; do
    k=$tmp/kill-$n.json
    echo "| $n | $(fmt "$(kobj "$k" kill victim_streams)") / $(fmt "$(kobj "$k" kill open_streams)") ($(fmt "$(kobj "$k" kill with_delta)")) | $(fmt "$(jnum "$k" broken)") | $(fmt "$(jnum "$k" resumes)") | **$(fmt "$(jnum "$k" done)")** ($(fmt "$(jnum "$k" resumed)") / $(fmt "$(jnum "$k" typed)")) | **$(fmt "$(jnum "$k" lost)")** | **$(fmt "$(jnum "$k" hung)")** | $(fmt "$(jq2 "$k" resume_gap_ms p50)") / $(fmt "$(jq2 "$k" resume_gap_ms p99)") / $(fmt "$(jq2 "$k" resume_gap_ms max)") | $(fmt "$(jnum "$k" last_done_after_kill_ms)") | $(fmt "$(jnum "$k" skipped_repeats)") | $(fmt "$(jnum "$tmp/kill-$n.after.json" children_after)") |"
  done
  echo
  for n in "${kruns[@]}"; do
    e=$(jstr "$tmp/kill-$n.json" error); [ -n "$e" ] && echo "- N=$n: the kill failed: $e"
    met=no
    [ "$(jnum "$tmp/kill-$n.json" lost)" = 0 ] && [ "$(jnum "$tmp/kill-$n.json" hung)" = 0 ] &&
      [ "$(jnum "$tmp/kill-$n.json" done)" = "$n" ] && [ -z "$e" ] && met=yes
    echo "- N=$n: target (every chat resumes on the other child or ends typed, none hangs): **$met**"
  done
  echo
  echo "Target: a child killed with kill -9 while holding 1,000 streams: every one resumes on the other child or ends typed (done after an \`error\`), none hangs. Whether the resumed text equals the transcript is checked in \`make test\` (tests/integration/kill_child.sh)."
} >"$out/results.md"
cat "$out/results.md"

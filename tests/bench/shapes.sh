# shapes.sh: the burst and held profiles of run-bench (sourced after the stack is up and the
# warm-up chat ran): ready times, then N chats against the direct baseline at each N, then
# results.{json,md}. Uses lib.sh and run-bench's settings.

sampler() { # file: "fcgi_kib workers_kib" every 100 ms until killed
  local fp=${kind_pids[nova-fcgi]} wp="$(pid_of nova-worker-micro) $(pid_of nova-worker-pro)"
  while :; do
    echo "$(rss_kib $fp) $(rss_kib $wp)" >>"$1"
    sleep 0.1
  done
}

# ---- 1. start to ready ------------------------------------------------------------------------
# (on the idle stack, before any load; each started alone beside it, against the stack's Redis)
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "${stack_env[@]}" AWS_EC2_METADATA_DISABLED=true NOVA_RUN_DIR="$run" \
  NOVA_REDIS_URL="$redis_url" NOVA_FCGI_SOCKET="$tmp/ready-fcgi.sock" \
  "$load" ready --unix "$tmp/ready-fcgi.sock" --reps 5 --out "$tmp/ready-fcgi.json" -- \
  "$bin/nova-fcgi" >>"$tmp/ready.log" 2>&1 || say "nova-fcgi ready measurement incomplete (see below)"
env "${stack_env[@]}" "${sim_env[@]}" NOVA_RUN_DIR="$run" NOVA_REDIS_URL="$redis_url" \
  NOVA_BEDROCK_ENDPOINT="$sim_url" NOVA_KB_ENDPOINT="$sim_url" \
  "$load" ready --redis-key "nova:worker:bench-ready" --reps 5 --out "$tmp/ready-worker.json" -- \
  "$bin/nova-worker" --queue micro --id bench-ready >>"$tmp/ready.log" 2>&1 ||
  say "worker ready measurement incomplete (see below)"
grep "^nova-load" "$tmp/ready.log" | sed "s/^/    /" >&2
ready_fcgi=$(jnum "$tmp/ready-fcgi.json" median_ms); ready_worker=$(jnum "$tmp/ready-worker.json" median_ms)
say "ready after exec (median of 5): nova-fcgi ${ready_fcgi:-?} ms, nova-worker ${ready_worker:-?} ms"

# ---- 2. the runs ------------------------------------------------------------------------------
runs=()           # N of each completed run pair
declare -A passed=()
one_run() { # N: direct then pipeline; 0 when both finished without errors
  local n=$1 d=$tmp/direct-$1.json p=$tmp/pipeline-$1.json
  alive "$stack_pid" || { say "the stack is gone"; return 2; }
  env "${sim_env[@]}" NOVA_RUN_DIR="$run" NOVA_BEDROCK_ENDPOINT="$sim_url" NOVA_KB_ENDPOINT="$sim_url" \
    "$load" direct --request "$warm_rid" -n "$n" --ramp-ms "$RAMP" --timeout-s "$RUN_TIMEOUT" --out "$d"
  local drc=$?
  resolve_pids
  local k; declare -A c0=()
  for k in $KINDS; do c0[$k]=$(cpu_ticks ${kind_pids[$k]}); done
  local idle_f=$(rss_kib ${kind_pids[nova-fcgi]})
  local idle_w=$(rss_kib $(pid_of nova-worker-micro) $(pid_of nova-worker-pro))
  : >"$tmp/rss-$n.txt"
  sampler "$tmp/rss-$n.txt" &
  sampler_pid=$!
  "$load" pipeline --url "$url" -n "$n" --len "$LEN" --ramp-ms "$RAMP" --timeout-s "$RUN_TIMEOUT" --out "$p"
  local prc=$?
  kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null; sampler_pid=
  {
    for k in $KINDS; do echo "cpu_$k $(( $(cpu_ticks ${kind_pids[$k]}) - c0[$k] ))"; done
    echo "idle_fcgi $idle_f"; echo "idle_workers $idle_w"
    awk 'BEGIN{a=0;b=0} {if ($1>a) a=$1; if ($2>b) b=$2} END {print "peak_fcgi " a; print "peak_workers " b}' "$tmp/rss-$n.txt"
  } >"$tmp/proc-$n.txt"
  runs+=("$n")
  [ $drc -eq 0 ] && [ $prc -eq 0 ]
}

for n in $NS; do
  say "N=$n"
  one_run "$n" && passed[$n]=1
done
highest=
for n in $NS; do [ -n "${passed[$n]:-}" ] && highest=$n; done
if [ -n "${passed[1000]:-}" ] || [ -z "${BENCH_NS:-}" ]; then
  for n in $SEARCH; do
    [ -n "$highest" ] && [ "$n" -le "$highest" ] && continue
    if [ $((SECONDS - t_begin)) -ge "$CAP_S" ]; then say "time cap ${CAP_S}s reached; search stops"; break; fi
    say "N=$n (search)"
    if one_run "$n"; then passed[$n]=1; highest=$n; else say "N=$n had errors; search stops"; break; fi
  done
fi

# ---- 3. results -------------------------------------------------------------------------------
proc() { awk -v k="$2" '$1 == k {print $2}' "$tmp/proc-$1.txt"; }
sat=${highest:-${runs[-1]}}
{
  echo "{"
  echo "  \"settings\": {\"profile\": \"$PROFILE\", \"len\": $LEN, \"ramp_ms\": $RAMP, \"sim_ttft_ms\": $TTFT, \"sim_tps\": $TPS, \"fcgi_children\": 2, \"fcgi_threads\": $THREADS, \"worker_max_jobs\": $MAXJOBS, \"cores\": $(nproc), \"pinned\": false, \"direct_requests\": \"the jobs queued for a warm-up chat with the same question\"},"
  echo "  \"ready_ms\": {\"nova_fcgi_median\": ${ready_fcgi:-null}, \"nova_worker_median\": ${ready_worker:-null}, \"nova_fcgi\": $(cat "$tmp/ready-fcgi.json" 2>/dev/null || echo null), \"nova_worker\": $(cat "$tmp/ready-worker.json" 2>/dev/null || echo null)},"
  echo "  \"highest_n_without_errors\": ${highest:-null},"
  echo "  \"runs\": ["
  first=1
  for n in "${runs[@]}"; do
    [ $first -eq 1 ] || echo "    ,"
    first=0
    echo "    {\"n\": $n, \"passed\": $([ -n "${passed[$n]:-}" ] && echo true || echo false),"
    echo "     \"direct\": $(cat "$tmp/direct-$n.json" 2>/dev/null || echo null),"
    echo "     \"pipeline\": $(cat "$tmp/pipeline-$n.json" 2>/dev/null || echo null),"
    printf '     "proc": {'
    sep=
    while read -r k v; do printf '%s"%s": %s' "$sep" "$k" "$v"; sep=", "; done <"$tmp/proc-$n.txt"
    printf ', "clk_tck": %s}}\n' "$hz"
  done
  echo "  ]"
  echo "}"
} >"$out/results.json"

added() { # n model q: pipeline − direct for ttft_<model>_ms p<q>
  local a b
  a=$(jq2 "$tmp/pipeline-$1.json" "ttft_$2_ms" "p$3"); b=$(jq2 "$tmp/direct-$1.json" "ttft_$2_ms" "p$3")
  [ -n "$a" ] && [ -n "$b" ] && calc "$a - $b" || echo "–"
}
{
  echo "## Benchmark (make bench), profile $PROFILE"
  echo
  echo "$(nproc) cores, not pinned. Simulator pacing: $pacing, \`#sim:len=$LEN\` per model stream, chats (ko: one Micro + one Pro stream each) started evenly over ${RAMP} ms. nova-fcgi 2 children × $THREADS threads, workers $MAXJOBS jobs each. Direct = the Micro and Pro jobs nova-fcgi queued for a warm-up chat with the same question (glossary system prompt, passages), replayed straight to bedrock-sim with common/aws/bedrock.h, one process. Times in ms."
  echo
  echo "| N | errors (direct / pipeline) | meta p50 | direct TTFT micro p50 / p99 | pipeline TTFT micro p50 / p95 / p99 | **added micro p50 / p95 / p99** | **added pro p50 / p95 / p99** | gap p99 / max | completion p50 / p99 | deltas/s peak |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for n in "${runs[@]}"; do
    d=$tmp/direct-$n.json p=$tmp/pipeline-$n.json
    echo "| $n | $(fmt "$(jnum "$d" errors)") / $(fmt "$(jnum "$p" errors)") | $(fmt "$(jq2 "$p" ttft_meta_ms p50)") | $(fmt "$(jq2 "$d" ttft_micro_ms p50)") / $(fmt "$(jq2 "$d" ttft_micro_ms p99)") | $(fmt "$(jq2 "$p" ttft_micro_ms p50)") / $(fmt "$(jq2 "$p" ttft_micro_ms p95)") / $(fmt "$(jq2 "$p" ttft_micro_ms p99)") | $(added "$n" micro 50) / $(added "$n" micro 95) / $(added "$n" micro 99) | $(added "$n" pro 50) / $(added "$n" pro 95) / $(added "$n" pro 99) | $(fmt "$(jq2 "$p" gap_ms p99)") / $(fmt "$(jq2 "$p" gap_ms max)") | $(fmt "$(jq2 "$p" completion_ms p50)") / $(fmt "$(jq2 "$p" completion_ms p99)") | $(fmt "$(jnum "$p" deltas_per_s_peak)") |"
  done
  echo
  for n in "${runs[@]}"; do
    e=$(jstr "$tmp/pipeline-$n.json" first_error); [ -n "$e" ] && echo "- N=$n pipeline, first error: $e"
    e=$(jstr "$tmp/direct-$n.json" first_error); [ -n "$e" ] && echo "- N=$n direct, first error: $e"
  done
  echo
  echo "Highest N without errors: ${highest:-none}. Deltas relayed per second at saturation (N=$sat, best 1 s window): $(fmt "$(jnum "$tmp/pipeline-$sat.json" deltas_per_s_peak)") (average over the run $(fmt "$(jnum "$tmp/pipeline-$sat.json" deltas_per_s_avg)"))."
  echo
  echo "CPU seconds per 1,000 deltas relayed (utime+stime over the pipeline run):"
  echo
  echo "| N | deltas | nginx | nova-fcgi (master+children) | nova-worker ×3 | redis | bedrock-sim | nova-load | total |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for n in "${runs[@]}"; do
    p=$tmp/pipeline-$n.json; dl=$(jnum "$p" deltas); [ -n "$dl" ] && [ "$dl" -gt 0 ] || continue
    row="| $n | $dl |" tot=0
    for k in $KINDS; do
      v=$(calc "$(proc "$n" "cpu_$k") / $hz / $dl * 1000"); row+=" $v |"; tot=$(calc "$tot + $v")
    done
    v=$(calc "$(jnum "$p" load_cpu_s) / $dl * 1000"); tot=$(calc "$tot + $v")
    echo "$row $v | $tot |"
  done
  echo
  echo "CPU per model token, µs (utime+stime over the pipeline run over the output tokens of its model_done events; bedrock-sim and nova-load are the measuring side):"
  echo
  echo "| N | model tokens | nginx | nova-fcgi | nova-worker ×3 | redis | **pipeline** | bedrock-sim | nova-load |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for n in "${runs[@]}"; do
    p=$tmp/pipeline-$n.json; tk=$(jnum "$p" output_tokens); [ -n "$tk" ] && [ "$tk" -gt 0 ] || continue
    row="| $n | $tk |" tot=0
    for k in $PIPE_KINDS; do
      v=$(calc "$(proc "$n" "cpu_$k") / $hz / $tk * 1e6"); row+=" $v |"; tot=$(calc "$tot + $v")
    done
    echo "$row **$tot** | $(calc "$(proc "$n" cpu_bedrock-sim) / $hz / $tk * 1e6") | $(calc "$(jnum "$p" load_cpu_s) / $tk * 1e6") |"
  done
  echo
  echo "RSS per open stream (peak VmRSS sampled every 100 ms minus idle before the run, over the peak number of open chats; a chat = 2 model streams):"
  echo
  echo "| N | open chats (peak) | nova-fcgi idle → peak KiB | workers (micro+pro) idle → peak KiB | fcgi KiB/chat | workers KiB/model stream | **fcgi+workers KiB/chat** |"
  echo "|---|---|---|---|---|---|---|"
  for n in "${runs[@]}"; do
    p=$tmp/pipeline-$n.json; o=$(jnum "$p" peak_open); [ -n "$o" ] && [ "$o" -gt 0 ] || continue
    fi_=$(proc "$n" idle_fcgi) fp=$(proc "$n" peak_fcgi) wi=$(proc "$n" idle_workers) wp=$(proc "$n" peak_workers)
    echo "| $n | $o | $fi_ → $fp | $wi → $wp | $(calc "($fp - $fi_) / $o") | $(calc "($wp - $wi) / (2 * $o)") | $(calc "($fp - $fi_ + $wp - $wi) / $o") |"
  done
  echo
  echo "Start to ready (exec → socket accepts / heartbeat key exists; median of 5, alone beside the idle stack): nova-fcgi $(fmt "$ready_fcgi") ms, nova-worker $(fmt "$ready_worker") ms."
  echo
  echo "Targets: added TTFT ≤ 0.5 ms p50 and ≤ 2 ms p99 at N=1000 with zero errors; ≤ 32 KiB RSS per open stream (fcgi + workers); ready ≤ 200 ms."
} >"$out/results.md"
cat "$out/results.md"

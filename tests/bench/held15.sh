# held15.sh: issue 15's two profiles of run-bench (fcgi-app/DESIGN-loop.md §8), sourced by it
# before any stack is up; they start their own (stack_up / stack_down in run-bench):
#   held15: before and after in one run — N chats (the issue's shape: sim first token 300 ms,
#           10 tokens/s, 150 tokens per model stream, started over 8 s so that all N are open
#           from 8 s to 15 s) against a stack in NOVA_FCGI_STREAMS=thread with
#           NOVA_FCGI_THREADS = N/2 + 64 per child (before: a thread per open stream), then
#           against a fresh stack in NOVA_FCGI_STREAMS=loop with the default pool (after). Per
#           mode: the direct baseline and the pipeline, the added time to the first Micro
#           words (p50, p99) and its absolute p99, errors, CPU per model token by process
#           (nginx, nova-fcgi, each worker queue, Redis), PSS per open model stream across
#           nova-fcgi and the workers;
#   wait:   N = 10,000 chats in loop mode waiting on a slow model (#sim:ttft=20000 in the
#           question, both models; 20 tokens after it), started over 10 s so that all N wait
#           together from 10 s to 20 s: the answers counted, PSS per waiting model stream, the
#           descriptors each process held at the plateau.
# PSS: the sum of Pss in /proc/PID/smaps_rollup of every nova-fcgi process (master and
# children) and every nova-worker (micro, pro, kb), sampled every 250 ms during the pipeline
# run, at the plateau, minus the same sum on the idle stack just
# before the run (warmed: the warm-up chat, the direct baseline, 64 short chats); over the model streams open at that sample (bedrock-sim's streams_open
# gauge, sampled with it; a chat holds two: Micro and Pro). The plateau is the sample with the
# most of them.

K15="nginx nova-fcgi nova-worker-micro nova-worker-pro nova-worker-kb redis bedrock-sim"
P15="nginx nova-fcgi nova-worker-micro nova-worker-pro nova-worker-kb redis" # the pipeline
WAIT_TTFT=${BENCH_WAIT_TTFT_MS:-20000}   # the wait profile's first token (the issue's 20 s)
[ -z "${BENCH_RUN_TIMEOUT_S:-}" ] && case $PROFILE in
  held15) RUN_TIMEOUT=90 ;;
  wait) RUN_TIMEOUT=$(( (RAMP + WAIT_TTFT) / 1000 + 120 )) ;;
esac
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

resolve15() { # kind_pids for K15 (the stack's current processes)
  local f=$(pid_of nova-fcgi) n=$(pid_of nginx) q
  kind_pids[nginx]="$n $(kids_of "$n")"
  kind_pids[nova-fcgi]="$f $(kids_of "$f")"
  for q in micro pro kb; do kind_pids[nova-worker-$q]=$(pid_of nova-worker-$q); done
  kind_pids[redis]=$(pid_of redis)
  kind_pids[bedrock-sim]=$(pid_of bedrock-sim)
}
workers15() { echo "${kind_pids[nova-worker-micro]} ${kind_pids[nova-worker-pro]} ${kind_pids[nova-worker-kb]}"; }

# Every 250 ms until killed, one line: ms since start, PSS KiB of nova-fcgi and of the workers,
# descriptors of nginx, nova-fcgi, the workers, bedrock-sim and nova-load, nova-fcgi's threads,
# the model streams open at bedrock-sim (its streams_open gauge), the SSE streams open in
# nova-fcgi (nova_streams_open of /api/metrics, which loopback may read; -1 when it did not
# answer within a second).
fcgi_open() {
  local v; v=$(curl -s --max-time 1 "$url/api/metrics" | awk '$1 == "nova_streams_open" {print $2}')
  echo "${v:--1}"
}
sim_open() {
  local v; v=$(curl -s --max-time 1 "$sim_url/_sim/stats" | grep -o '"streams_open":[0-9]*')
  echo "${v#*:}" | awk '{print $1 + 0}'
}
sampler15() { # file nova-load-pid
  local fp=${kind_pids[nova-fcgi]} wp=$(workers15) np=${kind_pids[nginx]} sp=${kind_pids[bedrock-sim]}
  local t0=${EPOCHREALTIME/./}
  while :; do
    echo "$(( (${EPOCHREALTIME/./} - t0) / 1000 )) $(pss_kib $fp) $(pss_kib $wp) $(fd_count $np) $(fd_count $fp) $(fd_count $wp) $(fd_count $sp) $(fd_count "$2") $(thread_count $fp) $(sim_open) $(fcgi_open)" >>"$1"
    sleep 0.25
  done
}

# nginx's own limit for N open streams (2 connections each) when the template's is lower: the
# run's nginx.conf is rewritten and nginx reloaded (SIGHUP; new workers, the old ones leave).
nginx_room() { # N
  local need=$(( 2 * $1 + 256 )) have c=$run/nginx.conf old i
  have=$(awk '$1 == "worker_connections" {sub(";", "", $2); print $2}' "$c")
  [ -n "$have" ] && [ "$have" -ge "$need" ] && return 0
  sed -i -e "s/^\( *worker_connections\) [0-9]*;/\1 $need;/" \
         -e "s/^worker_rlimit_nofile [0-9]*;/worker_rlimit_nofile $(( 2 * need ));/" "$c"
  old=$(kids_of "$(pid_of nginx)")
  kill -HUP "$(pid_of nginx)"
  for ((i = 0; i < 100; i++)); do
    local now=$(kids_of "$(pid_of nginx)") o gone=1
    for o in $old; do case " $now " in *" $o "*) gone=0 ;; esac; done
    [ $gone -eq 1 ] && [ -n "$now" ] && { say "nginx: worker_connections $have → $need (reloaded)"; return 0; }
    sleep 0.1
  done
  say "nginx did not reload within 10 s"; return 1
}

# One mode: a fresh stack with these settings, the warm-up chat, the direct baseline (held15),
# then the pipeline with CPU and PSS around it; $tmp/M-{direct,pipeline}.json and M-proc.txt.
# The caller stops the stack (stack_down), whatever the outcome.
mode_run() { # name n message stack-settings...
  local m=$1 n=$2 msg=$3; shift 3
  stack_up "$@" || return 2
  say "$m: stack ready on $url ($*; $pacing, len $LEN, ramp $RAMP ms, worker max jobs $MAXJOBS)"
  [ "$PROFILE" = wait ] && { nginx_room "$n" || return 2; }
  local rid; rid=$(warm_up "$MESSAGE" ko)
  [ -n "$rid" ] || { say "$m: the warm-up chat failed"; return 2; }
  local drc=0
  if [ "$PROFILE" = held15 ]; then
    env "${sim_env[@]}" NOVA_RUN_DIR="$run" NOVA_BEDROCK_ENDPOINT="$sim_url" NOVA_KB_ENDPOINT="$sim_url" \
      "$load" direct --request "$rid" -n "$n" --ramp-ms "$RAMP" --timeout-s "$RUN_TIMEOUT" --out "$tmp/$m-direct.json"
    drc=$?
  fi
  # A warm round before the idle baseline: 64 short chats at once, so every pool thread, its
  # SQLite connection and malloc arena, and each worker's connections have served once. A
  # running service is never a fresh one; what the first requests touch once is not a cost
  # per open stream. (With a thread per stream each new stream's thread is new: the thread
  # mode's per-stream cost keeps its thread's warm-up, as it should.)
  "$load" pipeline --url "$url" -n 64 --len 5 --ramp-ms 0 --timeout-s 30 --message "폴이 레벨업을 못 해요" \
    --out "$tmp/$m-warm.json" >>"$tmp/warm.log" 2>&1 || say "$m: the warm round did not finish cleanly"
  sleep 1 # the workers give freed pages back four times a second
  resolve15
  local k; declare -A c0=()
  for k in $K15; do c0[$k]=$(cpu_ticks ${kind_pids[$k]}); done
  local idle_f=$(pss_kib ${kind_pids[nova-fcgi]}) idle_w=$(pss_kib $(workers15))
  local idle_t=$(thread_count ${kind_pids[nova-fcgi]}) idle_fd=$(fd_count ${kind_pids[nova-fcgi]})
  "$load" pipeline --url "$url" -n "$n" --len "$LEN" --ramp-ms "$RAMP" --timeout-s "$RUN_TIMEOUT" \
    --message "$msg" --out "$tmp/$m-pipeline.json" &
  local lp=$!
  : >"$tmp/$m-samples.txt"
  sampler15 "$tmp/$m-samples.txt" "$lp" &
  sampler_pid=$!
  wait "$lp"; local prc=$?
  kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null; sampler_pid=
  {
    for k in $K15; do echo "cpu_$k $(( $(cpu_ticks ${kind_pids[$k]}) - c0[$k] ))"; done
    echo "idle_fcgi $idle_f"; echo "idle_workers $idle_w"; echo "idle_fcgi_threads $idle_t"; echo "idle_fcgi_fds $idle_fd"
    # the plateau: the sample with the most model streams open at bedrock-sim (ties: the
    # highest PSS sum); the highest PSS sum of the whole run; the descriptors' and threads' peaks
    awk 'BEGIN {b = -1; B = -1; S = -1}
         {if ($10 > S || ($10 == S && $2 + $3 > b)) {S = $10; b = $2 + $3; f = $2; w = $3; at = $1; o = $11; d = $5}
          if ($2 + $3 > B) {B = $2 + $3; F = $2; W = $3}
          for (i = 4; i <= 9; i++) if ($i > mx[i]) mx[i] = $i}
         END {print "plateau_streams " S + 0; print "plateau_sse " (o == "" ? -1 : o); print "plateau_fcgi_fds " d + 0; print "plateau_fcgi " f + 0; print "plateau_workers " w + 0
              print "plateau_ms " at + 0
              print "peak_fcgi " F + 0; print "peak_workers " W + 0
              print "fd_nginx " mx[4] + 0; print "fd_fcgi " mx[5] + 0; print "fd_workers " mx[6] + 0
              print "fd_sim " mx[7] + 0; print "fd_load " mx[8] + 0; print "fcgi_threads " mx[9] + 0
              print "samples " NR}' "$tmp/$m-samples.txt"
  } >"$tmp/$m-proc.txt"
  [ $drc -eq 0 ] && [ $prc -eq 0 ]
}

N15=${NS%% *}
declare -A ok15=()
if [ "$PROFILE" = held15 ]; then
  modes="thread loop"
  say "held15: N=$N15, before (thread, 2 x $(( N15 / 2 + 64 )) threads) then after (loop, the default pool); load average $load_at_start"
  mode_run thread "$N15" "폴이 레벨업을 못 해요" NOVA_FCGI_STREAMS=thread NOVA_FCGI_THREADS=$(( N15 / 2 + 64 )) && ok15[thread]=1
  stack_down
  mode_run loop "$N15" "폴이 레벨업을 못 해요" NOVA_FCGI_STREAMS=loop && ok15[loop]=1
  stack_down
else
  modes="loop"
  say "wait: N=$N15 waiting on #sim:ttft=$WAIT_TTFT, loop mode; load average $load_at_start"
  mode_run loop "$N15" "폴이 레벨업을 못 해요 #sim:ttft=$WAIT_TTFT" NOVA_FCGI_STREAMS=loop && ok15[loop]=1
  stack_down
fi
load_at_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- results ----------------------------------------------------------------------------------
p15() { awk -v k="$2" '$1 == k {print $2}' "$tmp/$1-proc.txt" 2>/dev/null; }
streams15() { p15 "$1" plateau_streams; }
kib_per_stream() { # mode: (plateau − idle) of nova-fcgi + workers over open model streams
  local s=$(streams15 "$1") f=$(p15 "$1" plateau_fcgi) fi_=$(p15 "$1" idle_fcgi) w=$(p15 "$1" plateau_workers) wi=$(p15 "$1" idle_workers)
  [ -n "$s" ] && [ "$s" -gt 0 ] && [ -n "$f" ] && calc "($f - $fi_ + $w - $wi) / $s" || echo "–"
}
us_per_token() { # mode kind
  local tk=$(jnum "$tmp/$1-pipeline.json" output_tokens) c=$(p15 "$1" "cpu_$2")
  [ -n "$tk" ] && [ "$tk" -gt 0 ] && [ -n "$c" ] && calc "$c / $hz / $tk * 1e6" || echo "–"
}
pipe_us() { # mode: the pipeline's processes together
  local k t=0 v
  for k in $P15; do v=$(us_per_token "$1" "$k"); [ "$v" = "–" ] && { echo "–"; return; }; t=$(calc "$t + $v"); done
  echo "$t"
}
ratio2() { # x / y, 2 decimals; "–" when either is missing or y is not positive
  case "$1$2" in *–*|"") echo "–"; return ;; esac
  awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.2f", x / y; else print "–" }'
}
sse_col() { # mode: "N: KiB of nova-fcgi's growth per open SSE stream" at the plateau — N from
  # /api/metrics when it answered then, else the descriptors nova-fcgi held over its idle count
  # (one per connection from nginx: an SSE stream, or a request before its stream), marked "fds"
  local o=$(p15 "$1" plateau_sse) f=$(p15 "$1" plateau_fcgi) fi_=$(p15 "$1" idle_fcgi) how=
  if [ -z "$o" ] || [ "$o" -le 0 ]; then
    o=$(( $(p15 "$1" plateau_fcgi_fds) - $(p15 "$1" idle_fcgi_fds) )) how=" (fds)"
  fi
  [ "$o" -gt 0 ] && echo "$o$how: $(calc "($f - $fi_) / $o")" || echo "–"
}
added15() { sub "$tmp/$1-pipeline.json" "$tmp/$1-direct.json" ttft_micro_ms "$2"; }
{
  echo "{"
  echo "  \"settings\": {\"profile\": \"$PROFILE\", \"n\": $N15, \"len\": $LEN, \"ramp_ms\": $RAMP, \"sim_ttft_ms\": $( [ "$PROFILE" = wait ] && echo "$WAIT_TTFT" || echo "${TTFT:-null}"), \"sim_tps\": ${TPS:-null}, \"fcgi_children\": 2, \"worker_max_jobs\": $MAXJOBS, \"cores\": $(nproc), \"pinned\": false, \"loadavg_start\": \"$load_at_start\", \"loadavg_end\": \"$load_at_end\", \"nofile\": $(ulimit -n)},"
  echo "  \"modes\": {"
  sep=
  for m in $modes; do
    printf '%s    "%s": {"passed": %s, "fcgi_threads_per_child_setting": %s,\n' "$sep" "$m" \
      "$([ -n "${ok15[$m]:-}" ] && echo true || echo false)" "$([ "$m" = thread ] && echo $(( N15 / 2 + 64 )) || echo '"default"')"
    echo "     \"direct\": $(cat "$tmp/$m-direct.json" 2>/dev/null || echo null),"
    echo "     \"pipeline\": $(cat "$tmp/$m-pipeline.json" 2>/dev/null || echo null),"
    printf '     "kib_per_open_model_stream": %s, "pipeline_us_per_model_token": %s,\n' \
      "$(kib_per_stream "$m" | sed 's/–/null/')" "$(pipe_us "$m" | sed 's/–/null/')"
    printf '     "proc": {'
    s2=
    while read -r k v; do printf '%s"%s": %s' "$s2" "$k" "$v"; s2=", "; done <"$tmp/$m-proc.txt"
    printf ', "clk_tck": %s}}\n' "$hz"
    sep="    ,"$'\n'
  done
  echo "  }"
  echo "}"
} >"$out/results.json"

{
  if [ "$PROFILE" = held15 ]; then
    echo "## Benchmark (make bench), profile held15: issue 15 before and after"
    echo
    echo "$(nproc) cores, not pinned, shared (load average $load_at_start at the start, $load_at_end at the end). $N15 chats (ko: one Micro + one Pro stream each) started evenly over ${RAMP} ms; simulator: $pacing, \`#sim:len=$LEN\` (a model stream lasts $(calc "${TTFT:-0} / 1000 + $LEN / ${TPS:-1}") s), so all $N15 are open together. Two stacks one after the other in this run, 2 nova-fcgi children each, workers $MAXJOBS jobs each: **before** \`NOVA_FCGI_STREAMS=thread\` with \`NOVA_FCGI_THREADS=$(( N15 / 2 + 64 ))\` per child (a thread per open stream), **after** \`NOVA_FCGI_STREAMS=loop\` with the default pool. Direct = the same Micro and Pro requests straight to bedrock-sim (each stack's warm-up chat's jobs). Times in ms."
    echo
    echo "| mode | errors (direct / pipeline) | chats ok | direct first Micro p50 / p99 | pipeline first Micro p50 / p99 | **added p50 / p99** | **absolute p99** (≤ 1,000) | nova-fcgi threads idle → peak |"
    echo "|---|---|---|---|---|---|---|---|"
    for m in $modes; do
      d=$tmp/$m-direct.json p=$tmp/$m-pipeline.json
      echo "| $m | $(fmt "$(jnum "$d" errors)") / $(fmt "$(jnum "$p" errors)") | $(fmt "$(jnum "$p" ok)") / $N15 | $(fmt "$(jq2 "$d" ttft_micro_ms p50)") / $(fmt "$(jq2 "$d" ttft_micro_ms p99)") | $(fmt "$(jq2 "$p" ttft_micro_ms p50)") / $(fmt "$(jq2 "$p" ttft_micro_ms p99)") | $(added15 "$m" p50) / $(added15 "$m" p99) | $(fmt "$(jq2 "$p" ttft_micro_ms p99)") | $(fmt "$(p15 "$m" idle_fcgi_threads)") → $(fmt "$(p15 "$m" fcgi_threads)") |"
    done
  else
    echo "## Benchmark (make bench), profile wait: $N15 streams waiting on a slow model"
    echo
    echo "$(nproc) cores, not pinned, shared (load average $load_at_start at the start, $load_at_end at the end). One stack, \`NOVA_FCGI_STREAMS=loop\`, the default pool, 2 nova-fcgi children, workers $MAXJOBS jobs each; $N15 chats (ko: one Micro + one Pro stream each) started evenly over ${RAMP} ms, the question ending in \`#sim:ttft=$WAIT_TTFT\` (both models' first token $WAIT_TTFT ms after the call), then \`#sim:len=$LEN\` at the simulator's own pacing. Every chat's connection is open together from ${RAMP} ms on; how many model streams wait together depends on how fast the stack takes new chats in (the plateau below). Descriptors: open-file limit $(ulimit -n) per process (run-bench raises it to 2N + 4,096 when it may), nginx's worker_connections raised for the run when its template's is lower. Times in ms."
    echo
    p=$tmp/loop-pipeline.json
    echo "| chats | answered (done, no error) | errors | peak open chats | meta p50 / p99 | first Micro p50 / p99 | completion p99 |"
    echo "|---|---|---|---|---|---|---|"
    echo "| $N15 | **$(fmt "$(jnum "$p" ok)")** | $(fmt "$(jnum "$p" errors)") | $(fmt "$(jnum "$p" peak_open)") | $(fmt "$(jq2 "$p" ttft_meta_ms p50)") / $(fmt "$(jq2 "$p" ttft_meta_ms p99)") | $(fmt "$(jq2 "$p" ttft_micro_ms p50)") / $(fmt "$(jq2 "$p" ttft_micro_ms p99)") | $(fmt "$(jq2 "$p" completion_ms p99)") |"
    echo
    echo "Descriptors at the peak (sampled every 250 ms): nginx $(fmt "$(p15 loop fd_nginx)"), nova-fcgi $(fmt "$(p15 loop fd_fcgi)"), the workers $(fmt "$(p15 loop fd_workers)"), bedrock-sim $(fmt "$(p15 loop fd_sim)"), nova-load $(fmt "$(p15 loop fd_load)"); nova-fcgi threads $(fmt "$(p15 loop idle_fcgi_threads)") idle → $(fmt "$(p15 loop fcgi_threads)") at the peak."
  fi
  echo
  for m in $modes; do
    e=$(jstr "$tmp/$m-pipeline.json" first_error); [ -n "$e" ] && echo "- $m pipeline, first error: $e"
    e=$(jstr "$tmp/$m-direct.json" first_error); [ -n "$e" ] && echo "- $m direct, first error: $e"
  done
  echo
  echo "CPU per model token, µs (utime+stime of each process kind over the pipeline run / the output tokens of every model_done the chats received; bedrock-sim measures):"
  echo
  echo "| mode | model tokens | nginx | nova-fcgi | worker micro | worker pro | worker kb | redis | **pipeline** | bedrock-sim |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for m in $modes; do
    row="| $m | $(fmt "$(jnum "$tmp/$m-pipeline.json" output_tokens)") |"
    for k in $P15; do row+=" $(us_per_token "$m" "$k") |"; done
    echo "$row **$(pipe_us "$m")** | $(us_per_token "$m" bedrock-sim) |"
  done
  echo
  echo "PSS per open model stream (Pss of /proc/PID/smaps_rollup summed over every nova-fcgi and nova-worker process; sampled every 250 ms; the plateau = the sample with the most model streams open at bedrock-sim (its \`streams_open\`$( [ "$PROFILE" = wait ] && echo ": every one of them waiting for its first token")), minus the idle stack just before the run (after its warm-up chat, the direct baseline and a warm round of 64 short chats), over those open model streams; the whole run's highest PSS in brackets):"
  echo
  echo "| mode | open model streams (of $((2 * N15))) | nova-fcgi idle → plateau KiB | workers idle → plateau KiB | nova-fcgi KiB/stream | workers KiB/stream | **KiB per open model stream** (≤ 32) | SSE streams open in nova-fcgi: its KiB each |"
  echo "|---|---|---|---|---|---|---|---|"
  for m in $modes; do
    s=$(streams15 "$m") fi_=$(p15 "$m" idle_fcgi) f=$(p15 "$m" plateau_fcgi) wi=$(p15 "$m" idle_workers) w=$(p15 "$m" plateau_workers)
    if [ -n "$s" ] && [ "$s" -gt 0 ] && [ -n "$f" ]; then
      echo "| $m | $s | $fi_ → $f ($(p15 "$m" peak_fcgi)) | $wi → $w ($(p15 "$m" peak_workers)) | $(calc "($f - $fi_) / $s") | $(calc "($w - $wi) / $s") | **$(kib_per_stream "$m")** | $(sse_col "$m") |"
    else
      echo "| $m | – | – | – | – | – | – | – |"
    fi
  done
  for m in $modes; do
    s=$(streams15 "$m")
    [ -n "$s" ] && [ "$s" -lt $((2 * N15)) ] &&
      echo "- $m: at the plateau $s of the $((2 * N15)) model streams were open at once (the others not started yet or already ended): nova-fcgi's share also holds the chats without an open model stream then, so its KiB per model stream reads high; the last column divides by the SSE streams it held."
  done
  if [ "$PROFILE" = held15 ]; then
    echo
    echo "After / before (loop / thread): added first Micro p50 $(ratio2 "$(added15 loop p50)" "$(added15 thread p50)")×, p99 $(ratio2 "$(added15 loop p99)" "$(added15 thread p99)")×; pipeline CPU per model token $(ratio2 "$(pipe_us loop)" "$(pipe_us thread)")× (nova-fcgi alone $(ratio2 "$(us_per_token loop nova-fcgi)" "$(us_per_token thread nova-fcgi)")×); PSS per open model stream $(ratio2 "$(kib_per_stream loop)" "$(kib_per_stream thread)")×."
    echo
    echo "Targets (issue 15): every chat's first Micro words within 1 s of its start (p99), zero errors, ≤ 32 KiB per open model stream across nova-fcgi and the workers; beyond the issue ≤ 0.5 ms p50 / ≤ 2 ms p99 added."
  else
    echo
    echo "Target (issue 15): all $N15 get their answers; memory per waiting stream reported."
  fi
} >"$out/results.md"
cat "$out/results.md"
[ -n "${ok15[loop]:-}" ]

# chat.sh: the chat profile of run-bench (sourced after the stack is up, the warm-up chat ran
# and peer.sh is loaded). The 20-token chat (#sim:len=20 on both answers) at the simulator's
# own pacing:
#   1. first words in both UI languages: a Korean question in the ko UI, an English question in
#      the en UI, a Korean question in the en UI — one warm-up chat each, then 5 sequential
#      chats on the idle stack; the median time to meta and to the first Micro delta of the
#      phase the player reads (answer in ko, customer_en in en);
#   2. CPU per chat and per model token by process, and Redis memory per chat: 400 chats, 20 at
#      a time; utime+stime from /proc around the run, nova-load redis-mem before and after;
#   3. one chat alone (5 sequential) and a burst of 200 started at once, each against the
#      direct baseline (the warm-up chat's jobs straight to bedrock-sim);
#   4. the peer (peer.sh): the same jobs through Portkey's gateway to its own bedrock-sim, alone
#      and in the burst of 200 against the direct baseline to that simulator, and the
#      gateway's CPU per chat on the 400 × 20 run; the added times side by side as a ratio.
# Then results.{json,md}.

CHATS=${BENCH_CHAT_N:-400} CONC=${BENCH_CHAT_CONC:-20} BURST=${BENCH_BURST_N:-200} ALONE=5
ko_q="폴이 레벨업을 못 해요" en_q="Paul can't level up"
direct_env=("${sim_env[@]}" NOVA_RUN_DIR="$run" NOVA_KB_ENDPOINT="$sim_url")

pipeline() { # out args...: nova-load pipeline, the 20-token chat
  local o=$1; shift
  "$load" pipeline --url "$url" --len "$LEN" --timeout-s "$RUN_TIMEOUT" --out "$o" "$@"
}
direct() { # endpoint out args...
  local e=$1 o=$2; shift 2
  env "${direct_env[@]}" NOVA_BEDROCK_ENDPOINT="$e" \
    "$load" direct --request "$warm_rid" --timeout-s "$RUN_TIMEOUT" --out "$o" "$@"
}
peer() { # out args...
  local o=$1; shift
  env "${sim_env[@]}" NOVA_RUN_DIR="$run" \
    "$load" peer --url "$peer_url" --custom-host "$peer_host" --request "$warm_rid" \
    --timeout-s "$RUN_TIMEOUT" --out "$o" "$@"
}
redis_mem() { env NOVA_RUN_DIR="$run" "$load" redis-mem --out "$1"; }

# ---- 1. first words in both UI languages --------------------------------------------------------
fw_modes="ko_ko en_en ko_en"
declare -A fw_q=([ko_ko]=$ko_q [en_en]=$en_q [ko_en]=$ko_q) fw_l=([ko_ko]=ko [en_en]=en [ko_en]=en)
declare -A fw_name=([ko_ko]="Korean question, ko UI" [en_en]="English question, en UI" [ko_en]="Korean question, en UI")
for m in $fw_modes; do
  say "first words: ${fw_name[$m]} (1 warm-up, then $ALONE sequential)"
  pipeline "$tmp/fw-warm-$m.json" -n 1 --message "${fw_q[$m]}" --lang "${fw_l[$m]}" 2>/dev/null
  pipeline "$tmp/fw-$m.json" -n "$ALONE" --concurrency 1 --message "${fw_q[$m]}" --lang "${fw_l[$m]}"
done

# ---- 2. CPU per chat, Redis memory per chat ---------------------------------------------------
say "CPU per chat: $CHATS chats, $CONC at a time"
redis_mem "$tmp/rmem-before.json"
resolve_pids
declare -A c0=()
for k in $KINDS; do c0[$k]=$(cpu_ticks ${kind_pids[$k]}); done
pipeline "$tmp/cpu.json" -n "$CHATS" --concurrency "$CONC"
for k in $KINDS; do echo "cpu_$k $(( $(cpu_ticks ${kind_pids[$k]}) - c0[$k] ))"; done >"$tmp/proc-cpu.txt"
redis_mem "$tmp/rmem-after.json"

# ---- 3. alone and the burst, against the direct path ------------------------------------------
# A fresh warm-up chat before each replay: its jobs are the newest in the streams, however far
# the streams have been trimmed.
fresh_warm() { warm_rid=$(warm_up "$MESSAGE" ko); [ -n "$warm_rid" ] || { say "a warm-up chat failed"; exit 1; }; }
fresh_warm
say "one chat alone ($ALONE sequential): direct, then the pipeline"
direct "$sim_url" "$tmp/direct-alone.json" -n "$ALONE" --concurrency 1
pipeline "$tmp/pipeline-alone.json" -n "$ALONE" --concurrency 1
say "a burst of $BURST chats started at once: direct, then the pipeline"
direct "$sim_url" "$tmp/direct-burst.json" -n "$BURST" --ramp-ms 0
pipeline "$tmp/pipeline-burst.json" -n "$BURST" --ramp-ms 0

# ---- 4. the peer ------------------------------------------------------------------------------
if peer_start; then
  fresh_warm
  peer "$tmp/peer-warm.json" -n 1 2>/dev/null || say "peer: the warm-up chat failed (see the results)"
  say "peer: alone ($ALONE sequential), direct to its simulator, then through the gateway"
  direct "$peer_sim_url" "$tmp/pdirect-alone.json" -n "$ALONE" --concurrency 1
  peer "$tmp/peer-alone.json" -n "$ALONE" --concurrency 1
  say "peer: a burst of $BURST at once, direct, then through the gateway"
  direct "$peer_sim_url" "$tmp/pdirect-burst.json" -n "$BURST" --ramp-ms 0
  peer "$tmp/peer-burst.json" -n "$BURST" --ramp-ms 0
  say "peer: CPU per chat, $CHATS chats, $CONC at a time"
  n0=$(cpu_ticks "$peer_pid") s0=$(cpu_ticks "$peer_sim_pid")
  peer "$tmp/peer-cpu.json" -n "$CHATS" --concurrency "$CONC"
  echo "cpu_node $(( $(cpu_ticks "$peer_pid") - n0 ))" >"$tmp/proc-peer.txt"
  echo "cpu_sim $(( $(cpu_ticks "$peer_sim_pid") - s0 ))" >>"$tmp/proc-peer.txt"
  echo "rss_node $(rss_kib "$peer_pid")" >>"$tmp/proc-peer.txt"
else
  say "peer skipped: $peer_skip"
fi

# ---- 5. results -------------------------------------------------------------------------------
pk() { awk -v k="$2" '$1 == k {print $2}' "$1" 2>/dev/null; } # file key
jsonf() { cat "$1" 2>/dev/null || echo null; }
{
  echo "{"
  echo "  \"settings\": {\"profile\": \"chat\", \"len\": $LEN, \"sim_ttft_ms\": ${TTFT:-null}, \"sim_tps\": ${TPS:-null}, \"chats\": $CHATS, \"concurrency\": $CONC, \"burst\": $BURST, \"alone\": $ALONE, \"fcgi_children\": 2, \"fcgi_threads\": $THREADS, \"worker_max_jobs\": $MAXJOBS, \"cores\": $(nproc), \"pinned\": false, \"clk_tck\": $hz},"
  echo "  \"first_words\": {"
  sep=
  for m in $fw_modes; do printf '%s    "%s": %s' "$sep" "$m" "$(jsonf "$tmp/fw-$m.json")"; sep=$',\n'; done
  echo; echo "  },"
  printf '  "cpu_per_chat": {"pipeline": %s,\n   "proc": {' "$(jsonf "$tmp/cpu.json")"
  sep=; while read -r k v; do printf '%s"%s": %s' "$sep" "$k" "$v"; sep=", "; done <"$tmp/proc-cpu.txt"
  echo "},"
  echo "   \"redis_before\": $(jsonf "$tmp/rmem-before.json"), \"redis_after\": $(jsonf "$tmp/rmem-after.json")},"
  echo "  \"alone\": {\"direct\": $(jsonf "$tmp/direct-alone.json"), \"pipeline\": $(jsonf "$tmp/pipeline-alone.json"), \"peer_direct\": $(jsonf "$tmp/pdirect-alone.json"), \"peer\": $(jsonf "$tmp/peer-alone.json")},"
  echo "  \"burst\": {\"direct\": $(jsonf "$tmp/direct-burst.json"), \"pipeline\": $(jsonf "$tmp/pipeline-burst.json"), \"peer_direct\": $(jsonf "$tmp/pdirect-burst.json"), \"peer\": $(jsonf "$tmp/peer-burst.json")},"
  printf '  "peer": {"package": "@portkey-ai/gateway", "version": "%s", "custom_host": "%s", "skipped": %s, "cpu_run": %s, "proc": {' \
    "$peer_version" "$peer_host" "$([ -n "$peer_skip" ] && printf '"%s"' "$(printf '%s' "$peer_skip" | tr -d '"\\\000-\037')" || echo null)" "$(jsonf "$tmp/peer-cpu.json")"
  sep=; while read -r k v; do printf '%s"%s": %s' "$sep" "$k" "$v"; sep=", "; done <"$tmp/proc-peer.txt" 2>/dev/null
  echo "}}"
  echo "}"
} >"$out/results.json"

med() { fmt "$(jq2 "$1" "$2" p50)"; }
{
  echo "## Benchmark (make bench), profile chat"
  echo
  echo "$(nproc) cores, not pinned. The 20-token chat: \`#sim:len=20\` on both answers, $pacing. nova-fcgi 2 children × $THREADS threads. Direct = the Micro and Pro jobs nova-fcgi queued for a warm-up chat with the same question, replayed straight to bedrock-sim with common/aws/bedrock.h. Times in ms."
  echo
  echo "### First words in both UI languages (median of $ALONE, sequential, idle stack)"
  echo
  echo "| question, UI | errors | \`meta\` | first Micro delta the player reads | vs Korean in ko | first Micro delta, any phase |"
  echo "|---|---|---|---|---|---|"
  for m in $fw_modes; do
    f=$tmp/fw-$m.json
    echo "| ${fw_name[$m]} | $(fmt "$(jnum "$f" errors)") | $(med "$f" ttft_meta_ms) | $(med "$f" ttft_player_micro_ms) | $(sub "$f" "$tmp/fw-ko_ko.json" ttft_player_micro_ms p50) | $(med "$f" ttft_micro_ms) |"
  done
  echo
  echo "The player's phase is \`answer\` in ko and \`customer_en\` in en. Target: within 50 ms of the Korean question in the ko UI; \`meta\` within a few ms in every mode."
  echo
  echo "### CPU per chat, by process ($CHATS chats, $CONC at a time)"
  echo
  f=$tmp/cpu.json tk=$(jnum "$f" output_tokens) ok=$(jnum "$f" ok)
  echo "utime+stime over the run ÷ $CHATS chats (ms per chat) and ÷ the $(fmt "$tk") model tokens of their model_done events (µs per token). Errors: $(fmt "$(jnum "$f" errors)"); $(fmt "$ok") chats complete. bedrock-sim and nova-load are the measuring side."
  echo
  echo "| per | nginx | nova-fcgi | nova-worker ×3 | redis | **pipeline** | bedrock-sim | nova-load |"
  echo "|---|---|---|---|---|---|---|---|"
  for unit in chat token; do
    if [ "$unit" = chat ]; then div=$CHATS mul=1000 label="chat, ms"; else div=${tk:-0} mul=1000000 label="model token, µs"; fi
    [ "${div:-0}" -gt 0 ] 2>/dev/null || continue
    row="| $label |" tot=0
    for k in $PIPE_KINDS; do
      v=$(calc "$(pk "$tmp/proc-cpu.txt" "cpu_$k") / $hz / $div * $mul"); row+=" $v |"; tot=$(calc "$tot + $v")
    done
    echo "$row **$tot** | $(calc "$(pk "$tmp/proc-cpu.txt" cpu_bedrock-sim) / $hz / $div * $mul") | $(calc "$(fmt "$(jnum "$f" load_cpu_s)") / $div * $mul" 2>/dev/null) |"
  done
  if [ -f "$tmp/proc-peer.txt" ]; then
    pf=$tmp/peer-cpu.json ptk=$(jnum "$pf" output_tokens)
    echo
    echo "The peer on the same run shape ($CHATS chats, $CONC at a time, errors $(fmt "$(jnum "$pf" errors)")): Portkey's gateway (one Node.js process) $(calc "$(pk "$tmp/proc-peer.txt" cpu_node) / $hz / $CHATS * 1000") ms per chat, its bedrock-sim $(calc "$(pk "$tmp/proc-peer.txt" cpu_sim) / $hz / $CHATS * 1000") ms; gateway RSS after the run $(pk "$tmp/proc-peer.txt" rss_node) KiB."
  fi
  echo
  echo "Target: pipeline CPU ≤ 1.5 ms per chat (the goal beyond: 0.5 ms)."
  echo
  echo "### Redis memory per chat (the same $CHATS chats)"
  echo
  b=$tmp/rmem-before.json a=$tmp/rmem-after.json
  if [ -s "$b" ] && [ -s "$a" ]; then
    echo "| | before | after | per chat |"
    echo "|---|---|---|---|"
    echo "| used_memory, bytes | $(jnum "$b" used_memory) | $(jnum "$a" used_memory) | **$(calc "($(jnum "$a" used_memory) - $(jnum "$b" used_memory)) / $CHATS")** |"
    echo "| job streams kept (\`MEMORY USAGE nova:jobs:{micro,pro,kb} SAMPLES 0\`), bytes | $(jnum "$b" jobs_bytes) | $(jnum "$a" jobs_bytes) | **$(calc "($(jnum "$a" jobs_bytes) - $(jnum "$b" jobs_bytes)) / $CHATS")** |"
    echo "| job entries kept (XLEN, all queues) | $(jnum "$b" jobs_entries) | $(jnum "$a" jobs_entries) | $(calc "($(jnum "$a" jobs_entries) - $(jnum "$b" jobs_entries)) / $CHATS") |"
    echo "| transcripts (\`nova:log:*\`, MEMORY USAGE of each), bytes | $(jnum "$b" log_bytes) | $(jnum "$a" log_bytes) | **$(calc "($(jnum "$a" log_bytes) - $(jnum "$b" log_bytes)) / $CHATS")** |"
    echo "| transcript keys | $(jnum "$b" log_keys) | $(jnum "$a" log_keys) | $(calc "($(jnum "$a" log_keys) - $(jnum "$b" log_keys)) / $CHATS") |"
    echo
    echo "Target: at most 8 KiB per chat for the kept jobs."
  else
    echo "nova-load redis-mem failed; no numbers."
  fi
  echo
  echo "### Added time to the first Micro words, dual-nova and the peer"
  echo
  if [ -n "$peer_skip" ]; then
    echo "The peer was skipped: $peer_skip."
  else
    echo "The peer: Portkey's AI gateway, npm \`@portkey-ai/gateway\` $peer_version (pinned in tests/bench/peer/), Node.js $(node --version), NODE_ENV=production, its Bedrock provider (\`x-portkey-provider: bedrock\`, the simulator's key pair, \`x-portkey-custom-host: $peer_host\`) relaying the same Micro and Pro requests — system prompt with its cache point, passages, question, inference settings — as streaming chat completions to a second bedrock-sim on ${peer_sim_url#http://}:80, with the same pacing. Its direct baseline is the same jobs straight to that simulator."
  fi
  echo
  echo "| shape | errors (direct / dual-nova / direct to the peer's sim / peer) | direct first Micro p50 / p99 | dual-nova p50 / p99 | **dual-nova added p50 / p99** | peer p50 / p99 | **peer added p50 / p99** | **peer added ÷ dual-nova added, p50 / p99** | dual-nova \`meta\` p50 |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for shape in alone burst; do
    d=$tmp/direct-$shape.json p=$tmp/pipeline-$shape.json pd=$tmp/pdirect-$shape.json pp=$tmp/peer-$shape.json
    [ $shape = alone ] && label="one chat alone (median of $ALONE)" || label="burst of $BURST at once"
    a50=$(sub "$p" "$d" ttft_micro_ms p50) a99=$(sub "$p" "$d" ttft_micro_ms p99)
    b50=$(sub "$pp" "$pd" ttft_micro_ms p50) b99=$(sub "$pp" "$pd" ttft_micro_ms p99)
    echo "| $label | $(fmt "$(jnum "$d" errors)") / $(fmt "$(jnum "$p" errors)") / $(fmt "$(jnum "$pd" errors)") / $(fmt "$(jnum "$pp" errors)") | $(med "$d" ttft_micro_ms) / $(fmt "$(jq2 "$d" ttft_micro_ms p99)") | $(med "$p" ttft_micro_ms) / $(fmt "$(jq2 "$p" ttft_micro_ms p99)") | **$a50 / $a99** | $(med "$pp" ttft_micro_ms) / $(fmt "$(jq2 "$pp" ttft_micro_ms p99)") | **$b50 / $b99** | **$(ratio "$b50" "$a50") / $(ratio "$b99" "$a99")** | $(med "$p" ttft_meta_ms) |"
  done
  echo
  for f in "$tmp"/{direct,pipeline,pdirect,peer}-{alone,burst}.json "$tmp/cpu.json" "$tmp/peer-cpu.json" "$tmp"/fw-*.json; do
    [ -f "$f" ] || continue
    e=$(jstr "$f" first_error); [ -n "$e" ] && echo "- $(basename "$f" .json), first error: $e"
  done
  echo
  echo "Goal: at least 10× less added time than the peer. A ratio is \"–\" when dual-nova's added time is not above zero."
} >"$out/results.md"
cat "$out/results.md"

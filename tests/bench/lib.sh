# lib.sh: what run-bench and its parts (shapes.sh, chat.sh, peer.sh) share — messages, process
# accounting from /proc, free ports, and reading nova-load's JSON reports without jq. Sourced.

say() { printf 'run-bench: %s\n' "$*" >&2; }

alive() { local st; st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }

# Stops pid (SIGTERM, then SIGKILL after 10 s) and reaps it when it is our child.
stop_pid() {
  local p=$1 i
  [ -n "$p" ] || return 0
  alive "$p" || { wait "$p" 2>/dev/null; return 0; }
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < 100; i++)); do alive "$p" || break; sleep 0.1; done
  alive "$p" && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  return 0
}

free_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

pid_of() { cat "$run/$1.pid" 2>/dev/null; }
kids_of() { pgrep -P "$1" 2>/dev/null | tr '\n' ' '; }
# Process kinds → pids (re-read before each run: children may have been respawned).
declare -A kind_pids=()
resolve_pids() {
  local f=$(pid_of nova-fcgi) n=$(pid_of nginx)
  kind_pids[nginx]="$n $(kids_of "$n")"
  kind_pids[nova-fcgi]="$f $(kids_of "$f")"
  kind_pids[nova-worker]="$(pid_of nova-worker-micro) $(pid_of nova-worker-pro) $(pid_of nova-worker-kb)"
  kind_pids[redis]=$(pid_of redis)
  kind_pids[bedrock-sim]=$(pid_of bedrock-sim)
}
KINDS="nginx nova-fcgi nova-worker redis bedrock-sim"
PIPE_KINDS="nginx nova-fcgi nova-worker redis"   # the pipeline; bedrock-sim and nova-load measure
hz=$(getconf CLK_TCK)
cpu_ticks() { # pids...: sum of utime+stime (all threads), in clock ticks
  local p s t=0 f
  for p in "$@"; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }
    read -r -a f <<<"$s"
    t=$(( t + f[11] + f[12] ))
  done
  echo "$t"
}
rss_kib() { # pids...: sum of VmRSS
  local p k v u t=0
  for p in "$@"; do
    while read -r k v u; do [ "$k" = VmRSS: ] && { t=$((t + v)); break; }; done <"/proc/$p/status" 2>/dev/null
  done
  echo "$t"
}

jnum() { grep -o "\"$2\": [-0-9.]*" "$1" 2>/dev/null | head -n1 | awk '{print $2}'; }          # file key
jq2() { grep -o "\"$2\": {[^}]*}" "$1" 2>/dev/null | grep -o "\"$3\": [-0-9.]*" | awk '{print $2}'; } # file obj key
jstr() { grep -o "\"$2\": \"[^\"]*\"" "$1" 2>/dev/null | head -n1 | sed 's/^[^:]*: "//; s/"$//'; }
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }
fmt() { [ -z "$1" ] && echo "–" || printf '%s' "$1"; }
# a − b at key/quantile of two reports, "–" when either is missing: sub FILE_A FILE_B KEY Q
sub() {
  local a b
  a=$(jq2 "$1" "$3" "$4"); b=$(jq2 "$2" "$3" "$4")
  [ -n "$a" ] && [ -n "$b" ] && calc "$a - $b" || echo "–"
}
# x / y with 1 decimal, "–" when either is missing or y is not positive: ratio X Y
ratio() {
  case "$1$2" in *–*|"") echo "–"; return ;; esac
  awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.1f", x / y; else print "–" }'
}
pss_kib() { # pids...: sum of Pss (/proc/PID/smaps_rollup: every mapping, shared pages split)
  local p k v u t=0
  for p in "$@"; do
    while read -r k v u; do [ "$k" = Pss: ] && { t=$((t + v)); break; }; done <"/proc/$p/smaps_rollup" 2>/dev/null
  done
  echo "$t"
}
fd_count() { # pids...: open descriptors, summed
  local p t=0 f
  for p in "$@"; do
    f=(/proc/"$p"/fd/*); [ -e "${f[0]}" ] && t=$((t + ${#f[@]}))
  done
  echo "$t"
}
thread_count() { # pids...: threads, summed
  local p k v t=0
  for p in "$@"; do
    while read -r k v; do [ "$k" = Threads: ] && { t=$((t + v)); break; }; done <"/proc/$p/status" 2>/dev/null
  done
  echo "$t"
}

# tests/lib/servers.sh: the two servers a worker test needs, started by PID in $tmp, sourced by
# tests/integration/worker*.sh (which stop them by those PIDs on exit).
#   start_redis   redis-server on $tmp/redis.sock (unix socket only, no persistence); waits
#                 until it answers PING; sets redis_pid
#   start_sim     bedrock-sim ($build/bin) on a free loopback port; sets sim_pid, port, sim_url
#   stop_servers  stops both (those started) by PID and removes $tmp: the end of a cleanup trap

alive() { kill -0 "$1" 2>/dev/null; }

start_redis() {
  redis-server --port 0 --unixsocket "$tmp/redis.sock" --unixsocketperm 700 --dir "$tmp" \
    --save '' --appendonly no --daemonize no --logfile "$tmp/redis.log" &
  redis_pid=$!
  for _ in $(seq 250); do
    [ "$(redis-cli -s "$tmp/redis.sock" ping 2>/dev/null)" = PONG ] && return 0
    alive "$redis_pid" || break
    sleep 0.02
  done
  echo "redis-server did not start"; cat "$tmp/redis.log"
  return 1
}

start_sim() {
  local line
  mkfifo "$tmp/sim-ready"
  "$build/bin/bedrock-sim" --port 0 --quiet --kb-dir kb/sample >"$tmp/sim-ready" 2>"$tmp/sim.log" &
  sim_pid=$!
  exec 3<"$tmp/sim-ready"
  if ! read -r -t 10 line <&3; then
    exec 3<&-
    echo "bedrock-sim did not report its port"; cat "$tmp/sim.log"
    return 1
  fi
  exec 3<&-
  port=${line##*:}
  sim_url=http://127.0.0.1:$port
}

stop_servers() {
  local p
  for p in ${sim_pid:-} ${redis_pid:-}; do
    kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}

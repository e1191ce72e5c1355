# tests/lib/servers.sh: the two servers a worker test needs, started by PID in $tmp, sourced by
# tests/integration/worker*.sh (which stop them by those PIDs on exit).
#   start_redis   redis-server on $tmp/redis.sock (unix socket only, no persistence); waits
#                 until it answers PING; sets redis_pid
#   start_sim     bedrock-sim ($build/bin) on a free loopback port; sets sim_pid, port, sim_url
#   stop_servers  stops both (those started) by PID and removes $tmp: the end of a cleanup trap
#   start_worker Q [VAR=VALUE...]  a nova-worker for queue Q (id test-Q) against both, with
#                 the simulator's example key pair and these settings, under a wrapper that
#                 records its pid in $tmp/Q.pid and, once it exited, its status in $tmp/Q.exit
#                 (the C tests read both and send the signals); the wrapper's pid into wrappers
#   stop_workers Q...  stops those of the queues' workers still running, waits the wrappers
#   await_beats Q...   0 once each queue's worker wrote its heartbeat (10 s; 1 when one exited)

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

wrappers=()

start_worker() {
  local q=$1; shift
  (
    env -u AWS_SESSION_TOKEN -u AWS_PROFILE -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      -u AWS_CONTAINER_CREDENTIALS_FULL_URI -u AWS_CONTAINER_AUTHORIZATION_TOKEN \
      -u AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
      AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
      AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
      AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=ap-northeast-1 \
      NOVA_BACKEND=sim NOVA_REDIS_URL="unix://$tmp/redis.sock" \
      NOVA_BEDROCK_ENDPOINT="$sim_url" NOVA_KB_ENDPOINT="$sim_url" NOVA_LOG_LEVEL=info "$@" \
      "$build/bin/nova-worker" --queue "$q" --id "test-$q" 2>"$tmp/worker-$q.log" &
    echo $! >"$tmp/$q.pid.new" && mv "$tmp/$q.pid.new" "$tmp/$q.pid"
    rc=0; wait $! || rc=$?
    echo "$rc" >"$tmp/$q.exit.new" && mv "$tmp/$q.exit.new" "$tmp/$q.exit"
  ) &
  wrappers+=($!)
}

stop_workers() {
  local q p
  for q in "$@"; do
    if [ -f "$tmp/$q.pid" ] && [ ! -f "$tmp/$q.exit" ]; then
      p=$(cat "$tmp/$q.pid"); kill "$p" 2>/dev/null || true
    fi
  done
  for p in "${wrappers[@]}"; do wait "$p" 2>/dev/null || true; done
}

# A bounded poll: there is no event a shell can wait on here.
await_beats() {
  local q k
  for _ in $(seq 500); do
    k=0
    for q in "$@"; do
      [ "$(redis-cli -s "$tmp/redis.sock" exists "nova:worker:test-$q" 2>/dev/null)" = 1 ] && k=$((k + 1))
      [ -f "$tmp/$q.exit" ] && return 1
    done
    [ $k -eq $# ] && return 0
    sleep 0.02
  done
  return 1
}

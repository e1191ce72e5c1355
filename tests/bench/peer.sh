# peer.sh: the peer of the chat profile (sourced by run-bench) — Portkey's AI gateway, npm
# @portkey-ai/gateway at the version pinned in tests/bench/peer/package.json and
# package-lock.json, run with Node.js, its Bedrock provider pointed at a second bedrock-sim.
#
# The gateway signs the Host header without the port (it sets host = the URL's hostname before
# SigV4), so its simulator listens on port 80 — of another loopback address, 127.0.0.2 (or the
# next free of BENCH_PEER_ADDRS), which is listed in its TRUSTED_CUSTOM_HOSTS (its SSRF guard
# refuses loopback custom hosts otherwise). Port 80 needs root (make bench runs as root here
# and in CI); without it, or without node, the peer is skipped with the reason in the results.
# The gateway has no listen-address option; tests/bench/peer/loopback.mjs, preloaded, puts its
# server on 127.0.0.1, and peer_start checks that nothing answers on another address.
#
# peer_start sets peer_url (the gateway), peer_host (the custom host it is given), peer_sim_url
# and peer_pid, or returns 1 with peer_skip set. Both processes go into extra_pids.

peer_dir=$here/peer
peer_url= peer_host= peer_sim_url= peer_pid= peer_sim_pid= peer_skip= peer_version=

peer_install() {
  local want have
  want=$(grep -o '"@portkey-ai/gateway": "[^"]*"' "$peer_dir/package.json" | cut -d'"' -f4)
  have=$(grep -o '"version": "[^"]*"' "$peer_dir/node_modules/@portkey-ai/gateway/package.json" 2>/dev/null |
         head -n1 | cut -d'"' -f4)
  peer_version=$want
  [ -n "$want" ] && [ "$have" = "$want" ] && return 0
  command -v npm >/dev/null 2>&1 || { peer_skip="npm not found (scripts/install-deps installs Debian's nodejs and npm)"; return 1; }
  say "peer: installing @portkey-ai/gateway $want (npm ci in tests/bench/peer)"
  # --ignore-scripts: its postinstall (patch-package) has no patches in the published package.
  if ! (cd "$peer_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$tmp/peer-npm.log" 2>&1; then
    peer_skip="npm ci failed in tests/bench/peer: $(tail -n 3 "$tmp/peer-npm.log" | tr '\n' ' ')"
    return 1
  fi
}

# The second simulator on ADDR:80; 0 when it listens there.
peer_sim_on() {
  local addr=$1 line= fd
  rm -f "$tmp/peer-sim.fifo"; mkfifo "$tmp/peer-sim.fifo"
  env -u SIM_ACCESS_KEY_ID -u SIM_SECRET_ACCESS_KEY -u SIM_TTFT_MS -u SIM_TPS -u SIM_PORT -u SIM_BIND \
    "${pacing_env[@]}" "$bin/bedrock-sim" --bind "$addr" --port 80 --quiet --region ap-northeast-1 \
    --kb-dir "$root/kb/sample" >"$tmp/peer-sim.fifo" 2>>"$tmp/peer-sim.log" &
  peer_sim_pid=$!
  exec {fd}<"$tmp/peer-sim.fifo"
  read -r -t 10 line <&"$fd"
  exec {fd}<&-
  rm -f "$tmp/peer-sim.fifo"
  if [ "$line" = "bedrock-sim listening on $addr:80" ]; then
    extra_pids+=("$peer_sim_pid")
    return 0
  fi
  stop_pid "$peer_sim_pid"
  peer_sim_pid=
  return 1
}

peer_start() {
  command -v node >/dev/null 2>&1 || { peer_skip="node not found (scripts/install-deps installs Debian's nodejs and npm)"; return 1; }
  peer_install || return 1
  local addr a
  for a in ${BENCH_PEER_ADDRS:-127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5}; do
    if peer_sim_on "$a"; then addr=$a; break; fi
  done
  if [ -z "${addr:-}" ]; then
    peer_skip="no bedrock-sim could listen on port 80 of ${BENCH_PEER_ADDRS:-127.0.0.2-5}$([ "$(id -u)" -ne 0 ] && echo " (port 80 needs root)"): $(tail -n 1 "$tmp/peer-sim.log" 2>/dev/null)"
    return 1
  fi
  peer_host=http://$addr peer_sim_url=http://$addr   # port 80: no port in the URL, none in Host
  local p line ready=0 fd deadline
  p=$(free_port) || { peer_skip="no free port for the gateway"; return 1; }
  mkfifo "$tmp/peer.fifo"
  env -i PATH="$PATH" HOME="${HOME:-/root}" NODE_ENV=production TRUSTED_CUSTOM_HOSTS="$addr" \
    node --import "$peer_dir/loopback.mjs" "$peer_dir/node_modules/@portkey-ai/gateway/build/start-server.js" \
    --port="$p" --headless >"$tmp/peer.fifo" 2>&1 &
  peer_pid=$!
  extra_pids+=("$peer_pid")
  exec {fd}<"$tmp/peer.fifo"
  deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ] && IFS= read -r -t $((deadline - SECONDS)) line <&"$fd"; do
    printf '%s\n' "$line" >>"$tmp/peer.out"
    case $line in *"Ready for connections"*) ready=1; break ;; esac
  done
  cat <&"$fd" >>"$tmp/peer.out" &
  extra_pids+=($!)   # the drain ends with the gateway's output
  exec {fd}<&-
  if [ $ready -ne 1 ]; then
    peer_skip="the gateway did not start within 30 s: $(tail -n 3 "$tmp/peer.out" | tr -d '\033' | tr '\n' ' ')"
    return 1
  fi
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    peer_skip="the gateway reported ready but 127.0.0.1:$p does not accept"
    return 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.9/$p") 2>/dev/null; then
    peer_skip="the gateway listens beyond 127.0.0.1 (the loopback preload did not apply); stopped"
    return 1
  fi
  peer_url=http://127.0.0.1:$p
  say "peer: @portkey-ai/gateway $peer_version on $peer_url (node $(node --version)), custom host $peer_host (bedrock-sim on $addr:80)"
}

#!/usr/bin/env bash
# multihost.sh: dual-nova across hosts of its own — network namespaces made here, one per host,
# on a bridge of their own (10.213.0.0/24, nothing routed anywhere else):
#
#   redis  10.213.0.10   redis-server with a password (requirepass), TCP
#   aws    10.213.0.11   bedrock-sim
#   web1   10.213.0.21   nova-fcgi + nginx (the shipped template, listening on its address)
#   web2   10.213.0.22   nova-fcgi + nginx
#   w1..w3 10.213.0.31-33 nova-worker micro and pro (each in its own UTS namespace: its host name)
#   front  10.213.0.5    nginx with web1 and web2 as upstreams; test_multihost runs here
#
# test_multihost then shows chats spread over both web hosts and all worker hosts, a worker
# host and a web host cut off mid-stream (their veth set down) with every stream whole or typed,
# nothing answered twice once the links come back, and novactl status naming the hosts.
# Needs root and network namespaces (ip netns); skipped, saying why, where they are not allowed.
# Cleanup (trap): every process started here by PID, then the namespaces (their links go too).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${NOVA_BUILD:-build/release}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin

skip() { echo "multihost: skipped: $*"; echo "0 passed, 0 failed"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null || skip "no ip (iproute2)"
# A tag of its own for every name (two runs side by side each have theirs).
for try in 1 2 3 4 5; do
  tag=$(( (RANDOM * 32768 + RANDOM) % 100000 ))
  hub=nvh$tag
  ip netns list 2>/dev/null | grep -q "^nv[h0-9]*$tag" && continue
  ip netns add "$hub" 2>/dev/null && break
  [ $try = 5 ] && skip "ip netns add is not allowed here"
done

tmp=$(mktemp -d "/tmp/nova-multihost.XXXXXX")
chmod 0711 "$tmp"
pids=()
hosts=()
cleanup() {
  local p i
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  for h in "${hosts[@]}"; do ip netns del "nv$tag$h" 2>/dev/null; done
  ip netns del "$hub" 2>/dev/null
  [ -n "${NOVA_KEEP_RUN:-}" ] && { echo "kept $tmp"; return; }
  rm -rf "$tmp"
}
trap cleanup EXIT

ip -n "$hub" link add br0 type bridge || skip "no bridge device in a namespace"
ip -n "$hub" link set br0 up
# host NAME LAST-OCTET: its namespace nv<tag>NAME, eth0 10.213.0.LAST/24, its peer on br0.
host() {
  local ns=nv$tag$1
  ip netns add "$ns" || return 1
  hosts+=("$1")
  ip -n "$ns" link set lo up
  ip -n "$hub" link add "v$tag$1" type veth peer name eth0 netns "$ns" || return 1
  ip -n "$hub" link set "v$tag$1" master br0 up
  ip -n "$ns" addr add "10.213.0.$2/24" dev eth0
  ip -n "$ns" link set eth0 up
}
for h in redis:10 aws:11 web1:21 web2:22 w1:31 w2:32 w3:33 front:5; do
  host "${h%%:*}" "${h##*:}" || skip "cannot make a veth pair into a namespace"
done
on() { local ns=nv$tag$1; shift; ip netns exec "$ns" "$@"; }
# start HOST NAME CMD...: in HOST's namespace and a UTS namespace named for it, log in $tmp.
start() {
  local h=$1 name=$2; shift 2
  ip netns exec "nv$tag$h" unshare --uts sh -c 'hostname "$0" && exec "$@"' "mh-$h" "$@" \
    >>"$tmp/$name.log" 2>&1 &
  pids+=($!)
}
wait_for() { # SECONDS WHAT CMD...
  local n=$(( $1 * 10 )) what=$2 i; shift 2
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "multihost: $what not ready in time"; return 1
}

pw=mh-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
redis_url="redis://:$pw@10.213.0.10:6379"
fail_start() {
  echo "multihost: start failed: $*"
  for f in "$tmp"/*.log; do echo "---- $f"; tail -n 15 "$f"; done
  echo "0 passed, 1 failed"; exit 1
}

mkdir -p "$tmp/redis"
start redis redis redis-server --bind 10.213.0.10 --port 6379 --requirepass "$pw" \
  --dir "$tmp/redis" --save '' --appendonly no --daemonize no
wait_for 10 redis on redis redis-cli -h 10.213.0.10 -a "$pw" --no-auth-warning ping ||
  fail_start redis

start aws bedrock-sim "$bin/bedrock-sim" --bind 10.213.0.11 --port 9000 --kb-dir "$root/kb/sample" --quiet
wait_for 10 bedrock-sim on aws bash -c 'exec 3<>/dev/tcp/10.213.0.11/9000' || fail_start bedrock-sim

# The local knowledge base index, one file both web hosts read.
"$bin/novactl" kb import "$root/kb/sample" --db "$tmp/kb.sqlite" >"$tmp/kb-import.log" 2>&1 ||
  fail_start "novactl kb import"

aws_env=(AWS_REGION=ap-northeast-1 AWS_ACCESS_KEY_ID=AKIDEXAMPLE
  AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY AWS_EC2_METADATA_DISABLED=true
  AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null)
for w in w1 w2 w3; do
  mkdir -p "$tmp/$w" && chmod 0700 "$tmp/$w"
  for q in micro pro; do
    start "$w" "$w-$q" env -i PATH="$PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
      ${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} "${aws_env[@]}" NOVA_BACKEND=sim \
      NOVA_REDIS_URL="$redis_url" NOVA_BEDROCK_ENDPOINT=http://10.213.0.11:9000 \
      NOVA_KB_ENDPOINT=http://10.213.0.11:9000 NOVA_RUN_DIR="$tmp/$w" NOVA_KEEP_JOBS=1 \
      NOVA_VISIBILITY_TIMEOUT_S=2 NOVA_DRAIN_SECONDS=1 NOVA_LOG_LEVEL=info \
      "$bin/nova-worker" --queue "$q" --id "$w-$q"
  done
done

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
for n in 1 2; do
  h=web$n d=$tmp/web$n
  mkdir -p "$d/nginx-tmp" && chmod 0700 "$d"
  start "$h" "$h-fcgi" env -i PATH="$PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
    ${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} NOVA_REDIS_URL="$redis_url" \
    NOVA_RUN_DIR="$d" NOVA_KB_DB="$tmp/kb.sqlite" NOVA_KEEPALIVE_SECONDS=1 \
    NOVA_FCGI_CHILDREN=2 NOVA_DRAIN_SECONDS=1 NOVA_LOG_LEVEL=info "$bin/nova-fcgi"
  wait_for 15 "nova-fcgi on $h" test -S "$d/nova-fcgi.sock" || fail_start "nova-fcgi on $h"
  # The shipped template, listening on the host's address instead of loopback.
  sed -e "s|@USER_LINE@|user root;|" -e "s|@RUN_DIR@|$(sed_escape "$d")|g" \
      -e "s|listen 127.0.0.1:@PORT@|listen 10.213.0.2$n:8080|" -e "s|@PORT@|8080|g" \
      -e "s|@STATIC_DIR@|$(sed_escape "$root/static")|g" \
      -e "s|@FCGI_SOCKET@|$(sed_escape "$d/nova-fcgi.sock")|g" \
      nginx/nova.conf.template >"$d/nginx.conf"
  start "$h" "$h-nginx" nginx -p "$d/" -c "$d/nginx.conf" -g 'daemon off;'
done

# The front: both web hosts as upstreams; a stream silent for 3 s is cut (the page then
# resumes with Last-Event-ID); a host that does not answer a connect in 1 s is skipped.
mkdir -p "$tmp/front"
cat >"$tmp/front/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $tmp/front/nginx.pid;
error_log $tmp/front/error.log warn;
events { worker_connections 1024; }
http {
    access_log $tmp/front/access.log;
    client_body_temp_path $tmp/front/body;
    proxy_temp_path $tmp/front/proxy;
    upstream web {
        server 10.213.0.21:8080 max_fails=1 fail_timeout=2s;
        server 10.213.0.22:8080 max_fails=1 fail_timeout=2s;
    }
    server {
        listen 127.0.0.1:8080;
        location / {
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_connect_timeout 1s;
            proxy_read_timeout 3s;
            proxy_next_upstream error timeout;
        }
    }
}
EOF
start front front-nginx nginx -p "$tmp/front/" -c "$tmp/front/nginx.conf" -g 'daemon off;'

health() { on front curl -fsS -m 2 "http://$1/api/health"; }
for h in 10.213.0.21:8080 10.213.0.22:8080; do
  wait_for 20 "web host $h" health "$h" || fail_start "web host $h"
done
wait_for 10 "front nginx" health 127.0.0.1:8080 || fail_start "front nginx"

links=(v${tag}w1 v${tag}w2 v${tag}w3 v${tag}web1 v${tag}web2)
on front env MH_URL=http://127.0.0.1:8080 MH_REDIS_HOST=10.213.0.10 MH_REDIS_PASSWORD="$pw" \
  MH_HUB="$hub" MH_TAG="$tag" MH_TMP="$tmp" MH_NOVACTL="$bin/novactl" \
  MH_REDIS_URL="$redis_url" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
  "$build/tests/integration/test_multihost" | tee "$tmp/test.out"
rc=${PIPESTATUS[0]}
# A link a failed check left down comes back before the logs are read.
for l in "${links[@]}"; do ip -n "$hub" link set "$l" up 2>/dev/null; done
if grep -l 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error:' "$tmp"/*.log 2>/dev/null; then
  echo "a sanitizer report in the logs above"; echo "0 passed, 1 failed"; exit 1
fi
[ $rc = 0 ] || for f in "$tmp"/*.log; do echo "---- $f"; tail -n 8 "$f"; done
exit $rc

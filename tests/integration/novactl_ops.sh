#!/usr/bin/env bash
# novactl's operator commands and the container deployment files, end to end.
#
# Without a stack: glossary check (the shipped glossary, a broken one, one with a shared alias),
# usage errors (exit 2), health with Redis away, `docker-compose config` (the default, the sim
# profile, NOVA_BACKEND=bedrock), `nginx -t` of nginx/compose.conf, and that the Dockerfile's
# runtime stage installs every library the programs link.
#
# Then one whole stack (tests/lib/stack.sh): status and health on an idle stack; deploy/fcgi-alive
# against its nova-fcgi; the micro worker stopped with SIGSTOP while three jobs are queued (one
# is delivered to its blocked read: pending; two wait: lag), read with status, jobs pending and
# jobs show, and health failing once its heartbeat is gone; three dead letters on the pro queue
# (an unparseable job, a model id the simulator rejects, a job throttled on every call until its
# retries ran out), read with status, dead list and jobs show; dead retry of the throttled job
# after its deadline passed and with its cancel marker set, and of the bad model job with
# --model-id, each running to model_done in its transcript; the unparseable one refused; purge by
# id, --older-than and --all; SIGCONT, and the stopped worker's jobs complete. JSON output is
# parsed with python3 (docker-compose's dependency, so present wherever compose is).
# NOVA_BUILD picks the build (build/release or build/asan). The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
novactl=$bin/novactl
stack_init ops
wpid=
# A worker this script stopped (SIGSTOP) is let go on before the stack stops: a stopped process
# would sit out its TERM until nova-run's KILL.
trap '[ -n "$wpid" ] && kill -CONT "$wpid" 2>/dev/null; stacks_down; [ -n "${NOVA_KEEP_RUN:-}" ] || rm -rf "$tmp"' EXIT
unset NOVA_REDIS_URL NOVA_GLOSSARY_FILE NOVA_KB_BACKEND

source tests/lib/cmdcheck.sh
py() { python3 -c "$1" <"$tmp/out"; }
# expect_py NAME RC PYTHON: ok when the command exited RC and the Python check of its stdout holds.
expect_py() { if [ "$rc" -eq "$2" ] && py "$3"; then ok "$1"; else bad "$1"; fi; }
# until_ok SECONDS CMD...: CMD until it succeeds, bounded (there is no event to wait on here:
# the worker's progress is only visible in Redis).
until_ok() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt "$end" ] || return 1; sleep 0.1; done
}

if [ ! -x "$novactl" ]; then
  echo "no $novactl (build first)"; echo "0 passed, 1 failed"; exit 1
fi

# ---- without a stack ---------------------------------------------------------------------

run "$novactl" glossary check
expect "glossary check: the shipped glossary loads with no warning" \
  eval '[ $rc -eq 0 ] && [ "$(field status)" = ok ] && [ "$(field warnings)" = 0 ] &&
        [ "$(field file)" = config/game_glossary.json ] && [ "$(field entries)" -gt 50 ] &&
        [ "$(field prompt_bytes)" -gt 0 ]'
run "$novactl" glossary check --json config/game_glossary.json
expect "glossary check --json: counts equal the file's" py '
import json, sys
d = json.load(sys.stdin)
g = json.load(open("config/game_glossary.json"))
assert d["status"] == "ok" and d["warnings"] == []
assert d["sections"] == len(g) and d["entries"] == sum(len(s) for s in g.values())
assert d["aliases"] == sum(len(e.get("aliases") or []) for s in g.values() for e in s.values())'

python3 - "$tmp" <<'EOF'
import json, sys
tmp = sys.argv[1]
g = json.load(open("config/game_glossary.json"))
g["characters"]["Paul"]["aliases"][1] = 7
json.dump(g, open(tmp + "/broken.json", "w"), ensure_ascii=False)
g = json.load(open("config/game_glossary.json"))
g["characters"]["Hogan"]["aliases"].append("폴")
json.dump(g, open(tmp + "/shared.json", "w"), ensure_ascii=False)
EOF
run "$novactl" glossary check "$tmp/broken.json"
expect "glossary check: a wrong type fails, naming the section and entry" \
  eval '[ $rc -eq 1 ] && [ "$(field status)" = error ] &&
        has "\"characters\" / \"Paul\": \"aliases\"\[1\] must be a string" "$tmp/err"'
printf '{"characters": {"Paul": ' >"$tmp/truncated.json"
run "$novactl" glossary check "$tmp/truncated.json"
expect "glossary check: a file that is not JSON fails" eval '[ $rc -eq 1 ] && [ -s "$tmp/err" ]'
run "$novactl" glossary check "$tmp/shared.json"
expect "glossary check: an alias two entries share is a warning" \
  eval '[ $rc -eq 0 ] && [ "$(field status)" = warnings ] &&
        has "\"Hogan\": alias \"폴\": also an alias of \"Paul\"" "$tmp/err"'
run "$novactl" glossary check --strict --json "$tmp/shared.json"
expect_py "glossary check --strict fails on warnings; --json lists them" 1 '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "warnings"
assert {"entry": "Hogan", "alias": "폴", "section": "characters",
        "problem": "also an alias of \"Paul\""} in d["warnings"]'

usage_ok=1
for args in "status extra" "status --count 3" "health --queue nope" "jobs" "jobs pending" \
            "jobs pending nope" "jobs pending micro pro" "jobs show" "jobs show bad!id" \
            "dead" "dead frob" "dead list nope" "dead retry" "dead retry micro" \
            "dead retry micro 1-0 --all" "dead retry micro notanid" "dead purge micro" \
            "dead purge micro --all --older-than 5" "dead retry micro 1-0 --deadline 0" \
            "glossary" "glossary check a b" "glossary check --bogus"; do
  # shellcheck disable=SC2086
  run "$novactl" $args
  if [ $rc -ne 2 ] || [ ! -s "$tmp/err" ]; then usage_ok=0; echo "    'novactl $args' exited $rc"; fi
done
expect "usage errors exit 2 with a message" [ $usage_ok -eq 1 ]
run "$novactl" --help
expect "--help lists every group" \
  eval '[ $rc -eq 0 ] && for g in status health jobs dead kb glossary; do grep -q "^  $g " "$tmp/out" || exit 1; done'

run env NOVA_REDIS_URL=unix://$tmp/no-redis.sock "$novactl" health
expect "health without Redis: exit 1, redis: fail" \
  eval '[ $rc -eq 1 ] && [ "$(field redis)" = fail ] && [ "$(field status)" = fail ]'
run env NOVA_REDIS_URL=unix://$tmp/no-redis.sock "$novactl" status
expect "status without Redis: exit 1 and why" eval '[ $rc -eq 1 ] && has "novactl status: Redis at" "$tmp/err"'

if command -v docker-compose >/dev/null 2>&1; then
  run docker-compose config -q
  expect "docker-compose config: the default file is valid" eval '[ $rc -eq 0 ] && [ ! -s "$tmp/err" ]'
  run docker-compose config --services
  expect "docker-compose: nginx, redis, nova-fcgi, three workers, the handoff worker and the simulator" \
    eval '[ $rc -eq 0 ] && [ "$(sort "$tmp/out" | tr "\n" " ")" = "bedrock-sim nginx nova-fcgi redis worker-handoff worker-kb worker-micro worker-pro " ]'
  run docker-compose config
  expect_py "docker-compose: only bedrock-sim has a profile, sim" 0 '
import re, sys
text = sys.stdin.read()
blocks = re.split(r"(?m)^  (?=[a-z])", text.split("\nvolumes:")[0].split("services:\n", 1)[1])
prof = {b.split(":")[0]: re.findall(r"profiles:\n\s+- (\w+)", b) for b in blocks if b.strip()}
assert prof.pop("bedrock-sim") == ["sim"], prof
assert all(v == [] for v in prof.values()) and len(prof) == 7, prof'
  run env NOVA_BACKEND=bedrock docker-compose config
  expect "docker-compose NOVA_BACKEND=bedrock: workers get no simulator and no example key" \
    eval '[ $rc -eq 0 ] && ! has AKIDEXAMPLE "$tmp/out" && ! has "bedrock-sim:8787" "$tmp/out" &&
          has "NOVA_BACKEND: bedrock" "$tmp/out"'
  run docker-compose config
  expect_py "docker-compose: nova-fcgi holds no AWS credential; the workers (sim) hold the example pair" 0 '
import sys
svc, cur, top = {}, None, None
for line in sys.stdin.read().splitlines():
    if not line.startswith(" "):
        top = line.rstrip(":")
    elif top == "services" and line.startswith("  ") and line[2] != " ":
        cur = line.strip().rstrip(":")
        svc[cur] = []
    elif top == "services" and cur:
        svc[cur].append(line)
fcgi = "\n".join(svc["nova-fcgi"])
assert "AWS_ACCESS_KEY_ID" not in fcgi and "AWS_SECRET_ACCESS_KEY" not in fcgi
assert "NOVA_FCGI_SOCKET: /run/nova/nova-fcgi.sock" in fcgi and "fcgi-socket:/run/nova" in fcgi
for w in ("worker-micro", "worker-pro", "worker-kb"):
    assert "AWS_ACCESS_KEY_ID: AKIDEXAMPLE" in "\n".join(svc[w]), w
assert "fcgi-socket:/run/nova" in "\n".join(svc["nginx"])
# the handoff worker calls no AWS service: no key; the signing secret is its alone
ho = "\n".join(svc["worker-handoff"])
assert "AWS_ACCESS_KEY_ID" not in ho and "NOVA_HANDOFF_SECRET" in ho, ho
assert "NOVA_HANDOFF_SECRET" not in fcgi and "NOVA_HANDOFF_URL" in fcgi'
else
  fail=$((fail + 1)); echo "FAIL docker-compose is not installed (scripts/install-deps installs it)"
fi

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  mkdir -p "$tmp/nginx"
  run "$(command -v nginx || echo /usr/sbin/nginx)" -t -q -p "$tmp/nginx/" -c "$root/nginx/compose.conf"
  expect "nginx -t accepts nginx/compose.conf" eval '[ $rc -eq 0 ]'
fi

# The runtime stage's apt-get line must hold the package of every library the programs link
# (their NEEDED entries; libc6 comes with the base image).
rel=$root/build/release/bin
[ -x "$rel/nova-fcgi" ] || rel=$bin
runtime_pkgs=$(sed -n '/^FROM .* AS runtime/,/^FROM /p' Dockerfile | sed -n '/apt-get install/,/rm -rf/p')
missing=
for n in $(for b in nova-fcgi nova-worker novactl bedrock-sim; do
             objdump -p "$rel/$b" | awk '/NEEDED/ {print $2}'; done | sort -u); do
  p=$(ldconfig -p | awk -v n="$n" '$1 == n {print $NF; exit}')
  pkg=$( (dpkg -S "$p" || dpkg -S "$(readlink -f "$p")") 2>/dev/null | head -n 1 | cut -d: -f1)
  [ "$pkg" = libc6 ] && continue
  grep -qw -- "$pkg" <<<"$runtime_pkgs" || missing+=" $n($pkg)"
done
[ -n "$missing" ] && echo "    not in the runtime stage:$missing"
expect "Dockerfile: the runtime stage installs every library the programs link" [ -z "$missing" ]

# ---- a whole stack -----------------------------------------------------------------------

if ! stacks_up 1; then
  echo "$pass passed, $((fail + 1)) failed"
  exit 1
fi
export NOVA_RUN_DIR=$tmp/run1
rcli() { redis-cli -s "$tmp/run1/redis.sock" "$@"; }
redis_ms() { rcli TIME | { read -r s; read -r us; echo $((s * 1000 + us / 1000)); }; }
# mkjob ID REQUEST QUEUE MODEL MODEL_ID TEXT SPAN_MS: a job as nova-fcgi writes it (jobs.h).
mkjob() {
  local now; now=$(redis_ms)
  printf '{"v":1,"id":"%s","request":"%s","queue":"%s","phase":"answer","model":"%s","model_id":"%s","messages":[{"role":"user","text":"%s"}],"cache_point":false,"max_tokens":200,"created_ms":%s,"deadline_ms":%s}' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$now" $((now + $7))
}
queue_job() { rcli XADD "nova:jobs:{$1}" '*' job "$2"; }
ended_with() { # REQUEST TYPE: the transcript holds an event of that type
  rcli XRANGE "nova:log:$1" - + | grep -qx "$2"
}

run "$novactl" status
expect "status on an idle stack: three live workers, empty queues, Redis's version" \
  eval '[ $rc -eq 0 ] && [ "$(field workers_live)" = 3 ] && [ -n "$(field redis_version)" ] &&
        [ "$(field micro_workers_live)" = 1 ] && [ "$(field pro_workers_live)" = 1 ] &&
        [ "$(field kb_workers_live)" = 1 ] && [ "$(field micro_pending)" = 0 ] &&
        [ "$(field pro_dead_letters)" = 0 ] && [ "$(field micro_oldest_pending_age_ms)" = none ] &&
        grep -Eq "^worker_[0-2]: id=micro-[^,]+,queue=micro,host=[^,]+,pid=[0-9]+,in_flight=0," "$tmp/out"'
run "$novactl" status --json
expect "status --json parses: four queues (handoff with no worker: no NOVA_HANDOFF_URL), three workers" py '
import json, sys
d = json.load(sys.stdin)
assert sorted(d["queues"]) == ["handoff", "kb", "micro", "pro"] and d["workers_live"] == 3
assert d["queues"]["handoff"]["workers_live"] == 0
assert sorted(w["queue"] for w in d["workers"]) == ["kb", "micro", "pro"]
assert all(w["beat_age_ms"] < 15000 for w in d["workers"])
assert d["queues"]["micro"]["oldest_pending_age_ms"] is None and d["redis"]["time_ms"] > 0'
run "$novactl" health
expect "health on a ready stack: exit 0" \
  eval '[ $rc -eq 0 ] && [ "$(field status)" = ok ] && [ "$(field micro_workers_live)" = 1 ]'
run "$novactl" health --queue kb --local --json
expect_py "health --local finds this host's kb worker" 0 '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "ok" and d["workers_live"] == {"kb": 1} and d["redis"] is True'

run env NOVA_FCGI_SOCKET="$tmp/run1/nova-fcgi.sock" deploy/fcgi-alive
expect "deploy/fcgi-alive passes against a running nova-fcgi" eval '[ $rc -eq 0 ]'
run env NOVA_FCGI_SOCKET="$tmp/run1/redis.sock" deploy/fcgi-alive
expect "deploy/fcgi-alive fails on a socket that does not speak FastCGI" \
  eval '[ $rc -eq 1 ] && has "did not answer" "$tmp/err"'

# -- the micro worker stopped: one job pending to it, two waiting
wpid=$(cat "$tmp/run1/nova-worker-micro.pid")
wid=$(rcli ZRANGE "nova:workers:{micro}" 0 -1)
kill -STOP "$wpid"
# The first job goes to the stopped worker: served to its blocked read if it was blocked (Redis
# does that inside the XADD), else read here under its consumer name, as if it had read it just
# before it stopped. Either way no read of it is left, so the next two wait.
entry[1]=$(queue_job micro "$(mkjob opsq1-answer-micro opsq1 micro micro amazon.nova-micro-v1:0 "Question: how do I level up? #sim:len=8" 300000)")
if [ "$(rcli XPENDING "nova:jobs:{micro}" workers | head -n 1)" = 0 ]; then
  rcli XREADGROUP GROUP workers "$wid" COUNT 1 STREAMS "nova:jobs:{micro}" ">" >/dev/null
fi
for i in 2 3; do
  entry[$i]=$(queue_job micro "$(mkjob "opsq$i-answer-micro" "opsq$i" micro micro amazon.nova-micro-v1:0 "Question: how do I level up? #sim:len=8" 300000)")
done
run "$novactl" status
expect "status: a stopped worker's queue shows pending 1, lag 2, and their ages" \
  eval '[ $rc -eq 0 ] && [ "$(field micro_pending)" = 1 ] && [ "$(field micro_lag)" = 2 ] &&
        [ "$(field micro_length)" -ge 3 ] && [ "$(field micro_consumers)" -ge 1 ] &&
        [ "$(field micro_oldest_pending_age_ms)" -ge 0 ] &&
        [ "$(field micro_oldest_waiting_age_ms)" -ge 0 ] && [ "$(field micro_pending_orphaned)" = 0 ]'
run "$novactl" jobs pending micro
expect "jobs pending: the delivered job with its consumer, then the two waiting" \
  eval '[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 3 ] &&
        grep -Eq "^pending ${entry[1]} job=opsq1-answer-micro consumer=micro-[^ ]+ idle_ms=[0-9]+ deliveries=1 age_ms=[0-9]+ deadline_in_ms=[0-9]+$" "$tmp/out" &&
        grep -q "^waiting ${entry[2]} job=opsq2-answer-micro age_ms=" "$tmp/out" &&
        grep -q "^waiting ${entry[3]} job=opsq3-answer-micro age_ms=" "$tmp/out"'
run "$novactl" jobs pending micro --json --count 1
expect "jobs pending --json --count 1 parses" py '
import json, sys
d = json.load(sys.stdin)
assert d["queue"] == "micro" and len(d["pending"]) == 1 and len(d["waiting"]) == 1
p = d["pending"][0]
assert p["job"] == "opsq1-answer-micro" and p["deliveries"] == 1 and p["consumer"].startswith("micro-")
assert d["waiting"][0]["job"] == "opsq2-answer-micro" and "consumer" not in d["waiting"][0]'
run "$novactl" jobs show opsq1-answer-micro
expect "jobs show by job id: pending, its consumer, deliveries, no transcript yet" \
  eval '[ $rc -eq 0 ] && [ "$(field state)" = pending ] && [ "$(field entry)" = "${entry[1]}" ] &&
        [ "$(field deliveries)" = 1 ] && [ "$(field queue)" = micro ] &&
        [ "$(field transcript_end)" = none ] && [ "$(field canceled_marker)" = no ]'
run "$novactl" jobs show "${entry[3]}"
expect "jobs show by entry id: waiting" \
  eval '[ $rc -eq 0 ] && [ "$(field state)" = waiting ] && [ "$(field job)" = opsq3-answer-micro ]'
run "$novactl" jobs show no-such-job-answer-micro
expect "jobs show of an unknown job: exit 1" eval '[ $rc -eq 1 ] && has "no such job" "$tmp/err"'

rcli DEL "nova:worker:$wid" >/dev/null
run "$novactl" health
expect "health fails when the micro worker's heartbeat is gone" \
  eval '[ $rc -eq 1 ] && [ "$(field status)" = fail ] && [ "$(field reason)" = "no live worker for queue micro" ]'
run "$novactl" health --queue pro
expect "health --queue pro is still ok" eval '[ $rc -eq 0 ]'

# -- dead letters on the pro queue
queue_job pro "this is not a job" >/dev/null
queue_job pro "$(mkjob opsbad-answer-pro opsbad pro pro amazon.nova-typo-v1:0 "Question: level up? #sim:len=8" 300000)" >/dev/null
thr_text="Question: level up? ops-$RANDOM-$RANDOM #sim:throttle=4 #sim:len=8"
thr_job=$(mkjob opsthr-answer-pro opsthr pro pro amazon.nova-pro-v1:0 "$thr_text" 3000)
thr_deadline=$(sed 's/.*"deadline_ms":\([0-9]*\).*/\1/' <<<"$thr_job")
queue_job pro "$thr_job" >/dev/null
until_ok 15 eval '[ "$(rcli XLEN "nova:dead:{pro}")" = 3 ]'
run "$novactl" status
expect "status: the pro queue's three dead letters" \
  eval '[ $rc -eq 0 ] && [ "$(field pro_dead_letters)" = 3 ] && [ "$(field micro_pending)" = 1 ]'
run "$novactl" status --json
expect "status --json: dead letters and the pending job" py '
import json, sys
d = json.load(sys.stdin)
assert d["queues"]["pro"]["dead_letters"] == 3
assert d["queues"]["micro"]["pending"] == 1 and d["queues"]["micro"]["lag"] == 2
assert d["queues"]["micro"]["oldest_pending_age_ms"] >= 0'
run "$novactl" dead list
expect "dead list: the three letters, newest first, with code and reason" \
  eval '[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 3 ] &&
        head -n 1 "$tmp/out" | grep -Eq "^pro [0-9]+-[0-9]+ job=opsthr-answer-pro code=throttled age_ms=[0-9]+ worker=pro-[^ ]+ reason=.*throttling" &&
        grep -Eq "^pro [0-9-]+ job=opsbad-answer-pro code=model_error .* reason=not retryable" "$tmp/out" &&
        grep -Eq "^pro [0-9-]+ job=\(unreadable\) code=internal .* reason=bad job" "$tmp/out" &&
        has "^pro: 3 dead letters, 3 shown" "$tmp/err"'
run "$novactl" dead list pro --json
expect "dead list --json parses" py '
import json, sys
d = json.load(sys.stdin)["dead"]
assert [x["job"] for x in d] == ["opsthr-answer-pro", "opsbad-answer-pro", None]
assert [x["job_parses"] for x in d] == [True, True, False]
assert d[1]["code"] == "model_error" and d[1]["request"] == "opsbad" and d[0]["failed_ms"] > 0'
py 'import json, sys; [print(x["id"]) for x in json.load(sys.stdin)["dead"]]' >"$tmp/ids"
mapfile -t dead_id <"$tmp/ids"   # 0 throttled, 1 bad model, 2 unreadable
run "$novactl" jobs show opsbad-answer-pro
expect "jobs show: an acknowledged job with its dead letter" \
  eval '[ $rc -eq 0 ] && [ "$(field state)" = done ] && [ "$(field dead_entry)" = "${dead_id[1]}" ] &&
        [ "$(field dead_code)" = model_error ] && [ "$(field transcript_end)" = error ] &&
        [ "$(field transcript_end_code)" = model_error ]'

# -- retry: the throttled job after its deadline passed, with a stale cancel marker
until_ok 10 eval '[ "$(redis_ms)" -gt "$thr_deadline" ]'
rcli SET "nova:canceled:opsthr-answer-pro" 1 EX 600 >/dev/null
run "$novactl" dead retry pro "${dead_id[0]}"
expect "dead retry: re-queued with a fresh deadline, the cancel marker cleared" \
  eval '[ $rc -eq 0 ] && grep -Eq "^retried ${dead_id[0]} job=opsthr-answer-pro entry=[0-9]+-[0-9]+ deadline_in_ms=3000$" "$tmp/out" &&
        [ "$(rcli EXISTS nova:canceled:opsthr-answer-pro)" = 0 ] &&
        [ "$(rcli XLEN "nova:dead:{pro}")" = 2 ]'
until_ok 15 ended_with opsthr model_done
run "$novactl" jobs show opsthr-answer-pro
expect "the retried job ran: model_done in its transcript, no dead letter left" \
  eval '[ $rc -eq 0 ] && [ "$(field state)" = done ] && [ "$(field transcript_end)" = model_done ] &&
        [ "$(field transcript_deltas)" -gt 0 ] && [ -z "$(field dead_entry)" ] &&
        [ "$(field deadline_in_ms)" -le 3000 ]'
run "$novactl" dead retry pro "${dead_id[1]}" --model-id amazon.nova-pro-v1:0 --json
expect "dead retry --model-id --json: the bad model id replaced" py '
import json, sys
d = json.load(sys.stdin)
assert d["failed"] == [] and len(d["retried"]) == 1
r = d["retried"][0]
assert r["job"] == "opsbad-answer-pro" and r["deadline_in_ms"] == 300000'
until_ok 15 ended_with opsbad model_done
run "$novactl" jobs show opsbad-answer-pro --json
expect "the fixed job ran to model_done with the new model id" py '
import json, sys
d = json.load(sys.stdin)
assert d["state"] == "done" and d["model_id"] == "amazon.nova-pro-v1:0"
assert d["transcript_end"] == "model_done" and "dead_letter" not in d'
run "$novactl" dead retry pro "${dead_id[2]}"
expect "dead retry of an unparseable job is refused, the letter stays" \
  eval '[ $rc -eq 1 ] && has "not JSON" "$tmp/err" && [ "$(rcli XLEN "nova:dead:{pro}")" = 1 ]'
run "$novactl" dead retry pro "${dead_id[0]}"
expect "dead retry of a letter already retried: exit 1" \
  eval '[ $rc -eq 1 ] && has "no such dead letter" "$tmp/err"'

# -- purge
run "$novactl" dead purge pro "${dead_id[2]}"
expect "dead purge by id" \
  eval '[ $rc -eq 0 ] && [ "$(field purged)" = 1 ] && [ "$(field dead_letters_left)" = 0 ]'
queue_job kb "not a job either" >/dev/null
queue_job kb "nor this one" >/dev/null
until_ok 10 eval '[ "$(rcli XLEN "nova:dead:{kb}")" = 2 ]'
run "$novactl" dead purge kb --older-than 3600
expect "dead purge --older-than keeps younger letters" \
  eval '[ $rc -eq 0 ] && [ "$(field purged)" = 0 ] && [ "$(field dead_letters_left)" = 2 ]'
run "$novactl" dead purge kb --all --json
expect "dead purge --all --json" py '
import json, sys
d = json.load(sys.stdin)
assert d == {"queue": "kb", "purged": 2, "dead_letters_left": 0}'

# -- the stopped worker goes on: its pending job and the waiting ones complete
kill -CONT "$wpid"
until_ok 20 eval 'ended_with opsq1 model_done && ended_with opsq2 model_done && ended_with opsq3 model_done'
until_ok 10 eval '"$novactl" health >/dev/null 2>&1'
run "$novactl" status
expect "after SIGCONT: nothing pending or waiting, the worker live again" \
  eval '[ $rc -eq 0 ] && [ "$(field micro_pending)" = 0 ] && [ "$(field micro_lag)" = 0 ] &&
        [ "$(field micro_workers_live)" = 1 ] && [ "$(field micro_oldest_waiting_age_ms)" = none ]'
run "$novactl" jobs show opsq3-answer-micro
expect "jobs show: the waiting job ran" \
  eval '[ $rc -eq 0 ] && [ "$(field state)" = done ] && [ "$(field transcript_end)" = model_done ]'

echo "$pass passed, $fail failed" >"$tmp/summary"
stacks_summary "$tmp/summary" "$([ $fail -eq 0 ] && echo 0 || echo 1)"

# tests/lib/cmdcheck.sh: checks on a command's output, for the novactl suites (sourced; $tmp set).
#   run CMD...          runs it: stdout in $tmp/out, stderr in $tmp/err, exit code in $rc
#   expect NAME TEST... ok when the shell test succeeds, else FAIL with the last run's output
#   has TEXT FILE       FILE contains TEXT;  field KEY: the value of a "key: value" line of stdout
#   $pass, $fail        the counts, for the closing "N passed, N failed" line
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
  fail=$((fail + 1)); echo "FAIL $1"
  echo "    exit $rc; stdout:"; sed 's/^/      /' "$tmp/out" | head -20
  echo "    stderr:"; sed 's/^/      /' "$tmp/err" | head -20
}
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
expect() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
has() { grep -q -- "$1" "$2"; }
field() { sed -n "s/^$1: //p" "$tmp/out"; }

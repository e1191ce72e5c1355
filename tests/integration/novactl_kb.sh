#!/usr/bin/env bash
# novactl kb end to end: in a temp dir (NOVA_RUN_DIR, so the default index is $tmp/run/
# kb.sqlite), imports kb/sample, checks stats and searches in text and --json, the usage and
# failure exit codes (2 and 1), skipped documents and an empty folder. NOVA_BUILD picks the
# build (build/release or build/asan). JSON is checked for shape with grep, and parsed with
# python3 when it is installed (it is not one of the project's dependencies).
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${NOVA_BUILD:-build/release}
novactl="$build/bin/novactl"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/run"
export NOVA_RUN_DIR="$tmp/run" NOVA_LOG_LEVEL=info
unset NOVA_KB_DB NOVA_KB_DIR NOVA_KB_MIN_SCORE

source tests/lib/cmdcheck.sh
python_json() { command -v python3 >/dev/null 2>&1 && python3 -c "$1" <"$tmp/out"; }

if [ ! -x "$novactl" ]; then
  echo "no $novactl (build first)"; echo "0 passed, 1 failed"; exit 1
fi
ndocs=$(find kb/sample -maxdepth 1 -name '*.md' ! -name '.*' | wc -l)

run "$novactl" --help
expect "help exits 0 and lists the kb group" eval '[ $rc -eq 0 ] && grep -q "^  kb " "$tmp/out"'

usage_ok=1
for args in "" "nope" "kb" "kb frob" "kb search" "kb search -k 0 refund" "kb import" \
            "kb stats extra" "kb import kb/sample --json" "kb search --bogus x"; do
  # shellcheck disable=SC2086
  run "$novactl" $args
  if [ $rc -ne 2 ] || [ ! -s "$tmp/err" ]; then usage_ok=0; echo "    'novactl $args' exited $rc"; fi
done
expect "usage errors exit 2 with a message" [ $usage_ok -eq 1 ]

run "$novactl" kb search refund
expect "search without an index exits 1 and says how to make one" \
  eval '[ $rc -eq 1 ] && has "novactl kb import" "$tmp/err"'

run "$novactl" kb import kb/sample
expect "import of kb/sample into the default index" \
  eval '[ $rc -eq 0 ] && [ "$(field docs_imported)" = "$ndocs" ] &&
        [ "$(field docs_skipped)" = 0 ] && [ "$(field db)" = "$tmp/run/kb.sqlite" ] &&
        [ "$(field bytes)" -gt 0 ] && [ -n "$(field elapsed_ms)" ]'

run "$novactl" kb stats
expect "stats count the documents by language" \
  eval '[ $rc -eq 0 ] && [ "$(field docs)" = "$ndocs" ] &&
        [ $(( $(field docs_lang_en) + $(field docs_lang_ko) )) -eq "$ndocs" ] &&
        has "^source: .*kb/sample$" "$tmp/out"'

run "$novactl" kb search "How can I get a refund for an item I bought?"
expect "English refund question: the English refund policy first" \
  eval '[ $rc -eq 0 ] && head -1 "$tmp/out" | grep -Eq "^0\.[0-9]{3}  Refund Policy for Paid Items$" &&
        sed -n 2p "$tmp/out" | grep -q "^       https://support.example.com/en/billing/refund$" &&
        has "hits\? with score >= 0.2" "$tmp/err"'

run "$novactl" kb search 환불은 어떻게 받나요?
expect "Korean refund question: the Korean refund policy first" \
  eval '[ $rc -eq 0 ] && head -1 "$tmp/out" | grep -q "  유료 아이템 환불 정책$"'

run "$novactl" kb search -k 3 --term Paul --term 레벨업 --term "Level Up" "폴이 레벨업을 못 해요"
expect "Korean question, glossary terms: the English-only Paul guide in the top 3" \
  eval '[ $rc -eq 0 ] && grep -q "  Level Up and XP Guide for Paul$" "$tmp/out"'

run "$novactl" kb search zxqv blorp
expect "nonsense finds nothing" eval '[ $rc -eq 0 ] && [ ! -s "$tmp/out" ] && has "^0 hits" "$tmp/err"'

run "$novactl" kb search --json -k 3 "How can I get a refund for an item I bought?"
expect "--json: one object with the hits" \
  eval '[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 1 ] &&
        grep -q "^{\"query\":\"How can I get a refund for an item I bought?\"" "$tmp/out" &&
        grep -q "\"hits\":\[{\"score\":0\.[0-9]*,\"title\":\"Refund Policy for Paid Items\",\"url\":\"https://support.example.com/en/billing/refund\",\"excerpt\":\"Paid currency" "$tmp/out"'
if command -v python3 >/dev/null 2>&1; then
  expect "--json parses, at most k hits, scores descending" python_json '
import json, sys
d = json.load(sys.stdin)
s = [h["score"] for h in d["hits"]]
assert 1 <= len(s) <= 3 and s == sorted(s, reverse=True) and all(0.2 <= x < 1 for x in s)
assert d["min_score"] == 0.2 and d["elapsed_ms"] >= 0'
fi

run "$novactl" kb search --json zxqv blorp
expect "--json with no hits" eval '[ $rc -eq 0 ] && has "\"hits\":\[\]" "$tmp/out"'

run "$novactl" kb import tests/fixtures/kb-xss --db "$tmp/xss.sqlite"
run "$novactl" kb search --db "$tmp/xss.sqlite" --json script injection markup test
expect "markup in a document comes out as JSON string data" \
  eval '[ $rc -eq 0 ] && has "\"title\":\"XSS probe <img src=x onerror=alert(2)> & <b>bold</b>\"" "$tmp/out" &&
        has "xss-probe?q=\\\\\"><svg/onload=alert(3)>\"" "$tmp/out"'
if command -v python3 >/dev/null 2>&1; then
  expect "markup document's --json parses" python_json '
import json, sys
d = json.load(sys.stdin)
assert any(h["url"].endswith("?q=\"><svg/onload=alert(3)>") for h in d["hits"])'
fi

mkdir -p "$tmp/docs" "$tmp/empty"
printf -- '---\ntitle: Good\nlang: en\n---\nA perfectly good document about refunds.\n' >"$tmp/docs/good.md"
printf -- '---\ntitle: Broken\n' >"$tmp/docs/broken.md"
printf 'ignored\n' >"$tmp/docs/notes.txt"
run "$novactl" kb import "$tmp/docs" --db "$tmp/small.sqlite"
expect "a bad document is skipped with its reason" \
  eval '[ $rc -eq 0 ] && [ "$(field docs_imported)" = 1 ] && [ "$(field docs_skipped)" = 1 ] &&
        has "broken.md: unterminated front matter" "$tmp/err"'

run "$novactl" kb import "$tmp/empty" --db "$tmp/small.sqlite"
empty_rc=$rc
run "$novactl" kb stats --db "$tmp/small.sqlite"
expect "an empty folder fails and leaves the index as it was" \
  eval '[ $empty_rc -eq 1 ] && [ $rc -eq 0 ] && [ "$(field docs)" = 1 ]'

run "$novactl" kb import "$tmp/docs" --db "$tmp/no-such-dir/kb.sqlite"
expect "import into a missing folder exits 1 and names it" \
  eval '[ $rc -eq 1 ] && has "no-such-dir does not exist" "$tmp/err"'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

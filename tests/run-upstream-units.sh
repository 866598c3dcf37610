#!/usr/bin/env bash
# Runs upstream's own tcl test units against a Redis tree and ends with one summary line
# ("upstream: N passed, N failed") counted from runtest's [ok]/[err]/[exception] lines.
# Usage: run-upstream-units.sh [--beside STOCK_TREE] TREE [runtest arguments...]
# Alone, every test must pass. With --beside, the same units run on STOCK_TREE first and
# a test fails the run only when it fails on TREE but not on stock: some units fail on
# stock itself under the configs make passes (test-types-aof's command-form AOF), and such
# a failure says nothing about the patched build.
set -uo pipefail
stock=
if [ "${1:-}" = --beside ]; then stock=${2:?--beside STOCK_TREE}; shift 2; fi
tree=${1:?usage: run-upstream-units.sh [--beside STOCK_TREE] TREE [runtest args]}
shift
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# run LABEL TREE: runtest's output in $logs/LABEL (escapes stripped), its status returned.
run() {
    (cd "$2" && ./runtest "${@:3}") 2>&1 | tee "$logs/$1"
    local status=${PIPESTATUS[0]}
    # runtest colours its status words; strip the escapes before counting.
    sed -i 's/\x1b\[[0-9;]*m//g' "$logs/$1"
    return "$status"
}
# "[err]: name in tests/unit/x.tcl" -> "name", one a line, sorted.
failed_names() {
    grep -E '^\[(err|exception)\]:' "$logs/$1" | sed -E 's/^\[(err|exception)\]: //; s/ in tests\/.*$//' | sort -u
}

if [ -n "$stock" ]; then
    run stock "$stock" "$@"
    echo "upstream (stock): $(grep -c '^\[ok\]:' "$logs/stock") passed, $(failed_names stock | wc -l) failed"
fi
run tree "$tree" "$@"
status=$?
passed=$(grep -c '^\[ok\]:' "$logs/tree")
failed=$(grep -cE '^\[(err|exception)\]:' "$logs/tree")
echo "upstream: $passed passed, $failed failed"
[ "$passed" -eq 0 ] && exit 1
if [ -z "$stock" ]; then
    if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
    exit 0
fi
# Beside stock: runtest's own status is nonzero whenever anything failed, so judge by
# names; a run that did not reach its end (an exception) fails regardless.
grep -q 'The End' "$logs/tree" || { echo "upstream: the run did not finish"; exit 1; }
regressions=$(comm -23 <(failed_names tree) <(failed_names stock))
if [ -n "$(failed_names tree)" ]; then
    echo "upstream: failed on stock as well:"
    comm -12 <(failed_names tree) <(failed_names stock) | sed 's/^/  /'
fi
if [ -n "$regressions" ]; then
    echo "upstream: failed here but not on stock:"
    echo "$regressions" | sed 's/^/  /'
    exit 1
fi

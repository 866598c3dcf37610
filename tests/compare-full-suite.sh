#!/usr/bin/env bash
# After run-full-suite.sh ran on both builds: every test that passed on stock must pass on
# the patched build. A test counts against patched when it failed there ([err] or
# [exception]) and a test of that name passed on stock, or when patched's run did not
# finish both suites (an exception stops runtest, so later tests never run). Test names
# are not compared one for one otherwise: some carry random values (PSYNC2 layouts, key
# counts) and differ between any two runs of the same build.
set -uo pipefail
out=${FULL_SUITE_DIR:-"$(cd "$(dirname "$0")/.." && pwd)/build/full-suite"}
for label in stock patched; do
    [ -f "$out/$label.counts" ] || { echo "full suite: no results for $label (run make test-full-$label)" >&2; exit 2; }
    cat "$out/$label.counts"
done
status=0
for suite in runtest runtest-moduleapi; do
    if ! grep -q "^$suite exit status" "$out/patched.log"; then
        echo "full suite: $suite did not finish on patched"
        status=1
    fi
done
# "[err]: name in tests/unit/x.tcl" -> "name"
failed_names=$(sed -E 's/^\[(err|exception)\]: //; s/ in tests\/.*$//' "$out/patched.failed" | sort -u)
if [ -n "$failed_names" ]; then
    regressions=$(comm -12 <(echo "$failed_names") <(sort -u "$out/stock.ok"))
    echo "full suite: failed on patched:"
    echo "$failed_names" | sed 's/^/  /'
    if [ -n "$regressions" ]; then
        echo "full suite: of those, passed on stock:"
        echo "$regressions" | sed 's/^/  /'
        status=1
    fi
fi
[ "$status" -eq 0 ] && echo "full suite: every test that passed on stock passed on patched"
exit "$status"

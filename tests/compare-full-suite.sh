#!/usr/bin/env bash
# After run-full-suite.sh ran on both builds: every test that passed on stock must pass on
# the patched build. Prints both builds' counts and any test that passed on stock only.
set -uo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/build/full-suite"
for label in stock patched; do
    [ -f "$out/$label.counts" ] || { echo "full suite: no results for $label (run make test-full-$label)" >&2; exit 2; }
    cat "$out/$label.counts"
done
only_stock=$(comm -23 "$out/stock.ok" "$out/patched.ok")
if [ -n "$only_stock" ]; then
    echo "full suite: passed on stock but not on patched:"
    echo "$only_stock" | sed 's/^/  /'
    exit 1
fi
echo "full suite: every test that passed on stock passed on patched"

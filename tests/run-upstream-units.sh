#!/usr/bin/env bash
# Runs upstream's own tcl test units against a Redis tree and ends with one summary line
# ("upstream: N passed, N failed") counted from runtest's [ok]/[err]/[exception] lines.
# Usage: run-upstream-units.sh TREE [runtest arguments...]
set -uo pipefail
tree=${1:?usage: run-upstream-units.sh TREE [runtest args]}
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
(cd "$tree" && ./runtest "$@") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# runtest colours its status words; strip the escapes before counting.
sed -i 's/\x1b\[[0-9;]*m//g' "$log"
passed=$(grep -c '^\[ok\]:' "$log")
failed=$(grep -cE '^\[(err|exception)\]:' "$log")
echo "upstream: $passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi

#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/fuzz_targets for SECONDS each (default 30) and
# prints the executions per target. cargo-fuzz needs nightly-only compiler flags; this
# machine has one stable toolchain, so RUSTC_BOOTSTRAP=1 unlocks them. The corpus in
# fuzz/corpus/<target> is kept in the repository and grows with each run (minimise it with
# `cargo fuzz cmin <target>` before committing).
set -euo pipefail
seconds=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
cd "$root/fuzz"
total=0
for target_file in fuzz_targets/*.rs; do
    target=$(basename "$target_file" .rs)
    mkdir -p "corpus/$target"
    log=$(mktemp)
    if ! cargo fuzz run "$target" -- -max_total_time="$seconds" >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz: $target FAILED (crash input under fuzz/artifacts/$target)"
        exit 1
    fi
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo 0)
    total=$((total + runs))
    echo "fuzz: $target: $runs executions in ${seconds}s, no crash"
    rm -f "$log"
done
echo "fuzz: $total executions in all"

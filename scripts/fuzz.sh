#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/fuzz_targets and prints the executions per target:
#
#   scripts/fuzz.sh [SECONDS]              each target for SECONDS (default 30)
#   scripts/fuzz.sh --runs N [TARGET...]   each target (or those named) for N executions
#                                          (libFuzzer's -runs=N), with its wall time
#
# cargo-fuzz needs nightly-only compiler flags; this machine has one stable toolchain, so
# RUSTC_BOOTSTRAP=1 unlocks them. The corpus in fuzz/corpus/<target> is kept in the
# repository and grows with each run (minimise it with `cargo fuzz cmin <target>` before
# committing); fuzz/<target>.dict, when present, is passed as libFuzzer's dictionary.
set -euo pipefail
runs=
seconds=30
targets=()
if [ "${1:-}" = --runs ]; then
    runs=${2:?--runs needs a number of executions}
    shift 2
    targets=("$@")
elif [ $# -gt 0 ]; then
    seconds=$1
fi
root=$(cd "$(dirname "$0")/.." && pwd)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
cd "$root/fuzz"
if [ ${#targets[@]} -eq 0 ]; then
    for target_file in fuzz_targets/*.rs; do
        targets+=("$(basename "$target_file" .rs)")
    done
fi
total=0
for target in "${targets[@]}"; do
    [ -f "fuzz_targets/$target.rs" ] || { echo "fuzz: no target $target"; exit 1; }
    mkdir -p "corpus/$target"
    args=()
    if [ -n "$runs" ]; then args+=(-runs="$runs"); else args+=(-max_total_time="$seconds"); fi
    if [ -f "$target.dict" ]; then args+=(-dict="$target.dict"); fi
    # Built first, so the time measured is the fuzzing alone.
    cargo fuzz build "$target" >/dev/null 2>&1 || cargo fuzz build "$target"
    log=$(mktemp)
    started=$(date +%s)
    if ! cargo fuzz run "$target" -- "${args[@]}" >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz: $target FAILED (crash input under fuzz/artifacts/$target)"
        exit 1
    fi
    elapsed=$(($(date +%s) - started))
    done_runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo 0)
    total=$((total + done_runs))
    echo "fuzz: $target: $done_runs executions in ${elapsed}s" \
        "($((done_runs / (elapsed > 0 ? elapsed : 1))) per second), no crash;" \
        "corpus $(find "corpus/$target" -type f | wc -l) inputs"
    rm -f "$log"
done
echo "fuzz: $total executions in all"

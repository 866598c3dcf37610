#!/usr/bin/env bash
# make bench [QUICK=1]: the A/B benchmark of the patched build against stock, same release.
# Usage: bench/run.sh [--quick] [--pairs N] [--no-pin] [--aa] [--keep-tmp] [--only REGEX] [--scale F]
#                     [--no-peer] [--no-checksum]
# The peer (Valkey, `make peer`) joins when build/peer/src/valkey-server exists, or BENCH_PEER
# names its src dir (BENCH_PEER= for none).
# (bench/README.md)
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"

# make bench names the builds of the version it built; run directly, the default
# version's build/stock and build/patched (bench/main.py reads the same variables).
declare -A dirs=([stock]=${BENCH_STOCK:-$ROOT/build/stock/src} [patched]=${BENCH_PATCHED:-$ROOT/build/patched/src})
for b in stock patched; do
    for t in redis-server redis-cli redis-benchmark; do
        if [[ ! -x "${dirs[$b]}/$t" ]]; then
            hint=$([[ $b == stock ]] && echo "make stock" || echo "make")
            echo "bench: missing ${dirs[$b]}/$t -- run \`$hint\` in $ROOT first" >&2
            exit 2
        fi
    done
done

# Python dependencies (matplotlib, for the chart) in bench/.venv, reinstalled when
# requirements.txt changes.
VENV="$BENCH/.venv"
if ! cmp -s "$BENCH/requirements.txt" "$VENV/.requirements" 2>/dev/null; then
    echo "bench: installing Python dependencies into $VENV" >&2
    python3 -m venv "$VENV" || { echo "bench: python3 -m venv failed (install python3-venv)" >&2; exit 2; }
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$BENCH/requirements.txt" \
        || { echo "bench: pip install -r bench/requirements.txt failed (is PyPI reachable?)" >&2; exit 2; }
    cp "$BENCH/requirements.txt" "$VENV/.requirements"
fi

# main.py stops every server it started (finally block, SIGTERM handler; each server also
# dies with it through PR_SET_PDEATHSIG). exec, so signals reach it directly.
export PYTHONDONTWRITEBYTECODE=1
# The harness's client, servers and RESP encoder come from the tests' library (main.py and
# the writeload.py it starts inherit this).
export PYTHONPATH="$ROOT/tests/lib${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" "$BENCH/main.py" "$@"

#!/bin/bash
# Instruction counts of the write path, exact and repeatable where wall-clock figures on a
# shared VM are not: runs a build's redis-server under callgrind, sends it pipelined SETs
# with redis-benchmark, and prints the instructions the server executed outside serverCron
# (whose memory statistics run once per tick, so their share depends on how long the
# slowed-down run takes) and those under feedAppendOnlyFile.
#
#   bench/callgrind-writes.sh build/stock/src [everysec|always|no|off] [requests] [size] [directive value ...]
#
# "off" is appendonly no; size is the SETs' value size (redis-benchmark -d, default 3);
# the directives after it go to the server (say `aof-checksum yes`). Needs valgrind (installed on demand, like the bench's other tools).
set -euo pipefail
bindir=$(cd "$1" && pwd)
policy=${2:-everysec}
requests=${3:-200000}
size=${4:-3}
extra=()
shift $(($# < 4 ? $# : 4))
while [ $# -ge 2 ]; do extra+=("--$1" "$2"); shift 2; done
command -v valgrind >/dev/null || { sudo -n true 2>/dev/null && SUDO=sudo || SUDO=;
    $SUDO apt-get install -y -qq valgrind >/dev/null; }
work=$(mktemp -d /tmp/callgrind-writes.XXXXXX)
[ -n "${CALLGRIND_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
echo "work: $work" >&2
port=$((20000 + RANDOM % 10000))
if [ "$policy" = off ]; then aof=(--appendonly no); else aof=(--appendonly yes --appendfsync "$policy"); fi
valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bindir/redis-server" \
    --port "$port" --save '' --dir "$work" "${aof[@]}" "${extra[@]}" >"$work/log" 2>&1 &
server=$!
for _ in $(seq 200); do "$bindir/redis-cli" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
"$bindir/redis-benchmark" -p "$port" -t set -d "$size" -n "$requests" -P 16 -c 50 -r 100000 --seed 4242 -q >/dev/null
"$bindir/redis-cli" -p "$port" shutdown nosave >/dev/null 2>&1 || true
wait "$server" || true
callgrind_annotate --inclusive=yes "$work/out" >"$work/inclusive.txt" 2>/dev/null
inclusive() {
    awk -v f="$1" '$0 ~ f { gsub(",", "", $1); print $1; exit }' "$work/inclusive.txt"
}
total=$(inclusive 'PROGRAM TOTALS')
cron=$(inclusive 'server\\.c:serverCron ')
feed=$(inclusive ':feedAppendOnlyFile ')
echo "build $bindir, $policy, $requests pipelined SETs of $size bytes${extra[*]:+, ${extra[*]}}"
echo "whole server: $total instructions, of which serverCron ${cron:-0}"
echo "outside serverCron: $((total - ${cron:-0})) instructions ($(( (total - ${cron:-0}) / requests )) per SET)"
echo "feedAppendOnlyFile: ${feed:-0} instructions ($(( ${feed:-0} / requests )) per SET)"

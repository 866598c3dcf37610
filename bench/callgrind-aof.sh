#!/bin/bash
# Instruction counts of loading and rewriting, exact and repeatable where wall-clock figures
# on a shared VM are not (the write path has its own script, callgrind-writes.sh). Three
# steps, so that two builds are counted on the same files:
#
#   bench/callgrind-aof.sh dataset BINDIR DIR [sets]   write a RESP AOF directory into DIR
#   bench/callgrind-aof.sh rdb-base BINDIR DIR OUT     DIR rewritten with an RDB BASE into OUT
#   bench/callgrind-aof.sh load BINDIR DIR [yes|no]    restart on DIR (REDIS_AOF_LOAD_THREAD)
#   bench/callgrind-aof.sh rewrite BINDIR DIR [no|yes] BGREWRITEAOF after loading DIR
#                                                      (aof-use-rdb-preamble)
#
# dataset: pipelined redis-benchmark commands of a fixed seed (SETs of random keys, then
# INCR, LPUSH, SADD, HSET, ZADD, XADD and MSET) through BINDIR's server with the RESP form
# and appendfsync no; the directory is the input of the other two and is never changed
# (each run loads a copy).
# load: the whole server under callgrind from exec to the first reply after loading, then
# SHUTDOWN NOSAVE; prints the instructions of every thread outside serverCron (whose
# memory statistics run once per tick, so their share follows how long the slowed-down run
# takes) and those under loadAppendOnlyFiles on the thread that calls it.
# rewrite: the rewrite child's instructions from its entry on (callgrind follows the fork;
# the parent's load is not counted).
set -euo pipefail
step=${1:?usage: callgrind-aof.sh dataset|load|rewrite BINDIR DIR [arg]}
bindir=$(cd "${2:?BINDIR}" && pwd)
dir=${3:?DIR}
command -v valgrind >/dev/null || { sudo -n true 2>/dev/null && SUDO=sudo || SUDO=;
    $SUDO apt-get install -y -qq valgrind >/dev/null; }
work=$(mktemp -d /tmp/callgrind-aof.XXXXXX)
[ -n "${CALLGRIND_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 10000))
cli() { "$bindir/redis-cli" -p "$port" "$@"; }
# Waits for the first PONG (loading answers -LOADING until it is done).
await_pong() {
    for _ in $(seq 3000); do [ "$(cli ping 2>/dev/null)" = PONG ] && return; sleep 0.2; done
    echo "no PONG from the server on $port" >&2; exit 1
}
# Waits for the rewrite BGREWRITEAOF started to end, and insists that it succeeded.
await_rewrite() {
    for _ in $(seq 3000); do
        cli info persistence | grep -q '^aof_rewrite_in_progress:0' &&
            ! cli info persistence | grep -q '^aof_rewrite_scheduled:1' && break
        sleep 0.2
    done
    cli info persistence | grep -q '^aof_last_bgrewrite_status:ok' ||
        { echo "the rewrite failed" >&2; exit 1; }
}
inclusive() { # the inclusive count of the first line matching $2 in annotation $1
    awk -v f="$2" '$0 ~ f { gsub(",", "", $1); print $1; exit }' "$1"
}
server_args=(--port "$port" --save '' --dir "$work" --appendonly yes --appendfsync no
    --appenddirname aof)

case $step in
dataset)
    sets=${4:-300000}
    mkdir -p "$dir"
    "$bindir/redis-server" "${server_args[@]}" --aof-use-rdb-preamble no >"$work/log" 2>&1 &
    server=$!
    await_pong
    bench() { "$bindir/redis-benchmark" -p "$port" -P 16 -c 20 -r 1000000 --seed 4242 -q "$@" >/dev/null; }
    bench -t set -n "$sets" -d 40
    bench -t incr,lpush,sadd,hset,zadd,xadd,mset -n $((sets / 6)) -d 24
    cli shutdown >/dev/null 2>&1 || true
    wait "$server" || true
    rm -rf "${dir:?}/aof"
    cp -r "$work/aof" "$dir/aof"
    echo "dataset in $dir/aof: $(du -sh "$dir/aof" | cut -f1), $sets SETs and $((sets / 6 * 7)) other commands"
    ;;
rdb-base)
    # DIR's dataset loaded and rewritten in the default form: an RDB BASE, an empty INCR.
    out=${4:?rdb-base needs an output DIR}
    cp -r "$dir/aof" "$work/aof"
    "$bindir/redis-server" "${server_args[@]}" --aof-use-rdb-preamble yes >"$work/log" 2>&1 &
    server=$!
    await_pong
    cli bgrewriteaof >/dev/null
    await_rewrite
    cli shutdown >/dev/null 2>&1 || true
    wait "$server" || true
    mkdir -p "$out"
    rm -rf "${out:?}/aof"
    cp -r "$work/aof" "$out/aof"
    echo "dataset in $out/aof: $(ls "$out/aof" | tr '\n' ' ')"
    ;;
load)
    thread=${4:-yes}
    cp -r "$dir/aof" "$work/aof"
    REDIS_AOF_LOAD_THREAD=$thread valgrind --tool=callgrind --callgrind-out-file="$work/out" \
        "$bindir/redis-server" "${server_args[@]}" >"$work/log" 2>&1 &
    server=$!
    await_pong
    cli shutdown nosave >/dev/null 2>&1 || true
    wait "$server" || true
    callgrind_annotate --inclusive=yes "$work/out" >"$work/inclusive.txt" 2>/dev/null
    total=$(inclusive "$work/inclusive.txt" 'PROGRAM TOTALS')
    cron=$(inclusive "$work/inclusive.txt" 'server\\.c:serverCron ')
    load=$(inclusive "$work/inclusive.txt" ':loadAppendOnlyFiles ')
    echo "build $bindir, load of $dir/aof, REDIS_AOF_LOAD_THREAD=$thread"
    echo "whole server: $total instructions, of which serverCron ${cron:-0}"
    echo "outside serverCron: $((total - ${cron:-0})) instructions"
    echo "loadAppendOnlyFiles: ${load:-0} instructions"
    ;;
rewrite)
    preamble=${4:-no}
    cp -r "$dir/aof" "$work/aof"
    # The child's entry: upstream's rewriteAppendOnlyFile on stock; on the patched build
    # the Rust child (its export of that name serves C callers only, the fork calls the
    # child's function directly).
    entry=rewriteAppendOnlyFile
    [ "$(nm "$bindir/redis-server" | grep -c run_rewrite_child)" -gt 0 ] && entry='*run_rewrite_child*'
    valgrind --tool=callgrind --callgrind-out-file="$work/out.%p" \
        --toggle-collect="$entry" "$bindir/redis-server" "${server_args[@]}" \
        --aof-use-rdb-preamble "$preamble" >"$work/log" 2>&1 &
    server=$!
    await_pong
    cli bgrewriteaof >/dev/null
    await_rewrite
    cli shutdown nosave >/dev/null 2>&1 || true
    wait "$server" || true
    child=$(ls "$work"/out.* | grep -v "out\.$server\$" | head -1)
    callgrind_annotate --inclusive=yes "$child" >"$work/inclusive.txt" 2>/dev/null
    total=$(inclusive "$work/inclusive.txt" 'PROGRAM TOTALS')
    echo "build $bindir, BGREWRITEAOF of $dir/aof, aof-use-rdb-preamble $preamble"
    echo "rewrite child, under $entry: $total instructions"
    ;;
*) echo "unknown step $step (dataset, load or rewrite)" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Signature proof: compile upstream's server.h, then include/redis_aof.h (cbindgen's
# prototypes of every Rust export), then upstream's aof.c itself, as one translation unit
# (syntax only; nothing is built from it). C rejects two declarations of one function with
# different types, so a clean compile proves every exported prototype identical to the one
# upstream declares in server.h and defines in aof.c (most aof.c functions are declared
# nowhere else). Then the same compile with one prototype deliberately changed must fail,
# which proves the check can fail.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${REDIS_SRC:-$root/build/patched/src}
header=$root/include/redis_aof.h
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

read -r -a cflags <<< "$(make -s --no-print-directory -C "$src" print-final-cflags | tail -n 1)"
compile() { # $1: the header to check
    printf '#include "server.h"\n#include "%s"\n#include "aof.c"\n' "$1" > "$work/check.c"
    (cd "$src" && cc -I"$src" "${cflags[@]}" -fno-lto -Werror -fsyntax-only "$work/check.c")
}

# Declarations only (a line that starts with a type), not names in the doc comments.
count=$(grep -E '^[a-zA-Z_][a-zA-Z_ *]* \**[A-Za-z_]+\(' "$header" | wc -l)
compile "$header"
echo "signatures: the $count prototypes in include/redis_aof.h agree with upstream server.h and aof.c"

# Negative control: turn the first exported function's return type into an incompatible
# pointer type; the compiler must now refuse.
first=$(grep -m1 -oE '^[a-zA-Z_ *]+ [a-zA-Z_]+\(' "$header" | grep -oE '[a-zA-Z_]+\($' | tr -d '(')
sed -E "s/^[a-zA-Z_ *]+ ${first}\(/struct redis_aof_wrong *${first}(/" "$header" > "$work/broken.h"
if compile "$work/broken.h" 2>/dev/null; then
    echo "signatures: a deliberately wrong prototype for $first was NOT rejected" >&2
    exit 1
fi
echo "signatures: a deliberately wrong prototype for $first is rejected, as it must be"

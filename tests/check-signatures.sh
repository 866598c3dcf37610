#!/usr/bin/env bash
# Signature proof: compile upstream's server.h, then include/redis_aof.h (cbindgen's
# prototypes of every Rust export), then upstream's aof.c itself, as one translation unit
# (syntax only; nothing is built from it). C rejects two declarations of one function with
# different types, so a clean compile proves every exported prototype identical to the one
# upstream declares in server.h and defines in aof.c (most aof.c functions are declared
# nowhere else). Then the same compile with one prototype deliberately changed must fail,
# which proves the check can fail.
#
# Usage: check-signatures.sh SYMBOLS_LIST [HOOKS_LIST...] (tests/aof-symbols-<line>.txt,
# the release's functions; the hooks lists, tests/patch-hooks.txt and the release line's
# tests/patch-hooks-<line>.txt, name the functions the patches call, added to it). Exports that exist on some releases only sit in `#if defined(REDIS_AOF_HAS_*)`
# blocks of the header (cbindgen.toml's [defines]); a block's guard is defined when the
# functions inside it are in the release's list, and the prototypes compiled must then be
# exactly the list's functions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${REDIS_SRC:-$root/build/patched/src}
symbols_list=${1:?usage: check-signatures.sh SYMBOLS_LIST [HOOKS_LIST...]}
shift
hooks_lists=("$@")
[ ${#hooks_lists[@]} -gt 0 ] || hooks_lists=("$root/tests/patch-hooks.txt")
header=$root/include/redis_aof.h
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The release's aof.c functions, and the hooks the patches call (the patched headers
# declare them, so the compile below checks them too).
cat "$symbols_list" "${hooks_lists[@]}" | grep -v '^#' | grep -v '^$' | sort > "$work/listed"
symbols=$work/listed

# The first word after the return type and before "(": a prototype's function name.
proto_name() { grep -oE '[A-Za-z_]+\(' | head -n 1 | tr -d '('; }

# Guards to define: each guard whose block declares functions of this release's list.
defines=()
while read -r guard; do
    names=$(awk -v g="$guard" '$0 ~ "^#if defined\\(" g "\\)" {on=1; next} on && /^#endif/ {on=0} on' "$header" |
        grep -E '^[a-zA-Z_][a-zA-Z_ *]* \**[A-Za-z_]+\(' | proto_name)
    if [ -n "$names" ] && ! grep -qvxF -f "$symbols" <<< "$names"; then
        defines+=("-D$guard=1")
    fi
done < <(grep -oE '^#if defined\(REDIS_AOF_HAS_[A-Z_]+\)' "$header" | sed -E 's/^#if defined\((.*)\)$/\1/' | sort -u)

read -r -a cflags <<< "$(make -s --no-print-directory -C "$src" print-final-cflags | tail -n 1)"
compile() { # $1: the header to check
    printf '#include "server.h"\n#include "%s"\n#include "aof.c"\n' "$1" > "$work/check.c"
    (cd "$src" && cc -I"$src" "${cflags[@]}" "${defines[@]}" -fno-lto -Werror -fsyntax-only "$work/check.c")
}

# Declarations only (a line that starts with a type), not names in the doc comments, as the
# preprocessor leaves them with this release's guards.
cc -E -P "${defines[@]}" -x c "$header" | grep -E '^[a-zA-Z_][a-zA-Z_ *]* \**[A-Za-z_]+ ?\(' |
    while read -r line; do proto_name <<< "$line"; done | sort > "$work/declared"
if ! cmp -s "$work/declared" "$work/listed"; then
    echo "signatures: the header's prototypes for this release are not the functions of $symbols_list and the hooks:" >&2
    diff "$work/listed" "$work/declared" >&2 || true
    exit 1
fi
count=$(wc -l < "$work/declared")
compile "$header"
echo "signatures: the $count prototypes in include/redis_aof.h for this release (${defines[*]:-no release guards}) are the functions of $(basename "$symbols_list") (and the patches' hooks) and agree with upstream server.h and aof.c"

# Negative control: turn the first exported function's return type into an incompatible
# pointer type; the compiler must now refuse.
first=$(grep -m1 -oE '^[a-zA-Z_ *]+ [a-zA-Z_]+\(' "$header" | grep -oE '[a-zA-Z_]+\($' | tr -d '(')
sed -E "s/^[a-zA-Z_ *]+ ${first}\(/struct redis_aof_wrong *${first}(/" "$header" > "$work/broken.h"
if compile "$work/broken.h" 2>/dev/null; then
    echo "signatures: a deliberately wrong prototype for $first was NOT rejected" >&2
    exit 1
fi
echo "signatures: a deliberately wrong prototype for $first is rejected, as it must be"

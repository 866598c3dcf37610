#!/usr/bin/env bash
# Symbol report: which of upstream aof.c's global functions (the release line's
# tests/aof-symbols-<line>.txt) the patched redis-server takes from Rust. The binary's own debug info decides: each symbol's
# address is mapped back to its source file, `.rs` meaning Rust. Every one of them must come
# from Rust, no compile unit may come from aof.c, and the Rust archive may export no other
# C symbol than upstream's names, its own namespace and the compiler runtime.
set -euo pipefail
binary=${1:?usage: check-symbols.sh REDIS_SERVER RUST_LIB AOF_SYMBOLS}
rust_lib=${2:?}
symbols_file=${3:?}

declare -A address
while read -r addr type name; do
    [[ $type == [TtWw] ]] && address[$name]=$addr
done < <(nm --defined-only "$binary")

from_rust=()
from_c=()
missing=()
while read -r sym; do
    [ -n "$sym" ] || continue
    addr=${address[$sym]:-}
    if [ -z "$addr" ]; then missing+=("$sym"); continue; fi
    file=$(addr2line -e "$binary" "0x$addr" | cut -d: -f1)
    if [[ $file == *.rs ]]; then from_rust+=("$sym"); else from_c+=("$sym"); fi
done < "$symbols_file"

total=$(grep -c . "$symbols_file")
echo "symbols: ${#from_rust[@]} of $total upstream aof.c functions come from Rust, ${#from_c[@]} from C"
status=0
if [ ${#missing[@]} -gt 0 ]; then
    echo "symbols: not defined in $binary: ${missing[*]}" >&2
    status=1
fi

if [ ${#from_c[@]} -gt 0 ]; then
    echo "symbols: resolved to C, not Rust: ${from_c[*]}" >&2
    status=1
fi

# Every Rust definition must be a global text symbol of the archive.
rust_globals=$(nm --defined-only -g "$rust_lib" 2>/dev/null | awk '$2 == "T" { print $3 }')
for sym in "${from_rust[@]}"; do
    grep -qx "$sym" <<< "$rust_globals" || {
        echo "symbols: $sym maps to Rust source but is not a global text symbol of $rust_lib" >&2
        status=1
    }
done
# No C from aof.c at all, static functions included: the binary has no compile unit named
# aof.c. The redis-check-aof.c unit shows the scan reads the units' names.
units=$(readelf --debug-dump=info --dwarf-depth=1 "$binary" 2>/dev/null \
    | sed -nE 's/.*DW_AT_name +: (\([^)]*\): )?(.*)$/\2/p')
if grep -qE '(^|/)aof\.c$' <<< "$units"; then
    echo "symbols: $binary holds a compile unit from aof.c" >&2
    status=1
elif ! grep -qE '(^|/)redis-check-aof\.c$' <<< "$units"; then
    echo "symbols: could not read the compile units of $binary (no redis-check-aof.c among them)" >&2
    status=1
else
    echo "symbols: no compile unit of $binary comes from aof.c"
fi
# Nothing else with C linkage may leak out of the archive: only upstream's names, the
# crate's own namespace `redis_aof_` (C shim and layout table), and the compiler's runtime
# ABI helpers (compiler-rt's libgcc-compatible `__<op><mode>2`-style names). Rust's own
# symbols are mangled (`_ZN`/`_R`) and cannot collide with C.
foreign=$(nm -g --defined-only "$rust_lib" 2>/dev/null | awk 'NF == 3 { print $3 }' \
    | grep -v -e '^_ZN' -e '^_R' -e '^redis_aof_' -e '^__compilerrt_' -E -e '^__[a-z]+[0-9][a-z0-9]*$' \
    | grep -vFx -f "$symbols_file" | sort -u || true)
if [ -n "$foreign" ]; then
    echo "symbols: $rust_lib exports C symbols outside upstream's list and the redis_aof_ namespace:" >&2
    echo "$foreign" | head -20 >&2
    status=1
else
    echo "symbols: the Rust library exports no other C symbols (upstream's names, redis_aof_*, compiler runtime only)"
fi
exit $status

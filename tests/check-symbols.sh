#!/usr/bin/env bash
# Symbol report: which of upstream aof.c's global functions the patched redis-server takes
# from Rust. The binary's own debug info decides: each symbol's address is mapped back to
# its source file, `.rs` meaning Rust. tests/ported-symbols.txt is the ratchet: every symbol
# it lists must come from Rust, so the count of C symbols only goes down.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:?usage: check-symbols.sh REDIS_SERVER RUST_LIB AOF_SYMBOLS}
rust_lib=${2:?}
symbols_file=${3:?}
ratchet=$root/tests/ported-symbols.txt

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
echo "symbols: ${#from_rust[@]} of $total upstream aof.c functions come from Rust, ${#from_c[@]} still from C"
if [ ${#from_c[@]} -gt 0 ]; then
    printf '  still C: %s\n' "${from_c[*]}" | fold -s -w 100
fi
status=0
if [ ${#missing[@]} -gt 0 ]; then
    echo "symbols: not defined in $binary: ${missing[*]}" >&2
    status=1
fi

# The ratchet: nothing once ported may fall back to C.
regressed=()
for sym in "${from_c[@]}"; do
    grep -qx "$sym" "$ratchet" && regressed+=("$sym")
done
if [ ${#regressed[@]} -gt 0 ]; then
    echo "symbols: listed in tests/ported-symbols.txt but resolved to C: ${regressed[*]}" >&2
    status=1
fi
# And the ratchet must be kept up to date, so it never lags behind what is ported.
unlisted=()
for sym in "${from_rust[@]}"; do
    grep -qx "$sym" "$ratchet" || unlisted+=("$sym")
done
if [ ${#unlisted[@]} -gt 0 ]; then
    echo "symbols: ported but not yet in tests/ported-symbols.txt (add them): ${unlisted[*]}" >&2
    status=1
fi

# Every Rust definition must be a strong global in the archive (the weak C copy loses).
rust_globals=$(nm --defined-only -g "$rust_lib" 2>/dev/null | awk '$2 == "T" { print $3 }')
for sym in "${from_rust[@]}"; do
    grep -qx "$sym" <<< "$rust_globals" || {
        echo "symbols: $sym maps to Rust source but is not a global text symbol of $rust_lib" >&2
        status=1
    }
done
# No C from aof.c at all, static functions included: the binary has no compile unit named
# aof.c (the transitional object, when a port was partial, showed up as one). The
# redis-check-aof.c unit shows the scan reads the units' names.
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

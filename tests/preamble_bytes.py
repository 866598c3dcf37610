#!/usr/bin/env python3
"""The RDB preamble the patched build writes (its own walk of the keyspace, calling
upstream's RDB writers) is byte for byte the one stock writes for the same key order.

Key order follows each process's random hash seed, so the dataset gives every database
exactly one key (16 databases, one type and encoding each, with and without TTLs, plus a
function library): then the order is the same in any process. Nothing in it depends on
the clock (absolute TTLs, no stream consumers), so both builds hold the same bytes. Both builds rewrite it
with `aof-use-rdb-preamble yes`; the two BASE files must be identical after the aux
fields (which hold the time, the memory in use and the version) and before the trailing
checksum (which covers the aux fields). Each BASE must also load, in the other build, to
the same DEBUG DIGEST.

Usage: preamble_bytes.py STOCK_SERVER PATCHED_SERVER
Prints "preamble-bytes: N passed, N failed".
"""

import os
import shutil
import sys
import tempfile

from redistest.files import aof_dir, base_file
from redistest.pair import PairServer

LIBRARY = "#!lua name=lib\nredis.register_function('f', function() return 1 end)"

# One key per database (the index is the db).
DATASET = [
    [["SET", "s", "123"]],
    [["SET", "s", "hello"], ["PEXPIREAT", "s", "4102444800000"]],
    [["SET", "s", "x" * 300]],
    [["RPUSH", "l", "1", "two", "-3"]],
    [["CONFIG", "SET", "list-max-listpack-size", "2"], ["RPUSH", "l", "a", "b", "c", "4", "5"],
     ["CONFIG", "SET", "list-max-listpack-size", "-2"]],
    [["SADD", "s", "1", "2", "3"]],
    [["SADD", "s", "a", "b", "7"]],
    [["ZADD", "z", "1", "a", "2.5", "b"]],
    [["HSET", "h", "f", "v", "n", "1"]],
    [["HSET", "h", "f", "v"], ["HPEXPIREAT", "h", "4102444800000", "FIELDS", "1", "f"]],
    # A group but no consumer: a consumer's seen and active times are the clock's.
    [["XADD", "x", "1-1", "a", "1", "b", "text"], ["XADD", "x", "2-1", "a", "2"],
     ["XGROUP", "CREATE", "x", "g", "1-1"]],
    [["SET", "big", "y" * 70000]],
    [["SADD", "one", "only"], ["CONFIG", "SET", "set-max-listpack-entries", "0"],
     ["SADD", "hs", "m"], ["SREM", "one", "only"], ["CONFIG", "SET", "set-max-listpack-entries", "128"]],
    [["ZADD", "z", "1", "m"]],
    [["SET", "t", "v", "PXAT", "4102444800000"]],
    [["INCRBY", "n", "-9223372036854775808"]],
]


def read_length(data, pos):
    """An RDB length: (value, is_encoded_int, next position)."""
    first = data[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, False, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | data[pos + 1], False, pos + 2
    if kind == 2:
        if first == 0x80:
            return int.from_bytes(data[pos + 1:pos + 5], "big"), False, pos + 5
        return int.from_bytes(data[pos + 1:pos + 9], "big"), False, pos + 9
    return first & 0x3F, True, pos + 1


def skip_string(data, pos):
    value, encoded, pos = read_length(data, pos)
    if not encoded:
        return pos + value
    if value in (0, 1, 2):  # 8, 16, 32 bit integer
        return pos + (1, 2, 4)[value]
    raise ValueError("unexpected string encoding %d in an aux field" % value)


def body(data):
    """The bytes after the header and the aux fields, before the checksum."""
    assert data[:5] == b"REDIS", data[:9]
    pos = 9
    while data[pos] == 0xFA:  # RDB_OPCODE_AUX: two strings
        pos = skip_string(data, pos + 1)
        pos = skip_string(data, pos)
    return data[pos:-8]


def build_and_rewrite(binary, workdir):
    server = PairServer(binary, workdir, "--aof-use-rdb-preamble", "yes", "--databases", "16")
    try:
        server.call("FUNCTION", "LOAD", LIBRARY)
        for db, commands in enumerate(DATASET):
            server.call("SELECT", str(db))
            for command in commands:
                reply = server.call(*command)
                if isinstance(reply, Exception):
                    raise RuntimeError("%s: %s" % (" ".join(command), reply))
        server.call("SELECT", "0")
        digest = server.call("DEBUG", "DIGEST")
        server.call("BGREWRITEAOF")
        server.wait_rewrite()
        return digest, base_file(workdir)
    finally:
        server.stop()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    stock, patched = sys.argv[1], sys.argv[2]
    root = tempfile.mkdtemp(prefix="preamble-bytes-")
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print("[%s] %s%s" % ("ok" if ok else "FAIL", name, "" if ok else ": " + detail))

    made = {}
    for name, binary in (("stock", stock), ("patched", patched)):
        workdir = os.path.join(root, name)
        os.makedirs(workdir)
        made[name] = (workdir,) + build_and_rewrite(binary, workdir)
    (_, s_digest, (s_name, s_bytes)), (_, p_digest, (p_name, p_bytes)) = made["stock"], made["patched"]
    check("both builds hold the same dataset", s_digest == p_digest, "%r / %r" % (s_digest, p_digest))
    check("both BASE files are RDB", s_name.endswith(".rdb") and p_name.endswith(".rdb"), "%s, %s" % (s_name, p_name))
    s_body, p_body = body(s_bytes), body(p_bytes)
    first_diff = next((i for i, (a, b) in enumerate(zip(s_body, p_body)) if a != b), None)
    check("the preambles are byte-identical after the aux fields (%d bytes)" % len(s_body),
          s_body == p_body, "lengths %d / %d, first difference at %s" % (len(s_body), len(p_body), first_diff))
    # Each build loads the other's BASE to the same digest.
    for loader, binary, source in (("stock", stock, "patched"), ("patched", patched, "stock")):
        workdir = os.path.join(root, "load-%s-by-%s" % (source, loader))
        shutil.copytree(aof_dir(made[source][0]), aof_dir(workdir))
        server = PairServer(binary, workdir, "--databases", "16")
        try:
            digest = server.call("DEBUG", "DIGEST")
        finally:
            server.stop()
        check("%s loads the %s preamble to the same digest" % (loader, source), digest == s_digest,
              "%r / %r" % (digest, s_digest))
    failed = results.count(False)
    if failed == 0:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("work dirs kept in %s" % root)
    print("preamble-bytes: %d passed, %d failed" % (results.count(True), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

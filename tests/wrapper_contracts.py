#!/usr/bin/env python3
"""The contracts of the glue's dataset wrappers that rest on upstream behaviour, checked
against the real server: each case builds a value in one exact encoding (asserted with
OBJECT ENCODING, so a change of upstream's thresholds fails the case instead of silently
testing another encoding), rewrites it in the command form (`aof-use-rdb-preamble no`,
the path that reads every element through `crates/aof-glue/src/value.rs` and
`stream.rs`) and compares the BASE with the commands written out by hand here, element
by element. Where the iteration order is upstream's own (listpack, intset, quicklist,
stream) the order is compared too; hashtable and skiplist members as sets.

What each case pins:
- shared-int: `SET k 123` stores one of upstream's shared integer objects (refcount
  OBJ_SHARED_REFCOUNT, encoding int, no buffer): `object::string_value` must give the
  number, not read a buffer;
- int-string / embstr / raw: the three string encodings;
- list-listpack-ints / list-quicklist: integers a listpack stores as integers (no
  bytes: `listTypeGetValue` returns NULL and the number), including i64's extremes;
- set-intset / set-listpack / set-hashtable: `setTypeNext` hands out integers for an
  intset, and strings or integers for a listpack set;
- zset-listpack / zset-skiplist: integer members, and scores formatted as upstream does;
- hash-listpack / hash-hashtable: integer fields and values;
- stream-int-fields: a stream entry's integer-encoded fields and values (the iterator
  formats them into a buffer its next step overwrites: each pair must be used before the
  next is fetched), with a consumer group, a pending entry and its consumer.

Usage: wrapper_contracts.py REDIS_SERVER
Prints "wrapper-contracts: N passed, N failed".
"""

import shutil
import sys
import tempfile

from redistest.files import base_file
from redistest.pair import PairServer
from redistest.resp import parse_commands

I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1


def b(*items):
    return [x if isinstance(x, bytes) else str(x).encode() for x in items]


# name -> (setup commands, key, expected OBJECT ENCODING, expected BASE commands for the
# key, whether the element order is upstream's own and so compared)
CASES = [
    ("shared-int", [["SET", "k", "123"]], "k", "int", [b("SET", "k", 123)], True),
    ("int-string", [["SET", "k", str(I64_MIN)]], "k", "int", [b("SET", "k", I64_MIN)], True),
    ("embstr", [["SET", "k", "0123"]], "k", "embstr", [b("SET", "k", "0123")], True),
    ("raw", [["SET", "k", "x" * 100]], "k", "raw", [b("SET", "k", "x" * 100)], True),
    ("list-listpack-ints",
     [["RPUSH", "l", "1", "-2", "0", str(I64_MAX), str(I64_MIN), "12", "a", "-0", "007"]],
     "l", "listpack",
     [b("RPUSH", "l", 1, -2, 0, I64_MAX, I64_MIN, 12, "a", "-0", "007")], True),
    ("list-quicklist",
     [["CONFIG", "SET", "list-max-listpack-size", "4"],
      ["RPUSH", "l"] + [str(i) for i in range(70)] + ["x"]],
     "l", "quicklist",
     [b("RPUSH", "l", *range(64)), b("RPUSH", "l", *range(64, 70), "x")], True),
    ("set-intset", [["SADD", "s", "5", "-3", str(I64_MAX), "0"]], "s", "intset",
     [b("SADD", "s", -3, 0, 5, I64_MAX)], True),
    ("set-listpack", [["SADD", "s", "a", "7", "-8", "b"]], "s", "listpack",
     [b("SADD", "s", "a", 7, -8, "b")], True),
    ("set-hashtable",
     [["CONFIG", "SET", "set-max-listpack-entries", "2"], ["SADD", "s", "a", "7", "-8"]],
     "s", "hashtable", [b("SADD", "s", "a", 7, -8)], False),
    ("zset-listpack", [["ZADD", "z", "1.5", "100", "-2", "m", "3", str(I64_MIN)]], "z",
     "listpack", [b("ZADD", "z", -2, "m", 1.5, 100, 3, I64_MIN)], True),
    ("zset-skiplist",
     [["CONFIG", "SET", "zset-max-listpack-entries", "1"],
      ["ZADD", "z", "1.5", "100", "-2", "m", "inf", "9"]],
     "z", "skiplist", [b("ZADD", "z", -2, "m", 1.5, 100, "inf", 9)], False),
    ("hash-listpack", [["HSET", "h", "1", "-1", "f", str(I64_MAX), "20", "v"]], "h",
     "listpack", [b("HMSET", "h", 1, -1, "f", I64_MAX, 20, "v")], True),
    ("hash-hashtable",
     [["CONFIG", "SET", "hash-max-listpack-entries", "1"],
      ["HSET", "h", "1", "-1", "f", str(I64_MAX)]],
     "h", "hashtable", [b("HMSET", "h", 1, -1, "f", I64_MAX)], False),
    ("stream-int-fields",
     [["XADD", "st", "1-1", "a", "1", "b", "-22", "c", "text", "42", str(I64_MAX)],
      ["XADD", "st", "2-0", "a", "7", "b", "x"],
      ["XGROUP", "CREATE", "st", "g", "0"],
      ["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "st", ">"]],
     "st", "stream",
     [b("XADD", "st", "1-1", "a", 1, "b", -22, "c", "text", 42, I64_MAX),
      b("XADD", "st", "2-0", "a", 7, "b", "x"),
      b("XSETID", "st", "2-0", "ENTRIESADDED", 2, "MAXDELETEDID", "0-0"),
      b("XGROUP", "CREATE", "st", "g", "1-1", "ENTRIESREAD", 1),
      b("XCLAIM", "st", "g", "alice", 0, "1-1", "TIME", "{time}", "RETRYCOUNT", 1,
        "JUSTID", "FORCE")],
     True),
]


def base_commands(workdir):
    return [list(c) for c in parse_commands(base_file(workdir)[1])]


def normalise(command, ordered, claim_time):
    """A command with its time placeholder filled; unordered members as a sorted tuple."""
    command = [claim_time if a == b"{time}" else a for a in command]
    if ordered:
        return tuple(command)
    head = 2
    body = command[head:]
    if command[0] in (b"ZADD", b"HMSET"):
        body = sorted(tuple(body[i:i + 2]) for i in range(0, len(body), 2))
    else:
        body = sorted(body)
    return tuple(command[:head]) + tuple(map(tuple, body) if command[0] in (b"ZADD", b"HMSET") else body)


def run_case(binary, root, case):
    name, setup, key, encoding, expected, ordered = case
    workdir = tempfile.mkdtemp(prefix=name + "-", dir=root)
    server = PairServer(binary, workdir, "--aof-use-rdb-preamble", "no")
    try:
        for command in setup:
            reply = server.call(*command)
            if isinstance(reply, Exception):
                return "%s: %s" % (" ".join(command), reply)
        got_encoding = server.call("OBJECT", "ENCODING", key)
        if got_encoding != encoding.encode():
            return "encoding of %s is %r, not %s: the case no longer tests what it names" % (
                key, got_encoding, encoding)
        if not isinstance(server.call("BGREWRITEAOF"), bytes):
            return "BGREWRITEAOF refused"
        server.wait_rewrite()
        commands = [c for c in base_commands(workdir) if c[0].upper() != b"SELECT"]
        claim_time = None
        for c in commands:
            if c[0] == b"XCLAIM":
                claim_time = c[c.index(b"TIME") + 1]
        want = [normalise(c, ordered, claim_time) for c in expected]
        got = [normalise(c, ordered, claim_time) for c in commands]
        if got != want:
            return "BASE holds %r, expected %r" % (got, want)
        # And the server loads what it wrote back to the same value.
        before = server.call("DEBUG", "DIGEST-VALUE", key)
        if server.call("DEBUG", "LOADAOF") != b"OK":
            return "DEBUG LOADAOF failed"
        after = server.call("DEBUG", "DIGEST-VALUE", key)
        if after != before:
            return "the value changed through the rewrite: %r -> %r" % (before, after)
        return None
    finally:
        server.stop()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    root = tempfile.mkdtemp(prefix="wrapper-contracts-")
    passed = failed = 0
    for case in CASES:
        try:
            problem = run_case(binary, root, case)
        except Exception as e:  # a crash of the server is a failure of the case
            problem = "%s: %s" % (type(e).__name__, e)
        if problem:
            failed += 1
            print("[FAIL] %s: %s" % (case[0], problem))
        else:
            passed += 1
            print("[ok] %s" % case[0])
    if failed == 0:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("work dirs kept in %s" % root)
    print("wrapper-contracts: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

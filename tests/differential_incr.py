#!/usr/bin/env python3
"""Differential test of the write path and the manifest: the same command stream, with two
BGREWRITEAOF in the middle, sent to the stock and the patched redis-server (appendonly yes,
appendfsync always), must leave byte-identical INCR files and manifests (same names, same
sequence numbers, same offsets).

The stream covers every type, several dbs (so SELECT records), MULTI/EXEC, Lua scripts
(propagated as effects), integer-encoded and binary arguments, large values, and expiries.
Expiries use absolute times and stream entries explicit IDs: relative expiries (EXPIRE,
SET EX) and "*" IDs are rewritten by the server with its clock, which differs between two
servers.

Usage: differential_incr.py STOCK_SERVER PATCHED_SERVER
Prints "differential: N passed, N failed" and exits non-zero on any difference.
"""

import os
import random
import shutil
import sys
import tempfile

from redistest.files import aof_files
from redistest.pair import FUTURE_MS, Checks, PairServer
from redistest.resp import ReplyError


def command_stream(seed=7):
    """A deterministic list of commands (each a tuple of arguments)."""
    rnd = random.Random(seed)
    cmds = []
    binary = bytes(range(256)) + b"\r\n\r\n\x00"
    for db in (0, 3, 15, 0, 9):
        cmds.append(("SELECT", db))
        for i in range(40):
            key = "k:%d:%d" % (db, i)
            cmds.append(("SET", key, "value-%d" % rnd.randrange(10**9)))
            cmds.append(("SET", "int:%d" % i, rnd.randrange(-(10**12), 10**12)))
            cmds.append(("INCRBY", "counter", rnd.randrange(1, 1000)))
            cmds.append(("APPEND", "bin", binary))
            cmds.append(("RPUSH", "list", *[rnd.randrange(10**6) for _ in range(5)]))
            cmds.append(("LPUSH", "list", "x" * rnd.randrange(0, 100)))
            cmds.append(("SADD", "set", *["m%d" % rnd.randrange(100) for _ in range(3)]))
            cmds.append(("SADD", "intset", *[rnd.randrange(1000) for _ in range(3)]))
            cmds.append(("ZADD", "zset", repr(rnd.random() * 100), "z%d" % i, "-inf", "neg"))
            cmds.append(("HSET", "hash", "f%d" % i, "v" * rnd.randrange(1, 80)))
            # Explicit IDs: "*" would take the server's clock.
            cmds.append(("XADD", "stream", "%d-1" % (len(cmds) + 1), "field", i))
            cmds.append(("PEXPIREAT", key, FUTURE_MS + i))
        cmds.append(("SET", "big", "B" * 300_000))
        cmds.append(("SET", "withpxat", "v", "PXAT", FUTURE_MS))
        cmds.append(("HSETEX", "hfe", "PXAT", FUTURE_MS, "FIELDS", 1, "f", "v"))
        cmds.append(("MULTI",))
        cmds.append(("INCR", "tx"))
        cmds.append(("LPUSH", "txlist", "a", "b"))
        cmds.append(("EXEC",))
        cmds.append(("EVAL", "redis.call('set', KEYS[1], ARGV[1]); redis.call('incr', KEYS[2])",
                     2, "lua:k", "lua:n", "from-lua"))
        cmds.append(("DEL", "k:%d:0" % db, "missing"))
        cmds.append(("LPOP", "list"))
        cmds.append(("ZINCRBY", "zset", 2.5, "z1"))
        cmds.append(("GETSET", "counter", 0))
        if db in (3, 15):
            # A rewrite mid-stream: new BASE, new INCR, the old ones become history and
            # are deleted; the manifest must evolve identically.
            cmds.append(("BGREWRITEAOF",))
            cmds.append(("WAIT-REWRITE",))
    cmds.append(("FLUSHDB",))
    cmds.append(("SET", "after-flush", "1"))
    return cmds


def run(binary, cmds, workdir):
    srv = PairServer(binary, workdir)
    try:
        replies = []
        for cmd in cmds:
            if cmd == ("WAIT-REWRITE",):
                srv.wait_rewrite()
                continue
            replies.append(srv.call(*cmd))
        if srv.stop() is None:
            raise RuntimeError("%s did not exit after SHUTDOWN NOSAVE" % binary)
        return replies
    finally:
        srv.kill()


def main():
    stock, patched = sys.argv[1], sys.argv[2]
    cmds = command_stream()
    root = tempfile.mkdtemp(prefix="differential-incr-")
    c = Checks()
    try:
        dirs = {name: os.path.join(root, name) for name in ("stock", "patched")}
        for d in dirs.values():
            os.makedirs(d)
        replies = {"stock": run(stock, cmds, dirs["stock"]),
                   "patched": run(patched, cmds, dirs["patched"])}
        files = {name: aof_files(d) for name, d in dirs.items()}

        errors = [r for r in replies["stock"] if isinstance(r, ReplyError)]
        c.check(not errors, "every command of the stream succeeds on stock (%d errors)" % len(errors))
        c.check(replies["stock"] == replies["patched"], "both servers gave the same replies")
        c.check(sorted(files["stock"]) == sorted(files["patched"]),
                "same AOF file names: %s" % sorted(files["patched"]))
        for name in sorted(files["stock"]):
            if ".base." in name:
                # An RDB BASE records its creation time: compared by loading, elsewhere.
                continue
            a, b = files["stock"][name], files["patched"].get(name)
            c.check(a == b, "%s is byte-identical (%d bytes)" % (name, len(a)))
        manifest = files["patched"].get("appendonly.aof.manifest", b"")
        c.check(b"seq 3 type b" in manifest and b"seq 3 type i" in manifest,
                "the manifest went through two rewrites: %r" % manifest)
        incr = b"".join(v for k, v in files["patched"].items() if ".incr." in k)
        c.check(len(incr) > 100_000, "the INCR file holds the stream since the last rewrite (%d bytes)" % len(incr))
        print("differential: %d passed, %d failed" % (c.passed, c.failed))
        return 1 if c.failed else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Differential test of the rewrite: the same dataset, holding every type and encoding,
is loaded into the stock and the patched server; BGREWRITEAOF with aof-use-rdb-preamble no
must produce equivalent BASE files; then each BASE is loaded by the other build and
DEBUG DIGEST must match the original.

Byte identity between two processes is impossible even for stock against stock: Redis
seeds its dict hash function randomly at start, so keys (and hash-table encoded members)
come out in another order. "Equivalent" is therefore checked exactly up to that order:
the same commands with the same argument counts (so the same 64-item batching), lists in
the same order, set/hash/zset members and scores as the same multisets, byte for byte
(only the XCLAIM delivery time, each run's own clock, is left out).

With MODULE (upstream's tests/modules/blockonkeys.so), both servers load it and the
dataset also holds values of its type, which the rewrite writes through the type's own
callback, one FSL.PUSH per element (the patched child gives the callback a rio that
appends to the child's buffer), some under keys of 4 KiB and more, which that rio writes
straight to the file like any other large payload. The type has no digest callback, so the BASE comparison
is what checks its values. (datatype2.so's AOF form cannot be loaded back: its
MEM.ALLOCANDWRITE reads one argument past the end.)

Usage: differential_rewrite.py STOCK_SERVER PATCHED_SERVER [MODULE]
Prints "differential-rewrite: N passed, N failed".
"""

import os
import shutil
import sys
import tempfile

from redistest.files import base_file
from redistest.pair import FUTURE_MS, Checks, PairServer
from redistest.resp import ReplyError, parse_commands

# Absolute: each server runs in its own work dir.
MODULE = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None


def dataset():
    """Commands building every type in every encoding, with expiries and functions."""
    cmds = [("FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)")]
    for db in (0, 5):
        cmds.append(("SELECT", db))
        cmds.append(("SET", "str", "hello"))
        cmds.append(("SET", "int", 12345))
        cmds.append(("SET", "big", "x" * 5000))
        # Larger than the patched child's 8 KiB buffer, and either side of its 4 KiB
        # direct-write threshold inside one command.
        cmds.append(("SET", "huge", bytes(range(256)) * 400))
        cmds.append(("RPUSH", "list-large-elements", "a", "y" * 4095, "b", "z" * 4096, "w" * 20000, 7))
        cmds.append(("SET", "bin", bytes(range(256))))
        cmds.append(("SET", "ttl", "v", "PXAT", FUTURE_MS))
        cmds.append(("RPUSH", "list-small", "a", "b", 1, 2))
        cmds.append(("RPUSH", "list-big", *range(300)))
        cmds.append(("RPUSH", "list-long-values", *["v" * 100 + str(i) for i in range(200)]))
        cmds.append(("SADD", "intset", *range(100)))
        cmds.append(("SADD", "set-small", "a", "b", "c"))
        cmds.append(("SADD", "set-big", *["m%d" % i for i in range(1000)]))
        cmds.append(("ZADD", "zset-small", 1.5, "a", -2, "b", "inf", "c"))
        zbig = []
        for i in range(500):
            zbig += [repr(i / 7.0), "z%d" % i]
        cmds.append(("ZADD", "zset-big", *zbig))
        cmds.append(("HSET", "hash-small", "f1", "v1", "f2", 2))
        hbig = []
        for i in range(1000):
            hbig += ["f%d" % i, "v%d" % i]
        cmds.append(("HSET", "hash-big", *hbig))
        cmds.append(("HSET", "hash-ttl", "a", "1", "b", "2", "c", "3"))
        cmds.append(("HPEXPIREAT", "hash-ttl", FUTURE_MS, "FIELDS", 2, "a", "c"))
        cmds.append(("HSET", "hash-ttl-big", *hbig))
        cmds.append(("HPEXPIREAT", "hash-ttl-big", FUTURE_MS, "FIELDS", 1, "f7"))
        for i in range(1, 20):
            cmds.append(("XADD", "stream", "%d-1" % i, "f", i))
        cmds.append(("XGROUP", "CREATE", "stream", "g1", "0"))
        cmds.append(("XREADGROUP", "GROUP", "g1", "c1", "COUNT", 3, "STREAMS", "stream", ">"))
        cmds.append(("XGROUP", "CREATECONSUMER", "stream", "g1", "idle"))
        cmds.append(("XADD", "empty-stream", "MAXLEN", 0, "1-1", "x", "y"))
        cmds.append(("PEXPIREAT", "list-big", FUTURE_MS))
        if MODULE:
            for element in range(1, 101):
                cmds.append(("FSL.PUSH", "module-value", element * 1000003))
            # Keys either side of the child's 4 KiB direct-write threshold and well above
            # it: each FSL.PUSH the callback emits carries the key as a large payload.
            for key_len in (4095, 4096, 20000):
                key = "module-" + "k" * (key_len - len("module-"))
                for element in range(1, 6):
                    cmds.append(("FSL.PUSH", key, element * 7))
    return cmds


def canonical(data):
    """Order-independent form of a rewrite: see the module doc."""
    from collections import Counter
    shapes, lists, members, others = Counter(), {}, {}, Counter()
    db = None
    for cmd in parse_commands(data):
        name = cmd[0].upper()
        if name == b"SELECT":
            db = cmd[1]
            continue
        key = (db, cmd[1]) if len(cmd) > 1 else (db, None)
        shapes[(db, name, cmd[1] if len(cmd) > 1 else None, len(cmd))] += 1
        if name == b"RPUSH":
            lists.setdefault(key, []).extend(cmd[2:])
        elif name in (b"SADD",):
            members.setdefault((name,) + key, Counter()).update(cmd[2:])
        elif name in (b"ZADD", b"HMSET"):
            pairs = zip(cmd[2::2], cmd[3::2])
            members.setdefault((name,) + key, Counter()).update(pairs)
        else:
            if name == b"XCLAIM":
                # The PEL delivery time is the wall clock of each run's XREADGROUP.
                cmd = cmd[:7] + (b"<delivery time>",) + cmd[8:]
            others[(db,) + cmd] += 1
    return shapes, lists, members, others


def run_build(binary, workdir, extra=()):
    if MODULE:
        extra = ["--loadmodule", MODULE, *extra]
    return PairServer(binary, workdir, "--aof-use-rdb-preamble", "no", *extra)


def stop(server):
    """SHUTDOWN NOSAVE; a server that does not exit within 30 s fails the run."""
    try:
        if server.stop() is None:
            raise RuntimeError("%s did not exit after SHUTDOWN NOSAVE" % server.binary)
    finally:
        server.kill()


def main():
    stock, patched = sys.argv[1], sys.argv[2]
    root = tempfile.mkdtemp(prefix="differential-rewrite-")
    c = Checks()
    check = c.check
    try:
        digests, bases = {}, {}
        for name, binary in (("stock", stock), ("patched", patched)):
            workdir = os.path.join(root, name)
            os.makedirs(workdir)
            server = run_build(binary, workdir)
            try:
                replies = [server.call(*cmd) for cmd in dataset()]
                errors = [r for r in replies if isinstance(r, ReplyError)]
                check(not errors, "%s: the dataset builds without errors %s" % (name, errors[:2]))
                server.call("BGREWRITEAOF")
                server.wait_rewrite()
                digests[name] = server.call("DEBUG", "DIGEST")
            finally:
                stop(server)
            bases[name] = base_file(workdir)
        check(digests["stock"] == digests["patched"], "same dataset digest on both builds")
        check(bases["stock"][0] == bases["patched"][0], "same BASE name %s" % bases["patched"][0])
        check(len(bases["stock"][1]) == len(bases["patched"][1]),
              "BASE files have the same size (%d bytes)" % len(bases["patched"][1]))
        a, b = canonical(bases["stock"][1]), canonical(bases["patched"][1])
        for part, what in zip(range(4), ("commands and batch sizes", "list contents in order",
                                         "set, zset and hash members", "other records")):
            check(a[part] == b[part], "BASE files hold the same %s" % what)
        check(len(bases["patched"][1]) > 50_000, "the BASE holds the dataset")

        # Cross-load: each build loads the other's files.
        for loader, source in (("stock", "patched"), ("patched", "stock")):
            workdir = os.path.join(root, "cross-%s" % loader)
            shutil.copytree(os.path.join(root, source), workdir)
            server = run_build(stock if loader == "stock" else patched, workdir)
            try:
                check(server.call("DEBUG", "DIGEST") == digests[source],
                      "%s loads the %s rewrite to the same digest" % (loader, source))
            finally:
                stop(server)
        print("differential-rewrite: %d passed, %d failed" % (c.passed, c.failed))
        return 1 if c.failed else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""What 8.4 and 8.6 added to the AOF, on stock and patched of the same release side by side:

- corrupt-tail: 8.4's `aof-load-corrupt-tail-max-size` over a matrix of limits (0, one byte
  short of the tail, exactly the tail, one byte over, far over) and of where the damage is
  (the last INCR, a BASE that is the only file, a BASE with an INCR after it, an INCR that
  is not the last): exit status, keys loaded, the files' sizes afterwards and every AOF
  line of the log must be the same on both builds;
- corrupt-tail-multi: a corrupt tail inside an open MULTI. Stock cuts after the queued
  commands and leaves the MULTI open in the file, so a write acknowledged after that
  restart joins the transaction and is reverted at the next restart; patched cuts back to
  before the MULTI and keeps it (README, where we differ). Both outcomes are printed;
- idmp: idempotent stream producers (`XADD ... IDMP`) and per-stream settings
  (`XCFGSET`) through a command-form rewrite, `DEBUG LOADAOF` and a restart: the BASE
  files of both builds are byte-identical, the entries and settings survive, and a
  repeated `XADD ... IDMP` returns the original ID (no duplicate); entries deleted from
  the stream are not recorded (XIDMPRECORD would refuse them and stop the load).

- keymeta: module key metadata (upstream's test_keymeta module) on keys of every type,
  with and without TTLs, through a command-form and a default-form rewrite: each key's
  commands in the command-form BASE are stock's (the value, PEXPIREAT, then KEYMETA.SET
  per class), and DEBUG LOADAOF brings back the data and the metadata each form carries
  (the RDB preamble only the class with RDB callbacks).

Usage: release_8_6.py STOCK_SERVER PATCHED_SERVER [--only CASE] [--keymeta-module SO]
Prints "release-8.6: N passed, N failed".
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

from redistest.files import aof_dir
from redistest.pair import Checks, PairServer
from redistest.resp import encode, parse_commands

MANIFEST = "appendonly.aof.manifest"
BASE = "appendonly.aof.1.base.aof"
INCR1 = "appendonly.aof.1.incr.aof"
INCR2 = "appendonly.aof.2.incr.aof"


def write_dir(workdir, files):
    """An appendonlydir holding `files` (name -> bytes), listed in that order."""
    d = aof_dir(workdir)
    os.makedirs(d, exist_ok=True)
    lines = []
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        seq = name.split(".")[2]
        kind = "b" if ".base." in name else "i"
        lines.append("file %s seq %s type %s\n" % (name, seq, kind))
    with open(os.path.join(d, MANIFEST), "w") as f:
        f.write("".join(lines))


def sets(*pairs):
    return b"".join(encode("SET", k, v) for k, v in pairs)


def aof_lines(log):
    """The log's lines about loading the AOF, without pid and time stamps."""
    keep = ("AOF", "aof", "corrupt", "Truncating", "truncated", "Bad file format", "short read",
            "Revert", "DB loaded")
    out = []
    for line in log.splitlines():
        text = re.sub(r"^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [#*.-] ", "", line)
        if any(k in text for k in keep) and "seconds" not in text:
            out.append(text)
    return out


def load_outcome(binary, workdir, extra):
    """Start a server on the prepared dir: (alive, keys or exit code, file sizes, AOF lines)."""
    before = {n: os.path.getsize(os.path.join(aof_dir(workdir), n)) for n in os.listdir(aof_dir(workdir))}
    server = PairServer(binary, workdir, *extra, wait=False)
    try:
        try:
            server.open(timeout=5)
            server.wait_loaded()
            result = ("up", server.call("DBSIZE"))
        except (RuntimeError, ConnectionError):
            # A server that refuses its files may accept the connection and then exit.
            server.proc.wait(timeout=30)
            result = ("exit", server.proc.returncode)
        sizes = {n: os.path.getsize(os.path.join(aof_dir(workdir), n)) for n in before}
        return result, sizes, aof_lines(server.log_text())
    finally:
        server.kill()


GOOD = sets(("a", "1"), ("b", "2"))
TAIL = b"*2\r\n$3\r\nGET\r\nx@@@@@@@@@@@@@@@@@@@@@@@@"  # 28 bytes no reader can parse


def corrupt_layouts():
    """(name, files) of directories whose damage sits at several places."""
    return [
        ("last-incr", {BASE: sets(("base", "1")), INCR1: GOOD + TAIL}),
        ("base-only", {BASE: GOOD + TAIL}),
        ("base-then-incr", {BASE: GOOD + TAIL, INCR1: sets(("after", "1"))}),
        ("middle-incr", {BASE: sets(("base", "1")), INCR1: GOOD + TAIL, INCR2: sets(("last", "1"))}),
    ]


def corrupt_tail(c, builds, root):
    for layout, files in corrupt_layouts():
        for limit in (0, len(TAIL) - 1, len(TAIL), len(TAIL) + 1, 1 << 20):
            for truncated in ("yes", "no"):
                outcomes = {}
                for build, binary in builds:
                    workdir = os.path.join(root, "corrupt-%s-%d-%s-%s" % (layout, limit, truncated, build))
                    os.makedirs(workdir)
                    write_dir(workdir, files)
                    outcomes[build] = load_outcome(binary, workdir, [
                        "--aof-load-corrupt-tail-max-size", str(limit),
                        "--aof-load-truncated", truncated])
                what = "corrupt tail in %s, limit %d, aof-load-truncated %s" % (layout, limit, truncated)
                same = outcomes["stock"] == outcomes["patched"]
                if not c.check(same, "%s: patched as stock: %s" % (what, outcomes["stock"][0])):
                    print("   stock:   %r\n   patched: %r" % (outcomes["stock"], outcomes["patched"]))
                # The rule itself, so both builds agreeing on a wrong outcome is caught too.
                forgiven = 0 < len(TAIL) < limit
                recovered_lines = [l for l in outcomes["patched"][2] if "loaded anyway because aof-load-corrupt-tail-max-size" in l]
                c.check(bool(recovered_lines) == forgiven,
                        "%s: the tail is %s" % (what, "recovered" if forgiven else "refused"))


def corrupt_tail_multi(c, builds, root):
    files = {BASE: sets(("base", "1")),
             INCR1: GOOD + encode("MULTI") + encode("SET", "queued", "1") + TAIL}
    kept = {}
    for build, binary in builds:
        workdir = os.path.join(root, "multi-" + build)
        os.makedirs(workdir)
        write_dir(workdir, files)
        extra = ["--aof-load-corrupt-tail-max-size", "4096"]
        server = PairServer(binary, workdir, *extra)
        try:
            server.call("SET", "acknowledged", "after-recovery")
        finally:
            server.stop()
        server = PairServer(binary, workdir, *extra, wait=False)
        try:
            try:
                server.open(timeout=5)
                server.wait_loaded()
                kept[build] = server.call("GET", "acknowledged")
            except (RuntimeError, ConnectionError):
                kept[build] = "exit %s" % server.proc.poll()
        finally:
            server.kill()
    print("   a write acknowledged after recovering a corrupt tail inside MULTI, after the "
          "next restart: stock %r, patched %r" % (kept["stock"], kept["patched"]))
    c.check(kept["patched"] == b"after-recovery",
            "patched: a write acknowledged after recovering a corrupt tail inside MULTI survives the next restart")


def idmp_info(reply):
    """The IDMP fields of an XINFO STREAM reply (a flat list of names and values)."""
    if not isinstance(reply, list):
        return {"error": repr(reply)}
    pairs = dict(zip(reply[0::2], reply[1::2]))
    # The settings persist; the counters of added and duplicate IIDs are statistics that
    # no AOF (stock's either) carries across a restart.
    return {k: v for k, v in pairs.items() if k in (b"idmp-duration", b"idmp-maxsize")}


def per_key_commands(base):
    """key -> its commands in order, each stream ID replaced by its rank among that key's IDs.

    Ranks are per key: across keys the order of IDs depends on which millisecond each
    XADD landed in, which differs between two runs."""
    commands = [c for c in parse_commands(base) if c[0] != b"SELECT"]

    def key_of(c):
        return c[2] if c[0].upper() in (b"XGROUP", b"KEYMETA.SET") else c[1]
    out = {}
    for key in {key_of(c) for c in commands}:
        own = [c for c in commands if key_of(c) == key]
        ids = sorted({a for c in own for a in c if re.fullmatch(rb"\d{13}-\d+", a)},
                     key=lambda i: tuple(map(int, i.split(b"-"))))
        rank = {i: b"#%d" % n for n, i in enumerate(ids)}
        out[key] = [[rank.get(a, a) for a in c] for c in own]
    return out


def idmp(c, builds, root):
    bases = {}
    for build, binary in builds:
        workdir = os.path.join(root, "idmp-" + build)
        os.makedirs(workdir)
        extra = ["--aof-use-rdb-preamble", "no"]
        server = PairServer(binary, workdir, *extra)
        try:
            first = server.call("XADD", "s", "IDMP", "p1", "iid-1", "*", "f", "v")
            server.call("XADD", "s", "IDMP", "p1", "iid-2", "*", "f", "v")
            server.call("XADD", "s", "IDMP", "p2", "iid-a", "*", "f", "v")
            gone = server.call("XADD", "s", "IDMP", "p2", "iid-gone", "*", "f", "v")
            server.call("XDEL", "s", gone)
            server.call("XADD", "plain", "*", "f", "v")
            server.call("XADD", "t", "IDMP", "p", "i", "*", "f", "v")
            server.call("XCFGSET", "t", "IDMP-DURATION", "300", "IDMP-MAXSIZE", "7")
            info_before = idmp_info(server.call("XINFO", "STREAM", "t"))
            digest = server.call("DEBUG", "DIGEST")
            server.call("BGREWRITEAOF")
            c.check(server.wait_rewrite()["aof_last_bgrewrite_status"] == "ok", "%s: IDMP rewrite succeeded" % build)
            base = [n for n in os.listdir(aof_dir(workdir)) if ".base.aof" in n][0]
            with open(os.path.join(aof_dir(workdir), base), "rb") as f:
                bases[build] = f.read()
            server.call("DEBUG", "LOADAOF")
            c.check(server.call("DEBUG", "DIGEST") == digest, "%s: DEBUG LOADAOF keeps the digest" % build)
        finally:
            server.stop()
        server = PairServer(binary, workdir, *extra)
        try:
            c.check(server.call("DEBUG", "DIGEST") == digest, "%s: a restart keeps the digest" % build)
            again = server.call("XADD", "s", "IDMP", "p1", "iid-1", "*", "f", "v")
            c.check(again == first and server.call("XLEN", "s") == 3,
                    "%s: a repeated XADD IDMP returns the original ID %r (got %r), no duplicate" % (build, first, again))
            info_after = idmp_info(server.call("XINFO", "STREAM", "t"))
            c.check(info_after == info_before and len(info_before) >= 2,
                    "%s: per-stream IDMP settings survive: %r" % (build, info_after))
        finally:
            server.kill()
    # The entries' IDs are the two servers' clocks, and the keys come in each process's
    # hash order: compare each key's commands in order, IDs replaced by their rank.
    stock, patched = per_key_commands(bases["stock"]), per_key_commands(bases["patched"])
    if not c.check(stock == patched and len(stock) == 3,
                   "each key's commands in the command-form BASE are stock's (but for the IDs)"):
        print("   stock:   %r\n   patched: %r" % (stock, patched))
    patched = bases["patched"]
    c.check(b"XIDMPRECORD" in patched and b"XCFGSET" in patched and b"iid-gone" not in patched,
            "the BASE records the producers' IIDs and settings, not the deleted entry's")


def keymeta(c, builds, root, module):
    """Module key metadata (8.6) on keys of every type, through both rewrite forms."""
    if module is None:
        c.check(False, "keymeta: no --keymeta-module given")
        return
    keys = {"str": [("SET", "str", "v")], "int": [("SET", "int", "12345")],
            "list": [("RPUSH", "list", "a", "b", "c")], "set": [("SADD", "set", "1", "2", "x")],
            "zset": [("ZADD", "zset", "1", "a", "2.5", "b")],
            "hash": [("HSET", "hash", "f", "v", "g", "w"), ("HPEXPIREAT", "hash", 4102444800000, "FIELDS", 1, "g")],
            "stream": [("XADD", "stream", "1-1", "f", "v"), ("XGROUP", "CREATE", "stream", "g", "0")],
            "ttl": [("SET", "ttl", "v"), ("PEXPIREAT", "ttl", 4102444800000)],
            "plain": [("SET", "plain", "no metadata")]}
    bases = {}
    for build, binary in builds:
        for form in ("no", "yes"):
            workdir = os.path.join(root, "keymeta-%s-%s" % (form, build))
            os.makedirs(workdir)
            server = PairServer(binary, workdir, "--loadmodule", module, "--aof-use-rdb-preamble", form)
            try:
                # Class 1 saves to and loads from RDB (the preamble); class 2 has only the
                # AOF callback, as every class does.
                server.call("KEYMETA.REGISTER", "KMT1", 1, "RDBLOAD:RDBSAVE")
                server.call("KEYMETA.REGISTER", "KMT2", 1, "ALLOWIGNORE")
                for key, cmds in keys.items():
                    for cmd in cmds:
                        server.call(*cmd)
                    if key != "plain":
                        server.call("KEYMETA.SET", "KMT1", key, "one-" + key)
                    if key in ("str", "hash", "stream", "ttl"):
                        server.call("KEYMETA.SET", "KMT2", key, "two-" + key)
                meta = {k: (server.call("KEYMETA.GET", "KMT1", k), server.call("KEYMETA.GET", "KMT2", k))
                        for k in keys}
                digest = server.call("DEBUG", "DIGEST")
                server.call("BGREWRITEAOF")
                c.check(server.wait_rewrite()["aof_last_bgrewrite_status"] == "ok",
                        "%s, preamble %s: the rewrite succeeded" % (build, form))
                base = [n for n in os.listdir(aof_dir(workdir)) if ".base." in n][0]
                with open(os.path.join(aof_dir(workdir), base), "rb") as f:
                    bases[(build, form)] = f.read()
                # The classes stay registered in this process, so DEBUG LOADAOF can apply
                # the metadata again (a restart could not: the module registers them by
                # command, which upstream's keymeta test notes too).
                c.check(server.call("DEBUG", "LOADAOF") == b"OK", "%s, preamble %s: DEBUG LOADAOF" % (build, form))
                after = {k: (server.call("KEYMETA.GET", "KMT1", k), server.call("KEYMETA.GET", "KMT2", k))
                         for k in keys}
                want = meta if form == "no" else {k: (v[0], None) for k, v in meta.items()}
                if not c.check(after == want and server.call("DEBUG", "DIGEST") == digest,
                               "%s, preamble %s: the data and the metadata the BASE carries are back" % (build, form)):
                    print("   before: %r\n   after:  %r" % (meta, after))
            finally:
                server.kill()
    stock, patched = per_key_commands(bases[("stock", "no")]), per_key_commands(bases[("patched", "no")])
    if not c.check(stock == patched and all(k.encode() in stock for k in keys),
                   "keymeta: each key's commands (value, PEXPIREAT, KEYMETA.SET) in the command-form BASE are stock's"):
        print("   stock:   %r\n   patched: %r" % (stock, patched))
    c.check(sum(b"KEYMETA.SET" in a for cmds in patched.values() for a in cmds[-1:]) >= 1,
            "keymeta: the BASE writes KEYMETA.SET after a key's value")


CASES = [("corrupt-tail", corrupt_tail), ("corrupt-tail-multi", corrupt_tail_multi), ("idmp", idmp),
         ("keymeta", keymeta)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("stock")
    parser.add_argument("patched")
    parser.add_argument("--only", action="append")
    parser.add_argument("--keymeta-module", help="upstream's tests/modules/test_keymeta.so")
    opts = parser.parse_args()
    builds = [("stock", opts.stock), ("patched", opts.patched)]
    c = Checks()
    root = tempfile.mkdtemp(prefix="release-8.6-")
    try:
        for name, case in CASES:
            if opts.only and name not in opts.only:
                continue
            print("== %s" % name)
            try:
                if case is keymeta:
                    case(c, builds, root, opts.keymeta_module and os.path.abspath(opts.keymeta_module))
                else:
                    case(c, builds, root)
            except Exception as e:  # a crash or hang is a failure of the case
                c.check(False, "%s raised %s: %s" % (name, type(e).__name__, e))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("release-8.6: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())

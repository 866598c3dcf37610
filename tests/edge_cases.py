#!/usr/bin/env python3
"""Cases where the patched build once lost data or diverged from upstream, each run on
both builds, stock's outcome printed beside patched's:

- stream-int-fields: stream entries with integer-encoded values rewritten as commands
  (`aof-use-rdb-preamble no`) come back unchanged after DEBUG LOADAOF and a restart (the
  iterator formats such values into buffers its next step overwrites);
- bulk-len: an AOF holding values longer than a later, lower `proto-max-bulk-len` loads
  (upstream's loading client obeys no client limit); values larger than the read buffer,
  some in the middle of a command, load intact; a file cut inside such a value is a short
  file, cut back to the last complete command with aof-load-truncated yes;
- module-no-aof-rewrite: a module type without an `aof_rewrite` callback (upstream's
  tests/modules/testrdb.so) fails the command-form rewrite with a line naming the type
  and the key, and the current files stay in charge (stock's child dies on the NULL call,
  which also keeps the old files, with no word of why);
- module-unload: an AOF that runs a module's command, unloads the module, then runs the
  command again fails with "Unknown command", as upstream does (a cached command would be
  a freed one);
- load-truncated-toggle: `CONFIG SET aof-load-truncated yes` while a short file loads
  cuts it back to its last complete command, as stock does (it must never cut it back
  to an offset that was not tracked, such as 0);
- load-memory: the peak RSS of loading one large value stays within stock's plus a
  small constant (the value is read straight into its own string, not through a buffer
  that holds it and then copied).

Usage: edge_cases.py STOCK_SERVER PATCHED_SERVER MODULES_DIR [--value-mb N]
MODULES_DIR holds upstream's testrdb.so and misc.so (built from tests/modules).
Prints "edge-cases: N passed, N failed".
"""

import argparse
import os
import random
import shutil
import sys
import tempfile

from redistest.files import aof_dir
from redistest.pair import Checks, PairServer, run_to_exit
from redistest.resp import encode


def incr_file(workdir):
    names = [n for n in os.listdir(aof_dir(workdir)) if ".incr." in n]
    assert len(names) == 1, names
    return os.path.join(aof_dir(workdir), names[0])


# --- the cases: each takes (checks, build name, binary, work dir, options) ---------------

def stream_int_fields(c, build, binary, workdir, opts):
    server = PairServer(binary, workdir, "--aof-use-rdb-preamble", "no")
    try:
        server.call("XADD", "s", "1-1", "a", "1", "b", "2")
        server.call("XADD", "s", "1-2", "f", "100", "g", "5", "h", "hello")
        server.call("XADD", "s", "1-3", "x", "7", "y", "99999", "z", "-12")
        server.call("XADD", "s", "1-4", "a", "hello", "b", "3")
        server.call("XADD", "s", "1-5", "a", "4", "b", "5", "c", "123456789012")
        before = server.call("XRANGE", "s", "-", "+")
        digest = server.call("DEBUG", "DIGEST")
        server.call("BGREWRITEAOF")
        info = server.wait_rewrite()
        base = [n for n in os.listdir(aof_dir(workdir)) if ".base.aof" in n]
        with open(os.path.join(aof_dir(workdir), base[0]), "rb") as f:
            base_text = f.read()
        server.call("DEBUG", "LOADAOF")
        after_loadaof = server.call("XRANGE", "s", "-", "+")
        server.stop()
        server = PairServer(binary, workdir, "--aof-use-rdb-preamble", "no")
        after_restart = server.call("XRANGE", "s", "-", "+")
        c.check(info["aof_last_bgrewrite_status"] == "ok", "%s: stream rewrite succeeded" % build)
        c.check(b"$5\r\n99999\r\n" in base_text and b"$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2" in base_text,
                "%s: the BASE holds the integer field values as written" % build)
        c.check(after_loadaof == before and after_restart == before,
                "%s: the stream is unchanged after DEBUG LOADAOF and a restart" % build)
        c.check(server.call("DEBUG", "DIGEST") == digest, "%s: digest unchanged" % build)
    finally:
        server.kill()


def bulk_len(c, build, binary, workdir, opts):
    rnd = random.Random(1)
    big = rnd.randbytes(2 << 20)
    mid = rnd.randbytes(600 << 10)
    small_big = rnd.randbytes(300 << 10)
    server = PairServer(binary, workdir)
    try:
        server.call("SET", "before", "1")
        server.call("SET", "big", big)
        server.call("RPUSH", "l", "a", mid, "b", small_big, "tail")
        server.call("HSET", "h", mid, small_big, "f", "v")
        server.call("SET", "last", big)
        digest = server.call("DEBUG", "DIGEST")
    finally:
        server.stop()
    incr = incr_file(workdir)
    saved = open(incr, "rb").read()

    server = PairServer(binary, workdir, "--proto-max-bulk-len", "1mb")
    try:
        ok = (server.call("GET", "big") == big
              and server.call("LRANGE", "l", 0, -1) == [b"a", mid, b"b", small_big, b"tail"]
              and server.call("HGET", "h", mid) == small_big
              and server.call("DEBUG", "DIGEST") == digest)
        c.check(ok, "%s: values above a lowered proto-max-bulk-len (and above the read "
                    "buffer, mid-command) load intact" % build)
    finally:
        server.kill()

    # Cut inside the last value's payload: a short file, cut back to the end of the HSET.
    last_cmd = encode("SET", "last", big)
    assert saved.endswith(last_cmd)
    valid = len(saved) - len(last_cmd)
    with open(incr, "wb") as f:
        f.write(saved[: valid + len(last_cmd) // 2])
    code, log = run_to_exit(binary, workdir, "--aof-load-truncated", "no")
    c.check(code == 1 and "Unexpected end of file" in log,
            "%s: a file cut inside a large value is a short file (exit %s)" % (build, code))
    server = PairServer(binary, workdir, "--aof-load-truncated", "yes")
    try:
        c.check(server.call("EXISTS", "last") == 0 and server.call("HGET", "h", mid) == small_big
                and os.path.getsize(incr) == valid,
                "%s: aof-load-truncated cuts it back to the last complete command" % build)
    finally:
        server.kill()

    # A negative length is a bad format, a length past the end a short file.
    for tail, what, needle in ((b"*2\r\n$3\r\nGET\r\n$-5\r\n", "negative length", "Bad file format"),
                               (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999999\r\nabc",
                                "length past the end", "Unexpected end of file")):
        with open(incr, "wb") as f:
            f.write(saved + tail)
        code, log = run_to_exit(binary, workdir, "--aof-load-truncated", "no")
        ok = code == 1 and needle in log
        if build == "stock" and what == "negative length":
            # Upstream sizes an allocation by it and aborts (SIGABRT): recorded, not required.
            print("   stock: %s: exit %s%s" % (what, code, " (%s)" % needle if ok else ""))
            continue
        c.check(ok, "%s: %s: %s (exit %s)" % (build, what, needle, code))
    with open(incr, "wb") as f:
        f.write(saved)


def module_no_aof_rewrite(c, build, binary, workdir, opts):
    module = os.path.join(opts.modules, "testrdb.so")
    # testrdb's commands do not propagate, so the module key enters the AOF the way a
    # propagating module's would: from the file itself (an old-style AOF, migrated to the
    # BASE at start-up).
    with open(os.path.join(workdir, "appendonly.aof"), "wb") as f:
        f.write(encode("testrdb.set.key", "k1", "hello"))
        f.write(encode("SET", "plain", "1"))
    args = ("--aof-use-rdb-preamble", "no", "--loadmodule", module)
    server = PairServer(binary, workdir, *args)
    try:
        c.check(server.call("EXISTS", "k1") == 1, "%s: the module key loaded" % build)
        manifest = os.path.join(aof_dir(workdir), "appendonly.aof.manifest")
        base_before = [line for line in open(manifest).read().splitlines() if "type b" in line]
        base_files = {n: open(os.path.join(aof_dir(workdir), n), "rb").read()
                      for n in os.listdir(aof_dir(workdir)) if ".base." in n}
        server.call("BGREWRITEAOF")
        info = server.wait_rewrite()
        base_after = [line for line in open(manifest).read().splitlines() if "type b" in line]
        print("   %s: aof_last_bgrewrite_status:%s, BASE %s -> %s" % (
            build, info["aof_last_bgrewrite_status"], base_before, base_after))
        c.check(info["aof_last_bgrewrite_status"] == "err",
                "%s: the rewrite is reported as failed" % build)
        c.check(base_after == base_before and all(
                    open(os.path.join(aof_dir(workdir), n), "rb").read() == data
                    for n, data in base_files.items()),
                "%s: the current BASE stays in charge, unchanged" % build)
        if build == "patched":
            c.check("The module type test__rdb has no AOF rewrite callback: key 'k1'"
                    in server.log_text(), "patched: the log names the module type and the key")
        server.call("SET", "after", "2")
        server.stop()
        server = PairServer(binary, workdir, *args)
        c.check(server.call("testrdb.get.key", "k1") == b"hello"
                and server.call("GET", "plain") == b"1" and server.call("GET", "after") == b"2",
                "%s: after a restart the module key and the rest are all there" % build)
    finally:
        server.kill()


def module_unload(c, build, binary, workdir, opts):
    module = os.path.join(opts.modules, "misc.so")
    with open(os.path.join(workdir, "appendonly.aof"), "wb") as f:
        f.write(encode("SET", "a", "1"))
        f.write(encode("test.ld_conversion"))
        f.write(encode("MODULE", "UNLOAD", "misc"))
        f.write(encode("test.ld_conversion"))
        f.write(encode("SET", "b", "2"))
    code, log = run_to_exit(binary, workdir, "--loadmodule", module)
    c.check(code == 1 and "Unknown command 'test.ld_conversion' reading the append only file" in log,
            "%s: a module command after MODULE UNLOAD is unknown (exit %s)" % (build, code))


def load_truncated_toggle(c, build, binary, workdir, opts):
    keys = 20000
    server = PairServer(binary, workdir)
    try:
        server.pipeline([("SET", "k%d" % i, "v%d" % i) for i in range(keys)], chunk=1000)
    finally:
        server.stop()
    incr = incr_file(workdir)
    valid = os.path.getsize(incr)
    with open(incr, "ab") as f:
        f.write(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf")
    # Slow loading down so the CONFIG SET lands while the file is being read.
    server = PairServer(binary, workdir, "--aof-load-truncated", "no", "--key-load-delay", "50", wait=False)
    try:
        server.open()
        reply = server.call("CONFIG", "SET", "aof-load-truncated", "yes")
        loading = server.info("persistence").get("loading")
        server.wait_loaded()
        c.check(reply == b"OK" and loading == "1",
                "%s: CONFIG SET aof-load-truncated yes landed while loading" % build)
        c.check(server.call("DBSIZE") == keys and os.path.getsize(incr) == valid,
                "%s: the short file is cut back to its last complete command (%d bytes, "
                "expected %d)" % (build, os.path.getsize(incr), valid))
    finally:
        server.kill()


def load_memory(c, build, binary, workdir, opts):
    """Peak RSS after loading one large value, minus the peak of an empty server."""
    empty = os.path.join(workdir, "empty")
    os.makedirs(empty)
    server = PairServer(binary, empty)
    baseline = server.peak_rss_kb()
    server.kill()
    value_bytes = opts.value_mb << 20
    # The AOF is written directly: appendonly.aof without a manifest is loaded as the
    # BASE of an old-style AOF.
    with open(os.path.join(workdir, "appendonly.aof"), "wb") as f:
        f.write(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % value_bytes)
        chunk = bytes(range(256)) * 4096
        left = value_bytes
        while left:
            f.write(chunk[:left])
            left -= min(left, len(chunk))
        f.write(b"\r\n")
    server = PairServer(binary, workdir)
    try:
        c.check(server.call("STRLEN", "big") == value_bytes, "%s: the value loaded" % build)
        peak = server.peak_rss_kb() - baseline
        opts.peaks[build] = peak
        print("   %s: peak RSS while loading a %d MB value: %.1f MB above an empty server" % (
            build, opts.value_mb, peak / 1024))
    finally:
        server.kill()


CASES = [
    ("stream-int-fields", stream_int_fields),
    ("bulk-len", bulk_len),
    ("module-no-aof-rewrite", module_no_aof_rewrite),
    ("module-unload", module_unload),
    ("load-truncated-toggle", load_truncated_toggle),
    ("load-memory", load_memory),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("stock")
    parser.add_argument("patched")
    parser.add_argument("modules")
    parser.add_argument("--value-mb", type=int, default=64)
    parser.add_argument("--only", action="append", help="run only these cases")
    opts = parser.parse_args()
    opts.modules = os.path.abspath(opts.modules)
    opts.peaks = {}
    c = Checks()
    root = tempfile.mkdtemp(prefix="edge-cases-")
    try:
        for name, case in CASES:
            if opts.only and name not in opts.only:
                continue
            print("== %s" % name)
            for build, binary in (("stock", opts.stock), ("patched", opts.patched)):
                workdir = os.path.join(root, name, build)
                os.makedirs(workdir)
                try:
                    case(c, build, binary, workdir, opts)
                except Exception as e:  # a crash or hang of one build is that build's failure
                    c.check(False, "%s: %s raised %s: %s" % (build, name, type(e).__name__, e))
        if len(opts.peaks) == 2:
            stock, patched = opts.peaks["stock"], opts.peaks["patched"]
            # The read buffer (1 MiB) and allocator rounding: a few MB, whatever the size.
            c.check(patched <= stock + 4 * 1024,
                    "patched's peak loading memory (%.1f MB) is within stock's (%.1f MB) + 4 MB"
                    % (patched / 1024, stock / 1024))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("edge-cases: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())

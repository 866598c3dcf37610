#!/usr/bin/env python3
"""An RDB BASE loaded with the reading thread gives upstream's outcomes (issue #30).

Stock writes a dataset of every type (several dbs, expiring keys and hash fields, integer,
long and LZF-compressible key names, streams with groups, functions, a module type and
module aux data when upstream's testrdb module is given) into an RDB BASE of several of
the reading thread's blocks, plus an INCR. Each variant of that directory is then loaded
by stock, by the patched build with its reading thread on (REDIS_AOF_LOAD_THREAD=yes)
and off (=no), each from a fresh copy; all three must agree on: started or refused (the
exit status, or the signal), the dataset (DEBUG DIGEST, DBSIZE), the log lines from
"Reading RDB" on (times, pids and addresses left out) and the files left behind.

Variants: the clean directory; the BASE cut at many offsets; bytes flipped at random
offsets (most land in values, where upstream's CRC64 refuses them), the checksum wrong
(upstream's log line names the value it computed: the thread's must be the same), the
checksum wrong with `rdbchecksum no` (no check), the checksum zero (upstream skips the check), a bad length encoding where a record
starts, the BASE as an old-style single appendonly.aof with the INCR after its RDB part;
a BASE with a duplicated key and one with an empty key name (hand-made RDBs); and
without the module the BASE needs (refused).

With --scan (aof-core's `rdb_scan` example), the scan the reading thread runs must step
over the whole BASE to its EOF opcode and find every key but the one longer than it keeps.

Usage: rdb_base_load.py STOCK_SERVER PATCHED_SERVER [--module testrdb.so] [--scan BIN] [--seed S]
Prints "rdb-base-load: N passed, N failed".
"""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

from redistest.files import dir_hash
from redistest.server import Server

AOFDIR = "appendonlydir"
SWITCH = "REDIS_AOF_LOAD_THREAD"
# testrdb's argument: aux data saved before and after the keyspace.
MODULE_AUX_BOTH = "6"


def generate(stock, work, rnd, module):
    """The directory stock leaves: an RDB BASE of the dataset, an INCR after it."""
    data = os.path.join(work, "gen")
    os.makedirs(data)
    conf = {"aof-use-rdb-preamble": "yes", "appendfsync": "no"}
    if module:
        conf["loadmodule"] = [module, MODULE_AUX_BOTH]
    srv = Server(stock, data, conf, logfile=os.path.join(work, "gen.log")).start()
    try:
        if srv.wait_ready(30) != "ready":
            raise RuntimeError("stock did not start: " + srv.last_warning())
        with srv.client(timeout=60) as c:
            for db in (0, 3, 9):
                c.call("SELECT", db)
                cmds = []
                for i in range(12000):
                    r = rnd.random()
                    if r < 0.4:
                        cmds.append(("SET", "s:%d:%d" % (db, i), "v" * rnd.randrange(1, 80)))
                    elif r < 0.5:
                        cmds.append(("SET", str(rnd.randrange(-10**9, 10**9)), str(i)))
                    elif r < 0.55:
                        # Long repetitive names: compressed with LZF in the RDB.
                        cmds.append(("SET", "compressible-" + "ab" * rnd.randrange(12, 60) + str(i), "x"))
                    elif r < 0.62:
                        cmds.append(("HSET", "h:%d" % (i % 300), "f%d" % i, rnd.randrange(10**6)))
                    elif r < 0.66:
                        cmds.append(("HSETEX", "hx:%d" % (i % 50), "PX", 10**9 + i, "FIELDS", 1, "f%d" % i, "v"))
                    elif r < 0.74:
                        cmds.append(("RPUSH", "l:%d" % (i % 200), *range(rnd.randrange(1, 30))))
                    elif r < 0.8:
                        cmds.append(("SADD", "set:%d" % (i % 200), rnd.randrange(10**4), "m%d" % i))
                    elif r < 0.86:
                        cmds.append(("ZADD", "z:%d" % (i % 150), rnd.random() * 100, "m%d" % i))
                    elif r < 0.9:
                        cmds.append(("SET", "e:%d" % i, "v", "PX", 10**9 + i))
                    elif r < 0.92:
                        cmds.append(("XADD", "x:%d" % (i % 20), "*", "f", i))
                    else:
                        cmds.append(("SET", "big:%d" % i, os.urandom(rnd.randrange(100, 3000)).hex()))
                c.pipeline(cmds)
            c.call("SELECT", 0)
            c.call("HSET", "bighash", *[x for i in range(2000) for x in ("f%d" % i, "v%d" % i)])
            c.call("XGROUP", "CREATE", "x:1", "g", "0")
            c.call("XREADGROUP", "GROUP", "g", "alice", "COUNT", 3, "STREAMS", "x:1", ">")
            c.call("SET", "k" * 70000, "a key longer than the scan keeps")
            c.call("FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)")
            if module:
                c.call("testrdb.set.key", "module:key", "module value")
                c.call("testrdb.set.before", "aux before")
                c.call("testrdb.set.after", "aux after")
            keys_in_base = sum(int(v.split(",")[0].split("=")[1])
                               for k, v in c.info("keyspace").items() if k.startswith("db"))
            c.call("BGREWRITEAOF")
            c.wait_rewrite(60)
            time.sleep(0.3)
            c.pipeline([("SET", "after:%d" % i, i) for i in range(200)])
    finally:
        srv.stop()
    return data, keys_in_base


def files_of(data):
    out = {}
    for root, _, names in os.walk(data):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, data)] = f.read()
    return out


def base_name(files):
    return next(k for k in sorted(files) if k.endswith(".base.rdb"))


LOG_SKIP = re.compile(r"Redis version=|Running mode=|RDB age |Redis is starting|"
                      r"Configuration loaded|monotonic clock|Server initialized|"
                      r"Ready to accept|maxclients|oO0OoO0Oo|WARNING|jemalloc|"
                      r"Module '.*' loaded|Creating AOF|redis_git|systemd|changes in")


def normalized_log(path):
    """The log lines worth comparing: their pid/time prefix, the start-up banner and
    figures that differ from run to run (times, addresses) left out, and a crash report
    (upstream's own, for a duplicated key) cut at its first line."""
    out = []
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        # A crash report lists threads and addresses: compared up to its start.
        if "REDIS BUG REPORT START" in line:
            out.append("(bug report)")
            break
        line = re.sub(r"^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [*#.-] ", "", line)
        if LOG_SKIP.search(line):
            continue
        line = re.sub(r"\d+\.\d+ seconds", "T seconds", line)
        line = re.sub(r"0x[0-9a-f]+", "ADDR", line)
        out.append(line)
    return out


def run(binary, files, work, name, env, conf):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for rel, data in files.items():
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    log = os.path.join(work, name + ".log")
    if os.path.exists(log):
        os.unlink(log)
    srv = Server(binary, d, conf, logfile=log, env=env).start()
    state = srv.wait_ready(60)
    result = {"state": state}
    if state == "ready":
        with srv.client(timeout=60) as c:
            result["digest"] = c.call("DEBUG", "DIGEST")
            result["dbsize"] = c.call("DBSIZE")
        srv.stop()
    elif state == "exited":
        result["status"] = srv.wait_exit(10)
    else:
        srv.stop()
    result["log"] = normalized_log(log)
    result["files"] = dir_hash(d)
    shutil.rmtree(d, ignore_errors=True)
    return result


def rdb_by_hand(records):
    """A small RDB (version 11, checksum 0 so upstream skips it) of (key, value) strings."""
    def string(b):
        assert len(b) < 64
        return bytes([len(b)]) + b
    out = b"REDIS0011" + b"\xfe\x00" + b"\xfb" + bytes([len(records), 0])
    for k, v in records:
        out += b"\x00" + string(k) + string(v)
    return out + b"\xff" + b"\x00" * 8


def variants(files, rnd, module):
    base = base_name(files)
    data = files[base]
    incr = next(k for k in sorted(files) if k.endswith(".incr.aof"))
    manifest = next(k for k in files if k.endswith(".manifest"))

    def with_base(new):
        f = dict(files)
        f[base] = new
        return f

    out = [("clean", files)]
    cuts = sorted({9, 10, len(data) - 1, len(data) - 8, len(data) - 9}
                  | {rnd.randrange(9, len(data)) for _ in range(6)})
    for cut in cuts:
        out.append(("cut@%d" % cut, with_base(data[:cut])))
    for _ in range(6):
        at = rnd.randrange(9, len(data) - 8)
        out.append(("flip@%d" % at, with_base(data[:at] + bytes([data[at] ^ 0x5a]) + data[at + 1:])))
    out.append(("checksum-wrong", with_base(data[:-1] + bytes([data[-1] ^ 1]))))
    out.append(("checksum-zero", with_base(data[:-8] + b"\0" * 8)))
    # With rdbchecksum no, upstream computes no CRC and checks none: a wrong one loads.
    out.append(("checksum-wrong-rdbchecksum-no", with_base(data[:-1] + bytes([data[-1] ^ 1]))))
    # A bad length encoding (0x83 is none of rdbLoadLen's) where a key's name starts.
    at = data.find(b"s:0:")
    if at > 0:
        out.append(("bad-length@%d" % (at - 1), with_base(data[:at - 1] + b"\x83" + data[at:])))
    legacy = {"appendonly.aof": data + files[incr]}
    out.append(("old-style-preamble", legacy))
    for tag, records in (("duplicate-key", [(b"a", b"1"), (b"dup", b"x"), (b"dup", b"y")]),
                         ("empty-key-name", [(b"a", b"1"), (b"", b"x"), (b"b", b"2")])):
        f = {k: v for k, v in files.items() if k != base}
        name = os.path.basename(base)
        f[base] = rdb_by_hand(records)
        f[manifest] = files[manifest]
        assert name.encode() in f[manifest]
        out.append((tag, f))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("stock")
    p.add_argument("patched")
    p.add_argument("--module", default=None)
    p.add_argument("--seed", type=int, default=30)
    p.add_argument("--scan", default=None, help="aof-core's rdb_scan example binary")
    opts = p.parse_args()
    rnd = random.Random(opts.seed)
    module = opts.module if opts.module and os.path.exists(opts.module) else None
    work = tempfile.mkdtemp(prefix="rdb-base-load-")
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("  ok    " + what)
        else:
            failed += 1
            print("  FAIL  " + what)

    try:
        data, keys_in_base = generate(opts.stock, work, rnd, module)
        files = files_of(data)
        base = files[base_name(files)]
        check(len(base) > 4 * (256 << 10), "the BASE spans %d of the reading thread's blocks" %
              (len(base) // (256 << 10) + 1))
        if opts.scan:
            # The scan finds every key of upstream's BASE but the one too long to keep.
            path = os.path.join(data, AOFDIR, base_name(files).split("/")[-1])
            out = subprocess.run([opts.scan, path], capture_output=True, text=True).stdout.split()
            want = ["keys", str(keys_in_base - 1), "end", "eof"]
            check(out == want, "the reading thread's scan of the BASE: %s (want %s)" %
                  (" ".join(out), " ".join(want)))
        conf = {"aof-load-truncated": "yes"}
        if module:
            conf["loadmodule"] = [module, MODULE_AUX_BOTH]
        cases = variants(files, rnd, module)
        if module:
            cases.append(("module-missing", files))
        for name, case in cases:
            case_conf = dict(conf)
            if name == "module-missing":
                case_conf.pop("loadmodule")
            if name.endswith("-rdbchecksum-no"):
                case_conf["rdbchecksum"] = "no"
            stock = run(opts.stock, case, work, "stock", None, case_conf)
            on = run(opts.patched, case, work, "on", {SWITCH: "yes"}, case_conf)
            off = run(opts.patched, case, work, "off", {SWITCH: "no"}, case_conf)
            outcome = {k: stock.get(k) for k in ("state", "status", "digest", "dbsize")}
            for label, got in (("thread on", on), ("thread off", off)):
                mine = {k: got.get(k) for k in ("state", "status", "digest", "dbsize")}
                check(mine == outcome, "%s, %s: %s as stock" % (name, label, describe(stock)))
                if mine != outcome:
                    print("        stock %s, patched %s" % (outcome, mine))
                same_log = got["log"] == stock["log"]
                check(same_log, "%s, %s: the log lines stock writes" % (name, label))
                if not same_log:
                    diff_lines(stock["log"], got["log"])
                check(got["files"] == stock["files"], "%s, %s: the files stock leaves" % (name, label))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("rdb-base-load: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def describe(result):
    if result["state"] == "ready":
        return "loaded %s keys" % result["dbsize"]
    if result["state"] == "exited":
        return "refused (exit %s)" % result.get("status")
    return result["state"]


def diff_lines(want, got):
    for i in range(max(len(want), len(got))):
        a = want[i] if i < len(want) else "<none>"
        b = got[i] if i < len(got) else "<none>"
        if a != b:
            print("        line %d: stock %r" % (i, a))
            print("        line %d: ours  %r" % (i, b))
            return


if __name__ == "__main__":
    main()

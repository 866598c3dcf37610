#!/usr/bin/env python3
"""Randomized round trip against stock: for each seed, a random dataset over every type
and encoding (tests/roundtrip_dataset.py) is built on the stock and on the patched
redis-server, with aof-use-rdb-preamble no (the BASE is commands, written by the AOF
rewrite code) and yes (the BASE is an RDB; the rewrite code still manages the manifest,
the INCR files and the loading), appendonly yes. On each build and in each form:

  d0 = state; BGREWRITEAOF (until aof_rewrite_in_progress:0 and aof_rewrite_scheduled:0,
  then aof_last_bgrewrite_status:ok); DEBUG LOADAOF; d1 = state; restart on the same
  dir (SHUTDOWN or SIGKILL, per seed); d2 = state.

d1 and d2 must equal d0; stock's d0 must equal patched's d0 (the same commands built the
same data); then each build loads the OTHER build's appendonly dir to d0 as well.

"State" is DEBUG DIGEST plus a read-back of every key, because DEBUG DIGEST leaves out
much of what a rewrite must carry: it mixes in only "has an expire" (not the time), a
stream's entries (not its last ID, entries-added, max-deleted-id, groups, PELs, consumers),
and nothing of a module value without a digest callback. So per key: TYPE, PEXPIRETIME,
DEBUG DIGEST-VALUE and the contents (GET, LRANGE, SMEMBERS, ZRANGE WITHSCORES, HGETALL with
each field's HPEXPIRETIME, XINFO STREAM FULL, FSL.GETALL for the module type); per db the
INFO keyspace counts (keys, expires; not avg_ttl, which is the clock, nor subexpiry: a hash
whose last field TTL was removed by HPERSIST stays counted until the server next looks at
it, and a reload drops it, on stock too); and FUNCTION LIST WITHCODE.

Clock-dependent data: DEBUG DIGEST does not include PEL delivery times (nor anything else
of consumer groups); XINFO STREAM FULL does. The generator therefore re-XCLAIMs every
entry still pending at the end of a stream's reads with an explicit TIME and RETRYCOUNT,
so delivery times and counts are the same on both builds and are compared everywhere
(the rewrite writes them as XCLAIM ... TIME ... RETRYCOUNT). Consumers' seen-time and
active-time are the only masked fields: they are each server's clock, and the rewrite does
not carry them (XCLAIM and XGROUP CREATECONSUMER stamp them with the loading time).

The layout (OBJECT ENCODING, a stream's radix-tree-keys/nodes) is compared across builds at
the same step (d0, d1, d2, and a cross-load against the loader's own d2), never against
d0 of the same build: reloading legitimately changes it (a hashtable set that shrank loads
as a listpack, a stream's nodes are repacked, DEBUG QUICKLIST-PACKED-THRESHOLD is not
in effect after a restart). The one exception is a set holding both integers and
strings: loading SADD batches, an intset that reaches set-max-intset-entries before the
first string arrives becomes a hashtable, one that meets a string first becomes a listpack,
and the rewrite writes a hashtable set's members in dict order, which is random per
process; its encoding is left out (stock against stock differs there too).

Excluded because stock itself does not round-trip them:
- a zset score of -0 (negative zero): a skiplist zset keeps it, a listpack zset stores it
  as 0, and the rewrite's ZADD batches come in dict order, so whether a -0 member passes
  through the listpack stage while loading (and becomes 0) varies from run to run;
- a PEL entry whose stream entry was deleted after it was delivered (XDEL or XTRIM of a
  pending ID): the rewrite emits "XCLAIM ... JUSTID FORCE" for it, and XCLAIM drops PEL
  entries whose ID is not in the stream, so the entry is lost on load. The generator
  deletes pending IDs only before its final XCLAIM pass (which drops them on the server
  too).

With --module (upstream's tests/modules/blockonkeys.so) every server loads it and the
dataset holds FSL values (FSL.PUSH), read back with FSL.GETALL (the type has no digest
callback). Binaries and module are copied to the scratch dir first, so a rebuild during
the run does not change what is tested.

A failing seed prints what differed (the innermost differing value and its context), the
seed, and the paths of a reproducer: the server arguments and steps (.txt), the whole
dataset as RESP (.resp, for redis-cli --pipe), and a minimal one (.min.resp, also printed
as redis-cli lines): for a loss on one build, one server of that build replays the lost
key's commands and they are cut down, commands and then field-value pairs, while
BGREWRITEAOF + DEBUG LOADAOF still changes the data and every command still succeeds
(otherwise .min.resp holds every command of the keys that differed). The seed's server
dirs are kept. "--first-seed S --seeds 1" reruns exactly that seed.

Passing the stock binary as both servers is this test's self-check: 200 seeds pass
(which is how the exclusions above were found).

Usage: roundtrip_random.py STOCK_SERVER PATCHED_SERVER [--module PATH] [--seeds N]
                           [--first-seed S] [--size small|large] [--verbose]
Prints a line per seed, the features the datasets reached, then "roundtrip-random: N seeds,
M commands, K checks passed, F failed" (M: every command sent to a server but
wait_for_rewrite's INFO polls) and exits non-zero on any failure.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from redistest.pair import PairServer
from redistest.resp import ReplyError, encode
from roundtrip_dataset import Dataset

DEFAULT_SEEDS = 50             # about 65 s on 2 cores (both builds, both forms)
FORMS = ("no", "yes")          # aof-use-rdb-preamble
BUILDS = ("stock", "patched")
SHRINK_SEEDS = 3               # failing seeds that get a shrunk reproducer (a few s each)


class Server(PairServer):
    """One server of a run (PairServer: statuses and bulk strings as bytes, error replies
    as ReplyError values among the others); `sent` counts every command sent to it but
    wait_rewrite's INFO polls."""

    def __init__(self, binary, workdir, args):
        # A hang still fails, after 120 s.
        super().__init__(binary, workdir, *args, client_timeout=120)
        info = self.call("INFO", "server")
        if b"process_id:%d\r" % self.proc.pid not in info:
            raise RuntimeError("connected to another server than the one started")

    def stop(self, kill=False):
        """SHUTDOWN (the AOF fsynced, no RDB: `save ""`), or SIGKILL with kill."""
        if kill:
            self.kill()
        else:
            self.sent += 1
            super().stop(nosave=False)


def with_selects(items):
    """The dataset's commands with SELECT inserted where the db changes."""
    cmds, db = [], 0
    for item_db, _key, cmd in items:
        if item_db is not None and item_db != db:
            cmds.append(("SELECT", item_db))
            db = item_db
        cmds.append(cmd)
    return cmds


# ------------------------------------------------------------------------- state

# The clock fields, and (8.6) the counters of IIDs added and found again: statistics of
# the commands a stream has seen, which a rewrite replays differently (XIDMPRECORD counts
# each record again) and no release carries across one.
MASKED = {b"seen-time", b"active-time", b"iids-added", b"iids-duplicates"}
LAYOUT = {b"radix-tree-keys", b"radix-tree-nodes"}


def freeze(v, layout=None):
    """Lists to tuples; masks the clock fields of XINFO STREAM FULL and moves its layout
    fields to `layout`."""
    if not isinstance(v, list):
        return v
    out, i = [], 0
    while i < len(v):
        x = v[i]
        if isinstance(x, bytes) and x in MASKED | LAYOUT and i + 1 < len(v) and isinstance(v[i + 1], int):
            if x in LAYOUT and layout is not None:
                layout.append((x, v[i + 1]))
            out += [x, "<masked>"]
            i += 2
            continue
        out.append(freeze(x, layout))
        i += 1
    return tuple(out)


INT64 = re.compile(rb"(0|-?[1-9][0-9]{0,18})\Z")


def is_int64(b):
    """Whether an intset could hold b (string2ll's canonical form, in range)."""
    return bool(INT64.match(b)) and -2**63 <= int(b) < 2**63


def state(srv):
    """See the module doc: digest, per-key contents, layout, keyspace counts, functions."""
    s = {"keys": {}, "layout": {}, "encodings": {}}
    s["digest"], keyspace, functions = srv.pipeline(
        [("DEBUG", "DIGEST"), ("INFO", "keyspace"), ("FUNCTION", "LIST", "WITHCODE")])
    libs = []
    for lib in functions:    # libraries, and the functions in each, come in dict order
        lib = list(freeze(lib))
        if b"functions" in lib:
            i = lib.index(b"functions") + 1
            lib[i] = tuple(sorted(lib[i], key=repr))
        libs.append(tuple(lib))
    s["functions"] = tuple(sorted(libs, key=repr))
    s["keyspace"], dbs = {}, []
    for line in keyspace.split(b"\r\n"):
        if line.startswith(b"db"):
            name, fields = line.split(b":", 1)
            dbs.append(int(name[2:]))
            s["keyspace"][name] = tuple(f for f in fields.split(b",")
                                        if not f.startswith((b"avg_ttl", b"subexpiry")))
    for db in dbs:
        keys = sorted(srv.pipeline([("SELECT", db), ("KEYS", "*")])[1])
        meta = srv.pipeline([c for k in keys for c in (("TYPE", k), ("PEXPIRETIME", k),
                                                        ("OBJECT", "ENCODING", k),
                                                        ("DEBUG", "DIGEST-VALUE", k))])
        types = meta[0::4]
        reads = []
        for k, t in zip(keys, types):
            reads.append({b"string": ("GET", k), b"list": ("LRANGE", k, 0, -1), b"set": ("SMEMBERS", k),
                          b"zset": ("ZRANGE", k, 0, -1, "WITHSCORES"), b"hash": ("HGETALL", k),
                          b"stream": ("XINFO", "STREAM", k, "FULL", "COUNT", 0),
                          b"fsltype_t": ("FSL.GETALL", k)}.get(t, ("TYPE", k)))
        contents = srv.pipeline(reads)
        hashes = [(i, k, contents[i][0::2]) for i, (k, t) in enumerate(zip(keys, types))
                  if t == b"hash" and isinstance(contents[i], list) and contents[i]]
        ttls = srv.pipeline([("HPEXPIRETIME", k, "FIELDS", len(f), *f) for _, k, f in hashes])
        for (i, k, fields), t in zip(hashes, ttls):
            c = contents[i]
            contents[i] = tuple(sorted(zip(c[0::2], c[1::2], t if isinstance(t, list) else [t] * len(fields))))
        for n, (k, t) in enumerate(zip(keys, types)):
            layout = []
            c = contents[n]
            encoding = meta[4 * n + 2]
            if t == b"set" and isinstance(c, list):
                c = tuple(sorted(c))
                if len({is_int64(m) for m in c}) == 2:
                    encoding = b"(integers and strings: depends on the order)"
            c = freeze(c, layout)
            s["keys"][(db, k)] = (t, meta[4 * n + 1], freeze(meta[4 * n + 3]), c)
            s["layout"][(db, k)] = (encoding, tuple(layout))
            s["encodings"][(db, k)] = meta[4 * n + 2]
    return s


def short(v, n=160):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "...(%d chars)" % len(r)


COMPONENTS = {"keys": ("type", "pexpiretime", "digest-value", "contents"),
              "layout": ("encoding", "stream layout")}


def first_diff(a, b):
    """The innermost differing pair of two nested tuples, with the smallest enclosing
    tuple short enough to show as context."""
    context = None
    while isinstance(a, tuple) and isinstance(b, tuple) and a != b:
        if len(repr(a)) <= 400:
            context = a
        pairs = [(x, y) for x, y in zip(a, b) if x != y]
        if not pairs:           # one is a prefix of the other
            return a[len(b):] or "(nothing)", b[len(a):] or "(nothing)", context
        a, b = pairs[0]
    return a, b, context


def diff_states(a, b, part="keys"):
    """Human-readable differences of two states (keys or layout), and the keys involved."""
    out, keys = [], set()
    if part == "keys":
        for field in ("digest", "functions", "keyspace"):
            if a[field] != b[field]:
                out.append("%s: %s != %s" % (field, short(a[field]), short(b[field])))
    da, db_ = a[part], b[part]
    for k in sorted(set(da) | set(db_), key=repr):
        va, vb = da.get(k), db_.get(k)
        if va == vb:
            continue
        keys.add(k)
        if len(out) >= 8:
            continue
        where = "db %s key %s" % (k[0], short(k[1], 60))
        if va is None or vb is None:
            out.append("%s: %s" % (where, "missing on the right" if vb is None else "missing on the left"))
            continue
        names = COMPONENTS[part]
        # The contents first (they say what changed), then the other components.
        for i in sorted(range(len(names)), key=lambda i: -i if part == "keys" else i):
            if va[i] != vb[i]:
                x, y, ctx = first_diff(va[i], vb[i])
                out.append("%s, %s: %s != %s%s" % (where, names[i], short(x, 200), short(y, 200),
                                                   "  in %s" % short(ctx, 400) if ctx is not None else ""))
                break
    if len(keys) > 8:
        out.append("... %d keys differ" % len(keys))
    return out, keys


# ------------------------------------------------------------------------- runs

def server_args(ds, form, module):
    args = ["--aof-use-rdb-preamble", form, "--enable-debug-command", "yes", *ds.config.args()]
    if module:
        args += ["--loadmodule", module]
    return args


def run_build(binary, workdir, ds, form, module, kill_restart):
    """Build, d0, rewrite, DEBUG LOADAOF, d1, restart, d2. Returns a dict; "error" is set
    (with the server log's tail) when a step could not run at all."""
    res = {"sent": 0, "states": {}, "problems": []}
    args = server_args(ds, form, module)
    srv = None
    try:
        srv = Server(binary, workdir, args)
        srv.pipeline(ds.setup)
        res["replies"] = srv.pipeline(with_selects(ds.items))
        res["states"]["d0"] = state(srv)
        srv.wait_rewrite()
        reply = srv.call("BGREWRITEAOF")
        if isinstance(reply, ReplyError):
            res["problems"].append("BGREWRITEAOF: %r" % reply)
        srv.wait_rewrite()
        info = srv.call("INFO", "persistence")
        for want in (b"aof_last_bgrewrite_status:ok", b"aof_last_write_status:ok", b"aof_rewrites:1\r"):
            if want not in info:
                res["problems"].append("after BGREWRITEAOF, INFO lacks %s" % want.decode().strip())
        reply = srv.call("DEBUG", "LOADAOF")
        if reply != b"OK":
            res["problems"].append("DEBUG LOADAOF: %r" % reply)
        res["states"]["d1"] = state(srv)
        res["sent"] += srv.sent
        old, srv = srv, None
        old.stop(kill=kill_restart)
        srv = Server(binary, workdir, args)
        res["states"]["d2"] = state(srv)
    except Exception as e:  # a crash, a load failure: reported, the seed fails
        res["error"] = "%s: %s%s" % (type(e).__name__, e, log_tail(workdir))
    finally:
        if srv is not None:
            res["sent"] += srv.sent
            try:
                srv.stop()
            except Exception:
                pass
    return res


def cross_load(binary, workdir, source_dir, ds, form, module):
    shutil.copytree(source_dir, workdir, ignore=shutil.ignore_patterns("log"))
    srv = None
    try:
        srv = Server(binary, workdir, server_args(ds, form, module))
        return {"state": state(srv), "sent": srv.sent}
    except Exception as e:
        return {"error": "%s: %s%s" % (type(e).__name__, e, log_tail(workdir)), "sent": 0}
    finally:
        if srv is not None:
            try:
                srv.stop()
            except Exception:
                pass


def log_tail(workdir, n=12):
    try:
        lines = open(os.path.join(workdir, "log"), errors="replace").read().splitlines()
        return "\n      log: " + "\n      log: ".join(lines[-n:])
    except OSError:
        return ""


def parallel(fns):
    results = [None] * len(fns)

    def run(i):
        results[i] = fns[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# ------------------------------------------------------------------------- a seed

class Checks:
    def __init__(self, verbose):
        self.passed = self.failed = 0
        self.verbose = verbose
        self.failed_seeds = 0
        self.upstream_losses = []  # (seed, form, step, details): stock's losses, matched
        self.failures = []       # (what, details, keys, where): where = (build, form) of a
                                 # within-build loss, which the shrinker can replay alone

    def check(self, ok, what, details=(), keys=(), where=None):
        if ok:
            self.passed += 1
            if self.verbose:
                print("  [ok] " + what)
        else:
            self.failed += 1
            self.failures.append((what, details, keys, where))
            print("  [err] " + what)
            for d in details:
                print("        " + d)

    def same(self, a, b, what, part="keys", where=None):
        details, keys = diff_states(a, b, part)
        self.check(not details, what, details, keys, where)


def features(st):
    """What a state reached: type/encoding pairs, TTLs, stream and keyspace features."""
    out = set()
    if st["functions"]:
        out.add("functions")
    out |= {"db%d" % db for db, _ in st["keys"]}
    for k, (t, pexpiretime, _, contents) in st["keys"].items():
        enc = st["encodings"][k]
        out.add("module" if t == b"fsltype_t" else "%s/%s" % (t.decode(), enc.decode()))
        if pexpiretime > 0:
            out.add("key TTL")
        if k[1] == b"":
            out.add("empty key name")
        elif any(c < 32 or c > 126 for c in k[1]):
            out.add("binary key name")
        if t == b"hash" and any(f[2] > 0 for f in contents):
            out.add("field TTL/%s" % enc.decode())
        if t == b"stream":
            info = dict(zip(contents[0::2], contents[1::2]))
            if info[b"length"] == 0:
                out.add("stream: empty")
            if info[b"max-deleted-entry-id"] != b"0-0":
                out.add("stream: deletions")
            if info.get(b"pids-tracked"):
                out.add("stream: idempotent producers")
            for group in info[b"groups"]:
                g = dict(zip(group[0::2], group[1::2]))
                out.add("stream: groups")
                if g[b"pel-count"]:
                    out.add("stream: pending entries")
                for consumer in g[b"consumers"]:
                    if not dict(zip(consumer[0::2], consumer[1::2]))[b"pel-count"]:
                        out.add("stream: consumer without PEL")
            for entry in info[b"entries"]:
                fields = entry[1]
                if len(fields) > 2 and any(v.lstrip(b"-").isdigit() for v in fields[1::2]):
                    out.add("stream: several fields with integers")
    return out


EXPECTED = {"string/int", "string/embstr", "string/raw", "list/listpack", "list/quicklist",
            "set/intset", "set/listpack", "set/hashtable", "zset/listpack", "zset/skiplist",
            "hash/listpack", "hash/listpackex", "hash/hashtable", "stream/stream",
            "field TTL/listpackex", "field TTL/hashtable", "key TTL", "functions",
            "binary key name", "empty key name", "db0", "db3", "db9", "db15",
            "stream: empty", "stream: deletions", "stream: groups", "stream: pending entries",
            "stream: consumer without PEL", "stream: several fields with integers"}


def release_of(binary):
    """The (major, minor) of a redis-server binary, from `--version` ("v=8.6.3")."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"v=(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (8, 0)


def run_seed(seed, binaries, module, size, root, checks, reached, release):
    ds = Dataset(seed, size, module=bool(module), release=release)
    kill_restart = seed % 2 == 1    # odd seeds restart by SIGKILL, even ones by SHUTDOWN
    seed_dir = os.path.join(root, "seed-%d" % seed)
    failed_before = checks.failed
    sent = 0
    for form in FORMS:
        tag = "preamble %s" % form
        dirs = {b: os.path.join(seed_dir, "%s-%s" % (b, form)) for b in BUILDS}
        for d in dirs.values():
            os.makedirs(d)
        res = dict(zip(BUILDS, parallel([
            (lambda b=b: run_build(binaries[b], dirs[b], ds, form, module, kill_restart)) for b in BUILDS])))
        sent += sum(r["sent"] for r in res.values())
        for b in BUILDS:
            r = res[b]
            checks.check("error" not in r, "%s, %s: every step ran" % (b, tag), [r.get("error", "")])
            checks.check(not r["problems"], "%s, %s: rewrite and DEBUG LOADAOF succeeded" % (b, tag),
                         r["problems"])
        if any("error" in r for r in res.values()):
            continue
        reached |= features(res["stock"]["states"]["d0"])
        errors = [(i, v) for i, v in enumerate(res["stock"]["replies"]) if isinstance(v, ReplyError)]
        checks.check(not errors, "stock, %s: the dataset builds without errors" % tag,
                     ["command %d: %s -> %r" % (i, short(with_selects(ds.items)[i]), v) for i, v in errors[:3]])
        checks.check(res["stock"]["replies"] == res["patched"]["replies"],
                     "%s: same replies to the dataset on both builds" % tag,
                     ["first difference at command %d" % next(
                         (i for i, (x, y) in enumerate(zip(res["stock"]["replies"], res["patched"]["replies"]))
                          if x != y), -1)])
        # A loss stock shows too, detail for detail, is upstream's own (8.6.3 has one in
        # stream consumer groups): reported on its own line, not as this crate's failure;
        # patched must then lose exactly what stock loses, and the cross-loads are judged
        # against what each build's own restart kept.
        upstream_loss = {}
        for step in ("d1", "d2"):
            losses = [diff_states(res[b]["states"]["d0"], res[b]["states"][step], "keys")[0] for b in BUILDS]
            if losses[0] and losses[0] == losses[1]:
                upstream_loss[step] = losses[0]
                checks.upstream_losses.append((seed, tag, step, losses[0]))
                print("  [upstream] %s: stock loses this at %s too, and patched loses exactly the same: %s"
                      % (tag, step, "; ".join(losses[0])[:300]))
        for b in BUILDS:
            st = res[b]["states"]
            if "d1" not in upstream_loss:
                checks.same(st["d0"], st["d1"], "%s, %s: BGREWRITEAOF + DEBUG LOADAOF keeps the data (d1 == d0)"
                            % (b, tag), where=(b, form))
            if "d2" not in upstream_loss:
                checks.same(st["d0"], st["d2"], "%s, %s: restart keeps the data (d2 == d0)" % (b, tag),
                            where=(b, form))
        s, p = res["stock"]["states"], res["patched"]["states"]
        checks.same(s["d0"], p["d0"], "%s: the dataset is the same on both builds (stock d0 == patched d0)" % tag)
        for step in ("d0", "d1", "d2"):
            checks.same(s[step], p[step], "%s: same encodings on both builds at %s" % (tag, step), part="layout")
        # Cross-load: each build starts on a copy of the other's dir.
        other = {"stock": "patched", "patched": "stock"}
        cross = dict(zip(BUILDS, parallel([
            (lambda b=b: cross_load(binaries[b], os.path.join(seed_dir, "%s-loads-%s-%s" % (b, other[b], form)),
                                    dirs[other[b]], ds, form, module)) for b in BUILDS])))
        for b in BUILDS:
            r = cross[b]
            sent += r["sent"]
            what = "%s, %s: loads the %s files" % (b, tag, other[b])
            checks.check("error" not in r, what, [r.get("error", "")])
            if "error" in r:
                continue
            expected = "d2" if "d2" in upstream_loss else "d0"
            checks.same(res[other[b]]["states"][expected], r["state"], what + " to the %s %s" % (other[b], expected))
            checks.same(res[b]["states"]["d2"], r["state"], what + " with the encodings of its own files",
                        part="layout")
    ok = checks.failed == failed_before
    print("seed %d: %d dataset commands, %d sent, %s" % (
        seed, len(ds.items), sent, "ok" if ok else "FAILED (%d checks)" % (checks.failed - failed_before)))
    if ok:
        shutil.rmtree(seed_dir, ignore_errors=True)
    else:
        checks.failed_seeds += 1
        write_reproducer(seed, ds, size, module, checks.failures, seed_dir, binaries,
                         shrink_it=checks.failed_seeds <= SHRINK_SEEDS)
    checks.failures = []
    return len(ds.items), sent, ok


# ------------------------------------------------------------------------- reproducers

# Where the repeated arguments of a command start, and how many make one element.
ARG_UNITS = {"XADD": (3, 2), "HSET": (2, 2), "HMSET": (2, 2), "ZADD": (2, 2), "SADD": (2, 1),
             "RPUSH": (2, 1), "LPUSH": (2, 1), "XDEL": (2, 1), "XACK": (3, 1)}


def shrink(binary, ds, form, module, items, workdir, budget=400):
    """The commands of `items` cut down (greedy chunk removal, as in delta debugging)
    while one server of `binary` still loses data across BGREWRITEAOF + DEBUG LOADAOF
    with every command succeeding. None if `items` alone does not reproduce it."""
    os.makedirs(workdir, exist_ok=True)
    srv = Server(binary, workdir, server_args(ds, form, module))
    trials = [0]
    setup = list(ds.setup)

    def fails(cand):
        trials[0] += 1
        srv.pipeline([("SELECT", 0), ("FLUSHALL",), ("FUNCTION", "FLUSH")] + setup)
        replies = srv.pipeline(with_selects(cand))
        if any(isinstance(r, ReplyError) for r in replies):
            return False
        before = state(srv)
        srv.call("BGREWRITEAOF")
        srv.wait_rewrite()
        if srv.call("DEBUG", "LOADAOF") != b"OK":
            return True
        return bool(diff_states(before, state(srv))[0])

    try:
        if not fails(items):
            return None
        if setup:
            # A fresh server, so that the DEBUG setting of the trials so far is gone.
            srv.stop()
            srv = Server(binary, workdir, server_args(ds, form, module))
            setup = []
            if not fails(items):
                setup = list(ds.setup)
        cmds, n = list(items), 2
        while len(cmds) >= 2 and trials[0] < budget:
            size = -(-len(cmds) // n)
            for i in range(0, len(cmds), size):
                cand = cmds[:i] + cmds[i + size:]
                if fails(cand):
                    cmds, n = cand, max(n - 1, 2)
                    break
            else:
                if n >= len(cmds):
                    break
                n = min(len(cmds), 2 * n)
        # Then the arguments of multi-element commands: field-value pairs, members.
        for ci in range(len(cmds)):
            db, key, cmd = cmds[ci]
            first, unit = ARG_UNITS.get(str(cmd[0]).upper(), (None, None))
            i = len(cmd) - unit if first else 0
            while first and i >= first and trials[0] < budget:
                shorter = cmd[:i] + cmd[i + unit:]
                if len(shorter) > first and fails(cmds[:ci] + [(db, key, shorter)] + cmds[ci + 1:]):
                    cmd = shorter
                    cmds[ci] = (db, key, cmd)
                i -= unit
        return setup, cmds
    finally:
        srv.stop()


def cli_quote(arg):
    """An argument as redis-cli reads it (double quotes with \\xNN escapes)."""
    if isinstance(arg, (int, float)):
        arg = str(arg)
    if isinstance(arg, str):
        arg = arg.encode("utf-8", "surrogateescape")
    if arg and all(33 <= c <= 126 and c not in b'"\\\'' for c in arg):
        return arg.decode()
    return '"' + "".join(chr(c) if 32 <= c <= 126 and c not in b'"\\' else "\\x%02x" % c
                         for c in arg) + '"'


def cli_lines(cmds):
    return "".join(" ".join(cli_quote(a) for a in c) + "\n" for c in cmds)


def write_reproducer(seed, ds, size, module, failures, seed_dir, binaries, shrink_it):
    fd, base = tempfile.mkstemp(prefix="roundtrip-random-seed%d-" % seed, suffix=".txt")
    os.close(fd)
    stem = base[:-4]
    keys = set()
    for _, _, k, _ in failures:
        keys |= set(k)
    with open(stem + ".resp", "wb") as f:
        f.write(b"".join(encode(*c) for c in ds.setup + with_selects(ds.items)))
    per_key = [it for it in ds.items if it[0] is None or (it[0], it[1]) in keys]
    # Shrink the first within-build loss: per key that differed, that key's commands alone,
    # then cut down.
    minimal, shrunk_on, setup = None, None, ds.setup
    where = next((w for _, _, _, w in failures if w), None) if shrink_it else None
    if where:
        b, form = where
        lost = sorted(next(k for _, _, k, w in failures if w == where), key=repr)
        for n, key in enumerate(lost[:4]):
            cand = [it for it in ds.items if (it[0], it[1]) == key]
            try:
                shrunk = shrink(binaries[b], ds, form, module, cand, os.path.join(seed_dir, "shrink-%d" % n))
            except Exception as e:
                print("  (shrinking failed: %s)" % e)
                shrunk = None
            if shrunk:
                setup, minimal = shrunk
                shrunk_on = "%s, aof-use-rdb-preamble %s" % (b, form)
                break
    with open(stem + ".min.resp", "wb") as f:
        f.write(b"".join(encode(*c) for c in setup + with_selects(minimal or per_key)))
    with open(base, "w") as f:
        f.write("roundtrip-random seed %d (--size %s): failed checks:\n" % (seed, size))
        for what, details, _, _ in failures:
            f.write("  %s\n" % what)
            for d in details:
                f.write("      %s\n" % d)
        f.write("\nserver arguments (with --aof-use-rdb-preamble no or yes):\n  --appendonly yes "
                "--appendfsync always --save '' --aof-timestamp-enabled no %s\n" %
                " ".join(server_args(ds, "no", module)[2:]))
        f.write("\nreplay: redis-cli -p PORT --pipe < %s.resp   (every command, %d)\n" % (stem, len(ds.items)))
        if minimal:
            f.write("        redis-cli -p PORT --pipe < %s.min.resp   (%d commands, shrunk on %s; below)\n"
                    % (stem, len(minimal), shrunk_on))
        else:
            f.write("        redis-cli -p PORT --pipe < %s.min.resp   (only the keys that differed, %d)\n"
                    % (stem, len(per_key)))
        f.write("then:   DEBUG DIGEST; BGREWRITEAOF; (wait) DEBUG LOADAOF; DEBUG DIGEST; restart; DEBUG DIGEST\n")
        f.write("rerun:  tests/roundtrip_random.py STOCK PATCHED --first-seed %d --seeds 1 --size %s%s\n"
                % (seed, size, " --module PATH" if module else ""))
        f.write("server dirs (AOF files and logs): %s\n" % seed_dir)
        if minimal:
            f.write("\nminimal reproducer (redis-cli lines):\n" + cli_lines(setup + with_selects(minimal)))
    print("  seed %d failed; reproducer: %s (+ .resp, .min.resp); server dirs kept in %s" % (seed, base, seed_dir))
    if minimal:
        lines = cli_lines(setup + with_selects(minimal)).splitlines()
        print("  minimal reproducer (%s, %d commands):" % (shrunk_on, len(lines)))
        for line in lines[:12]:
            print("    " + (line if len(line) < 300 else line[:300] + "..."))
        if len(lines) > 12:
            print("    ...")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stock")
    ap.add_argument("patched")
    ap.add_argument("--module")
    ap.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--size", choices=("small", "large"), default="small")
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()

    root = tempfile.mkdtemp(prefix="roundtrip-random-")
    binaries = {}
    for b, path in (("stock", opts.stock), ("patched", opts.patched)):
        binaries[b] = os.path.join(root, "redis-server-" + b)
        shutil.copy2(path, binaries[b])
    module = None
    if opts.module:
        module = os.path.join(root, os.path.basename(opts.module))
        shutil.copy2(opts.module, module)
    checks = Checks(opts.verbose)
    started = time.time()
    total_items = total_sent = failed_seeds = 0
    reached = set()
    release = release_of(binaries["stock"])
    try:
        for seed in range(opts.first_seed, opts.first_seed + opts.seeds):
            items, sent, ok = run_seed(seed, binaries, module, opts.size, root, checks, reached, release)
            total_items += items
            total_sent += sent
            failed_seeds += not ok
    finally:
        if not failed_seeds:
            shutil.rmtree(root, ignore_errors=True)
    expected = EXPECTED | ({"module"} if module else set())
    if release >= (8, 6):
        expected |= {"stream: idempotent producers"}
    print("reached: " + ", ".join(sorted(reached)))
    if opts.seeds >= 10:
        # Few seeds may miss some; from ten on, missing one means the generator regressed.
        checks.check(expected <= reached, "the datasets reached every type, encoding and feature",
                     ["missing: " + ", ".join(sorted(expected - reached))])
    print("%d dataset commands in %d seeds (%s), each sent to 2 builds x 2 forms; %d failing seeds; %.1f s" % (
        total_items, opts.seeds, opts.size, failed_seeds, time.time() - started))
    if checks.upstream_losses:
        print("roundtrip-random: %d upstream losses (stock and patched alike), in seeds %s"
              % (len(checks.upstream_losses), sorted({l[0] for l in checks.upstream_losses})))
    print("roundtrip-random: %d seeds, %d commands, %d checks passed, %d failed" % (
        opts.seeds, total_sent, checks.passed, checks.failed))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

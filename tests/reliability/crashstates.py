#!/usr/bin/env python3
"""Crash-state enumeration of the rewrite (issue #19, part 2).

A server of each build runs a complete BGREWRITEAOF cycle under a single-client
sequential write load (RPUSH lst <n>, INCR ctr, one at a time, appendfsync always),
before, during and after the rewrite, in both base forms (aof-use-rdb-preamble yes and
no), with the LD_PRELOAD tracer crashtrace.c recording every file-system call on files
under its data dir (the rewrite child inherits it): opens that create or truncate,
every write with its offset and bytes, fsync/fdatasync (before and after), renames,
unlinks, truncates, mkdirs, fsyncs of directories.

From the trace the model rebuilds every state a POSIX file system (ext4, data=ordered)
may be left in by a crash:

  crash points  after every record of the trace (a run of writes to the same file with
                nothing in between counts once, at its end: the cut variants below span it)
  data          for every file, the writes not yet covered by a completed fsync of that
                file (one that began after them) are: all kept / all dropped / cut halfway
                (the pending bytes cut at half, inside a write if need be) / with two or
                more files pending, each single file dropped while the others keep theirs
  names         creations, renames, unlinks and mkdirs not yet covered by a completed
                fsync of their directory (a rename: of its destination) are: all kept /
                all undone / with two or more pending, each single one undone while the
                others stay, and each one undone together with every later one. A state
                whose undone names are the latest pending ones is labelled "names in
                order" (a journal that commits in order, as ext4's, can leave it; ext4
                commits more at once, so this is a superset); the others "out of order:
                bare POSIX only" (a later name change durable, an earlier one not)

States with the same files and contents are tried once (the requirements of all their
crash points combined). Each state is started with the same build: it must load (ready,
answers PING, SHUTDOWN NOSAVE exits 0), hold the fill keys unchanged and nothing else
beyond lst/ctr, the list must be a prefix of what was sent holding every RPUSH
acknowledged before the crash point, and ctr between the INCRs acknowledged before the
crash point and those sent before it. "Acknowledged before the crash point" uses the
trace's CLOCK_MONOTONIC times: a reply was read before record k was written, so the
write's fdatasync is in the prefix (the reply follows it).

Stock's failures are notes (upstream flaws). Every failure of the patched build fails
its check, including states stock fails too: upstream renames the manifest into place
before the folder fsync that makes the names it lists durable (the new INCR's creation,
the new BASE's rename), so on a file system that does not commit name changes in order
(bare POSIX; ext4's journal does) a crash can leave a manifest naming a file that is not
there; the patched build fsyncs the folder first (`files::make_names_durable`).

Self-test (sabotage=True): the model of the patched build's trace ignores the fsync of
the rewrite child's new BASE, as if the data were never synced before the manifest that
names it is renamed into place; the loss checks must then fail.

Short mode (`make test`): 40 fill keys, about 60 writes while the rewrite runs, 150
states per build and base form: every state with a name in the AOF dir not yet durable,
then states with the child's data not yet durable and others, sampled from the seed.
Long mode: 200 fill keys, about 240 writes while the rewrite runs, every state.

    python3 tests/reliability/crashstates.py --stock S --patched P [--long] [--sabotage]
"""

import argparse
import concurrent.futures
import hashlib
import os
import random
import re
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))

from ledger import Ledger
from redistest.binaries import snapshot_binaries
from redistest.preload import build_preload
from redistest.resp import ReplyError
from redistest.server import Server, kill_all, remember_children

SEC = "crashstates"
AOFDIR = "appendonlydir"
FORMS = ("rdb-preamble", "resp")

# Workload sizes: fill keys (copied by the rewrite), the child's per-key delay (us, so the
# rewrite lasts long enough for the INCR file to take writes), steps before and after.
# "during": about that many steps while the rewrite runs (paced over the child's nominal
# time, fill x delay), and never more than twice as many (a slow child on a loaded machine
# then finishes without more writes: the trace, and the run time, stay bounded).
SHORT = {"fill": 40, "delay": 4000, "pre": 4, "post": 3, "during": 30, "sample": 150}
LONG = {"fill": 200, "delay": 1500, "pre": 20, "post": 10, "during": 120, "sample": None}


# ----------------------------------------------------------------------------- tracing


def snapshot(datadir):
    """{relative path: (inode, bytes)} of the regular files, and the directories."""
    files, dirs = {}, [""]
    for dirpath, dirnames, filenames in os.walk(datadir):
        for d in dirnames:
            dirs.append(os.path.relpath(os.path.join(dirpath, d), datadir))
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            with open(p, "rb") as f:
                files[os.path.relpath(p, datadir)] = (os.stat(p).st_ino, f.read())
    return files, dirs


def take_trace(binary, so, base, form, size, log):
    """Runs one traced BGREWRITEAOF cycle under load. Returns the trace description."""
    shutil.rmtree(base, ignore_errors=True)
    datadir = os.path.join(base, "data")
    os.makedirs(datadir)
    conf = {"appendfsync": "always", "auto-aof-rewrite-percentage": "0",
            "aof-use-rdb-preamble": "yes" if form == "rdb-preamble" else "no"}
    fill = {"fill:%d" % i: ("v%d:" % i) * 8 for i in range(size["fill"])}
    # Life 0, untraced: the fill keys, then a clean shutdown (the start image is durable).
    srv = Server(binary, datadir, conf, logfile=os.path.join(base, "redis-0.log")).start()
    if srv.wait_ready(30) != "ready":
        raise RuntimeError("crashstates: first start failed: " + srv.last_warning())
    with srv.client() as c:
        c.pipeline([("SET", k, v) for k, v in fill.items()])
        try:
            c.call("SHUTDOWN")
        except (OSError, ConnectionError):
            pass
    srv.wait_exit(30)
    srv.stop()
    root = os.path.realpath(datadir)
    files, dirs = snapshot(root)
    trace = os.path.join(base, "trace")
    env = {"LD_PRELOAD": so, "CRASHTRACE_ROOT": root, "CRASHTRACE_LOG": trace}
    conf = dict(conf, **{"rdb-key-save-delay": str(size["delay"])})
    srv = Server(binary, datadir, conf, env=env, logfile=os.path.join(base, "redis-1.log")).start()
    cmds = []  # (kind, value, sent_ns, ack_ns)
    try:
        if srv.wait_ready(30) != "ready":
            raise RuntimeError("crashstates: traced start failed: " + srv.last_warning())
        with srv.client() as c:
            n = [0]

            def step():
                for kind in ("rpush", "incr"):
                    v = str(n[0])
                    t0 = time.monotonic_ns()
                    if kind == "rpush":
                        c.call("RPUSH", "lst", v)
                    else:
                        c.call("INCR", "ctr")
                    cmds.append((kind, v, t0, time.monotonic_ns()))
                n[0] += 1

            for _ in range(size["pre"]):
                step()
            c.call("BGREWRITEAOF")
            during = 0
            deadline = time.time() + 60
            pace = size["fill"] * size["delay"] / 1e6 / size["during"]
            while time.time() < deadline:
                t = time.time()
                if during < 2 * size["during"]:
                    step()
                    during += 1
                time.sleep(max(0.0, pace - (time.time() - t)))
                remember_children(srv.pid)
                i = c.info("persistence")
                if i.get("aof_rewrite_in_progress") == "0" and i.get("aof_rewrite_scheduled") == "0":
                    break
            status = c.info("persistence").get("aof_last_bgrewrite_status")
            for _ in range(size["post"]):
                step()
            time.sleep(0.2)  # the bio thread's closes of the deleted history files
    finally:
        srv.stop()
    final = {rel: data for rel, (ino, data) in snapshot(root)[0].items()}
    if status != "ok":
        raise RuntimeError("crashstates: the traced rewrite failed (%s)" % status)
    log("    %s %s: traced %d writes (%d while the rewrite ran), %d trace records"
        % (os.path.basename(os.path.dirname(base)), form, len(cmds), 2 * during,
           sum(1 for _ in open(trace, "rb"))))
    return {"root": root, "files": files, "dirs": dirs, "trace": trace, "cmds": cmds,
            "fill": fill, "form": form, "final": final}


def parse_trace(path):
    recs = []
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            if not raw:
                continue
            parts = raw.split(b" ", 4)
            ts, pid, tid, kind = int(parts[0]), int(parts[1]), int(parts[2]), parts[3].decode()
            rest = parts[4] if len(parts) > 4 else b""
            if kind == "W":
                ino, off, ln, hx = rest.split(b" ", 3)
                data = bytes.fromhex(hx.decode())
                assert len(data) == int(ln)
                recs.append((ts, pid, tid, "W", int(ino), int(off), data))
            else:
                recs.append((ts, pid, tid, kind) + tuple(rest.decode(errors="replace").split(" ")))
    return recs


# ----------------------------------------------------------------------------- model


def norm(path, root):
    rel = os.path.relpath(path, root) if path.startswith(root) else path
    return re.sub(r"temp-rewriteaof-(bg-)?\d+", lambda m: "temp-rewriteaof-%sPID" % (m.group(1) or ""), rel)


class File:
    """One inode generation: its writes/truncates in order, and how many are durable."""
    __slots__ = ("ops", "durable", "cur", "dcontent", "name")

    def __init__(self, content=b"", name=""):
        self.ops = [("w", 0, content)] if content else []
        self.durable = len(self.ops)
        self.cur = bytearray(content)
        self.dcontent = bytes(content)
        self.name = name

    def apply(self, op):
        self.ops.append(op)
        _apply(self.cur, op)

    def content(self, how):
        if how == "kept" or self.durable == len(self.ops):
            return bytes(self.cur)
        if how == "dropped":
            return self.dcontent
        # half: the pending bytes cut at half
        pend = self.ops[self.durable:]
        budget = sum(len(o[2]) for o in pend if o[0] == "w") // 2
        buf = bytearray(self.dcontent)
        for o in pend:
            if o[0] == "w":
                if budget <= 0:
                    break
                o = ("w", o[1], o[2][:budget])
                budget -= len(o[2])
            _apply(buf, o)
        return bytes(buf)


def _apply(buf, op):
    if op[0] == "w":
        _, off, data = op
        if len(buf) < off:
            buf.extend(b"\0" * (off - len(buf)))
        buf[off:off + len(data)] = data
    else:
        del buf[op[1]:]


def _parent(p):
    return os.path.dirname(p)


def enumerate_states(tr, sabotage=False):
    """Walks the trace; returns {content key: state} where a state holds the files
    (relative path -> bytes), the dirs, the combined requirements and its labels."""
    root = tr["root"]
    recs = parse_trace(tr["trace"])
    files = {}   # fid -> File
    by_ino = {}  # inode -> current fid
    names = {}   # initial names: absolute path -> fid
    dirs0 = set(os.path.join(root, d) if d else root for d in tr["dirs"])
    for rel, (ino, data) in tr["files"].items():
        fid = len(files)
        files[fid] = File(data, rel)
        by_ino[ino] = fid
        names[os.path.join(root, rel)] = fid
    meta = []    # dict(kind, args, dir, idx, covered, label)
    syncs = {}   # id -> (fid or dir path, isdir, nops or nmeta)
    milestones = []  # normalized non-data events so far (the signature of a crash point)
    states = {}
    incr_re = re.compile(r"\.incr\.aof$")
    aofdir = os.path.join(root, AOFDIR)

    def fid_of(ino):
        if ino not in by_ino:
            fid = len(files)
            files[fid] = File(name="?ino%d" % ino)
            by_ino[ino] = fid
        return by_ino[ino]

    def build(meta_undo, data_how):
        nm = dict(names)
        ds = set(dirs0)
        for j, m in enumerate(meta):
            if j in meta_undo:
                continue
            k, a = m["kind"], m["args"]
            if k == "create":
                nm[a[0]] = a[1]
            elif k == "rename":
                src, dst, fid = a
                if nm.get(src) == fid:
                    del nm[src]
                nm[dst] = fid
            elif k == "unlink":
                if nm.get(a[0]) == a[1]:
                    del nm[a[0]]
            elif k == "mkdir":
                ds.add(a[0])
        out = {}
        for p, fid in nm.items():
            if _parent(p) not in ds:
                continue  # its directory's creation was undone
            f = files[fid]
            out[os.path.relpath(p, root)] = f.content(data_how(fid))
        return out, sorted(os.path.relpath(d, root) if d != root else "" for d in ds)

    ts_list = [r[0] for r in recs]
    cmds = tr["cmds"]
    acks_r = sorted(a for (k, v, s, a) in cmds if k == "rpush")
    acks_i = sorted(a for (k, v, s, a) in cmds if k == "incr")
    sent_r = sorted(s for (k, v, s, a) in cmds if k == "rpush")
    sent_i = sorted(s for (k, v, s, a) in cmds if k == "incr")

    def count_below(xs, t):
        lo, hi = 0, len(xs)
        while lo < hi:
            mid = (lo + hi) // 2
            if xs[mid] < t:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def gen(k, what):
        """States at crash point k (records [0, k) happened)."""
        t_next = ts_list[k] if k < len(recs) else float("inf")
        t_last = ts_list[k - 1] if k > 0 else float("-inf")
        need = (count_below(acks_r, t_next), count_below(acks_i, t_next))
        allow = (count_below(sent_r, t_last), count_below(sent_i, t_last))
        pending_data = sorted(fid for fid, f in files.items() if f.durable < len(f.ops))
        pending_meta = [j for j, m in enumerate(meta) if not m["covered"]]
        dvars = [("kept", lambda fid: "kept"), ("dropped", lambda fid: "dropped"),
                 ("half", lambda fid: "half")]
        if len(pending_data) >= 2:
            for p in pending_data:
                dvars.append(("dropped only %s" % norm(files[p].name, root),
                              lambda fid, p=p: "dropped" if fid == p else "kept"))
        # The third field: whether the undone names are the latest pending ones (a state a
        # journal committing in order, as ext4's, can leave); the others are bare-POSIX
        # states, where a later name change is durable and an earlier one is not.
        mvars = [("names kept", set(), True), ("all pending names undone", set(pending_meta), True)]
        if len(pending_meta) >= 2:
            for i, j in enumerate(pending_meta):
                mvars.append(("undone only: %s" % meta[j]["label"], {j}, i == len(pending_meta) - 1))
                if 0 < i < len(pending_meta) - 1:  # i == 0 is "all undone", the last "only"
                    mvars.append(("undone from: %s on" % meta[j]["label"], set(pending_meta[i:]), True))
        sig_base = tuple(milestones)
        for dl, dfn in dvars:
            for ml, undo, ext4 in mvars:
                content, ds = build(undo, dfn)
                h = hashlib.sha1()
                for p in sorted(content):
                    h.update(p.encode() + b"\0" + hashlib.sha1(content[p]).digest())
                key = h.hexdigest()
                label = "%s | data %s | %s" % (what, dl, ml)
                sig = (tr["form"], sig_base, dl, ml)
                st = states.get(key)
                if st is None:
                    states[key] = {"key": key, "files": content, "dirs": ds, "need": need,
                                   "allow": allow, "k": k, "label": label, "sig": sig,
                                   # 0: a name in the AOF dir not yet durable; 1: a write
                                   # outside the INCR files not yet durable; 2: neither
                                   "tier": 0 if any(meta[j]["dir"] == aofdir for j in pending_meta)
                                   else 1 if any(not incr_re.search(files[p].name)
                                                 for p in pending_data) else 2,
                                   "history": list(milestones), "ext4": ext4}  # in order
                else:
                    st["tier"] = min(st["tier"], 0 if any(meta[j]["dir"] == aofdir for j in pending_meta) else 2)
                    st["need"] = tuple(max(a, b) for a, b in zip(st["need"], need))
                    st["allow"] = tuple(min(a, b) for a, b in zip(st["allow"], allow))
                    st["ext4"] = st["ext4"] or ext4

    def cover_dir(d, nmeta):
        for j in range(nmeta):
            m = meta[j]
            if not m["covered"] and m["dir"] == d:
                m["covered"] = True

    gen(0, "before the first record")
    for i, r in enumerate(recs):
        kind = r[3]
        changed = True
        what = None
        if kind == "W":
            fid = fid_of(r[4])
            files[fid].apply(("w", r[5], r[6]))
            what = "write %d bytes at %d of %s" % (len(r[6]), r[5], norm(files[fid].name, root))
            nxt = recs[i + 1] if i + 1 < len(recs) else None
            if nxt is not None and nxt[3] == "W" and by_ino.get(nxt[4]) == fid:
                changed = False  # a run of writes to one file: its end stands for it
        elif kind == "O":
            ino, created, trunc, isdir, path = int(r[4]), r[5] == "1", r[6] == "1", r[7] == "1", r[8]
            if isdir:
                changed = False
            elif created:
                fid = len(files)
                files[fid] = File(name=path)
                by_ino[ino] = fid
                meta.append({"kind": "create", "args": (path, fid), "dir": _parent(path),
                             "covered": False, "label": "create %s" % norm(path, root)})
                what = "create " + norm(path, root)
                milestones.append(what)
            elif trunc:
                fid = fid_of(ino)
                files[fid].apply(("t", 0))
                what = "open O_TRUNC " + norm(path, root)
                milestones.append(what)
            else:
                changed = False
        elif kind == "S":
            sid, ino, isdir, path = r[4], int(r[5]), r[6] == "1", r[7]
            if isdir:
                syncs[sid] = (path, True, len(meta))
            else:
                fid = fid_of(ino)
                files[fid].name = path
                syncs[sid] = (fid, False, len(files[fid].ops), bytes(files[fid].cur))
            changed = False
        elif kind == "E":
            s = syncs.pop(r[4], None)
            if s is None or r[5] != "0":
                changed = False
            elif s[1]:
                cover_dir(s[0], s[2])
                what = "fsync dir " + norm(s[0], root)
                milestones.append(what)
            else:
                f = files[s[0]]
                if sabotage and os.path.basename(f.name).startswith("temp-rewriteaof-"):
                    changed = False  # sabotage: this fsync "never happened"
                elif s[2] > f.durable:
                    f.durable, f.dcontent = s[2], s[3]
                    what = "fsync " + norm(f.name, root)
                    if not incr_re.search(f.name):
                        milestones.append(what)
                else:
                    changed = False
        elif kind == "R":
            ino, src, dst = int(r[4]), r[6], r[7]
            fid = fid_of(ino)
            files[fid].name = dst
            meta.append({"kind": "rename", "args": (src, dst, fid), "dir": _parent(dst),
                         "covered": False,
                         "label": "rename %s -> %s" % (norm(src, root), norm(dst, root))})
            what = meta[-1]["label"]
            milestones.append(what)
        elif kind == "U":
            ino, path = int(r[4]), r[5]
            fid = fid_of(ino)
            meta.append({"kind": "unlink", "args": (path, fid), "dir": _parent(path),
                         "covered": False, "label": "unlink %s" % norm(path, root)})
            by_ino.pop(ino, None)
            what = meta[-1]["label"]
            milestones.append(what)
        elif kind == "T":
            fid = fid_of(int(r[4]))
            files[fid].apply(("t", int(r[5])))
            what = "truncate %s to %s" % (norm(r[6], root), r[5])
            milestones.append(what)
        elif kind == "M":
            path = r[5]
            meta.append({"kind": "mkdir", "args": (path,), "dir": _parent(path),
                         "covered": False, "label": "mkdir %s" % norm(path, root)})
            what = meta[-1]["label"]
            milestones.append(what)
        else:
            changed = False
        if changed:
            gen(i + 1, "after #%d %s" % (i, what))
    final, _ = build(set(), lambda fid: "kept")
    return states, recs, final


# ----------------------------------------------------------------------------- checks


def try_state(binary, st, tr, sdir, timeout=20):
    """Writes the state to sdir/data, starts the build on it and checks what it loads.
    Returns (ok, outcome class, detail)."""
    shutil.rmtree(sdir, ignore_errors=True)
    data = os.path.join(sdir, "data")
    for d in st["dirs"]:
        os.makedirs(os.path.join(data, d), exist_ok=True)
    for rel, content in st["files"].items():
        with open(os.path.join(data, rel), "wb") as f:
            f.write(content)
    with open(os.path.join(sdir, "state.txt"), "w") as f:
        f.write("crash point: %s\nneed rpush/incr %r, allowed %r\nhistory:\n  %s\n"
                % (st["label"], st["need"], st["allow"], "\n  ".join(st["history"])))
    srv = Server(binary, data, {"appendfsync": "always"}, logfile=os.path.join(sdir, "redis.log"))
    srv.start()
    try:
        r = srv.wait_ready(timeout)
        if r != "ready":
            w = srv.last_warning()
            return False, "no load: " + re.sub(r"\d+", "N", w), "%s: %s" % (r, w)
        fill = tr["fill"]
        with srv.client(timeout=timeout) as c:
            lst = [x.decode() for x in c.call("LRANGE", "lst", 0, -1)]
            ctr = c.call("GET", "ctr")
            keys = list(fill)
            vals = c.call("MGET", *keys)
            dbsize = c.call("DBSIZE")
            try:
                c.call("SHUTDOWN", "NOSAVE")
            except (OSError, ConnectionError, ReplyError):
                pass
        rc = srv.wait_exit(timeout)
    finally:
        srv.stop()
    problems, cls = [], []
    sent = [v for (k, v, s, a) in tr["cmds"] if k == "rpush"]
    if lst != sent[:len(lst)]:
        problems.append("lst is not a prefix of what was sent: %r..." % lst[:8])
        cls.append("list not a prefix")
    need_r, need_i = st["need"]
    allow_r, allow_i = st["allow"]
    if len(lst) < need_r:
        problems.append("lst has %d elements, %d RPUSH acknowledged before the crash point"
                        % (len(lst), need_r))
        cls.append("acknowledged RPUSH lost")
    if len(lst) > allow_r:
        problems.append("lst has %d elements, only %d RPUSH sent before the crash point"
                        % (len(lst), allow_r))
        cls.append("RPUSH from the future")
    n = int(ctr) if ctr is not None else 0
    if n < need_i:
        problems.append("ctr=%d, %d INCR acknowledged before the crash point" % (n, need_i))
        cls.append("acknowledged INCR lost")
    if n > allow_i:
        problems.append("ctr=%d, only %d INCR sent before the crash point" % (n, allow_i))
        cls.append("INCR from the future")
    bad = [k for k, v in zip(keys, vals) if v is None or v.decode() != fill[k]]
    if bad:
        problems.append("%d of %d fill keys missing or changed (%s...)" % (len(bad), len(keys), bad[0]))
        cls.append("fill keys missing")
    expect = len(fill) + (1 if lst else 0) + (1 if ctr is not None else 0)
    if dbsize != expect:
        problems.append("DBSIZE %d, expected %d" % (dbsize, expect))
        cls.append("unexpected keys")
    if rc != 0:
        problems.append("SHUTDOWN NOSAVE exited %r" % rc)
        cls.append("shutdown exit %r" % rc)
    if problems:
        return False, "; ".join(cls), "; ".join(problems)
    return True, "ok", "lst %d, ctr %d" % (len(lst), n)


def run_states(binary, tr, states, workdir, jobs=2):
    """Tries every state; returns [(state, ok, cls, detail)] in the order given."""
    def one(ix_st):
        ix, st = ix_st
        sdir = os.path.join(workdir, "state-%05d" % ix)
        ok, cls, detail = try_state(binary, st, tr, sdir)
        if ok:
            shutil.rmtree(sdir, ignore_errors=True)
        return st, ok, cls, detail, sdir
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        return list(ex.map(one, list(enumerate(states))))


def pick(states, n, rnd):
    """n states, deterministic from rnd: every state with a name in the AOF dir not yet
    durable (the rewrite's renames and the history deletion), then half of the rest from
    the states with the rewrite child's data not yet durable, half from the others."""
    all_ = sorted(states.values(), key=lambda s: (s["k"], s["label"]))
    if n is None or n >= len(all_):
        return all_
    t0 = [s for s in all_ if s["tier"] == 0]
    chosen = rnd.sample(t0, min(len(t0), n))
    t1 = [s for s in all_ if s["tier"] == 1]
    chosen += rnd.sample(t1, min(len(t1), (n - len(chosen)) // 2))
    keys = set(s["key"] for s in chosen)
    rest = [s for s in all_ if s["key"] not in keys]
    chosen += rnd.sample(rest, min(len(rest), n - len(chosen)))
    return sorted(chosen, key=lambda s: (s["k"], s["label"]))


def run(ledger, builds, tracer_src, workdir, long_mode, seed, log=print, sabotage=False):
    size = LONG if long_mode else SHORT
    base = os.path.join(workdir, "crashstates")
    os.makedirs(base, exist_ok=True)
    so = build_preload(tracer_src, os.path.join(base, "tracer"))
    t0 = time.time()
    traces, enum = {}, {}
    for form in FORMS:
        for name, binary in builds.items():
            tr = take_trace(binary, so, os.path.join(base, name, form), form, size, log)
            sab = sabotage and name == "patched"
            states, recs, final = enumerate_states(tr, sabotage=sab)
            traces[(name, form)] = tr
            enum[(name, form)] = states
            # The tracer saw every change: the model's last state, everything kept, is
            # the directory the traced server left.
            diff = sorted(set(final) ^ set(tr["final"])) + sorted(
                p for p in final if p in tr["final"] and final[p] != tr["final"][p])
            ledger.check(SEC, "%s %s: the trace rebuilds the files the server left" % (name, form),
                         not diff, "differs: %s" % ", ".join(diff[:6]))
            ledger.figure(SEC, "%s %s: trace records / commands / distinct crash states"
                          % (name, form), "%d / %d / %d" % (len(recs), len(tr["cmds"]), len(states)))
    log("    traced and enumerated in %.1f s" % (time.time() - t0))
    results = {}
    for form in FORMS:
        for name, binary in builds.items():
            rnd = random.Random(seed * 7919 + FORMS.index(form) * 31 + (name == "patched"))
            chosen = pick(enum[(name, form)], size["sample"], rnd)
            t1 = time.time()
            res = run_states(binary, traces[(name, form)], chosen,
                             os.path.join(base, name, form, "states"))
            results[(name, form)] = res
            failed = [x for x in res if not x[1]]
            log("    %s %s: %d of %d states tried, %d loaded and passed, %d failed (%.1f s)"
                % (name, form, len(res), len(enum[(name, form)]), len(res) - len(failed),
                   len(failed), time.time() - t1))
    # A patched failure whose signature stock was not tried on: try stock's states of
    # that signature too, so "stock fails the very same state" is decided, not guessed.
    for form in FORMS:
        if "stock" not in builds or "patched" not in builds:
            break
        tried = set(x[0]["key"] for x in results[("stock", form)])
        sigs = set(x[0]["sig"] for x in results[("patched", form)] if not x[1])
        extra = [s for s in enum[("stock", form)].values()
                 if s["sig"] in sigs and s["key"] not in tried][:20]
        if extra:
            results[("stock", form)] += run_states(builds["stock"], traces[("stock", form)], extra,
                                                   os.path.join(base, "stock", form, "states-extra"))
    stock_fail = set()
    for form in FORMS:
        for x in results.get(("stock", form), []):
            if not x[1]:
                stock_fail.add((x[0]["sig"], x[2]))
    for form in FORMS:
        for name in builds:
            res = results[(name, form)]
            failed = [x for x in res if not x[1]]
            tag = "%s %s" % (name, form)
            ledger.figure(SEC, "%s: states tried / loaded and passed / failed"
                          % tag, "%d / %d / %d" % (len(res), len(res) - len(failed), len(failed)))
            own, notes = [], {}
            for st, ok, cls, detail, sdir in failed:
                where = "%s [%s]" % (re.sub(r"#\d+ ", "", st["label"]),
                                     "names in order" if st["ext4"] else "out of order: bare POSIX only")
                text = "%s: crash %s: %s -- %s (state dir %s)" % (tag, where, cls, detail, sdir)
                if name == "stock":
                    kind = "upstream"
                else:
                    if (st["sig"], cls) in stock_fail:
                        text += " (stock fails it the same way)"
                    own.append(text)
                    continue
                # One note per kind of crash point and outcome, with a count.
                n = notes.setdefault((kind, where, cls), [0, text])
                n[0] += 1
            for (kind, where, cls), (n, text) in notes.items():
                ledger.note(SEC, "%s%s: %s" % (kind, (" (%d states like it)" % n) if n > 1 else "", text))
            if name == "patched":
                ledger.check(SEC, "%s: every crash state of the rewrite loads with every "
                                  "acknowledged write and nothing half-applied (%d states)"
                             % (tag, len(res)), not own,
                             "%d failed: %s" % (len(own), " || ".join(own[:5])), loss=True)
            else:
                ledger.check(SEC, "%s: crash states enumerated and tried (%d)" % (tag, len(res)),
                             len(res) > 0, "no state was tried")
    tot = {n: sum(len(results[(n, f)]) for f in FORMS) for n in builds}
    bad = {n: sum(1 for f in FORMS for x in results[(n, f)] if not x[1]) for n in builds}
    ledger.summary(SEC, "; ".join("%s %d states tried, %d failed" % (n, tot[n], bad[n]) for n in builds)
                   + " (%.0f s)" % (time.time() - t0))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(HERE))
    ap.add_argument("--stock", default=os.path.join(root, "build", "stock", "src"))
    ap.add_argument("--patched", default=os.path.join(root, "build", "patched", "src"))
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--sabotage", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    workdir = args.workdir or tempfile.mkdtemp(prefix="crashstates-", dir="/tmp")
    print("crashstates: %s mode, seed %d, workdir %s" % ("long" if args.long else "short", seed, workdir),
          flush=True)
    ledger = Ledger()
    builds = {}
    for name, p in (("stock", args.stock), ("patched", args.patched)):
        d = os.path.dirname(p) if os.path.isfile(p) else p
        b, h = snapshot_binaries(d, os.path.join(workdir, "bin-" + name), names=("redis-server",))
        builds[name] = b["redis-server"]
        print("  %s: %s sha256 %s" % (name, os.path.join(d, "redis-server"), h), flush=True)
    t0 = time.time()
    try:
        run(ledger, builds, os.path.join(HERE, "crashtrace.c"), workdir, args.long, seed,
            sabotage=args.sabotage)
    finally:
        kill_all()
    return ledger.report("crashstates", t0, seed, workdir, keep=args.keep,
                         sabotage=args.sabotage)


if __name__ == "__main__":
    sys.exit(main())

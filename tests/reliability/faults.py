#!/usr/bin/env python3
"""Part 5: syscall fault injection (issue #19, part 1), both builds, one table.

The server runs under faults.so (faults.c, compiled here with gcc), an LD_PRELOAD shim that
makes chosen calls on files under the data dir fail on their Nth occurrence; the rules sit
in a control file the harness rewrites, so a fault is armed at a chosen moment and cleared
again. For each fault x fsync policy (always, everysec, no) x moment (plain writing; during
a BGREWRITEAOF; in the rewrite done-handler, the parent's renames and manifest write after
the child exits) both builds run the shared write load (workload.py), get the fault, are
given the chance to recover (the fault cleared; kept serving, or restarted if they exited)
and are then SIGKILLed and restarted:

  reaction  exit      the server exited (status, never a signal) with upstream's message
                      (`always` after a write or fsync error)
            misconf   writes refused with -MISCONF (aof_last_write_status:err) and accepted
                      again after the fault was cleared, without anyone's help
            rwfail    the rewrite failed (aof_last_bgrewrite_status:err, or BGREWRITEAOF
                      refused), the server kept serving and the next rewrite succeeded
            quiet     nothing visible (EINTR is retried; a history file left behind)
            ...-stuck writes stayed refused until the harness ran BGREWRITEAOF itself
  files     the directory left by the SIGKILL (page cache kept) loads, with every
            acknowledged write and no violation (workload.verify); after a failed fsync
            of an INCR file also the power-loss image below ("power"), which must load
            and, under `always`, keep every acknowledged write

The fsyncgate case (fsync EIO, everysec, plain writing) runs on its own: on Linux a failed
fsync may have dropped the dirty pages it could not write, so a later successful fsync
proves nothing about the bytes written before the failure. The shim records the range
[size at the last successful fsync, size at the failure) of the file as lost; the
power-loss image cuts every file to its size at its last successful fsync and replaces a
lost range inside that with zeros (what a file system that persisted the size with a later
fsync, but not the dropped pages, shows; cutting the file there instead would throw away
the bytes of later fsyncs, which did reach the disk). Checks, on the patched build: after
the failure writes are refused with -MISCONF, and WAITAOF 1 0 on a write made before it
reports numlocal 0 until that write is durable again (the shim's log tells when: the new
BASE and the manifest naming it fsynced, or a new INCR file fsynced); the server rewrites
the AOF by itself and then accepts writes and counts WAITAOF again; a power-loss image
taken right after an fsync a WAITAOF reported loads and keeps every write WAITAOF
acknowledged as locally fsynced. The long form runs it again without keys that expire
after the failure (upstream appends their DEL, and the next background fsync, which
succeeds, clears its error). Stock's outcome is recorded beside it.

Checks hold the patched build; where stock dies by a signal or loses acknowledged writes it
is a note (an upstream flaw). Self-test (sabotage=True): every image of the patched build's
files loses the last 300 bytes of its last INCR file (power-loss images: the 300 bytes
before its last fsync are zeroed), so every loss check must fail.
"""

import os
import random
import re
import shutil
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))

from redistest.client import Client
from redistest.preload import build_preload
from redistest.resp import ReplyError
from redistest.server import Server
from workload import Model, fill, start_workers

SEC = "faults"
AOFDIR = "appendonlydir"
MANIFEST = "appendonly.aof.manifest"
POLICIES = ("always", "everysec", "no")
MOMENTS = ("plain", "rewrite", "done")
WRITE_MSG = "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
FSYNC_MSG = "Can't persist AOF for fsync error when the AOF fsync policy is 'always'"
SABOTAGE_BYTES = 300
NWORKERS = 2
HOLD = 1.0          # seconds a plain/rewrite-moment fault stays armed
RECOVER_WAIT = 6.0  # seconds to wait for writes to be accepted again after clearing
GATE_RECOVER_WAIT = 15.0


def _rule(op, err, match, proc="main", count=-1):
    return "op=%s err=%s match=%s proc=%s nth=1 count=%d" % (op, err, match, proc, count)


def _catalogue():
    """Rows of the matrix: (label, {moment: (rules, arm, expect)}), where arm is when the
    rules are written (plain: under load; before/after: around BGREWRITEAOF) and expect
    maps a policy to the accepted reactions of the patched build."""
    rows = []
    for err in ("SHORT", "EIO", "ENOSPC", "EINTR", "EAGAIN"):
        label = "write %s" % ("short count" if err == "SHORT" else err)
        count = 20 if err == "EINTR" else -1
        incr = [_rule("write", err, ".incr.aof", count=count)]
        if err == "EINTR":
            exp = {p: ("quiet",) for p in POLICIES}
            exp_done = exp
        else:
            exp = {"always": ("exit",), "everysec": ("misconf",), "no": ("misconf",)}
            exp_done = {p: ("rwfail",) for p in POLICIES}
        rows.append((label, {
            "plain": (incr, "plain", exp),
            "rewrite": (incr, "after", exp),
            "done": ([_rule("write", err, MANIFEST, count=count)], "after", exp_done)}))
    rw = {p: ("rwfail",) for p in POLICIES}
    rows.append(("fsync EIO", {
        # plain: the INCR file's fsync (main thread under always, bio thread under
        # everysec: the fsyncgate case, run on its own; `no` never fsyncs while writing)
        "plain": ([_rule("fsync", "EIO", ".incr.aof", count=1)], "plain",
                  {"always": ("exit",), "everysec": ("misconf",)}),
        # rewrite: the child's fsync of its temporary BASE
        "rewrite": ([_rule("fsync", "EIO", "temp-rewrite", proc="child", count=1)], "before", rw),
        # done: the manifest's fsync in the done-handler
        "done": ([_rule("fsync", "EIO", MANIFEST, count=1)], "after", rw)}))
    rows.append(("fsync EIO, old INCR at rewrite start", {
        # BGREWRITEAOF switches to a new INCR and has the bio thread fsync and close the
        # old one: under `no` the only fsync there is (fsyncgate under `no`)
        "rewrite": ([_rule("fsync", "EIO", ".incr.aof", count=1)], "before",
                    {"always": ("exit", "misconf"), "everysec": ("misconf",), "no": ("misconf",)})}))
    rows.append(("rename EIO, manifest", {
        "rewrite": ([_rule("rename", "EIO", MANIFEST)], "before", rw),
        "done": ([_rule("rename", "EIO", MANIFEST)], "after", rw)}))
    rows.append(("rename EIO, temp BASE", {
        # rewrite: the child's own rename of its temp file to temp-rewriteaof-bg-PID.aof;
        # done: the parent's rename of that file to the new BASE
        "rewrite": ([_rule("rename", "EIO", "temp-rewrite", proc="child")], "before", rw),
        "done": ([_rule("rename", "EIO", "temp-rewriteaof-bg")], "after", rw)}))
    rows.append(("open EACCES", {
        # rewrite: the new INCR file; done: the temporary manifest
        "rewrite": ([_rule("open", "EACCES", ".incr.aof")], "before", rw),
        "done": ([_rule("open", "EACCES", MANIFEST)], "after", rw)}))
    rows.append(("ftruncate EIO after a short write", {
        "plain": ([_rule("write", "SHORT", ".incr.aof"), _rule("ftruncate", "EIO", ".incr.aof")],
                  "plain", {"always": ("exit",), "everysec": ("misconf",), "no": ("misconf",)})}))
    rows.append(("unlink EIO, history file", {
        "done": ([_rule("unlink", "EIO", AOFDIR)], "after", {p: ("quiet",) for p in POLICIES})}))
    rows.append(("fork EAGAIN", {
        "rewrite": ([_rule("fork", "EAGAIN", "")], "before", rw)}))
    return rows


SHORT_CASES = (("write ENOSPC", "everysec", "plain"), ("write EIO", "everysec", "plain"),
               ("write short count", "everysec", "plain"),
               ("rename EIO, temp BASE", "everysec", "done"),
               ("fork EAGAIN", "everysec", "rewrite"))


# ----------------------------------------------------------------------------- helpers


class Ctl:
    """The control file: replaced with rename(2), so the shim never reads half of it."""

    def __init__(self, path):
        self.path, self.gen = path, 0

    def set(self, rules):
        self.gen += 1
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("gen=%d\n%s\n" % (self.gen, "\n".join(rules)))
        os.rename(tmp, self.path)

    def clear(self):
        self.set([])


def read_log(path):
    recs = []
    try:
        with open(path, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                p = line.split(" ")
                if len(p) >= 2:
                    recs.append(p)
    except OSError:
        pass
    return recs


def _wait(pred, timeout, step=0.05):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


def _info(c):
    try:
        return c.info("persistence")
    except (OSError, ConnectionError, ReplyError):
        return None


def manifest_files(aofdir):
    """[(name, type)] from the manifest, in order."""
    out = []
    try:
        with open(os.path.join(aofdir, MANIFEST)) as f:
            for line in f:
                p = line.split()
                if len(p) >= 6 and p[0] == "file":
                    out.append((p[1], p[5]))
    except OSError:
        pass
    return out


def make_image(datadir, dst, flog, power, sabotage):
    """Copies datadir's AOF dir to dst/appendonlydir. power=False: as the SIGKILL left it
    (page cache kept). power=True: each file cut to its size at its last successful fsync
    (0 if never fsynced: every file here was created in this server life) and the ranges
    an injected fsync failure dropped zeroed. sabotage: the last INCR file loses its last
    SABOTAGE_BYTES (power: the bytes before its last fsync). Returns figures."""
    src = os.path.join(datadir, AOFDIR)
    d = os.path.join(dst, AOFDIR)
    os.makedirs(d)
    synced, lost = {}, {}
    for r in read_log(flog):
        try:
            if r[0] in ("C", "U", "X"):
                # A new file, or the inode lost its name (its number may be reused).
                synced.pop(int(r[2]), None)
                lost.pop(int(r[2]), None)
            elif r[0] == "F":
                synced[int(r[2])] = int(r[3])
            elif r[0] == "L":
                lost.setdefault(int(r[2]), []).append((int(r[3]), int(r[4])))
        except (ValueError, IndexError):
            pass
    incrs = [n for n, t in manifest_files(src) if t == "i"]
    fig = {"cut": 0, "zeroed": 0, "sabotaged": 0}
    image = {}
    for n in sorted(os.listdir(src)):
        p = os.path.join(src, n)
        if not os.path.isfile(p):
            continue
        ino = os.stat(p).st_ino
        with open(p, "rb") as f:
            data = bytearray(f.read())
        if power:
            keep = synced.get(ino, 0)
            if keep < len(data):
                fig["cut"] += len(data) - keep
                del data[keep:]
            for a, b in lost.get(ino, ()):
                b = min(b, len(data))
                if a < b:
                    data[a:b] = b"\0" * (b - a)
                    fig["zeroed"] += b - a
        image[n] = data
    # Sabotage: the last INCR file the manifest names that holds anything (a rewrite that
    # had just switched to a new, still empty, INCR when the server exited leaves the
    # acknowledged writes at the end of the one before).
    full = [n for n in incrs if image.get(n)]
    if sabotage and full:
        data = image[full[-1]]
        cut = min(SABOTAGE_BYTES, len(data))
        if power:
            data[len(data) - cut:] = b"\0" * cut
        else:
            del data[len(data) - cut:]
        fig["sabotaged"] += cut
    for n, data in image.items():
        with open(os.path.join(d, n), "wb") as f:
            f.write(bytes(data))
    return fig


def load_image(server_bin, imgdir, model, logfile, extra_keys=()):
    """Starts a plain server on imgdir; returns (state, extra values, digest, error)."""
    srv = Server(server_bin, imgdir, {"appendfsync": "everysec", "auto-aof-rewrite-percentage": "0"},
                 logfile=logfile).start()
    try:
        st = srv.wait_ready(60)
        if st != "ready":
            rc = srv.wait_exit(5)
            return None, None, None, "%s (rc %s): %s" % (st, rc, srv.last_warning())
        with srv.client(timeout=30) as c:
            state = model.read_state(c) if model else None
            extra = c.call("MGET", *extra_keys) if extra_keys else []
            digest = c.call("DEBUG", "DIGEST")
        return state, extra, digest, None
    finally:
        srv.stop()


def _died(rc):
    if rc is None:
        return None
    return "signal %d" % -rc if rc < 0 else "exit %d" % rc


# ----------------------------------------------------------------------------- one case


class Run:
    """One server life under the shim with the write load; the pieces each case uses."""

    def __init__(self, server_bin, so, base, policy, seed, delay_us=0, nkeys=600):
        self.base = base
        shutil.rmtree(base, ignore_errors=True)
        self.datadir = os.path.join(base, "data")
        os.makedirs(self.datadir)
        self.flog = os.path.join(base, "faults.log")
        self.ctl = Ctl(os.path.join(base, "ctl"))
        env = {"LD_PRELOAD": so, "FAULTS_ROOT": os.path.realpath(self.datadir),
               "FAULTS_CTL": self.ctl.path, "FAULTS_LOG": self.flog}
        conf = {"appendfsync": policy, "auto-aof-rewrite-percentage": "0",
                "rdb-key-save-delay": str(delay_us), "aof-use-rdb-preamble": "yes"}
        self.srv = Server(server_bin, self.datadir, conf, env=env,
                          logfile=os.path.join(base, "redis.log")).start()
        if self.srv.wait_ready(30) != "ready":
            raise RuntimeError("server did not start: " + self.srv.last_warning())
        self.c = self.srv.client(timeout=10)
        self.model = Model(NWORKERS)
        self.model.freeze(self.c, fill(self.c, nkeys))
        self.stop = threading.Event()
        self.ws = start_workers(self.model, self.srv.port, NWORKERS, seed, self.stop)
        self.seen = {"write": set(), "bgrw": set(), "fail_max": 0, "rewrites0": None, "rewrites": 0}
        self.misconf_probe = 0
        self.misconf_aof_probe = 0

    def sample(self):
        inf = _info(self.c) if self.srv.alive() else None
        if inf:
            self.seen["write"].add(inf.get("aof_last_write_status"))
            self.seen["bgrw"].add(inf.get("aof_last_bgrewrite_status"))
            self.seen["fail_max"] = max(self.seen["fail_max"],
                                        int(inf.get("aof_rewrites_consecutive_failures", 0)))
            n = int(inf.get("aof_rewrites", 0))
            if self.seen["rewrites0"] is None:
                self.seen["rewrites0"] = n
            self.seen["rewrites"] = n - self.seen["rewrites0"]
        return inf

    def hold(self, seconds, until=None):
        t_end = time.time() + seconds
        while time.time() < t_end and self.srv.alive():
            inf = self.sample()
            if until and inf and until(inf):
                break
            time.sleep(0.05)

    def rewrite_running(self):
        inf = self.sample()
        return bool(inf) and (inf.get("aof_rewrite_in_progress") == "1"
                              or inf.get("aof_rewrite_scheduled") == "1")

    def wait_rewrite_done(self, timeout=20):
        _wait(lambda: not self.srv.alive() or not self.rewrite_running(), timeout, 0.05)

    def probe(self):
        try:
            return self.c.call("SET", "probe", "x") == "OK"
        except ReplyError as e:
            if str(e).startswith("MISCONF"):
                self.misconf_probe += 1
                # Upstream sends this text only while aof_last_write_status or
                # aof_bio_fsync_status is C_ERR, the same condition INFO reports as err.
                if "AOF" in str(e):
                    self.misconf_aof_probe += 1
            return False
        except (OSError, ConnectionError):
            return False

    def bgrewrite(self):
        try:
            return "ok: %s" % self.c.call("BGREWRITEAOF")
        except ReplyError as e:
            return "error: %s" % e
        except (OSError, ConnectionError) as e:
            return "connection: %s" % e.__class__.__name__

    def injected(self):
        return sum(1 for r in read_log(self.flog) if r[0] == "I")

    def finish(self, extra_wait=0.3):
        """Stops the load, lets the AOF buffer reach the file, reads the live state."""
        time.sleep(extra_wait)
        self.stop.set()
        for w in self.ws:
            w.join(30)
        live = None
        if self.srv.alive():
            _wait(lambda: (_info(self.c) or {}).get("aof_buffer_length", "0") == "0", 5)
            try:
                st = self.model.read_state(self.c)
                live = (self.model.verify(st), self.c.call("DEBUG", "DIGEST"))
            except (OSError, ConnectionError, ReplyError):
                pass
        return live

    def close(self):
        self.stop.set()
        try:
            self.c.close()
        except Exception:
            pass
        rc = self.srv.stop()
        return rc


def run_case(server_bin, so, base, label, policy, moment, spec, seed, sabotage):
    rules, arm, _expect = spec
    out = {"injected": 0, "died": None, "message": None, "bgrewrite": None, "recovered": None,
           "operator_rewrite": False, "second_rewrite": None}
    delay = 400 if moment != "plain" else 0
    run = Run(server_bin, so, base, policy, seed, delay_us=delay)
    try:
        time.sleep(0.4)
        run.sample()
        if arm == "plain":
            run.ctl.set(rules)
            run.hold(HOLD)
        else:
            if arm == "before":
                run.ctl.set(rules)
            out["bgrewrite"] = run.bgrewrite()
            if arm == "after":
                run.ctl.set(rules)
            if moment == "done":
                run.wait_rewrite_done()
                run.hold(0.2)
            else:
                run.hold(HOLD)
        run.ctl.clear()
        run.hold(0.1)
        out["injected"] = run.injected()
        if run.srv.alive():
            # Recovery: writes accepted again with nobody's help, else BGREWRITEAOF.
            t0 = time.time()
            wait = GATE_RECOVER_WAIT if rules[0].startswith("op=fsync") and ".incr." in rules[0] \
                else RECOVER_WAIT
            ok = _wait(lambda: (run.sample() and False) or run.probe(), wait, 0.1)
            if ok:
                out["recovered"] = round(time.time() - t0, 1)
            else:
                out["operator_rewrite"] = True
                run.wait_rewrite_done()
                run.bgrewrite()
                run.wait_rewrite_done()
                ok = _wait(run.probe, 5, 0.1)
                out["recovered"] = "after BGREWRITEAOF" if ok else "never"
            if moment != "plain" and run.srv.alive():
                run.wait_rewrite_done()
                r = run.bgrewrite()
                run.wait_rewrite_done()
                inf = run.sample() or {}
                out["second_rewrite"] = inf.get("aof_last_bgrewrite_status") if r.startswith("ok") else r
            inf = run.sample() or {}
            out["aof_last_cow_size"] = inf.get("aof_last_cow_size")
        live = run.finish()
        out["live_lost"] = live[0]["lost"] if live else None
        live_digest = live[1] if live else None
        alive = run.srv.alive()
        rc = run.close()
        out["rc"] = rc
        # Alive until the harness's SIGKILL: it did not die; else its own end.
        out["died"] = None if alive else (_died(rc) or "gone")
        log_text = run.srv.log_text()
        out["message"] = (WRITE_MSG in log_text and "write") or (FSYNC_MSG in log_text and "fsync") or None
        out["last_warning"] = run.srv.last_warning()
        out["misconf"] = run.model.errors.get("MISCONF", 0) + run.misconf_probe
        out["errors"] = dict(run.model.errors)
        out["seen_write"] = sorted(x for x in run.seen["write"] if x)
        out["seen_bgrw"] = sorted(x for x in run.seen["bgrw"] if x)
        out["fail_max"] = run.seen["fail_max"]
        out["rewrites"] = run.seen["rewrites"]
        out["acked"] = run.model.acked_total()
        # The directory the SIGKILL (or the exit) left, page cache kept.
        img = os.path.join(base, "image")
        out["image"] = make_image(run.datadir, img, run.flog, False, sabotage)
        state, _, digest, err = load_image(server_bin, img, run.model, os.path.join(base, "image.log"))
        out["load_error"] = err
        if state is not None:
            v = run.model.verify(state)
            out["lost"], out["violations"] = v["lost"], v["violations"]
            out["digest_match"] = live_digest is None or digest == live_digest
        if any(r.startswith("op=fsync") and ".incr." in r for r in rules):
            # A failed fsync of an INCR file: the power-loss image too (files cut to their
            # last successful fsync, the dropped range zeroed).
            pimg = os.path.join(base, "powerloss")
            out["power_image"] = make_image(run.datadir, pimg, run.flog, True, sabotage)
            state, _, _, err = load_image(server_bin, pimg, run.model, os.path.join(base, "powerloss.log"))
            out["power_load_error"] = err
            if state is not None:
                v = run.model.verify(state)
                out["power_lost"], out["power_violations"] = v["lost"], v["violations"]
        return out
    finally:
        run.close()


def classify(o):
    if o.get("error"):
        return "harness error"
    if o["died"]:
        return "SIGNAL" if o["died"].startswith("signal") else "exit"
    stuck = "-stuck" if o.get("operator_rewrite") else ""
    if o["misconf"] or "err" in o["seen_write"]:
        return "misconf" + stuck
    if "err" in o["seen_bgrw"] or (o["bgrewrite"] or "").startswith("error") or o["fail_max"]:
        return "rwfail" + stuck
    return "quiet" + stuck


def files_outcome(o):
    if o.get("error"):
        return "?"
    if o.get("load_error"):
        return "NO LOAD"
    bad = []
    if o.get("lost"):
        bad.append("LOST %d" % o["lost"])
    if o.get("violations"):
        bad.append("%d violations" % len(o["violations"]))
    res = ", ".join(bad) if bad else "ok"
    if "power_load_error" in o:
        if o["power_load_error"]:
            res += "; power: NO LOAD"
        else:
            res += "; power: %s" % ("lost %d" % o["power_lost"] if o.get("power_lost") else "ok")
    return res


# ----------------------------------------------------------------------------- fsyncgate


def run_fsyncgate(server_bin, so, base, seed, sabotage, policy="everysec", expiring=True):
    """fsync EIO of the INCR file under everysec, plain writing; see the module doc.
    expiring: a few keys expire ~2 s after the failure; upstream appends their DEL and its
    next background fsync succeeds, which clears the error (without them nothing is
    written and upstream's error stays until a rewrite)."""
    out = {"injected": 0, "died": None}
    run = Run(server_bin, so, base, policy, seed)
    gate = {"acked": [], "refused": 0}  # acked: (key, value, numlocal of its WAITAOF)
    mstop = threading.Event()
    waits = []  # (t_sent, t_reply, numlocal) of the control client's WAITAOFs on gate:pre

    def marker():
        try:
            mc = Client(run.srv.port, timeout=20)
        except OSError:
            return
        i = 0
        try:
            while not mstop.is_set():
                i += 1
                k, v = "gate:%d" % i, "g%d" % i
                try:
                    mc.call("SET", k, v)
                except ReplyError:
                    gate["refused"] += 1
                    time.sleep(0.05)
                    continue
                n = mc.call("WAITAOF", 1, 0, 1500)[0]
                gate["acked"].append((k, v, n, time.time()))
        except (OSError, ConnectionError):
            pass
        finally:
            mc.close()

    try:
        # Keys that expire after the failure: upstream writes their DEL to the AOF, whose
        # next background fsync succeeds and clears the error (the path back stock takes).
        if expiring:
            run.c.pipeline([("SET", "exp:%d" % i, "x", "PX", 3500 + 20 * i) for i in range(10)])
        mt = threading.Thread(target=marker, daemon=True)
        mt.start()
        time.sleep(1.3)
        run.sample()
        misconf0 = run.model.errors.get("MISCONF", 0)
        pc = run.srv.client(timeout=10)  # probes: the control client's last write stays gate:pre

        def probe():
            try:
                return pc.call("SET", "probe", "x") == "OK"
            except ReplyError as e:
                if str(e).startswith("MISCONF") and "AOF" in str(e):
                    run.misconf_aof_probe += 1
                return False
        run.ctl.set([_rule("fsync", "EIO", ".incr.aof", count=1)])
        run.c.call("SET", "gate:pre", "p")
        t_armed = time.time()
        # From here until the server counts gate:pre as fsynced again: WAITAOF on it (the
        # control client's last write), a probe write on another connection, INFO.
        refused = False
        t_fail = t_rec = None
        deadline = t_armed + 5
        while time.time() < deadline and run.srv.alive():
            run.sample()
            try:
                n = run.c.call("WAITAOF", 1, 0, 20)[0]
            except (ReplyError, OSError, ConnectionError) as e:
                n = "error: %s" % e
            waits.append((time.time(), n))
            if t_fail is None:
                if any(r[0] == "L" for r in read_log(run.flog)):
                    t_fail = time.time()
                    deadline = t_fail + GATE_RECOVER_WAIT
                    run.ctl.clear()
                continue
            if t_rec is None:
                if probe():
                    if refused or run.model.errors.get("MISCONF", 0) > misconf0 or time.time() - t_fail > 2.5:
                        t_rec = time.time()
                else:
                    refused = True
            if t_rec is not None and (n == 1 or time.time() - t_rec > 3):
                break
            time.sleep(0.01)
        run.ctl.clear()
        pc.close()
        out["injected"] = run.injected()
        failed = t_fail is not None
        out["refused"] = refused or run.model.errors.get("MISCONF", 0) > misconf0
        out["seen_write"] = sorted(x for x in run.seen["write"] if x)
        # The servers run with `save ""`, so every -MISCONF a writer got in the window is
        # upstream's AOF disk error (no RDB save can have failed).
        out["misconf_aof"] = run.misconf_aof_probe + (run.model.errors.get("MISCONF", 0) - misconf0)
        # When gate:pre really became durable again: the end of the first successful fsync
        # of another INCR file after the failure, or of the manifest that named a BASE the
        # child fsynced after it (that BASE holds gate:pre).
        recs = read_log(run.flog)
        t_l = next((int(r[5]) / 1000.0 for r in recs if r[0] == "L"), None)
        bad_path = next((r[6] for r in recs if r[0] == "L"), None)
        t_ok, child_base = None, False
        for r in recs:
            if r[0] != "F" or t_l is None or int(r[4]) / 1000.0 < t_l:
                continue
            if "temp-rewrite" in r[6]:
                child_base = True
            elif (".incr.aof" in r[6] and r[6] != bad_path) or (child_base and MANIFEST in r[6]):
                t_ok = int(r[5]) / 1000.0
                break
        out["t_durable_again"] = round(t_ok - t_l, 2) if t_ok and t_l else None
        lies = [(t, n) for (t, n) in waits if n == 1 and (t_ok is None or t < t_ok)]
        after_fail = [n for (t, n) in waits if t_l is not None and t >= t_l and (t_ok is None or t < t_ok)]
        out["waits_before_recovery"] = after_fail
        out["waitaof_one_during_error"] = len(lies)
        out["first_one_after"] = round(lies[0][0] - t_l, 1) if lies and t_l else None
        out["waitaof_counts_again"] = next((round(t - t_l, 1) for (t, n) in waits
                                            if n == 1 and t_ok and t >= t_ok), None)
        # From the failure as the shim logged it (the harness notices it a little later).
        out["recovered"] = round(t_rec - (t_l or t_fail), 2) if t_rec else None
        out["rewrites_by_itself"] = run.seen["rewrites"]
        if failed and not t_rec and run.srv.alive():
            out["operator_rewrite"] = True
            run.wait_rewrite_done()
            run.bgrewrite()
            run.wait_rewrite_done()
            if _wait(run.probe, 5, 0.1):
                out["recovered_after_operator"] = True
        inf = run.sample() or {}
        out["bgrw_status"] = inf.get("aof_last_bgrewrite_status")
        # After recovery: WAITAOF counts again (gate:pre is in the new BASE).
        try:
            n = run.c.call("WAITAOF", 1, 0, 3000)[0]
        except (ReplyError, OSError, ConnectionError) as e:
            n = "error: %s" % e
        out["waitaof_after_recovery"] = n
        # Markers after recovery, each WAITAOF-acknowledged; then stop right after a
        # marker's WAITAOF said 1 (an fsync just covered it) and fail the power.
        n_before = len(gate["acked"])
        _wait(lambda: sum(1 for a in gate["acked"][n_before:] if a[2] == 1) >= 2 or not run.srv.alive(),
              8, 0.05)
        run.stop.set()
        for w in run.ws:
            w.join(30)
        # The marker in flight may have been written before the workers' last writes; the
        # one after it is the last thing in the file, and its WAITAOF saying 1 means the
        # fsync that just ended covered it (the image then ends with it: what a sabotage
        # of the last fsynced bytes must hit).
        n_now = len(gate["acked"])
        _wait(lambda: len(gate["acked"]) >= n_now + 2 and gate["acked"][-1][2] == 1, 8, 0.005)
        mstop.set()
        live_ok = run.srv.alive()
        rc = run.close()
        mt.join(10)
        out["died"] = None if live_ok else _died(rc)
        out["pre_numlocal"] = out["waitaof_after_recovery"]
        out["log_tail"] = run.srv.last_warning()
        fsynced = [(k, v) for (k, v, n, _) in gate["acked"] if n == 1]
        if out["waitaof_after_recovery"] == 1 or out["waitaof_one_during_error"]:
            fsynced.append(("gate:pre", "p"))
        out["markers_fsynced"] = len(fsynced)
        img = os.path.join(base, "powerloss")
        out["image"] = make_image(run.datadir, img, run.flog, True, sabotage)
        _, extra, _, err = load_image(server_bin, img, None, os.path.join(base, "powerloss.log"),
                                      [k for k, _ in fsynced])
        out["load_error"] = err
        if extra is not None:
            out["markers_lost"] = [k for (k, v), got in zip(fsynced, extra)
                                   if (got.decode() if isinstance(got, bytes) else got) != v]
        out["lost_ranges"] = [(int(r[3]), int(r[4])) for r in read_log(run.flog) if r[0] == "L"]
        out["gate_refused"] = gate["refused"]
        out["t_armed_to_fail"] = round(t_fail - t_armed, 2) if t_fail else None
        return out
    finally:
        mstop.set()
        run.close()


# ----------------------------------------------------------------------------- driver


def _both(builds, fn):
    """Runs fn(name, binary) for every build at once (one thread each)."""
    res, ths = {}, []

    def one(name, b):
        try:
            res[name] = fn(name, b)
        except Exception as e:  # recorded, the other build carries on
            import traceback
            res[name] = {"error": "%s: %s" % (e.__class__.__name__, e),
                         "traceback": traceback.format_exc()}

    for name, b in builds.items():
        t = threading.Thread(target=one, args=(name, b))
        t.start()
        ths.append(t)
    for t in ths:
        t.join()
    return res


def _fsyncgate_record(ledger, table, vname, g, builds, log):
    key = ("fsync EIO" if vname == "fsyncgate" else "fsync EIO (no expiring keys)", "plain", "everysec")
    table[key] = {}
    for name in builds:
        o = g[name]
        log("    %s %s: %s" % (vname, name, _gate_summary(o)))
        ledger.figure(SEC, "%s %s" % (vname, name), _gate_summary(o))
        if o.get("traceback"):
            log(o["traceback"])
        rx = "misconf" if o.get("refused") else "quiet"
        if o.get("died"):
            rx = "SIGNAL" if o["died"].startswith("signal") else "exit"
        elif o.get("operator_rewrite"):
            rx += "-stuck"
        fl = "NO LOAD" if o.get("load_error") else ("LOST %d" % len(o["markers_lost"]) if o.get("markers_lost") else "ok")
        if o.get("waitaof_one_during_error"):
            fl += ", WAITAOF lied"
        if o.get("error"):
            rx, fl = "harness error", "?"
        table[key][name] = (rx, fl)
    p, s = g.get("patched", {}), g.get("stock", {})
    if s and not s.get("error"):
        if s.get("waitaof_one_during_error"):
            ledger.note(SEC, "%s, stock: WAITAOF 1 0 reported numlocal 1 (%d times) for a write inside the "
                        "range the failed fsync dropped, the first %ss after the failure, while nothing had "
                        "made that write durable again (%s)"
                        % (vname, s["waitaof_one_during_error"], s.get("first_one_after"),
                           "writes were refused for %ss" % s["recovered"] if s.get("recovered") is not None
                           else "writes stayed refused until a BGREWRITEAOF"))
        if s.get("load_error") or s.get("markers_lost"):
            ledger.note(SEC, "%s, stock: the power-loss image taken after it resumed %s" %
                        (vname, "does not load: %s" % s["load_error"] if s.get("load_error") else
                         "lost %d WAITAOF-fsynced writes" % len(s["markers_lost"])))
        if s.get("recovered") is None:
            ledger.note(SEC, "%s, stock: writes stayed refused (-MISCONF) until an operator's "
                        "BGREWRITEAOF" % vname)
        elif s.get("rewrites_by_itself", 0) == 0:
            ledger.note(SEC, "%s, stock: took writes again %ss after the failed fsync without a rewrite "
                        "(the next background fsync of the same INCR file succeeded)" % (vname, s["recovered"]))
        if s.get("died", "") and s["died"].startswith("signal"):
            ledger.note(SEC, "%s, stock: died by %s" % (vname, s["died"]))
    if not p:
        return
    err = p.get("error", "")
    ledger.check(SEC, "%s everysec: the injected fsync failure happened (patched)" % vname,
                 p.get("injected", 0) > 0 and not err, err or "nothing injected")
    # The refusal may last only until the recovery rewrite switches files (a fraction of a
    # second), shorter than INFO's sampling interval: a -MISCONF that names the AOF says
    # the same as aof_last_write_status:err (upstream's one condition for both).
    ledger.check(SEC, "%s everysec: writes refused with -MISCONF, aof_last_write_status:err" % vname,
                 p.get("refused") and ("err" in (p.get("seen_write") or []) or p.get("misconf_aof", 0) > 0),
                 "refused %r, aof_last_write_status seen %r, -MISCONF naming the AOF %r"
                 % (p.get("refused"), p.get("seen_write"), p.get("misconf_aof", 0)))
    ledger.check(SEC, "%s everysec: WAITAOF 1 0 reports numlocal 0 for a write before the failure until "
                      "it is durable again (new BASE and manifest, or a new INCR, fsynced)" % vname,
                 p.get("waitaof_one_during_error", 1) == 0 and p.get("waits_before_recovery"),
                 "WAITAOF replies from the failure until then: %r (%d said 1, the first %ss after the failure)"
                 % ((p.get("waits_before_recovery") or [])[:40], p.get("waitaof_one_during_error", 0),
                    p.get("first_one_after")))
    ledger.check(SEC, "%s everysec: the server rewrites the AOF by itself, then accepts writes again "
                      "(no operator BGREWRITEAOF) and WAITAOF counts again" % vname,
                 p.get("recovered") is not None and p.get("rewrites_by_itself", 0) > 0
                 and p.get("waitaof_after_recovery") == 1 and not p.get("died"),
                 "recovered %r, rewrites %r, WAITAOF after %r, bgrewrite status %r, died %r"
                 % (p.get("recovered"), p.get("rewrites_by_itself"), p.get("waitaof_after_recovery"),
                    p.get("bgrw_status"), p.get("died")))
    ledger.figure(SEC, "%s patched: WAITAOF from the failure until durable again" % vname,
                  "%s; durable again %ss after the failure, WAITAOF counted again after %ss"
                  % (_runs(p.get("waits_before_recovery") or []), p.get("t_durable_again"),
                     p.get("waitaof_counts_again")))
    ledger.check(SEC, "%s everysec: the power-loss image (dropped range zeroed) loads and keeps every "
                      "write WAITAOF acknowledged as fsynced" % vname,
                 not err and not p.get("load_error") and p.get("markers_lost") == []
                 and p.get("markers_fsynced", 0) > 0,
                 "load %r, %s WAITAOF-fsynced markers, lost %r" % (p.get("load_error"), p.get("markers_fsynced"),
                                                                  (p.get("markers_lost") or [])[:10]),
                 loss=True)



def _runs(xs):
    """[0, 0, 1, 1, 1] -> '0 x2, 1 x3'."""
    out = []
    for x in xs:
        if out and out[-1][0] == x:
            out[-1][1] += 1
        else:
            out.append([x, 1])
    return ", ".join("%s x%d" % (x, n) for x, n in out) or "none"


def _gate_summary(o):
    if o.get("error"):
        return "harness error: %s" % o["error"]
    rec = ("recovered after %ss" % o["recovered"]) if o.get("recovered") is not None else \
        ("stuck; recovered after BGREWRITEAOF" if o.get("recovered_after_operator") else "stuck")
    img = "NO LOAD (%s)" % o["load_error"] if o.get("load_error") else \
        "loads, %d of %d WAITAOF-fsynced markers lost" % (len(o.get("markers_lost") or []),
                                                          o.get("markers_fsynced", 0))
    return ("injected %d, refused %s, WAITAOF=1 before durable again %d time(s)%s, %s, rewrites by "
            "itself %s, WAITAOF after %s, image: %s, zeroed %s, died %s"
            % (o.get("injected"), o.get("refused"), o.get("waitaof_one_during_error", 0),
               (" (first %ss after the failure)" % o["first_one_after"]) if o.get("first_one_after") is not None else "",
               rec, o.get("rewrites_by_itself"), o.get("waitaof_after_recovery"), img,
               (o.get("image") or {}).get("zeroed"), o.get("died")))


def run(ledger, builds, shim_src, workdir, long_mode, seed, log=print, sabotage=False, only=None):
    """only: substrings; run just the cases whose 'fault, moment, policy' holds one of them
    (and the fsyncgate variants if one of them is 'fsyncgate')."""
    t_start = time.time()
    base = os.path.join(workdir, "faults")
    os.makedirs(base, exist_ok=True)
    so = build_preload(shim_src, os.path.join(base, "shim"), libs=("-ldl", "-lpthread"))
    rnd = random.Random(seed)
    table = {}  # (label, moment, policy) -> {build: (reaction, files)}
    counts = {}

    # -- fsyncgate, everysec (long: also without the expiring keys)
    variants = [("fsyncgate", True)] + ([("fsyncgate, no expiring keys", False)] if long_mode else [])
    if only:
        variants = [v for v in variants + [("fsyncgate, no expiring keys", False)][:0 if long_mode else 1]
                    if any(o in v[0] for o in only)]
    g = {}
    for vname, expiring in variants:
        log("    %s: fsync EIO on the INCR file, everysec, both builds at once" % vname)
        gseed = rnd.randrange(1 << 30)
        sub = re.sub(r"[^a-z]+", "-", vname)
        res = _both(builds, lambda name, b: run_fsyncgate(b, so, os.path.join(base, sub, name), gseed,
                                                          sabotage and name == "patched", expiring=expiring))
        if expiring:
            g = res
        _fsyncgate_record(ledger, table, vname, res, builds, log)

    # -- the matrix
    cases = []
    for label, moments in _catalogue():
        for moment in MOMENTS:
            spec = moments.get(moment)
            for policy in POLICIES:
                if spec is None or policy not in spec[2]:
                    table.setdefault((label, moment, policy), None)
                    continue
                if label == "fsync EIO" and moment == "plain" and policy == "everysec":
                    continue  # the fsyncgate case above
                if only:
                    if not any(o in "%s, %s, %s" % (label, moment, policy) for o in only):
                        continue
                elif not long_mode and (label, policy, moment) not in SHORT_CASES:
                    continue
                cases.append((label, moment, policy, spec))
    log("    %d cases x %d builds (fsyncgate took %.1f s)" % (len(cases), len(builds), time.time() - t_start))
    for i, (label, moment, policy, spec) in enumerate(cases):
        cseed = rnd.randrange(1 << 30)
        t_case = time.time()
        tag = re.sub(r"[^a-z0-9]+", "-", "%s-%s-%s" % (label.lower(), moment, policy)).strip("-")
        res = _both(builds, lambda name, b: run_case(b, so, os.path.join(base, "cases", tag, name), label,
                                                     policy, moment, spec, cseed,
                                                     sabotage and name == "patched"))
        cell = {}
        for name in builds:
            o = res[name]
            cell[name] = (classify(o), files_outcome(o))
            counts.setdefault(name, {}).setdefault(cell[name][0], 0)
            counts[name][cell[name][0]] += 1
            ledger.figure(SEC, "%s / %s / %s %s" % (label, moment, policy, name), _case_summary(o))
            if o.get("traceback"):
                log(o["traceback"])
        table[(label, moment, policy)] = cell
        log("    [%d/%d] %s, %s, %s: %s (%.1f s)" % (i + 1, len(cases), label, moment, policy,
                                                    "; ".join("%s %s / %s" % (n, cell[n][0], cell[n][1])
                                                              for n in builds), time.time() - t_case))
        s, p = res.get("stock"), res.get("patched")
        name = "%s, %s, %s" % (label, moment, policy)
        if s and not s.get("error"):
            if s.get("died", "") and s["died"].startswith("signal"):
                ledger.note(SEC, "%s: stock died by %s (%s)" % (name, s["died"], s.get("last_warning")))
            if s.get("load_error") or s.get("lost") or s.get("violations"):
                ledger.note(SEC, "%s: stock's files after the SIGKILL: %s" % (name, files_outcome(s)))
            if s.get("power_load_error"):
                ledger.note(SEC, "%s: stock's power-loss image (dropped range zeroed) does not load: %s"
                            % (name, s["power_load_error"]))
            if s.get("operator_rewrite"):
                ledger.note(SEC, "%s: stock kept refusing writes until an operator's BGREWRITEAOF" % name)
        if p is None:
            continue
        expect = spec[2][policy]
        rx = cell["patched"][0]
        problems = []
        if p.get("error"):
            problems.append("harness: %s" % p["error"])
        else:
            if p["injected"] == 0:
                problems.append("the fault was never injected")
            if rx not in expect:
                problems.append("reaction %s, expected %s" % (rx, "/".join(expect)))
            # What a client can see must tell what happened.
            if rx == "misconf" and not (p["misconf"] and "err" in p["seen_write"]):
                problems.append("writes refused %d times with -MISCONF, aof_last_write_status seen %r"
                                % (p["misconf"], p["seen_write"]))
            # A rewrite that could not start is refused (upstream does not count it in
            # aof_rewrites_consecutive_failures); one that started and failed is counted.
            started = (p["bgrewrite"] or "").startswith("ok")
            if rx == "rwfail" and not ("err" in p["seen_bgrw"] and (p["fail_max"] >= 1 if started
                                                                    else p["bgrewrite"].startswith("error"))):
                problems.append("BGREWRITEAOF %r, aof_last_bgrewrite_status seen %r, "
                                "aof_rewrites_consecutive_failures up to %d"
                                % (p["bgrewrite"], p["seen_bgrw"], p["fail_max"]))
            if rx == "exit":
                want = "fsync" if label.startswith("fsync") and rules_is_fsync(spec) else "write"
                if p.get("rc") != 1 or not p.get("message"):
                    problems.append("exit status %r, message %r (last warning %r)"
                                    % (p.get("rc"), p.get("message"), p.get("last_warning")))
                elif p["message"] != want and not (label.startswith("fsync EIO, old") and p["message"]):
                    problems.append("message for a %s error, expected %s" % (p["message"], want))
            if not p["died"] and p.get("recovered") in (None, "never", "after BGREWRITEAOF"):
                problems.append("writes not accepted again by themselves (%r)" % p.get("recovered"))
            if moment != "plain" and not p["died"] and p.get("second_rewrite") != "ok":
                problems.append("the next BGREWRITEAOF: %r" % p.get("second_rewrite"))
        ledger.check(SEC, "%s: %s, recovers%s" % (name, "/".join(expect),
                                                 ", next rewrite ok" if moment != "plain" else ""),
                     not problems, "; ".join(problems))
        ledger.check(SEC, "%s: files load, every acknowledged write there (%s acked)" % (name, p.get("acked")),
                     not p.get("error") and not p.get("load_error") and p.get("lost") == 0
                     and not p.get("violations"),
                     "load %r, lost %r, violations %r" % (p.get("load_error"), p.get("lost"),
                                                          (p.get("violations") or [])[:3]),
                     loss=True)
        if "power_load_error" in p:
            always = policy == "always"
            ledger.check(SEC, "%s: the power-loss image (dropped range zeroed) loads%s" % (
                name, ", every acknowledged write there" if always else ""),
                not p["power_load_error"] and (not always or p.get("power_lost") == 0)
                and not p.get("power_violations"),
                "load %r, lost %r, violations %r" % (p["power_load_error"], p.get("power_lost"),
                                                     (p.get("power_violations") or [])[:3]),
                loss=always)

    # -- the table
    lines = render_table(table, list(builds))
    for name in builds:
        c = counts.get(name, {})
        ledger.summary(SEC, "%s: %d cases + fsyncgate: %s; fsyncgate: %s"
                       % (name, sum(c.values()), ", ".join("%s %d" % kv for kv in sorted(c.items())),
                          _gate_short(g.get(name, {}))))
    ledger.figure(SEC, "matrix", "\n" + "\n".join(lines))
    ledger.figure(SEC, "cases run", "%d (x %d builds) plus fsyncgate, %.0f s" % (len(cases), len(builds),
                                                                                time.time() - t_start))
    return table


def rules_is_fsync(spec):
    return spec[0][0].startswith("op=fsync")


def _gate_short(o):
    if not o or o.get("error"):
        return "harness error"
    return "%s, WAITAOF=1 before durable again %d, %s" % (
        "recovered by itself in %ss" % o["recovered"] if o.get("recovered") is not None else "stuck until BGREWRITEAOF",
        o.get("waitaof_one_during_error", 0),
        "image NO LOAD" if o.get("load_error") else "image lost %d fsynced markers" % len(o.get("markers_lost") or []))


def _case_summary(o):
    if o.get("error"):
        return "harness error: %s" % o["error"]
    keys = ("injected", "died", "message", "bgrewrite", "misconf", "seen_write", "seen_bgrw", "fail_max",
            "rewrites", "recovered", "operator_rewrite", "second_rewrite", "aof_last_cow_size", "acked",
            "live_lost", "lost", "load_error", "digest_match")
    return ", ".join("%s=%s" % (k, o[k]) for k in keys if k in o and o[k] not in (None, [], {}))


def render_table(table, names):
    """One line per fault x moment, one column per policy: 'stock | patched', each
    'reaction/files'."""
    out = ["faults: reaction/files per build (%s), per policy" % " | ".join(names)]
    w = 44
    hdr = "  %-*s %-8s" % (w, "fault", "moment") + "".join("  %-40s" % p for p in POLICIES)
    out.append(hdr)
    seen = [(label, m) for label, _ in _catalogue() for m in MOMENTS]
    seen += [(label, m) for (label, m, _) in table if (label, m) not in seen]
    for label, moment in seen:
        cells = []
        any_run = False
        for policy in POLICIES:
            cell = table.get((label, moment, policy))
            if cell is None:
                cells.append("n/a" if (label, moment, policy) in table else "-")
            else:
                any_run = True
                cells.append(" | ".join("%s/%s" % cell.get(n, ("?", "?")) for n in names))
        if not any_run:
            continue
        out.append("  %-*s %-8s" % (w, label, moment) + "".join("  %-40s" % c for c in cells))
    return out


def main():
    import argparse
    import tempfile
    from ledger import Ledger
    from redistest.binaries import snapshot_binaries
    from redistest.server import kill_all
    ap = argparse.ArgumentParser(description="syscall fault injection, stock beside patched")
    ap.add_argument("--stock", required=True, help="stock build's src dir or redis-server")
    ap.add_argument("--patched", required=True, help="patched build's src dir or redis-server")
    ap.add_argument("--long", action="store_true", help="the whole matrix")
    ap.add_argument("--sabotage", action="store_true", help="self-test: the loss checks must fail")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", default=None, help="';'-separated substrings of 'fault, moment, policy' "
                    "(or 'fsyncgate'): run just those cases")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    workdir = tempfile.mkdtemp(prefix="reliability-faults-", dir="/tmp")
    print("faults: %s mode, seed %d, workdir %s" % ("long" if args.long else "short", seed, workdir), flush=True)
    builds = {}
    for name, p in (("stock", args.stock), ("patched", args.patched)):
        d = os.path.dirname(p) if os.path.isfile(p) else p
        b, h = snapshot_binaries(d, os.path.join(workdir, "bin-" + name), names=("redis-server",))
        builds[name] = b["redis-server"]
        print("  %s: %s sha256 %s" % (name, os.path.join(d, "redis-server"), h), flush=True)
    ledger = Ledger()
    t0 = time.time()
    try:
        run(ledger, builds, os.path.join(HERE, "faults.c"), workdir, args.long, seed, sabotage=args.sabotage,
            only=[o.strip() for o in args.only.split(";") if o.strip()] if args.only else None)
    except Exception:
        import traceback
        tb = traceback.format_exc()
        print(tb)
        ledger.check(SEC, "faults part ran to completion", False, tb.strip().splitlines()[-1])
    finally:
        kill_all()
    return ledger.report("faults", t0, seed, workdir, keep=args.keep, sabotage=args.sabotage,
                         width=8)


if __name__ == "__main__":
    sys.exit(main())

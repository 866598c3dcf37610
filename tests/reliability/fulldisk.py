"""Part 3: full disk.

The server's `dir` (so the AOF directory and the rewrite's temp file, which must be on the
same filesystem for the rename) is a 4 MB tmpfs mounted by the test itself.

  always     the load fills the disk; the server must exit (not by a signal) with
             upstream's "Can't recover from AOF write error when the AOF fsync policy is
             'always'. Exiting...", and the files it leaves must load with every
             acknowledged write in them
  everysec   the load fills the disk; writes must be refused with -MISCONF while it is
             full and accepted again once space is freed (a ballast file is deleted); the
             files must then load to the DEBUG DIGEST of the live dataset, with every
             acknowledged write
  rewrite    a BGREWRITEAOF that runs out of space must fail with ENOSPC in the log
             (aof_last_bgrewrite_status err, no temp file left), the server keeps serving
             writes, the previous BASE is untouched, every file the manifest names exists,
             and the file set loads to the live DEBUG DIGEST

If mounting is not permitted the part is reported SKIPPED, never passed.
"""

import atexit
import contextlib
import os
import shutil
import subprocess
import threading
import time

from redistest.files import copy_dir, dir_hash
from redistest.server import Server
from workload import Model, start_workers

SIZE = "4m"
ALWAYS_MSG = "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."

_mounts = []


def _umount_all():
    for m in list(_mounts):
        umount(m)


atexit.register(_umount_all)


def mount(path):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + SIZE, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip() or "mount exited %d" % r.returncode
    _mounts.append(path)
    return None


def umount(path):
    for attempt in range(20):
        r = subprocess.run(["umount", path], capture_output=True, text=True)
        if r.returncode == 0:
            break
        time.sleep(0.25)
    else:
        subprocess.run(["umount", "-l", path], capture_output=True)
    if path in _mounts:
        _mounts.remove(path)


def _wait(pred, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def _load_check(server_bin, src, dst, model, logfile):
    """Copies the AOF dir off the tmpfs and loads it; returns (state, digest, error)."""
    copy_dir(src, dst)
    srv = Server(server_bin, dst, {"appendfsync": "everysec"}, logfile=logfile).start()
    try:
        st = srv.wait_ready(60)
        if st != "ready":
            return None, None, "%s: %s" % (st, srv.last_warning())
        with srv.client(timeout=30) as c:
            state = model.read_state(c) if model else None
            digest = c.call("DEBUG", "DIGEST")
        return state, digest, None
    finally:
        srv.stop()


# The servers of the three scenarios: no automatic rewrite, so only the test starts one.
ALWAYS_CONFIG = {"appendfsync": "always", "auto-aof-rewrite-percentage": "0"}
EVERYSEC_CONFIG = {"appendfsync": "everysec", "auto-aof-rewrite-percentage": "0"}
REWRITE_CONFIG = {"appendfsync": "everysec", "auto-aof-rewrite-percentage": "0",
                  "aof-use-rdb-preamble": "no"}


def _account(res, model, state):
    """What a reload found of the acknowledged writes (nothing when it did not load)."""
    if state is not None:
        v = model.verify(state)
        res["lost"], res["violations"], res["found"] = v["lost"], v["violations"], v["found"]


class MountError(Exception):
    """No tmpfs can be mounted here (not root, or no mount namespace)."""


@contextlib.contextmanager
def _server_on_tmpfs(server_bin, base, name, config, res):
    """A fresh tmpfs at base/mnt with a server on it (data in mnt/data, log in
    base/<name>.log). Yields (mnt, data, srv); srv is None when the server did not start
    (res["error"] says why). The server is stopped and the tmpfs unmounted on the way out,
    whatever happened."""
    mnt = os.path.join(base, "mnt")
    err = mount(mnt)
    if err:
        raise MountError(err)
    srv = None
    try:
        data = os.path.join(mnt, "data")
        os.makedirs(data)
        srv = Server(server_bin, data, config, logfile=os.path.join(base, name + ".log")).start()
        if srv.wait_ready(30) != "ready":
            res["error"] = "server did not start: " + srv.last_warning()
            yield mnt, data, None
        else:
            yield mnt, data, srv
    finally:
        if srv:
            srv.stop()
        umount(mnt)


def scenario_always(server_bin, base, res):
    with _server_on_tmpfs(server_bin, base, "always", ALWAYS_CONFIG, res) as (mnt, data, srv):
        if srv is None:
            return
        model = Model(4)
        stop = threading.Event()
        ws = start_workers(model, srv.port, 4, 11, stop, value_size=900)
        rc = srv.wait_exit(60)
        stop.set()
        for w in ws:
            w.join(30)
        res["exit"] = rc
        res["acked"] = model.acked_total()
        res["message"] = ALWAYS_MSG in srv.log_text()
        res["last_warning"] = srv.last_warning()
        state, _, err = _load_check(server_bin, data, os.path.join(base, "always-copy"), model,
                                    os.path.join(base, "always-load.log"))
        res["load_error"] = err
        _account(res, model, state)


def scenario_everysec(server_bin, base, res):
    with _server_on_tmpfs(server_bin, base, "everysec", EVERYSEC_CONFIG, res) as (mnt, data, srv):
        if srv is None:
            return
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * (1 << 20))
        model = Model(4)
        ctl = srv.client(timeout=30)
        stop = threading.Event()
        ws = start_workers(model, srv.port, 4, 12, stop, value_size=900)
        res["misconf_seen"] = bool(_wait(lambda: model.errors.get("MISCONF") or not srv.alive(), 30))
        stop.set()
        for w in ws:
            w.join(30)
        res["refused_writes"] = dict(model.errors)
        res["alive_when_full"] = srv.alive()
        if not srv.alive():
            res["error"] = "server exited when the disk filled: " + srv.last_warning()
            return None
        # Still full: a write must be refused with MISCONF.
        try:
            ctl.call("SET", "probe", "x")
            res["refused_while_full"] = False
        except Exception as e:
            res["refused_while_full"] = str(e).startswith("MISCONF")
            res["refusal"] = str(e)
        os.unlink(ballast)

        def accepted():
            try:
                return ctl.call("SET", "probe", "y") == "OK"
            except Exception:
                return False
        t0 = time.time()
        res["accepted_after_free"] = bool(_wait(accepted, 15, 0.1))
        res["recovery_seconds"] = time.time() - t0
        # More load once space is back: these writes must be accepted and kept too.
        before = model.acked_total()
        stop = threading.Event()
        ws = start_workers(model, srv.port, 4, 13, stop, max_ops=150, value_size=100)
        for w in ws:
            w.join(60)
        res["acked_after_free"] = model.acked_total() - before
        res["acked"] = model.acked_total()
        live_state = model.read_state(ctl)
        live_digest = ctl.call("DEBUG", "DIGEST")
        lv = model.verify(live_state)
        res["live_lost"] = lv["lost"]
        ctl.close()
        srv.stop()  # SIGKILL; on tmpfs the page cache is the disk
        state, digest, err = _load_check(server_bin, data, os.path.join(base, "everysec-copy"),
                                         model, os.path.join(base, "everysec-load.log"))
        res["load_error"] = err
        res["digest_match"] = digest is not None and digest == live_digest
        res["digests"] = (live_digest, digest)
        _account(res, model, state)


def scenario_rewrite(server_bin, base, res):
    with _server_on_tmpfs(server_bin, base, "rewrite", REWRITE_CONFIG, res) as (mnt, data, srv):
        if srv is None:
            return
        c = srv.client(timeout=60)
        for i in range(0, 1100, 100):
            c.pipeline([("SET", "big:%d" % j, ("%d-" % j) * 250) for j in range(i, i + 100)])

        def rewrite_done():
            inf = c.info("persistence")
            return inf.get("aof_rewrite_in_progress") == "0" and \
                inf.get("aof_rewrite_scheduled") == "0" and inf
        c.call("BGREWRITEAOF")
        time.sleep(0.2)
        inf = _wait(rewrite_done, 60)
        res["first_rewrite"] = inf.get("aof_last_bgrewrite_status") if inf else "timeout"
        time.sleep(0.5)  # history files are deleted in the background
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        aofdir = os.path.join(data, "appendonlydir")
        base_size = sum(os.path.getsize(os.path.join(aofdir, n)) for n in os.listdir(aofdir))
        # Leave room for the writes below but not for a second copy of the dataset.
        leave = min(base_size // 2, 400 * 1024)
        with open(os.path.join(mnt, "ballast"), "wb") as f:
            f.write(b"\0" * max(0, free - leave))
        res["free_before_rewrite"] = os.statvfs(mnt).f_bavail * st.f_frsize
        res["dataset_bytes"] = base_size
        with open(os.path.join(aofdir, "appendonly.aof.manifest")) as f:
            res["manifest_before"] = f.read()
        # The files the previous manifest names, which the failed rewrite must not touch
        # (the INCR may only grow: the writes below go on being appended to it until the
        # rewrite switches to a new one).
        before = {n: h for n, h in dir_hash(aofdir).items() if ".base." in n}
        log_mark = len(srv.log_lines())
        c.call("BGREWRITEAOF")
        time.sleep(0.2)
        inf = _wait(rewrite_done, 60)
        res["second_rewrite"] = inf.get("aof_last_bgrewrite_status") if inf else "timeout"
        new_lines = srv.log_lines()[log_mark:]
        res["rewrite_log"] = [l.split(" # ", 1)[-1] for l in new_lines if " # " in l][-3:]
        # The rewrite must have failed for the reason under test, not another.
        res["enospc"] = any("No space left on device" in l for l in new_lines)
        after = dir_hash(aofdir)
        res["base_changed"] = sorted(n for n, h in before.items() if after.get(n) != h)
        with open(os.path.join(aofdir, "appendonly.aof.manifest")) as f:
            res["manifest_after"] = f.read()
        res["temp_left"] = [n for n in os.listdir(data) + os.listdir(aofdir) if n.startswith("temp-")]
        # The server keeps taking writes after the failed rewrite.
        try:
            for i in range(50):
                c.call("SET", "after:%d" % i, "v%d" % i)
            res["writes_after"] = True
        except Exception as e:
            res["writes_after"] = "refused: %s" % e
        res["alive"] = srv.alive()
        live_digest = c.call("DEBUG", "DIGEST")
        c.close()
        srv.stop()
        missing = []
        for line in res["manifest_after"].splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "file" and " type h" not in line:
                if not os.path.exists(os.path.join(aofdir, parts[1])):
                    missing.append(parts[1])
        res["missing_files"] = missing
        _, digest, err = _load_check(server_bin, data, os.path.join(base, "rewrite-copy"), None,
                                     os.path.join(base, "rewrite-load.log"))
        res["load_error"] = err
        res["digest_match"] = digest is not None and digest == live_digest
        res["digests"] = (live_digest, digest)


def run(ledger, builds, workdir, log=print):
    sec = "fulldisk"
    out = {}
    for name, server_bin in builds.items():
        base = os.path.join(workdir, "fulldisk", name)
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(base)
        r = {"always": {}, "everysec": {}, "rewrite": {}}
        for scen, fn in (("always", scenario_always), ("everysec", scenario_everysec),
                         ("rewrite", scenario_rewrite)):
            try:
                fn(server_bin, base, r[scen])
                err = None
            except MountError as e:
                err = str(e)
            if err:
                ledger.note(sec, "SKIPPED: cannot mount tmpfs (%s)" % err)
                ledger.summary(sec, "SKIPPED: cannot mount a tmpfs here (%s)" % err)
                ledger.figure(sec, "full-disk checks", "SKIPPED: mount not permitted (%s)" % err)
                return None
            log("    fulldisk %s %s: %s" % (name, scen, _summary(r[scen])))
        out[name] = r
        for scen in r:
            ledger.figure(sec, "%s %s" % (name, scen), _summary(r[scen]))
        a, e, w = r["always"], r["everysec"], r["rewrite"]
        ledger.summary(sec, "%s: always: exit %s%s, %s acknowledged, %s found; everysec: %s "
                            "writes refused while full, accepted after freeing %s, %s acknowledged, "
                            "%s found, digest %s; rewrite out of space: %s, previous set %s"
                       % (name, a.get("exit"), " with upstream's message" if a.get("message") else "",
                          a.get("acked"), a.get("found"),
                          sum(v for k, v in (e.get("refused_writes") or {}).items() if k == "MISCONF"),
                          e.get("accepted_after_free"), e.get("acked"), e.get("found"),
                          "same" if e.get("digest_match") else "DIFFERENT",
                          w.get("second_rewrite"),
                          "loads to the live digest" if w.get("digest_match") else "DOES NOT LOAD ALIKE"))

    p = out.get("patched")
    if p is None:
        return out
    a, e, w = p["always"], p["everysec"], p["rewrite"]
    ledger.check(sec, "always: server exits when the disk fills, not by a signal",
                 a.get("exit") is not None and a["exit"] > 0, "exit %r %s" % (a.get("exit"), a.get("error", "")))
    ledger.check(sec, "always: upstream's 'Can't recover from AOF write error...' logged",
                 a.get("message"), "last warning: %r" % a.get("last_warning"))
    ledger.check(sec, "always: files load and no acknowledged write lost (%s acked)" % a.get("acked"),
                 not a.get("load_error") and a.get("lost") == 0 and not a.get("violations")
                 and a.get("acked", 0) > 0,
                 "load %r, lost %r, violations %r" % (a.get("load_error"), a.get("lost"),
                                                      (a.get("violations") or [])[:3]))
    ledger.check(sec, "everysec: writes refused with -MISCONF while the disk is full",
                 e.get("misconf_seen") and e.get("refused_while_full"),
                 "errors %r, probe refused %r %s" % (e.get("refused_writes"), e.get("refused_while_full"),
                                                     e.get("error", "")))
    ledger.check(sec, "everysec: writes accepted again after space is freed",
                 e.get("accepted_after_free") and e.get("acked_after_free", 0) > 0,
                 "accepted %r, acked after %r" % (e.get("accepted_after_free"), e.get("acked_after_free")))
    ledger.check(sec, "everysec: AOF loads to the live DEBUG DIGEST, nothing acknowledged lost",
                 e.get("digest_match") and e.get("lost") == 0 and not e.get("violations")
                 and not e.get("load_error"),
                 "digests %r, lost %r, load %r" % (e.get("digests"), e.get("lost"), e.get("load_error")))
    ledger.check(sec, "rewrite out of space: fails with ENOSPC (status err, no temp file left), "
                      "server keeps accepting writes",
                 w.get("first_rewrite") == "ok" and w.get("second_rewrite") == "err"
                 and w.get("enospc") and w.get("writes_after") is True and w.get("alive")
                 and w.get("temp_left") == [],
                 "first %r, second %r, ENOSPC logged %r, writes after %r, temp files left %r, log %r"
                 % (w.get("first_rewrite"), w.get("second_rewrite"), w.get("enospc"),
                    w.get("writes_after"), w.get("temp_left"), w.get("rewrite_log")))
    ledger.check(sec, "rewrite out of space: previous file set complete and loads to the live digest",
                 not w.get("missing_files") and not w.get("base_changed") and w.get("digest_match")
                 and not w.get("load_error"),
                 "missing %r, BASE changed %r, digests %r, load %r"
                 % (w.get("missing_files"), w.get("base_changed"), w.get("digests"), w.get("load_error")))
    return out


def _summary(r):
    keys = ("exit", "message", "acked", "found", "lost", "misconf_seen", "refused_while_full",
            "accepted_after_free", "acked_after_free", "digest_match", "first_rewrite",
            "second_rewrite", "enospc", "temp_left", "missing_files", "base_changed", "load_error",
            "error")
    return ", ".join("%s=%s" % (k, r[k]) for k in keys if k in r)

"""Part 2: power loss.

A SIGKILL keeps the page cache; a power failure does not. The server runs with
powerloss.so preloaded (see powerloss.c), which journals every successful fsync/fdatasync
of a file in the data dir (inode and the size the file had when the call was made), every
fsync of a directory (its listing at that moment), and keeps a hard link to every inode
that loses a name. After the SIGKILL the harness builds the directory a power failure
would have left, in two variants:

  A "data"    the names as they are after the kill; each file cut back to the size it had
              at its last successful fsync/fdatasync (a file never fsynced in this life
              and created in it is empty; a file that existed at start keeps its start
              size, as everything present at start was durable)
  B "strict"  as A, and in addition the directory entries are those listed at the last
              fsync of the AOF directory (redis's fsyncFileDir after renaming the
              manifest): renames, creations and unlinks after it are undone (the inode a
              rolled-back name points to is read through its hard link in the shadow dir)

It then starts a plain server on each variant and accounts for every acknowledged write.
appendfsync always: nothing acknowledged may be lost, in either variant.
appendfsync everysec: what was lost is reported (writes, and the window: the time between
the oldest lost acknowledgement and the power failure), for the stock and the patched build
on the same schedule. Checks: nothing acknowledged before the last completed fsync of an
INCR file began was lost (that fsync covered it: a reply follows the write, and a write
postponed by everysec is done before the next fsync is queued), and the patched build's
widest window is no wider than max(stock's, 2 s), two seconds being upstream's documented
worst case for everysec.
Self-test (--sabotage): the patched build's images ignore the last fsync of every INCR
file, as if it had acknowledged a sync it did not do; both policies' loss checks must fail.
The chain continues on variant B (the next life starts from the strict image).
"""

import os
import random
import re
import shutil
import threading
import time

from redistest.preload import build_preload
from redistest.server import Server
from workload import Model, fill, start_workers
from killer import schedule_kill

AOFDIR = "appendonlydir"
MANIFEST = "appendonly.aof.manifest"
INCR_RE = re.compile(r"^appendonly\.aof\.(\d+)\.incr\.aof$")
# Where a life's power failure lands (see killer.schedule_kill and kill_after_rename);
# any three in a row include a rewrite.
KINDS = ("random", "after-rename", "in-rewrite", "random", "child-exited", "after-rename",
         "after-rewrite")
EVERYSEC_BOUND = 2.0
# After-rename lives: the shim sleeps this long after each rename in the data dir.
RENAME_STALL = 0.3


def listing(d):
    """{name: (ino, size)} of the regular files in d."""
    out = {}
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        st = os.lstat(os.path.join(d, n))
        if os.path.isfile(os.path.join(d, n)):
            out[n] = (st.st_ino, st.st_size)
    return out


def parse_journal(path):
    recs = []
    try:
        with open(path, "rb") as f:
            for raw in f.read().decode(errors="replace").splitlines():
                parts = raw.split(" ")
                if not parts or len(raw) < 3:
                    continue
                recs.append(parts)
    except OSError:
        pass
    return recs


def recover(datadir, journal, shadow, initial, out_a, out_b, kill_time, sabotage=False):
    """Builds the two power-loss images of datadir/appendonlydir. Returns a dict of
    figures (records, files cut, bytes dropped, names rolled back, fsync timing, errors).
    sabotage: ignore the last fsync of every INCR file (a self-test: acknowledged writes under
    appendfsync always must then go missing and the checks must fail)."""
    aofdir = os.path.realpath(os.path.join(datadir, AOFDIR))
    recs = parse_journal(journal)
    init_size = {ino: size for (ino, size) in initial.values()}
    durable = dict(init_size)
    last_dir = None
    stats = {"records": len(recs), "fsyncs": 0, "dir_fsyncs": 0, "errors": [], "fsync_t0": [],
             # inode of an INCR file -> [(t0, t1)] of its completed fsyncs, in seconds
             "incr_fsyncs": {},
             # (time, inode): from that time on, this INCR file took the writes
             "switches": [(0.0, _current_incr({n: i for n, (i, _) in initial.items()}))]}
    previous = {}
    manifest_renamed_at = None
    for r in recs:
        kind = r[0]
        if kind == "F" and len(r) >= 6:
            ino = int(r[1])
            if sabotage and ".incr." in r[5]:
                previous[ino], durable[ino] = int(r[2]), previous.get(ino, init_size.get(ino, 0))
            else:
                durable[ino] = int(r[2])
            stats["fsyncs"] += 1
            if ".incr." in os.path.basename(r[5]):
                stats["incr_fsyncs"].setdefault(ino, []).append((int(r[3]) / 1000.0, int(r[4]) / 1000.0))
                if int(r[2]) > 0:
                    stats["fsync_t0"].append(int(r[3]) / 1000.0)
        elif kind == "R" and len(r) >= 5:
            if os.path.basename(r[3]) == MANIFEST:
                manifest_renamed_at = int(r[4]) / 1000.0
        elif kind == "T" and len(r) >= 4:
            ino = int(r[1])
            durable[ino] = min(durable.get(ino, 0), int(r[2]))
        elif kind == "D" and len(r) >= 4:
            if os.path.realpath(r[3]) == aofdir:
                stats["dir_fsyncs"] += 1
                ents = {}
                for e in r[4:]:
                    if "=" in e:
                        n, ino = e.rsplit("=", 1)
                        ents[n] = int(ino)
                last_dir = ents
                # The manifest is renamed, then its directory fsynced: the listing names
                # the INCR file the server switches to (upstream opens it, persists the
                # manifest, and only then moves aof_fd over; writes acknowledged before
                # the rename went to the previous one).
                cur = _current_incr(ents)
                if manifest_renamed_at is not None and cur != stats["switches"][-1][1]:
                    stats["switches"].append((manifest_renamed_at, cur))
                manifest_renamed_at = None
    now = listing(aofdir)
    by_ino = {ino: os.path.join(aofdir, n) for n, (ino, _) in now.items()}
    for n, (ino, _) in listing(datadir).items():
        by_ino.setdefault(ino, os.path.join(datadir, n))
    try:
        for n in os.listdir(shadow):
            ino = int(n.split("_", 1)[1])
            by_ino.setdefault(ino, os.path.join(shadow, n))
    except (OSError, ValueError, IndexError):
        pass

    def write_image(dst, names):
        d = os.path.join(dst, AOFDIR)
        os.makedirs(d)
        cut = dropped = 0
        for n, ino in sorted(names.items()):
            src = by_ino.get(ino)
            if src is None:
                stats["errors"].append("content of %s (inode %d) unreachable" % (n, ino))
                continue
            keep = durable.get(ino, 0)
            size = os.path.getsize(src)
            with open(src, "rb") as f:
                data = f.read(min(keep, size))
            if size > len(data):
                cut += 1
                dropped += size - len(data)
            with open(os.path.join(d, n), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        return cut, dropped

    os.makedirs(out_a)
    os.makedirs(out_b)
    stats["a_cut"], stats["a_dropped"] = write_image(out_a, {n: ino for n, (ino, _) in now.items()})
    names_b = last_dir if last_dir is not None else {n: ino for n, (ino, _) in initial.items()}
    stats["b_cut"], stats["b_dropped"] = write_image(out_b, names_b)
    stats["b_rolled_back"] = sorted(set(names_b.items()) ^ set((n, i) for n, (i, _) in now.items()))
    ts = sorted(stats["fsync_t0"])
    stats["intervals"] = [b - a for a, b in zip(ts, ts[1:])]
    stats["lag"] = (kill_time - ts[-1]) if ts else None
    return stats


def _verify_image(server_bin, datadir, logfile, model, conf):
    srv = Server(server_bin, datadir, conf, logfile=logfile).start()
    try:
        st = srv.wait_ready(60)
        if st != "ready":
            return None, "%s: %s" % (st, srv.last_warning())
        with srv.client(timeout=30) as c:
            state = model.read_state(c)
        return state, None
    finally:
        srv.stop()


def chain(ledger, name, server_bin, so, workdir, policy, cycles, seed, nworkers=3, log=print,
          sabotage=False):
    """One build, one policy: `cycles` power failures in a row. Returns per-variant
    totals."""
    rnd = random.Random(seed)
    base = os.path.join(workdir, "powerloss", "%s-%s" % (name, policy))
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    conf = {"appendfsync": policy, "auto-aof-rewrite-percentage": "0",
            "rdb-key-save-delay": "100", "aof-use-rdb-preamble": "yes"}
    model = Model(nworkers)
    tot = {v: {"acked": 0, "found": 0, "lost": 0, "windows": [], "stalls": [], "violations": [],
               "failed_loads": [], "lost_before_fsync": 0, "before_fsync_examples": []}
           for v in ("A", "B")}
    figures = {"records": 0, "fsyncs": 0, "dir_fsyncs": 0, "cut": 0, "dropped": 0,
               "rolled_back": 0, "errors": [], "landed": {}, "intervals": [], "lags": []}

    # Life 0: fill without the shim and shut down cleanly; that image is durable.
    datadir = os.path.join(base, "life-0", "data")
    os.makedirs(datadir)
    srv = Server(server_bin, datadir, conf, logfile=os.path.join(base, "life-0", "redis.log")).start()
    if srv.wait_ready(60) != "ready":
        raise RuntimeError("powerloss: first start failed: " + srv.last_warning())
    with srv.client() as c:
        model.freeze(c, fill(c, 2000))
        try:
            c.call("SHUTDOWN")
        except (OSError, ConnectionError):
            pass
    srv.wait_exit(30)
    srv.stop()

    srv = None
    kill_time = last_stats = None
    try:
        for life in range(1, cycles + 2):
            ldir = os.path.join(base, "life-%d" % life)
            os.makedirs(ldir, exist_ok=True)
            journal = os.path.join(ldir, "journal")
            shadow = os.path.join(ldir, "shadow")
            os.makedirs(shadow)
            initial = listing(os.path.join(datadir, AOFDIR))
            env = {"LD_PRELOAD": so, "POWERLOSS_ROOT": os.path.realpath(datadir),
                   "POWERLOSS_JOURNAL": journal, "POWERLOSS_SHADOW": shadow}
            # The kind of failure rotates through KINDS from a seeded offset, so even a
            # three-cycle run has a failure inside or around a rewrite. "after-rename"
            # lives stall after each rename so the power can fail between a rename and
            # the directory fsync that makes it durable. A generator per life, so both
            # builds get the same schedule whatever happened in earlier lives.
            rnd = random.Random(seed * 1009 + life)
            kind = KINDS[(seed + life) % len(KINDS)]
            rename_window = life <= cycles and kind == "after-rename"
            if rename_window:
                env["POWERLOSS_RENAME_DELAY_MS"] = str(int(RENAME_STALL * 1000))
            srv = Server(server_bin, datadir, conf, env=env,
                         logfile=os.path.join(ldir, "redis.log")).start()
            st = srv.wait_ready(60)
            if st != "ready":
                tot["B"]["failed_loads"].append("life %d: %s" % (life, srv.last_warning()))
                break
            c = srv.client(timeout=30)
            state = model.read_state(c)
            if life > 1:
                _account(tot["B"], model.verify(state), kill_time, last_stats)
            model.rebase(state, c)
            if life == cycles + 1:
                c.close()
                break
            stop = threading.Event()
            ws = start_workers(model, srv.port, nworkers, seed * 31 + life, stop)
            # everysec: long enough for the INCR file to see two fsyncs or more, so the
            # covered-by-fsync check has something to hold the build to.
            time.sleep(rnd.uniform(0.3, 1.2) if policy == "always" else rnd.uniform(1.3, 2.2))
            if rename_window:
                label, kill_time = kill_after_rename(rnd, srv, c, journal,
                                                     os.path.realpath(os.path.join(datadir, AOFDIR)))
            else:
                label, kill_time = schedule_kill(rnd, srv, c, kind)
            figures["landed"][label] = figures["landed"].get(label, 0) + 1
            stop.set()
            for w in ws:
                w.join(30)
            c.close()
            srv = None
            out_a = os.path.join(base, "life-%d-A" % life)
            out_b = os.path.join(base, "life-%d-B" % life, "data")
            stats = recover(datadir, journal, shadow, initial, os.path.join(out_a, "data"), out_b,
                            kill_time, sabotage)
            # The harness's own stall after each rename blocked the server's main thread:
            # it widens this life's window and is not the build's doing.
            stats["stall"] = RENAME_STALL if rename_window else 0.0
            figures["intervals"].extend(stats["intervals"])
            if stats["lag"] is not None:
                figures["lags"].append(stats["lag"])
            for k in ("records", "fsyncs", "dir_fsyncs"):
                figures[k] += stats[k]
            figures["cut"] += stats["a_cut"]
            figures["dropped"] += stats["a_dropped"]
            figures["rolled_back"] += len(stats["b_rolled_back"])
            figures["errors"].extend(stats["errors"])
            state_a, err = _verify_image(server_bin, os.path.join(out_a, "data"),
                                         os.path.join(out_a, "redis.log"), model,
                                         {"appendfsync": policy})
            if err:
                tot["A"]["failed_loads"].append("life %d: %s" % (life, err))
            else:
                _account(tot["A"], model.verify(state_a), kill_time, stats)
            log("    powerloss %s %s cycle %d/%d: %s; fsyncs %d, dir fsyncs %d, files cut %d "
                "(%d bytes), names rolled back %d" % (name, policy, life, cycles, label,
                                                       stats["fsyncs"], stats["dir_fsyncs"],
                                                       stats["a_cut"], stats["a_dropped"],
                                                       len(stats["b_rolled_back"])))
            datadir = out_b
            last_stats = stats
    finally:
        if srv:
            srv.stop()
    return tot, figures


def kill_after_rename(rnd, srv, ctl, journal, aofdir, timeout=20.0):
    """BGREWRITEAOF, then power failure right after the k-th rename into the AOF dir that
    follows (1: the manifest naming the new INCR, at the start of the rewrite; 2: the new
    BASE; 3: the manifest naming it), while the shim stalls after that rename."""
    def renames():
        return sum(1 for r in parse_journal(journal)
                   if r[0] == "R" and len(r) >= 4 and os.path.dirname(r[3]) == aofdir)
    k = rnd.choice((1, 2, 3))
    before = renames()
    try:
        ctl.call("BGREWRITEAOF")
    except Exception:
        pass
    seen = 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        seen = renames() - before
        if seen >= k:
            break
        time.sleep(0.002)
    t = time.time()
    srv.kill9()
    what = {1: "manifest(rewrite start)", 2: "base", 3: "manifest(rewrite end)"}[k]
    return ("after-rename-of-%s" % what) if seen >= k else "after-rename(missed)", t


def _current_incr(names):
    """The inode of the INCR file with the highest sequence number among names
    {name: inode} (the one the server appends to), or None."""
    best = None
    for n, ino in names.items():
        m = INCR_RE.match(n)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), ino)
    return best[1] if best else None


def covered_by_fsync(stats, ack):
    """Whether upstream's everysec guarantees a write acknowledged at `ack` survives: the
    INCR file current at that moment had two completed fsyncs and `ack` is before the
    earlier one ended. Why the earlier one's end and not the last one's start: a write
    acknowledged while an fsync job is queued or running may still sit in the AOF buffer
    (upstream postpones it, and the queued job may start late); it is written before the
    next job is queued, and a new job is queued only once the previous one has finished.
    Returns (covered, seconds between ack and that end)."""
    ino = None
    for t, i in stats["switches"]:
        if t <= ack:
            ino = i
    fs = stats["incr_fsyncs"].get(ino, [])
    if len(fs) < 2:
        return False, 0.0
    end = fs[-2][1]
    # 1 ms: the shim's clock is read in whole milliseconds.
    return ack < end - 0.001, end - ack


def _account(t, res, kill_time, stats):
    if stats is not None:
        early = [d for ok, d in (covered_by_fsync(stats, a) for a in res["lost_times"]) if ok]
        t["lost_before_fsync"] += len(early)
        if early:
            t["before_fsync_examples"].append(
                "%d lost writes were acknowledged up to %.3f s before an fsync of their INCR "
                "file that was followed by another had finished" % (len(early), max(early)))
    t["acked"] += res["acked"]
    t["found"] += res["found"]
    t["lost"] += res["lost"]
    t["violations"].extend(res["violations"])
    if res["lost_times"]:
        t["windows"].append(kill_time - min(res["lost_times"]))
    else:
        t["windows"].append(0.0)
    t["stalls"].append(stats["stall"] if stats else 0.0)


def _widest(tot):
    """The widest loss window of a chain, less the harness's own rename stalls."""
    return max([w - st for v in ("A", "B") for w, st in zip(tot[v]["windows"], tot[v]["stalls"])]
               or [0.0])


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0.0


def run(ledger, builds, shim_src, workdir, cycles, seed, log=print, sabotage=False):
    sec = "powerloss"
    so = build_preload(shim_src, os.path.join(workdir, "shim"))
    results = {}
    for policy in ("always", "everysec"):
        for name, server_bin in builds.items():
            # The same seed for both builds: the same schedule of kills.
            tot, fig = chain(ledger, name, server_bin, so, workdir, policy, cycles,
                             seed + (0 if policy == "always" else 1000), log=log,
                             sabotage=sabotage and name == "patched")
            results[(name, policy)] = (tot, fig)
    for (name, policy), (tot, fig) in results.items():
        tag = "%s %s" % (name, policy)
        for v in ("A", "B"):
            t = tot[v]
            vname = {"A": "data cut", "B": "data cut + names rolled back"}[v]
            ledger.figure(sec, "%s [%s]: writes acknowledged / found / lost" % (tag, vname),
                          "%d / %d / %d" % (t["acked"], t["found"], t["lost"]))
            if policy == "everysec":
                ledger.figure(sec, "%s [%s]: loss window per cycle (s)" % (tag, vname),
                              ", ".join("%.3f" % w for w in t["windows"]) or "-")
        ledger.figure(sec, "%s: fsyncs journaled / dir fsyncs / files cut / bytes dropped / "
                           "names rolled back" % tag,
                      "%d / %d / %d / %d / %d" % (fig["fsyncs"], fig["dir_fsyncs"], fig["cut"],
                                                  fig["dropped"], fig["rolled_back"]))
        if policy == "everysec":
            ledger.figure(sec, "%s: INCR fsync interval median / max (s); time since the last "
                               "INCR fsync began, at each power failure (s)" % tag,
                          "%.3f / %.3f; %s" % (_median(fig["intervals"]), max(fig["intervals"] or [0]),
                                               ", ".join("%.3f" % x for x in fig["lags"])))
        ledger.figure(sec, "%s: where the power failed" % tag,
                      ", ".join("%s=%d" % kv for kv in sorted(fig["landed"].items())))
        lost_b = tot["B"]["lost"]
        line = ("%s: %d power failures x 2 images; %d writes acknowledged, %d found, %d lost "
                "(names rolled back too: %d lost)" % (tag, len(tot["A"]["windows"]), tot["A"]["acked"],
                                                     tot["A"]["found"], tot["A"]["lost"], lost_b))
        if policy == "everysec":
            line += "; widest window %.3f s (%.3f s less the harness's rename stalls)" % (
                max(tot["A"]["windows"] + tot["B"]["windows"] or [0.0]), _widest(tot))
        ledger.summary(sec, line)
        if name != "patched":
            early = tot["A"]["lost_before_fsync"] + tot["B"]["lost_before_fsync"]
            if early:
                # The model of what everysec guarantees would then be wrong, not the build.
                ledger.note(sec, "%s lost writes an fsync followed by another had covered: %s"
                            % (tag, "; ".join(tot["A"]["before_fsync_examples"][:2])))
            continue
        ok_cycles = all(len(tot[v]["windows"]) == cycles for v in ("A", "B"))
        ledger.check(sec, "%s: every power-loss image loads (%d cycles x 2 variants)" % (tag, cycles),
                     ok_cycles and not tot["A"]["failed_loads"] and not tot["B"]["failed_loads"]
                     and not fig["errors"],
                     "; ".join(tot["A"]["failed_loads"] + tot["B"]["failed_loads"] + fig["errors"])[:600])
        ledger.check(sec, "%s: no partial transaction, hole, reordering or phantom value" % tag,
                     not tot["A"]["violations"] and not tot["B"]["violations"],
                     "; ".join(tot["A"]["violations"][:3] + tot["B"]["violations"][:3]))
        ledger.check(sec, "%s: the power-loss model had fsyncs to cut at" % tag,
                     fig["fsyncs"] > 0 and fig["dir_fsyncs"] > 0,
                     "fsyncs %d, dir fsyncs %d: the shim journaled nothing" % (fig["fsyncs"], fig["dir_fsyncs"]))
        if policy == "always":
            ledger.check(sec, "%s: zero acknowledged writes lost (%d acked, both variants)"
                         % (tag, tot["A"]["acked"]),
                         tot["A"]["lost"] == 0 and tot["B"]["lost"] == 0 and tot["A"]["acked"] > 0,
                         "lost %d (data cut), %d (strict)" % (tot["A"]["lost"], tot["B"]["lost"]),
                         loss=True)
        else:
            stock = results.get(("stock", policy))
            pw = _widest(tot)
            sw = _widest(stock[0]) if stock else 0.0
            bound = max(sw, EVERYSEC_BOUND)
            ledger.figure(sec, "everysec widest loss window less the harness's rename stalls: "
                               "patched vs stock (s)", "%.3f vs %.3f" % (pw, sw))
            early = tot["A"]["lost_before_fsync"] + tot["B"]["lost_before_fsync"]
            ledger.check(sec, "%s: nothing lost that an fsync followed by another had covered "
                              "(both variants)" % tag, early == 0,
                         "; ".join(tot["A"]["before_fsync_examples"][:2] +
                                   tot["B"]["before_fsync_examples"][:2]), loss=True)
            ledger.check(sec, "%s: loss window %.3fs no wider than max(stock %.3fs, %.1fs)"
                         % (tag, pw, sw, EVERYSEC_BOUND), pw <= bound,
                         "patched lost writes acknowledged %.3fs before the power failure" % pw)
    return results

#!/usr/bin/env python3
"""The pipelined loader's reading thread changes nothing a user sees (issue #20).

Files large enough to span many of the reading thread's batches (and several 1 MB read
windows) are loaded by the patched build with the thread on (the default) and off
(`REDIS_AOF_LOAD_THREAD=yes` and `no`), each from a fresh copy. Per variant the two runs must agree
on: started or refused (and the exit status), the dataset (DEBUG DIGEST, DBSIZE), the
loading's log lines (times and pids left out), the files left behind (hashes: a short
file is cut back to the same offset) and, for a loaded dataset, `used_memory` within 2 %
(the argument objects are allocated on the reading thread and freed on the main thread:
zmalloc's counting must add up); with the thread on, the clean load's objects sit in the
main thread's jemalloc arena, where the thread is bound (MEMORY MALLOC-STATS: no more
small allocations outside it than with the thread off). Four more runs check the switch:
while a slowed load runs, the reading thread (`aof-load-read`) exists with the variable unset on two CPUs or
more and with `yes` on one CPU, and not with `no`, nor unset on one CPU.

Variants: a clean BASE + INCR; the INCR ending inside a MULTI (reverted); cut inside a
command at several offsets, with aof-load-truncated yes (cut back) and no (refused); cut
inside a 300 KB argument (read straight into its string); bad framing in the middle; an
unknown command in the middle; a short INCR that is not the last one; and large arguments
run slowly (SET and DEL of 16 MB values with key-load-delay), where the reading thread may
hold no more than one such argument beyond its small budget: the server's peak RSS
(VmHWM) with the thread on may exceed the one with it off by one argument and a few MB,
where before the budget each queued batch held one (about 7 arguments).

Usage: load_thread.py PATCHED_SERVER [--commands N] [--seed S]
Prints "load-thread: N passed, N failed".
"""

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import time

from redistest.files import dir_hash
from redistest.resp import encode
from redistest.server import Server, proc_status_kib

AOFDIR = "appendonlydir"
SWITCH = "REDIS_AOF_LOAD_THREAD"
THREAD_NAME = "aof-load-read"
# The large-arguments variant: LARGE_COUNT values of this many bytes, each set and deleted.
LARGE_VALUE = b"v" * (16 << 20)
LARGE_COUNT = 8


def dataset(rnd, n, prefix):
    """`n` commands over every type, with db switches, annotations, MULTI blocks and a few
    large arguments; returns the file's bytes and the offsets where commands start."""
    out = []
    starts = []
    size = 0

    def add(*args):
        nonlocal size
        data = encode(*args)
        starts.append(size)
        out.append(data)
        size += len(data)

    add("SELECT", "0")
    i = 0
    while i < n:
        r = rnd.random()
        k = "%s:%d" % (prefix, rnd.randrange(n // 3 + 1))
        if r < 0.25:
            add("SET", "%s:s" % k, "v" * rnd.randrange(1, 60))
        elif r < 0.35:
            fields = []
            for f in range(rnd.randrange(1, 20)):
                fields += ["f%d" % f, str(rnd.randrange(10**9))]
            add("HSET", "%s:h" % k, *fields)
        elif r < 0.45:
            add("RPUSH", "%s:l" % k, *[str(rnd.randrange(1000)) for _ in range(rnd.randrange(1, 10))])
        elif r < 0.52:
            add("SADD", "%s:set" % k, *[str(rnd.randrange(10**6)) for _ in range(rnd.randrange(1, 8))])
        elif r < 0.60:
            add("ZADD", "%s:z" % k, str(rnd.random()), "m%d" % rnd.randrange(100))
        elif r < 0.66:
            add("INCRBY", "%s:n" % k, str(rnd.randrange(-5, 5)))
        elif r < 0.70:
            add("PEXPIREAT", "%s:s" % k, str(4102444800000 + rnd.randrange(10**6)))
        elif r < 0.73:
            add("SELECT", str(rnd.randrange(4)))
        elif r < 0.76:
            starts.append(size)
            note = b"#TS:%d\r\n" % (1700000000 + i)
            out.append(note)
            size += len(note)
        elif r < 0.82:
            add("MULTI")
            for _ in range(rnd.randrange(1, 6)):
                add("INCR", "%s:m" % k)
                add("SET", "%s:ms" % k, str(i))
            add("EXEC")
        elif r < 0.8205:
            # Larger than the loader reads through its window (256 KiB and more).
            add("SET", "%s:big" % k, bytes(rnd.getrandbits(8) for _ in range(64)) * 4800)
        else:
            add("DEL", "%s:s" % k)
        i += 1
    return b"".join(out), starts


def manifest(*entries):
    return "".join("file %s seq %d type %s\n" % e for e in entries).encode()


def materialize(d, files):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, AOFDIR))
    for name, data in files.items():
        with open(os.path.join(d, AOFDIR, name), "wb") as f:
            f.write(data)


LOG_KEEP = re.compile(r"AOF|append|Truncat|truncat|Revert|short read|Bad file|Unknown command|"
                      r"Unexpected end|loaded anyway|DB loaded|Wrong number")


def loading_lines(srv):
    out = []
    for line in srv.log_lines():
        # "pid:role dd Mon yyyy hh:mm:ss.mmm * text"
        m = re.match(r"^\d+:\w \d+ \w+ \d+ [\d:.]+ [.\-*#] (.*)$", line)
        text = m.group(1) if m else line
        if LOG_KEEP.search(text):
            out.append(re.sub(r"\d+\.\d+ seconds", "N seconds", text))
    return out


def load(binary, workdir, files, switch, conf=None, watch_thread=False, one_cpu=False):
    """Loads `files` with REDIS_AOF_LOAD_THREAD=`switch` (None: unset), the server on
    one CPU if `one_cpu`, else on the CPUs this script may use."""
    d = os.path.join(workdir, "off" if switch == "no" else "on")
    data = os.path.join(d, "data")
    shutil.rmtree(d, ignore_errors=True)
    materialize(data, files)
    os.environ.pop(SWITCH, None)
    env = {} if switch is None else {SWITCH: switch}
    cfg = {"aof-load-truncated": "yes", "appendfsync": "no"}
    cfg.update(conf or {})
    cpus = os.sched_getaffinity(0)
    if one_cpu:
        os.sched_setaffinity(0, {min(cpus)})  # the server inherits it
    try:
        srv = Server(binary, data, cfg, logfile=os.path.join(d, "redis.log"), env=env).start()
    finally:
        os.sched_setaffinity(0, cpus)
    res = {"thread_seen": False}
    try:
        if watch_thread:
            deadline = time.time() + 30
            while time.time() < deadline and srv.alive() and not res["thread_seen"]:
                res["thread_seen"] = any(thread_names(srv.pid) & {THREAD_NAME})
                time.sleep(0.01)
        st = srv.wait_ready(120)
        res["state"] = st
        if st == "ready":
            with srv.client(timeout=60) as c:
                res["digest"] = c.call("DEBUG", "DIGEST")
                res["keys"] = [c.call("DBSIZE")] + [
                    (c.call("SELECT", str(db)), c.call("DBSIZE"))[1] for db in range(1, 4)]
                mem = c.info("memory")
                res["used_memory"] = int(mem["used_memory"]) if isinstance(mem, dict) else None
                res["outside_main_arena"] = small_outside_main_arena(
                    c.call("MEMORY", "MALLOC-STATS"))
            res["peak_rss"] = peak_rss(srv.pid)
        elif st == "exited":
            res["exit"] = srv.proc.returncode
    finally:
        srv.stop()
    res["log"] = loading_lines(srv)
    res["files"] = dir_hash(data)
    return res


def small_outside_main_arena(stats):
    """Bytes of jemalloc's small allocations (every object a load builds) outside the first
    arena, the main thread's. The reading thread is bound to that arena (arena.rs), so
    the objects it builds for the dataset sit with the main thread's, not in a second set
    of pages: with the thread on, no more than with it off should be elsewhere. None
    without jemalloc's per-arena statistics."""
    if not isinstance(stats, bytes):
        return None
    small, arena = {}, None
    for line in stats.decode(errors="replace").splitlines():
        m = re.match(r"arenas\[(\d+)\]:", line)
        if m:
            arena = int(m.group(1))
        elif arena is not None and line.startswith("small:"):
            small[arena] = int(line.split()[1])
            arena = None
    return sum(v for a, v in small.items() if a != 0) if 0 in small else None


def peak_rss(pid):
    """The process's peak resident set (VmHWM), in bytes."""
    kib = proc_status_kib(pid, "VmHWM")
    return None if kib is None else kib * 1024


def thread_names(pid):
    names = set()
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    names.add(f.read().strip())
            except OSError:
                pass
    except OSError:
        pass
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("patched")
    ap.add_argument("--commands", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=20)
    args = ap.parse_args()
    args.patched = os.path.abspath(args.patched)
    rnd = random.Random(args.seed)
    base, _ = dataset(rnd, args.commands // 2, "b")
    incr, incr_starts = dataset(rnd, args.commands // 2, "i")
    incr2, _ = dataset(rnd, 2000, "j")
    two = manifest(("appendonly.aof.1.base.aof", 1, "b"), ("appendonly.aof.1.incr.aof", 1, "i"))
    three = manifest(("appendonly.aof.1.base.aof", 1, "b"), ("appendonly.aof.1.incr.aof", 1, "i"),
                     ("appendonly.aof.2.incr.aof", 2, "i"))

    def files(incr_data, extra=None):
        out = {"appendonly.aof.1.base.aof": base, "appendonly.aof.1.incr.aof": incr_data,
               "appendonly.aof.manifest": two}
        if extra is not None:
            out["appendonly.aof.2.incr.aof"] = extra
            out["appendonly.aof.manifest"] = three
        return out

    variants = [("clean", files(incr), None)]
    # Ends cleanly inside a MULTI: the last EXEC's end is where the file stops.
    multi_at = incr.rfind(b"*1\r\n$5\r\nMULTI\r\n")
    exec_at = incr.find(b"*1\r\n$4\r\nEXEC\r\n", multi_at)
    variants.append(("ends-in-multi", files(incr[:exec_at]), None))
    # Cut inside a command (never at a command's start), at several depths of the file.
    starts = set(incr_starts)
    for frac in (0.1, 0.37, 0.5, 0.83, 0.999):
        cut = int(len(incr) * frac)
        while cut in starts:
            cut += 1
        variants.append(("cut-%g" % frac, files(incr[:cut]), None))
        variants.append(("cut-%g-refused" % frac, files(incr[:cut]), {"aof-load-truncated": "no"}))
    big = incr.find(b"$307200\r\n")
    if big > 0:
        variants.append(("cut-in-large-argument", files(incr[:big + 9 + 100000]), None))
    mid = incr_starts[len(incr_starts) // 2]
    variants.append(("bad-framing", files(incr[:mid] + b"!" + incr[mid + 1:]), None))
    variants.append(("unknown-command", files(incr[:mid] + encode("NOSUCHCOMMAND", "x") + incr[mid:]), None))
    variants.append(("short-not-last", files(incr[:int(len(incr) * 0.6) + 3], incr2), None))
    # Large arguments, run slowly: the reading thread gets far ahead unless its budget
    # holds it back.
    large = b"".join(encode("SET", "big:%d" % i, LARGE_VALUE) + encode("DEL", "big:%d" % i)
                     for i in range(LARGE_COUNT))
    variants.append(("large-arguments-slow", {
        "appendonly.aof.1.base.aof": encode("SET", "small", "1"),
        "appendonly.aof.1.incr.aof": large, "appendonly.aof.manifest": two},
        {"key-load-delay": "100000", "auto-aof-rewrite-percentage": "0"}))

    workdir = tempfile.mkdtemp(prefix="load-thread-")
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("  ok    %s" % name)
        else:
            failed += 1
            print("  FAIL  %s %s" % (name, detail))

    print("load-thread: %d variants, BASE %d bytes, INCR %d bytes" % (len(variants), len(base), len(incr)))
    for name, fs, conf in variants:
        on = load(args.patched, workdir, fs, "yes", conf)
        off = load(args.patched, workdir, fs, "no", conf)
        same = all(on.get(k) == off.get(k) for k in ("state", "exit", "digest", "keys", "log", "files"))
        detail = ""
        if not same:
            detail = "; ".join("%s: on %r | off %r" % (k, on.get(k), off.get(k))
                               for k in ("state", "exit", "digest", "keys", "log", "files")
                               if on.get(k) != off.get(k))[:1500]
        check("%s: %s, same outcome on and off" % (name, on["state"] if on["state"] != "exited"
                                                  else "refused (exit %s)" % on.get("exit")), same, detail)
        if on.get("used_memory") and off.get("used_memory"):
            ratio = on["used_memory"] / off["used_memory"]
            check("%s: used_memory on/off %.4f" % (name, ratio), abs(ratio - 1) < 0.02)
        if name == "clean":
            outside = (on.get("outside_main_arena"), off.get("outside_main_arena"))
            check("clean: small allocations outside the main thread's arena, thread on %s, "
                  "off %s bytes (on at most off + 64 KiB)" % outside,
                  None not in outside and outside[0] <= outside[1] + (64 << 10))
        if name == "large-arguments-slow":
            over = on.get("peak_rss", 0) - off.get("peak_rss", 0)
            allowed = len(LARGE_VALUE) + (8 << 20)
            check("%s: peak RSS on - off %.1f MB, at most %.1f MB (one argument and 8 MB)"
                  % (name, over / 1e6, allowed / 1e6), over <= allowed)
    # The switch itself: whether the thread exists while a slowed load runs. Unset, it
    # runs when the server has two CPUs or more; `no` and `yes` decide whatever the CPUs.
    slow = {"key-load-delay": "50"}
    small = files(incr[:len(incr) // 20])
    several = len(os.sched_getaffinity(0)) >= 2
    for switch, one_cpu, expected in [(None, False, several), ("no", False, False),
                                      (None, True, False), ("yes", True, True)]:
        run = load(args.patched, workdir, small, switch, slow, watch_thread=True, one_cpu=one_cpu)
        check("%s=%s on %s: the reading thread %s" % (
            SWITCH, switch or "(unset)", "one CPU" if one_cpu else
            "%d CPUs" % len(os.sched_getaffinity(0)), "runs" if expected else "does not run"),
            run["thread_seen"] == expected and run["state"] == "ready")
    print("load-thread: %d passed, %d failed" % (passed, failed))
    if failed == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print("load-thread: runs kept in %s" % workdir)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

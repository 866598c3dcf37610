#!/usr/bin/env python3
"""Reliability harness (issue #9): crashes, power failures, full disks and damaged files.

    tests/reliability/run.py --short        # bounded (inside `make test`): ~1.5 min on 2 cores
    tests/reliability/run.py --long         # `make test-reliability`: 200 kill cycles, ~7 min
    tests/reliability/run.py --sabotage     # self-test: the loss checks must fail
    tests/reliability/run.py --stock PATH --patched PATH --only kill,corpus --seed N

PATH is a build's src directory (or its redis-server). Parts: kill (SIGKILL under load),
powerloss (LD_PRELOAD journal of fsyncs, files cut back to what was durable), fulldisk
(4 MB tmpfs), corpus (damaged AOF directories on both builds), crashstates (every crash
state of a traced BGREWRITEAOF cycle, on both builds), faults (system calls on the data dir
made to fail by an LD_PRELOAD shim, every fault x fsync policy x moment, on both builds).
See README.md.

Prints every figure, a summary per part, every check, then `reliability: N passed, N
failed`; exits non-zero on any failure (with --sabotage: zero when every loss check
failed). Python standard library only.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

# No __pycache__ left in the checkout by `make test`.
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

from ledger import Ledger  # noqa: E402  (a sibling: this script's folder is sys.path[0])
from redistest.binaries import snapshot_binaries  # noqa: E402
from redistest.server import kill_all  # noqa: E402

PARTS = ("kill", "powerloss", "fulldisk", "corpus", "crashstates", "faults")


def resolve_build(path):
    """A build's src dir from a dir or a redis-server path."""
    if os.path.isfile(path):
        return os.path.dirname(path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--short", action="store_true", help="bounded run (default)")
    mode.add_argument("--long", action="store_true", help=">= 200 kill cycles, bigger corpus")
    ap.add_argument("--stock", default=os.path.join(ROOT, "build", "stock", "src"))
    ap.add_argument("--patched", default=os.path.join(ROOT, "build", "patched", "src"))
    ap.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(PARTS)
                    + " (default: all; with --sabotage: kill,powerloss,crashstates,faults)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time-based, printed)")
    ap.add_argument("--workdir", default=None, help="scratch dir (default: a new dir under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir even when all passes")
    ap.add_argument("--kill-cycles", type=int, default=None)
    ap.add_argument("--powerloss-cycles", type=int, default=None)
    ap.add_argument("--sabotage", action="store_true",
                    help="self-test: lose acknowledged data on purpose in the patched build's "
                         "files (kill: drop the tail of the last INCR after each kill; powerloss: "
                         "cut every INCR file at its next-to-last fsync; crashstates: ignore the "
                         "fsync of the new BASE; faults: every image loses the last 300 bytes of "
                         "its last INCR file); the loss checks of "
                         "those parts must then FAIL, and the run exits 0 only if all of them did")
    args = ap.parse_args()
    long_mode = bool(args.long)
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    kill_cycles = args.kill_cycles or (200 if long_mode else 30)
    pl_cycles = args.powerloss_cycles or (20 if long_mode else 4)
    if args.only is None:
        args.only = "kill,powerloss,crashstates,faults" if args.sabotage else ",".join(PARTS)
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    for p in only:
        if p not in PARTS:
            ap.error("unknown part %r" % p)

    # SIGTERM/SIGHUP end through SystemExit so atexit handlers stop servers and unmount.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda *a: sys.exit(130))

    workdir = args.workdir or tempfile.mkdtemp(prefix="reliability-", dir="/tmp")
    os.makedirs(workdir, exist_ok=True)
    ledger = Ledger()
    t_start = time.time()
    print("reliability harness: %s mode, seed %d, workdir %s" % ("long" if long_mode else "short", seed, workdir),
          flush=True)

    stock_dir, patched_dir = resolve_build(args.stock), resolve_build(args.patched)
    # Private copies: a rebuild of build/patched while this runs must not change the
    # binary under test half-way.
    bins = {}
    for name, d in (("stock", stock_dir), ("patched", patched_dir)):
        try:
            b, h = snapshot_binaries(d, os.path.join(workdir, "bin-" + name))
        except RuntimeError as e:
            print("  %s" % e)
            shutil.rmtree(workdir, ignore_errors=True)
            print("reliability: 0 passed, 1 failed", flush=True)
            return 1
        bins[name] = b["redis-server"]
        ledger.figure("setup", "%s redis-server" % name, "%s (sha256 %s)" % (os.path.join(d, "redis-server"), h))
        print("  %s: %s sha256 %s" % (name, os.path.join(d, "redis-server"), h), flush=True)
    builds = {"stock": bins["stock"], "patched": bins["patched"]}

    def part(name, fn):
        if name not in only:
            return
        t0 = time.time()
        print("\n== %s" % name, flush=True)
        try:
            fn()
        except Exception:
            tb = traceback.format_exc()
            print(tb, flush=True)
            ledger.check(name, "%s part ran to completion" % name, False, tb.strip().splitlines()[-1])
        ledger.figure(name, "wall time (s)", "%.1f" % (time.time() - t0))

    def do_kill():
        import killer
        killer.run(ledger, builds["patched"], workdir, kill_cycles, seed, log=print,
                   sabotage=args.sabotage)

    def do_powerloss():
        import powerloss
        powerloss.run(ledger, builds, os.path.join(HERE, "powerloss.c"), workdir, pl_cycles, seed, log=print,
                      sabotage=args.sabotage)

    def do_fulldisk():
        import fulldisk
        fulldisk.run(ledger, builds, workdir, log=print)

    def do_corpus():
        import corpus
        corpus.run(ledger, builds, workdir, long_mode, seed, timeout=20 if long_mode else 10, log=print)

    def do_crashstates():
        import crashstates
        crashstates.run(ledger, builds, os.path.join(HERE, "crashtrace.c"), workdir, long_mode, seed,
                        log=print, sabotage=args.sabotage)

    def do_faults():
        import faults
        faults.run(ledger, builds, os.path.join(HERE, "faults.c"), workdir, long_mode, seed, log=print,
                   sabotage=args.sabotage)

    try:
        part("kill", do_kill)
        part("powerloss", do_powerloss)
        part("fulldisk", do_fulldisk)
        part("corpus", do_corpus)
        part("crashstates", do_crashstates)
        part("faults", do_faults)
    finally:
        kill_all()

    return ledger.report("reliability", t_start, seed, workdir, keep=args.keep,
                         sabotage=args.sabotage, width=10, check_sections=True)


if __name__ == "__main__":
    sys.exit(main())

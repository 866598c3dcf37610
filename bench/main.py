"""make bench: the A/B benchmark of the patched build (Rust AOF) against stock Redis, both
built from the same upstream release (the report names it).

Usage: python3 bench/main.py [--quick] [--pairs N] [--no-pin] [--aa] [--keep-tmp]
                             [--only REGEX] [--scale F] [--no-peer] [--no-checksum]
(bench/run.sh sets up the Python environment and calls this.)

Each pair runs every task on both builds back to back; the order within a pair alternates
(stock first in even pairs, patched first in odd ones), so neither build always runs
second. Where the peer (Valkey, build/peer) takes part, it is the third: stock, patched,
peer in even pairs and peer, patched, stock in odd ones. The writes with AOF on run the
patched binary a third time with `aof-checksum yes` (build "checksum", issue #31), last in
even pairs and first in odd ones. Raw rows go to
bench/results/<run>/raw.csv as they are measured.
"""

import argparse
import csv
import dataclasses
import json
import os
import shutil
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import datasets
import machine
import report
import servers
import workloads

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TOOLS = ["redis-server", "redis-cli", "redis-benchmark"]
# The builds' src dirs: `make bench` names those of the version it built (BENCH_STOCK,
# BENCH_PATCHED, and BENCH_RUST_LIB for the symbol count); run directly, the default
# version's build/stock and build/patched (and that release's archive under target/).
BUILDS = {"stock": Path(os.environ.get("BENCH_STOCK", ROOT / "build" / "stock" / "src")),
          "patched": Path(os.environ.get("BENCH_PATCHED", ROOT / "build" / "patched" / "src"))}
RUST_LIB = os.environ.get("BENCH_RUST_LIB")
HINT = {"stock": "make stock", "patched": "make", "peer": "make peer"}
# The peer (scripts/peer-version.tsv, `make peer`): BENCH_PEER names its src dir (empty:
# no peer); unset, build/peer/src when it holds a valkey-server. Its tools are valkey-*.
PEER_PROG = "valkey"
_peer_env = os.environ.get("BENCH_PEER")
PEER = (Path(_peer_env) if _peer_env else None) if _peer_env is not None else (
    ROOT / "build" / "peer" / "src"
    if os.access(ROOT / "build" / "peer" / "src" / "valkey-server", os.X_OK) else None)


def tools_of(name):
    prog = PEER_PROG if name == "peer" else "redis"
    return [prog + t[len("redis"):] for t in TOOLS]


def check_binaries(builds):
    missing = [(name, d / t) for name, d in builds.items() for t in tools_of(name)
               if not os.access(d / t, os.X_OK)]
    for name, path in missing:
        print("bench: missing %s binary %s -- run `%s` in %s first"
              % (name, path, HINT[name], ROOT), file=sys.stderr)
    if missing:
        sys.exit(2)


def snapshot_binaries(tmp, dirs, aa=False):
    """Copies each build's tools, so a rebuild during the run cannot mix binaries.
    aa: an A/A calibration run, where the "patched" side is a copy of stock."""
    builds, shas = {}, {}
    for name, src in dirs.items():
        src = dirs["stock"] if aa and name == "patched" else src
        dest = tmp / "bin" / name
        dest.mkdir(parents=True)
        for t in tools_of(name):
            shutil.copy2(src / t, dest / t)
        builds[name] = servers.Build(name, dest, PEER_PROG if name == "peer" else "redis")
        shas[name] = machine.sha256(builds[name].tool("redis-server"))[:16]
    return builds, shas


def pinning(enabled):
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        return None
    servers.set_pinning({cpus[0]}, {cpus[1]})
    return {"server": cpus[0], "client": cpus[1]}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small subset, under 3 minutes")
    p.add_argument("--pairs", type=int, help="override the number of A/B pairs (fewer than "
                   "%d makes a debug run)" % workloads.PAIRS)
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin the server and the clients to different CPUs")
    p.add_argument("--aa", action="store_true",
                   help="A/A calibration: run stock against a copy of itself (noise floor)")
    p.add_argument("--keep-tmp", action="store_true", help="keep bench/results/tmp/<run>")
    p.add_argument("--only", metavar="REGEX",
                   help="debug: run only the tasks whose label matches (e.g. 'load|rewrite')")
    p.add_argument("--scale", type=float, default=1.0, metavar="F",
                   help="debug: multiply dataset sizes and request counts by F")
    p.add_argument("--no-peer", action="store_true",
                   help="leave the peer (build/peer, Valkey) out even when it is built")
    p.add_argument("--no-checksum", action="store_true",
                   help="leave out the patched build's third write run with aof-checksum yes")
    return p.parse_args()


def run_name(args, pairs):
    """<UTC timestamp>[-aa][-quick][-debug]. A debug run (--only, --scale, fewer than 5
    pairs) checks the harness; it is no result and never becomes latest.md."""
    debug = bool(args.only) or args.scale != 1.0 or pairs < workloads.PAIRS
    name = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name += "-aa" * args.aa + "-quick" * args.quick + "-debug" * debug
    return name, debug


class RawWriter:
    FIELDS = ["pair", "slot", "build", "workload", "case", "metric", "value", "utc"]

    def __init__(self, path):
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, self.FIELDS)
        self.w.writeheader()
        self.rows = []

    def add(self, pair, slot, build, rows):
        utc = datetime.now(timezone.utc).strftime("%H:%M:%S")
        for workload, case, metric, value in rows:
            r = {"pair": pair, "slot": slot, "build": build, "workload": workload,
                 "case": case, "metric": metric, "value": value, "utc": utc}
            self.rows.append(r)
            self.w.writerow(r)
        self.f.flush()


def run_pairs(plan, pairs, builds, data, tmp, raw, phases):
    """The measurements: for each pair, every task on both builds back to back (and on the
    peer, third, where it takes part)."""
    expected = datasets.fingerprint(data)
    for pair in range(pairs):
        for task in plan["tasks"]:
            order = ["stock", "patched"]
            if "peer" in builds and workloads.runs_on_peer(task, data.get(task.arg)):
                order.append("peer")
            if report.CHECKSUM_BUILD in builds and workloads.runs_with_checksum(task):
                order.append(report.CHECKSUM_BUILD)
            if pair % 2:
                order.reverse()
            for slot, name in enumerate(order):
                t = time.monotonic()
                rows = workloads.run_task(task, builds[name], data, tmp / "run", pair == 0)
                raw.add(pair, slot, name, rows)
                phases[task.kind] = phases.get(task.kind, 0) + time.monotonic() - t
                print("bench: pair %d/%d %-8s %-32s %5.1fs" % (pair + 1, pairs, name, task.label,
                                                             time.monotonic() - t), flush=True)
                if datasets.fingerprint(data) != expected:
                    raise RuntimeError("a dataset file changed during %s on %s"
                                       % (task.label, name))


def publish(out, rows, meta, kind):
    """Copies the report and chart of a full (or quick) run to results/latest[-quick].md and
    .png; a full run also updates the 'Latest result' block of bench/README.md."""
    suffix = "" if kind == "full" else "-quick"
    results = BENCH / "results"
    shutil.copy2(out / "ratios.png", results / ("latest%s.png" % suffix))
    (results / ("latest%s.md" % suffix)).write_text(
        report.render(rows, meta, image="latest%s.png" % suffix, run_dir=out.name))
    if kind == "full":
        readme = BENCH / "README.md"
        readme.write_text(report.readme_block(readme.read_text(), rows, meta, out.name))


def main():
    args = parse_args()
    dirs = dict(BUILDS)
    if PEER is not None and not args.no_peer and not args.aa:
        dirs["peer"] = PEER
    check_binaries(dirs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = workloads.plan(args.quick, args.scale, args.only)
    if not plan["tasks"]:
        sys.exit("bench: --only %r matches no task" % args.only)
    pairs = args.pairs or plan["pairs"]
    stamp, debug = run_name(args, pairs)
    out = BENCH / "results" / stamp
    tmp = BENCH / "results" / "tmp" / stamp
    out.mkdir(parents=True)
    tmp.mkdir(parents=True)
    t_start = time.monotonic()
    meta = {"stamp": stamp, "mode": "quick" if args.quick else "full", "pairs": pairs,
            "aa": args.aa, "debug": debug, "only": args.only, "scale": args.scale,
            "machine": machine.describe(ROOT, out), "loadavg_start": machine.loadavg(),
            "sizes": plan["sizes"],
            "requests": workloads.REQUESTS, "write_load_rps": workloads.WRITE_LOAD_RPS,
            "phases": {}}
    raw = RawWriter(out / "raw.csv")
    try:
        builds, meta["sha256"] = snapshot_binaries(tmp, dirs, args.aa)
        if not args.aa and not args.no_checksum:
            # Issue #31: the same patched binary once more on the AOF writes, with
            # `aof-checksum yes` (report.checksum_cost compares it with its run without).
            builds[report.CHECKSUM_BUILD] = dataclasses.replace(
                builds["patched"], name=report.CHECKSUM_BUILD,
                config=(("aof-checksum", "yes"),))
        meta["version"] = {name: servers.version(b) for name, b in builds.items()
                           if name != report.CHECKSUM_BUILD}
        releases = {name: servers.release(v) for name, v in meta["version"].items()}
        meta["peer_version"] = releases.get("peer")
        if releases["stock"] != releases["patched"]:
            sys.exit("bench: stock is Redis %s and patched Redis %s: compare like with like "
                     "(make REDIS_VERSION=... bench builds both)"
                     % (releases["stock"], releases["patched"]))
        meta["redis_version"] = releases["patched"]
        rust_lib = RUST_LIB or (ROOT / "target" / meta["redis_version"] / "patched" / "release"
                                / "libredis_aof.a")
        meta["ported"] = machine.ported_count(ROOT, rust_lib)
        meta["pinning"] = pinning(not args.no_pin)
        print("bench: Redis %s%s, %s mode, %d pairs, %d tasks, results in %s"
              % (meta["redis_version"], ", peer Valkey %s" % meta["peer_version"]
                 if meta["peer_version"] else " (no peer)", meta["mode"] + " debug" * debug,
                 pairs, len(plan["tasks"]), out), flush=True)

        t = time.monotonic()
        print("bench: generating datasets %s with the stock build ..."
              % ", ".join(plan["datasets"]), flush=True)
        data = datasets.generate(builds["stock"], tmp / "datasets", plan["sizes"],
                                 plan["datasets"])
        meta["datasets"] = {k: {"keys": v["keys"], "files": v["files"],
                                "resp_only": v["resp_only"]} for k, v in data.items()}
        meta["phases"]["datasets"] = time.monotonic() - t
        run_pairs(plan, pairs, builds, data, tmp, raw, meta["phases"])
    except BaseException:
        if not raw.rows:  # nothing measured: leave no empty results directory behind
            raw.f.close()
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        servers.stop_all()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raw.f.close()
    meta["loadavg_end"] = machine.loadavg()
    meta["duration_s"] = time.monotonic() - t_start
    (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    report.write(out, raw.rows, meta)
    if not (args.aa or debug):  # calibration and debug runs are not the newest result
        publish(out, raw.rows, meta, meta["mode"])
    print("bench: done in %.0fs; report %s" % (meta["duration_s"], out / "report.md"), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A/B benchmark of the patched build against stock, from the same tarball, on this machine.

Each workload runs on stock and patched in alternation (A B A B ...); every figure is
reported as the median and min-max of the per-pair ratio, so drift of the machine during
the run hits both builds alike. Raw numbers go to CSV next to the Markdown report.

Workloads:
- write throughput: redis-benchmark SET, pipelined (-P 16) and not, 50 clients, 32-byte
  values, appendfsync everysec and always, plus the same with appendonly no (the cost of
  AOF on each build);
- DEBUG LOADAOF of a RESP-only AOF of N SETs (the same files for both builds);
- BGREWRITEAOF, command form (aof-use-rdb-preamble no), on that dataset, with the child's
  copy-on-write.

Server and client are pinned to different cores (taskset) when there are two or more.
"""

import argparse
import csv
import datetime
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDS = {
    "stock": os.path.join(ROOT, "build/stock/src"),
    "patched": os.path.join(ROOT, "build/patched/src"),
}
PORT = 30123


def pin(core):
    return ["taskset", "-c", str(core)] if os.cpu_count() and os.cpu_count() >= 2 and shutil.which("taskset") else []


def cli(build, *args, timeout=600):
    out = subprocess.run([os.path.join(BUILDS[build], "redis-cli"), "-p", str(PORT), *map(str, args)],
                         capture_output=True, text=True, timeout=timeout)
    return out.stdout.strip()


def info_field(build, field):
    for line in cli(build, "INFO", "persistence").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


class Server:
    def __init__(self, build, workdir, *config):
        self.build = build
        self.proc = subprocess.Popen(
            pin(0) + [os.path.join(BUILDS[build], "redis-server"), "--port", str(PORT),
                      "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
                      "--enable-debug-command", "yes", "--logfile", os.path.join(workdir, "log"),
                      *map(str, config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while time.time() < deadline:
            if cli(build, "PING") == "PONG":
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s server did not come up" % build)

    def stop(self):
        if self.proc.poll() is None:
            try:
                cli(self.build, "SHUTDOWN", "NOSAVE", timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def throughput(build, workdir, appendonly, fsync, pipeline, requests):
    with Server(build, workdir, "--appendonly", appendonly, "--appendfsync", fsync):
        out = subprocess.run(
            pin(1) + [os.path.join(BUILDS[build], "redis-benchmark"), "-p", str(PORT), "-t", "set",
                      "-P", str(pipeline), "-c", "50", "-n", str(requests), "-r", "1000000",
                      "-d", "32", "--csv", "-q"],
            capture_output=True, text=True, timeout=900).stdout
    # --csv: "test","rps",...
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0] == "SET":
            return float(cells[1])
    raise RuntimeError("no SET line in redis-benchmark output: %r" % out)


def make_dataset(workdir, keys):
    """A RESP-only AOF of `keys` SETs, written once with the stock build."""
    with Server("stock", workdir, "--appendonly", "yes", "--appendfsync", "no",
                "--aof-use-rdb-preamble", "no", "--auto-aof-rewrite-percentage", "0"):
        subprocess.run([os.path.join(BUILDS["stock"], "redis-benchmark"), "-p", str(PORT), "-t", "set",
                        "-n", str(keys), "-r", str(keys * 100), "-P", "64", "-c", "4", "-d", "16", "-q"],
                       capture_output=True, timeout=1800)
    return os.path.join(workdir, "appendonlydir")


def load_seconds(build, workdir, dataset):
    shutil.copytree(dataset, os.path.join(workdir, "appendonlydir"))
    with Server(build, workdir, "--appendonly", "yes", "--appendfsync", "no",
                "--aof-use-rdb-preamble", "no", "--auto-aof-rewrite-percentage", "0"):
        start = time.perf_counter()
        reply = cli(build, "DEBUG", "LOADAOF")
        elapsed = time.perf_counter() - start
        if reply != "OK":
            raise RuntimeError("DEBUG LOADAOF: %s" % reply)
    return elapsed


def rewrite_seconds(build, workdir, dataset):
    shutil.copytree(dataset, os.path.join(workdir, "appendonlydir"))
    with Server(build, workdir, "--appendonly", "yes", "--appendfsync", "no",
                "--aof-use-rdb-preamble", "no", "--auto-aof-rewrite-percentage", "0"):
        start = time.perf_counter()
        cli(build, "BGREWRITEAOF")
        time.sleep(0.01)
        while info_field(build, "aof_rewrite_in_progress") != "0" or info_field(build, "aof_rewrite_scheduled") != "0":
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        cow = int(info_field(build, "aof_last_cow_size") or 0)
    return elapsed, cow


def alternate(pairs, measure):
    """Runs measure(build) for stock and patched in alternation; returns two lists."""
    results = {"stock": [], "patched": []}
    for _ in range(pairs):
        for build in ("stock", "patched"):
            with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "bench/results/tmp")) as workdir:
                results[build].append(measure(build, workdir))
    return results


def summary(name, unit, results, higher_is_better):
    ratios = [(p / s if higher_is_better else s / p) for s, p in zip(results["stock"], results["patched"])]
    return {
        "figure": name, "unit": unit,
        "stock_median": statistics.median(results["stock"]),
        "patched_median": statistics.median(results["patched"]),
        "speedup_median": statistics.median(ratios), "speedup_min": min(ratios), "speedup_max": max(ratios),
        "raw": results,
    }


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    free = shutil.disk_usage(ROOT).free // (1 << 30)
    return "%d cores, %s, Linux %s, %d GiB free on the data disk" % (os.cpu_count(), model, platform.release(), free)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a sanity check in about 3 minutes")
    args = parser.parse_args()
    for build, path in BUILDS.items():
        if not os.path.exists(os.path.join(path, "redis-server")):
            sys.exit("bench: %s build missing; run `make` and `make stock`" % build)
    pairs = 2 if args.quick else 5
    requests = 200_000 if args.quick else 2_000_000
    keys = 200_000 if args.quick else 2_000_000
    os.makedirs(os.path.join(ROOT, "bench/results/tmp"), exist_ok=True)
    started = time.time()

    rows = []
    configs = [("yes", "everysec", 16)] if args.quick else [
        ("yes", "everysec", 16), ("yes", "everysec", 1), ("yes", "always", 16), ("yes", "always", 1),
        ("no", "everysec", 16), ("no", "everysec", 1)]
    for appendonly, fsync, pipeline in configs:
        name = "SET rps, appendonly %s%s, -P %d" % (appendonly, ", " + fsync if appendonly == "yes" else "", pipeline)
        res = alternate(pairs, lambda b, w: throughput(b, w, appendonly, fsync, pipeline, requests))
        rows.append(summary(name, "requests/s", res, higher_is_better=True))

    with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "bench/results/tmp")) as gen:
        dataset = make_dataset(gen, keys)
        res = alternate(pairs, lambda b, w: load_seconds(b, w, dataset))
        rows.append(summary("DEBUG LOADAOF, %d SETs, RESP only" % keys, "s", res, higher_is_better=False))
        rewrite = alternate(pairs, lambda b, w: rewrite_seconds(b, w, dataset))
        times = {b: [t for t, _ in v] for b, v in rewrite.items()}
        cows = {b: [c for _, c in v] for b, v in rewrite.items()}
        rows.append(summary("BGREWRITEAOF, command form", "s", times, higher_is_better=False))
        rows.append(summary("rewrite child copy-on-write", "bytes", cows, higher_is_better=False))

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    outdir = os.path.join(ROOT, "bench/results", stamp + ("-quick" if args.quick else ""))
    os.makedirs(outdir)
    with open(os.path.join(outdir, "raw.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["figure", "unit", "pair", "stock", "patched"])
        for row in rows:
            for i, (s, p) in enumerate(zip(row["raw"]["stock"], row["raw"]["patched"])):
                w.writerow([row["figure"], row["unit"], i, s, p])
    lines = [
        "# A/B: patched vs stock (%s)" % stamp, "",
        "Machine: %s. %d alternating pairs per figure; %s." % (machine(), pairs, "quick mode" if args.quick else "full mode"),
        "Speed-up = patched/stock for rates, stock/patched for times and sizes (above 1 is better for patched).", "",
        "| figure | unit | stock (median) | patched (median) | speed-up median | min-max |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| %s | %s | %.4g | %.4g | %.3f | %.3f-%.3f |" % (
            r["figure"], r["unit"], r["stock_median"], r["patched_median"],
            r["speedup_median"], r["speedup_min"], r["speedup_max"]))
    lines += ["", "Run time: %.0f s." % (time.time() - started)]
    report = "\n".join(lines) + "\n"
    open(os.path.join(outdir, "report.md"), "w").write(report)
    shutil.copy(os.path.join(outdir, "report.md"), os.path.join(ROOT, "bench/results/latest.md"))
    print(report)
    print("bench: raw numbers in %s" % os.path.relpath(outdir, ROOT))


if __name__ == "__main__":
    main()

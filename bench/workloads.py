"""The workloads, each a plain function running one build once and returning measurement
rows (workload, case, metric, value), and the plans (full and quick) listing them.

A server is started fresh for every run, with its data under the run's temporary directory
(on the same disk as the datasets), and killed (and its data deleted) before the function
returns.
"""

import csv
import os
import io
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import servers

COMMANDS = ["SET", "INCR", "LPUSH", "HSET", "MSET"]
BENCH_TEST = {"SET": "set", "INCR": "incr", "LPUSH": "lpush", "HSET": "hset", "MSET": "mset"}
CSV_NAME = {"MSET": "MSET (10 keys)"}
POLICIES = ["off", "no", "everysec", "always"]  # "off" = appendonly no, same binary
CLIENTS = 50
KEYSPACE = 100000
SEED = 4242  # the same random keys for both builds
PAIRS = 5  # the minimum; fewer makes a debug run

# Requests per redis-benchmark run, chosen for about a second per run on a 2-core machine
# (pipelined MSET and HSET are much slower per request than SET, INCR, LPUSH).
REQUESTS = {16: {"SET": 400000, "INCR": 400000, "LPUSH": 300000, "HSET": 150000, "MSET": 30000},
            1: {"SET": 30000, "INCR": 30000, "LPUSH": 30000, "HSET": 30000, "MSET": 20000}}

# Dataset sizes. The issue fixes 2 M keys for the RESP-only AOF and the rewrite dataset and
# 64 KiB for the large values; the INCR dataset and the number of large values are ours,
# chosen so that each load takes seconds, not minutes.
# The heavy dataset (1.5 M keys, about 1 GB; datasets.py) is the size of a busy instance,
# for the figures a user feels: restart time and memory across a rewrite.
FULL_SIZES = {"set_keys": 2000000, "mixed_keys": 2000000, "incr_base_keys": 200000,
              "incr_cmds": 2000000, "large_keys": 8192, "heavy_keys": 1500000}
QUICK_SIZES = {"set_keys": 300000, "mixed_keys": 300000, "incr_base_keys": 30000,
               "incr_cmds": 300000, "large_keys": 1024, "heavy_keys": 50000}
RESTART_DATASETS = ("sets", "resp", "rdb-incr", "large", "heavy", "heavy-resp", "sets-rdb", "rdb-base")
QUICK_RESTART_DATASETS = ("sets", "heavy", "heavy-resp")  # a RESP INCR, an RDB and a RESP BASE
# The restart in the default configuration (an RDB BASE and a small INCR, what every
# default-form rewrite leaves), with the page cache dropped before each exec too.
COLD_RESTART_DATASETS = ("sets-rdb", "rdb-base", "heavy")
QUICK_COLD_RESTART_DATASETS = ("heavy",)
# The rewrite under a steady write load: SETs per second (bench/writeload.py, pinned to the
# client CPU), running for WRITE_LOAD_WARMUP seconds before the first rewrite.
WRITE_LOAD_RPS = 10000
WRITE_LOAD_WARMUP = 2.0
# The kinds of task the peer runs too, on the datasets it can load (RESP-only files).
PEER_KINDS = ("restart", "rewrite", "rewrite-load")
# BGREWRITEAOF without a write load: the mixed keys (an RDB base, so stock and patched
# only), and the 2 M SETs, the dataset issue #20's default-form goal is set on (RESP-only,
# so the peer too).
REWRITE_DATASETS = ("rdb-base", "sets")


@dataclass(frozen=True)
class WriteGroup:
    """One server (fresh, empty) running each command in turn under one configuration."""
    size: int  # value size in bytes (-d)
    pipeline: int  # -P
    policy: str  # appendfsync, or "off" for appendonly no
    commands: tuple = tuple(COMMANDS)
    scale: float = 1.0  # multiplies the request counts (debug runs only)

    def case(self, cmd):
        return "%s %dB P%d %s" % (cmd, self.size, self.pipeline, self.policy)


def requests(cmd, size, pipeline, policy, scale=1.0):
    n = REQUESTS[pipeline][cmd]
    if size > 256 and pipeline > 1:
        n //= 2  # memory bandwidth and AOF bytes, not request parsing, dominate
    if policy == "always":
        n //= 4 if pipeline == 1 else 3  # one fsync per event-loop iteration
    return max(int(n * scale), CLIENTS * pipeline)


def _bench_csv(text, cmd):
    want = CSV_NAME.get(cmd, cmd)
    for row in csv.DictReader(io.StringIO("\n".join(l for l in text.splitlines()
                                                     if l.startswith('"')))):
        if row["test"] == want:
            return row
    raise RuntimeError("redis-benchmark printed no %r row:\n%s" % (want, text))


def _write_config(policy):
    if policy == "off":
        return {"appendonly": "no"}
    return {"appendonly": "yes", "appendfsync": policy}


def _check_config(server, policy):
    """Guards against measuring the wrong thing: AOF on or off, and the policy, as planned."""
    enabled = servers.info(server, "persistence")["aof_enabled"]
    fsync = servers.call(server, "CONFIG", "GET", "appendfsync")[1]
    if enabled != ("0" if policy == "off" else "1") or (policy != "off" and fsync != policy):
        raise RuntimeError("%s: planned %s, server has aof_enabled:%s appendfsync %s"
                           % (server.build.name, policy, enabled, fsync))
    for name, value in server.build.config:  # a build's own directives (aof-checksum yes)
        got = servers.call(server, "CONFIG", "GET", name)
        if got[1:] != [value]:
            raise RuntimeError("%s: planned %s %s, server has %r"
                               % (server.build.name, name, value, got))


def _aof_bytes(server):
    """Bytes the server has put in its AOF so far, written or still buffered (under
    everysec a write can be postponed while a background fsync runs)."""
    p = servers.info(server, "persistence")
    return int(p["aof_current_size"]) + int(p["aof_buffer_length"])


def run_write(build, group, tmp):
    """redis-benchmark, one run per command, on a fresh server. Rows: rps, p50/p99 under
    always, and (AOF on) the bytes each run added to the AOF: a check, since the same
    commands must produce the same bytes on both builds."""
    rows = []
    server = servers.start(build, tmp, _write_config(group.policy))
    try:
        _check_config(server, group.policy)
        for cmd in group.commands:
            before = _aof_bytes(server) if group.policy != "off" else None
            n = requests(cmd, group.size, group.pipeline, group.policy, group.scale)
            out = servers.run_client(build, "redis-benchmark",
                                     ["-p", server.port, "-c", CLIENTS, "-P", group.pipeline,
                                      "-d", group.size, "-r", KEYSPACE, "-n", n,
                                      "--seed", SEED, "--csv", "-t", BENCH_TEST[cmd]])
            row = _bench_csv(out, cmd)
            case = group.case(cmd)
            rows.append(("write", case, "rps", float(row["rps"])))
            if group.policy == "always":
                rows.append(("write", case, "p50_ms", float(row["p50_latency_ms"])))
                rows.append(("write", case, "p99_ms", float(row["p99_latency_ms"])))
            if before is not None:
                rows.append(("check", case, "aof_bytes", _aof_bytes(server) - before))
    finally:
        servers.stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _load_aof(server, dataset):
    """DEBUG LOADAOF, timed from sending it to the reply, and a key-count check."""
    t0 = time.monotonic()
    servers.call(server, "DEBUG", "LOADAOF", timeout=1800)
    elapsed = time.monotonic() - t0
    keys = servers.call(server, "DBSIZE")
    if keys != dataset["keys"]:
        raise RuntimeError("%s loaded %d keys from %s, expected %d"
                           % (server.build.name, keys, dataset["name"], dataset["keys"]))
    return elapsed


def run_load(build, dataset, tmp, digest=False):
    """Starts the build empty with AOF on, puts the dataset's files in place of its own
    appendonlydir, and times DEBUG LOADAOF: with an empty keyspace, the command is the
    manifest and the files being read and applied (nothing to free first). Then
    used_memory and RSS (and RSS before loading: what the binary itself takes), and
    (digest=True, first pair) DEBUG DIGEST so both builds can be checked to load the same
    data."""
    rows = []
    server = servers.start(build, tmp, {"appendonly": "yes"}, pinned=False)
    try:
        datasets.stage(dataset, server.dir, writable=False)
        case = dataset["name"]
        rows.append(("load", case, "rss_empty", servers.rss(server)))  # the fixed part
        load_s = _load_aof(server, dataset)
        used = int(servers.info(server, "memory")["used_memory"])  # exact at the call
        rows += [("load", case, "load_s", load_s), ("load", case, "used_memory", used),
                 ("load", case, "rss", servers.rss(server))]
        if digest:
            rows.append(("check", case, "digest", servers.call(server, "DEBUG", "DIGEST")))
    finally:
        servers.stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _base_size(server):
    """Size of the BASE file the server's manifest names (as the files are on disk, not as
    the server accounts for them)."""
    aofdir = server.dir / "appendonlydir"
    for line in (aofdir / "appendonly.aof.manifest").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("type") + 1] == "b":
            return (aofdir / fields[fields.index("file") + 1]).stat().st_size
    raise RuntimeError("%s: no BASE file in the manifest" % server.build.name)


def _reload_digest(server, dataset):
    """Reloads the AOF the last rewrite produced and returns its DEBUG DIGEST, which the
    report compares across builds and with the digest of the `resp` load (the same keys):
    the rewrite that was timed wrote all the data. First pair only: it costs a load."""
    _load_aof(server, dataset)
    return servers.call(server, "DEBUG", "DIGEST")


def run_rewrite(build, dataset, tmp, check=False):
    """Starts the build on (a copy of) the dataset, then times BGREWRITEAOF with the RDB
    preamble, then in command form (aof-use-rdb-preamble no); records the size of the BASE
    each wrote (a check: the same data should give the same size on both builds); and
    with check=True reloads the command-form AOF for a digest. hz 100 so the parent reaps
    the child within 10 ms. MEMORY PURGE before each rewrite: jemalloc otherwise returns
    the memory the start-up load freed on its own schedule, and a page the parent gives
    back while a child runs becomes the child's alone, a ~2 MB jump in the COW the child
    reports that lands in one rewrite or the other (seen on both builds)."""
    datasets.stage(dataset, Path(tmp) / "data", writable=True)
    rows = []
    server = servers.start(build, tmp, {"appendonly": "yes", "hz": 100})
    try:
        for preamble in ("yes", "no"):
            servers.call(server, "CONFIG", "SET", "aof-use-rdb-preamble", preamble)
            servers.call(server, "MEMORY", "PURGE")
            case = "%s preamble %s" % (dataset["name"], preamble)
            for metric, value in servers.bgrewrite(server).items():
                if value is not None:
                    rows.append(("rewrite", case, metric, value))
            rows.append(("check", case, "base_bytes", _base_size(server)))
        if check:
            rows.append(("check", case, "reload_digest", _reload_digest(server, dataset)))
    finally:
        servers.stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def drop_page_cache():
    """Writes dirty pages out and drops the page cache, as after a reboot (root only)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def run_restart(build, dataset, tmp, check=False, cold=False):
    """A restart as a user has it: the build is exec'd with appendonly yes on a data dir
    whose appendonlydir holds the dataset's files (hard links; the server opens the last
    INCR for appending but writes nothing, and main.py checks the files are unchanged),
    and timed from just before the exec to its first PONG (a PING every millisecond, one
    at a time; -LOADING replies while it loads). Every other setting is the default
    (aof-use-rdb-preamble yes). Then the key count (a check), used_memory and RSS, and
    (check=True, first pair) DEBUG DIGEST. cold: the page cache is dropped just before
    the exec, so the files come from the disk (rows named "<dataset> cold")."""
    datasets.stage(dataset, Path(tmp) / "data", writable=False)
    rows = []
    if cold:
        drop_page_cache()
    server = servers.start(build, tmp, {"appendonly": "yes"}, poll=0.001, pinned=False)
    try:
        case = dataset["name"] + (" cold" if cold else "")
        restart_s = server.ready - server.started
        keys = servers.call(server, "DBSIZE")
        if keys != dataset["keys"]:
            raise RuntimeError("%s restarted with %d keys from %s, expected %d"
                               % (build.name, keys, case, dataset["keys"]))
        used = int(servers.info(server, "memory")["used_memory"])
        rows += [("restart", case, "restart_s", restart_s),
                 ("restart", case, "used_memory", used),
                 ("restart", case, "rss", servers.rss(server))]
        if check:
            rows.append(("check", "restart " + case, "digest",
                         servers.call(server, "DEBUG", "DIGEST")))
    finally:
        servers.stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def run_rewrite_load(build, dataset, tmp, check=False):
    """Memory across a rewrite under a steady write load. The build starts on (a copy of)
    the dataset with hz 100; bench/writeload.py overwrites its string keys at
    WRITE_LOAD_RPS SETs/s; after WRITE_LOAD_WARMUP seconds, BGREWRITEAOF with the RDB
    preamble (the default form), then in command form, each after MEMORY PURGE (see
    run_rewrite). Per rewrite: wall time, the peak of parent RSS + child Private_Dirty
    (smaps_rollup and the parent's VmRSS read together every 10 ms while the child lives),
    the parent's RSS just before and its peak, the child's peak Private_Dirty and the COW
    it reported. Over the whole run, the longest a batch of writes waited for its replies
    (write_max_ms: the stall a client felt, the forks' among them); and a check row with
    the writes per second the load made (the same on every build, or the builds carried
    different loads)."""
    datasets.stage(dataset, Path(tmp) / "data", writable=True)
    rows = []
    server = servers.start(build, tmp, {"appendonly": "yes", "hz": 100})
    load = None
    try:
        load = servers.start_write_load(server, WRITE_LOAD_RPS, dataset["strings"], SEED)
        time.sleep(WRITE_LOAD_WARMUP)
        for preamble in ("yes", "no"):
            servers.call(server, "CONFIG", "SET", "aof-use-rdb-preamble", preamble)
            servers.call(server, "MEMORY", "PURGE")
            case = "%s preamble %s" % (dataset["name"], preamble)
            rows.append(("rewrite-load", case, "parent_rss_start", servers.rss(server)))
            for metric, value in servers.bgrewrite(server, total=True).items():
                if value is not None and metric != "child_peak_rss":
                    rows.append(("rewrite-load", case, metric, value))
        rate, longest_ms = servers.stop_write_load(load)
        load = None
        rows.append(("rewrite-load", "%s under load" % dataset["name"], "write_max_ms",
                     longest_ms))
        rows.append(("check", "%s under load" % dataset["name"], "writes_per_s", rate))
    finally:
        if load is not None:
            load.kill()
            load.wait()
        servers.stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


@dataclass(frozen=True)
class Task:
    """One unit run on each build per pair."""
    label: str
    kind: str  # write | load | rewrite | restart | restart-cold | rewrite-load
    arg: object  # a WriteGroup, or a dataset name


def _write_tasks(groups):
    return [Task("write %dB P%d %s" % (g.size, g.pipeline, g.policy), "write", g)
            for g in groups]


def plan(quick, scale=1.0, only=None):
    """Pairs, dataset sizes and tasks of a mode. scale multiplies dataset sizes and request
    counts, only (a regular expression) keeps the tasks whose label it matches: both for
    debug runs."""
    if quick:
        groups = [WriteGroup(32, 16, p, ("SET",), scale) for p in ("off", "no", "everysec")]
        groups.append(WriteGroup(32, 1, "always", ("SET",), scale))
        sizes = QUICK_SIZES
    else:
        # INCR sends no value, so -d changes nothing for it: it runs at 32 B only.
        groups = [WriteGroup(size, pipeline, policy,
                             tuple(c for c in COMMANDS if size == 32 or c != "INCR"), scale)
                  for size in (32, 1024) for pipeline in (16, 1) for policy in POLICIES]
        sizes = FULL_SIZES
    tasks = _write_tasks(groups)
    tasks += [Task("load " + name, "load", name) for name in ("sets", "resp", "rdb-incr", "large")]
    tasks += [Task("rewrite " + name, "rewrite", name) for name in REWRITE_DATASETS]
    tasks += [Task("restart " + name, "restart", name)
              for name in (QUICK_RESTART_DATASETS if quick else RESTART_DATASETS)]
    tasks += [Task("restart-cold " + name, "restart-cold", name)
              for name in (QUICK_COLD_RESTART_DATASETS if quick else COLD_RESTART_DATASETS)]
    tasks.append(Task("rewrite-load heavy-resp", "rewrite-load", "heavy-resp"))
    if only:
        tasks = [t for t in tasks if re.search(only, t.label)]
    needed = sorted({t.arg for t in tasks if t.kind != "write"})
    return {"pairs": PAIRS, "tasks": tasks, "datasets": needed,
            "sizes": {k: max(int(v * scale), 1) for k, v in sizes.items()}}


def run_task(task, build, data, tmp, first_pair):
    if task.kind == "write":
        return run_write(build, task.arg, tmp)
    if task.kind == "load":
        return run_load(build, data[task.arg], tmp, digest=first_pair)
    if task.kind == "rewrite":
        return run_rewrite(build, data[task.arg], tmp, check=first_pair)
    if task.kind == "restart":
        return run_restart(build, data[task.arg], tmp, check=first_pair)
    if task.kind == "restart-cold":
        return run_restart(build, data[task.arg], tmp, cold=True)
    if task.kind == "rewrite-load":
        return run_rewrite_load(build, data[task.arg], tmp, check=first_pair)
    raise ValueError(task.kind)


def runs_with_checksum(task):
    """Whether the patched binary runs this task a second time with `aof-checksum yes`
    (issue #31's size and throughput figures): the writes with AOF on."""
    return task.kind == "write" and task.arg.policy != "off"


def runs_on_peer(task, dataset):
    """Whether the peer runs this task: a kind it takes part in, on files it can read."""
    return task.kind in PEER_KINDS and dataset is not None and dataset["resp_only"]

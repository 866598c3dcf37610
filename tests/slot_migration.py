#!/usr/bin/env python3
"""Atomic slot migration (8.6) through the Rust rewriteObject, stock beside patched.

8.6's `CLUSTER MIGRATION IMPORT` streams a slot's keys from the source node's fork child
to the target: a module value, or a collection of at most 512 items
(ASM_AOF_MIN_ITEMS_PER_KEY), travels as RESTORE (upstream's DUMP code); every string and
every larger collection travels as the commands aof.c's `rewriteObject` writes, which
here is Rust. For each seed and each build, two cluster nodes with AOF on:

  source owns every slot; a random dataset (tests/roundtrip_dataset.py, every key moved
  into db 0 under one hash tag, so one slot holds them all) plus random collections of
  513 to 1500 items of every type (strings of every encoding, lists, sets of integers
  and of strings, zsets, hashes with and without field TTLs, streams with deletions,
  groups, pending entries and, on 8.6, idempotent producers), half the seeds with
  listpack/intset thresholds raised above them so the large ones keep their compact
  encodings; the target imports the slot.

Checked: the target holds the source's keys exactly (tests/roundtrip_random.py's state:
digest, per key type, PEXPIRETIME, DEBUG DIGEST-VALUE and the contents, stream groups and
PELs included); the source is left with none; the target keeps them across a restart from
its AOF; the target's AOF received both forms (RESTORE and rewriteObject's commands);
and stock's target equals patched's target, layout included (encodings, stream nodes).

Usage: slot_migration.py STOCK_SERVER PATCHED_SERVER [--seeds N] [--first-seed S]
Skips (exit 0) when the servers are older than 8.6 (no atomic slot migration).
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import time

from redistest.pair import FUTURE_MS
from redistest.ports import alloc_port
from redistest.resp import ReplyError
from roundtrip_dataset import STREAM_FIELDS, STREAM_VALUES, Dataset
from roundtrip_random import Checks, Server, log_tail, release_of, state

DEFAULT_SEEDS = 4
TAG = b"{slot}"              # every migrated key carries it: one slot holds the dataset
BIG = (513, 1500)             # above ASM_AOF_MIN_ITEMS_PER_KEY: sent by rewriteObject
RAISED = {"set-max-intset-entries": 2048, "set-max-listpack-entries": 2048,
          "set-max-listpack-value": 64, "zset-max-listpack-entries": 2048,
          "zset-max-listpack-value": 64, "hash-max-listpack-entries": 2048,
          "hash-max-listpack-value": 64, "list-max-listpack-size": -5}


def moved_items(ds):
    """The dataset's key commands, each key renamed under TAG in db 0 (the key's own db in
    its name, so keys of different dbs stay apart). A command names its key by the very
    object the generator passed (the key may also appear as a value, e.g. "1"), so
    arguments are replaced by identity; the empty key cannot carry a tag and is left out."""
    out = []
    for db, key, cmd in ds.items:
        if db is None or key is None or len(key) == 0:
            continue
        new = TAG + b"db%d:" % db + (key if isinstance(key, bytes) else key.encode())
        renamed = tuple(new if a is key else a for a in cmd)
        if new not in renamed:
            raise RuntimeError("no key argument found in %r" % (cmd,))
        out.append(renamed)
    return out


def big_collections(rnd, release):
    """Collections above the RESTORE limit, one or more of each type, with random members."""
    cmds = []

    def n():
        return rnd.randrange(*BIG)

    def word(i):
        return rnd.choice([str(rnd.randrange(10**6)), "m%d:%s" % (i, "x" * rnd.randrange(0, 30)),
                           "-%d" % rnd.randrange(10**12), "%d.5" % i])

    def batched(head, items, per=100):
        for i in range(0, len(items), per):
            cmds.append((*head, *[a for x in items[i:i + per] for a in (x if isinstance(x, tuple) else (x,))]))

    for j in range(2):
        key = TAG + b"biglist:%d" % j
        batched(("RPUSH", key), [word(i) if j == 0 else "v%d:" % i + "y" * rnd.randrange(200, 2000)
                                 for i in range(n())])
        key = TAG + b"bigintset:%d" % j
        batched(("SADD", key), [str(rnd.randrange(-10**9, 10**9)) for _ in range(n())])
        key = TAG + b"bigset:%d" % j
        batched(("SADD", key), ["s%d:%s" % (i, word(i)) for i in range(n())])
        key = TAG + b"bigzset:%d" % j
        batched(("ZADD", key), [(rnd.choice(["%d" % rnd.randrange(-10**6, 10**6), "%.3f" % rnd.uniform(-1e6, 1e6),
                                             "inf", "-inf"]), "z%d:%s" % (i, word(i))) for i in range(n())])
        key = TAG + b"bighash:%d" % j
        fields = ["f%d" % i for i in range(n())]
        batched(("HSET", key), [(f, word(i)) for i, f in enumerate(fields)])
        if j == 1:       # field TTLs: a listpackex or a hashtable with an ebuckets index
            ttl = rnd.sample(fields, len(fields) // 3)
            for i in range(0, len(ttl), 50):
                part = ttl[i:i + 50]
                cmds.append(("HPEXPIREAT", key, FUTURE_MS + rnd.randrange(10**9), "FIELDS", len(part), *part))
        if rnd.random() < 0.5:
            cmds.append(("PEXPIREAT", key, FUTURE_MS + rnd.randrange(10**9)))
        key = TAG + b"bigstream:%d" % j
        ids = []
        ms = FUTURE_MS
        for i in range(n()):
            ms += rnd.randrange(1, 3)
            ids.append("%d-%d" % (ms, rnd.randrange(3)))
            fv = [a for _ in range(rnd.randrange(1, 4))
                  for a in (rnd.choice(STREAM_FIELDS), rnd.choice(STREAM_VALUES))]
            cmds.append(("XADD", key, ids[-1], *fv))
        gone = rnd.sample(ids[:-1], len(ids) // 10)
        cmds.append(("XDEL", key, *gone))
        live = [i for i in ids if i not in set(gone)]
        cmds.append(("XGROUP", "CREATE", key, "g1", "0"))
        cmds.append(("XGROUP", "CREATE", key, "g2", live[len(live) // 2], "ENTRIESREAD", len(live) // 2))
        cmds.append(("XGROUP", "CREATECONSUMER", key, "g2", "idle"))
        pending = rnd.sample(live, 80)
        for k in range(0, len(pending), 20):
            consumer = "c%d" % (k // 20 % 2)
            # An explicit delivery time and count, so both builds' PELs are the same.
            cmds.append(("XCLAIM", key, "g1", consumer, 0, *pending[k:k + 20],
                         "TIME", 1700000000000 + k, "RETRYCOUNT", k % 7, "FORCE", "JUSTID"))
        if release >= (8, 6):
            cmds.append(("XCFGSET", key, "IDMP-DURATION", rnd.randrange(100, 86400), "IDMP-MAXSIZE", 100))
            for p in range(2):
                for i in rnd.sample(live, 10):
                    cmds.append(("XIDMPRECORD", key, "producer%d" % p, "iid-%s" % i, i))
    for j in range(3):   # strings always travel as rewriteObject's SET (and PEXPIREAT)
        key = TAG + b"bigstring:%d" % j
        cmds.append(("SET", key, rnd.choice([b"x" * rnd.randrange(45, 300000), str(rnd.randrange(10**15))])))
        cmds.append(("PEXPIREAT", key, FUTURE_MS + rnd.randrange(10**9)))
    return cmds


class Node(Server):
    """A cluster node with AOF on; the cluster bus port is chosen explicitly (a free port
    plus 10000, upstream's default, may lie beyond 65535)."""

    def __init__(self, binary, workdir, config):
        os.makedirs(workdir, exist_ok=True)
        self.bus_port = alloc_port()
        args = ["--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
                "--cluster-config-file", os.path.join(workdir, "nodes.conf"),
                "--cluster-node-timeout", "15000", "--enable-debug-command", "yes",
                "--appendfsync", "everysec", *config]
        super().__init__(binary, workdir, args)


def wait(what, cond, seconds=120):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting until " + what)


def cluster_info(node):
    return dict(line.split(":", 1) for line in node.call("CLUSTER", "INFO").decode().split("\r\n") if ":" in line)


def migrate(binary, root, items, config):
    """Runs one migration; returns the states and what the target's AOF received."""
    src = Node(binary, os.path.join(root, "source"), config)
    dst = Node(binary, os.path.join(root, "target"), config)
    try:
        src.call("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        dst.call("CLUSTER", "MEET", "127.0.0.1", src.port, src.bus_port)
        wait("both nodes know each other", lambda: all(
            cluster_info(n).get("cluster_known_nodes") == "2" for n in (src, dst)))
        wait("the cluster is ok", lambda: all(cluster_info(n).get("cluster_state") == "ok" for n in (src, dst)))
        replies = src.pipeline(items)
        errors = [(c, r) for c, r in zip(items, replies) if isinstance(r, ReplyError)]
        if errors:
            raise RuntimeError("dataset command failed: %r -> %r" % errors[0])
        slot = src.call("CLUSTER", "KEYSLOT", TAG)
        before = state(src)
        task = dst.call("CLUSTER", "MIGRATION", "IMPORT", slot, slot)
        if isinstance(task, ReplyError):
            raise RuntimeError("CLUSTER MIGRATION IMPORT: %r" % task)

        def done():
            for n in (src, dst):
                i = cluster_info(n)
                if i.get("cluster_slot_migration_active_tasks") != "0" or \
                        i.get("cluster_slot_migration_active_trim_running") != "0":
                    return False
            status = dst.call("CLUSTER", "MIGRATION", "STATUS", "ID", task)
            fields = dict(zip(status[0][0::2], status[0][1::2])) if status else {}
            if fields.get(b"state") == b"failed":
                raise RuntimeError("the migration failed: %r%s" % (fields, log_tail(src.workdir)))
            return fields.get(b"state") == b"completed"
        wait("the migration completes", done)
        after = {"target": state(dst), "source_keys": src.call("DBSIZE")}
        dst.stop()
        aof = b""
        aof_dir = os.path.join(root, "target", "appendonlydir")
        for name in sorted(os.listdir(aof_dir)):
            if ".incr." in name:
                with open(os.path.join(aof_dir, name), "rb") as f:
                    aof += f.read()
        after["target_aof"] = aof
        dst = Node(binary, os.path.join(root, "target"), config)
        wait("the target has loaded", lambda: b"loading:0" in dst.call("INFO", "persistence"))
        wait("the restarted target sees the cluster ok", lambda: cluster_info(dst).get("cluster_state") == "ok")
        after["target_restarted"] = state(dst)
        return before, after
    finally:
        for n in (src, dst):
            try:
                n.stop()
            except Exception:
                pass


def run_seed(seed, binaries, root, checks, release):
    rnd = random.Random(seed)
    ds = Dataset(seed, "large", release=release)
    values = dict(ds.config.values)
    raised = seed % 2 == 1
    if raised:
        values.update(RAISED)
    config = [a for k, v in values.items() for a in ("--" + k, str(v))]
    items = list(ds.setup) + moved_items(ds) + big_collections(rnd, release)
    results = {}
    for build, binary in binaries:
        workdir = os.path.join(root, "seed-%d" % seed, build)
        try:
            results[build] = migrate(binary, workdir, items, config)
        except Exception as e:
            checks.check(False, "seed %d %s: migration ran: %s: %s" % (seed, build, type(e).__name__, e))
            return
    tag = "seed %d (%s thresholds, %d commands)" % (seed, "raised" if raised else "the dataset's", len(items))
    for build, (before, after) in results.items():
        checks.same(before, after["target"], "%s %s: the target holds the source's keys" % (tag, build))
        checks.check(after["source_keys"] == 0, "%s %s: the source keeps none (%r)" % (tag, build, after["source_keys"]))
        checks.same(before, after["target_restarted"], "%s %s: the target keeps them across a restart" % (tag, build))
        aof = after["target_aof"]
        sent_as = {c: b"$%d\r\n%s\r\n" % (len(c), c) in aof for c in (b"RESTORE", b"RPUSH", b"SADD", b"ZADD",
                                                                         b"HMSET", b"XADD", b"SET", b"PEXPIREAT",
                                                                         b"HPEXPIREAT", b"XCLAIM", b"XCFGSET",
                                                                         b"XIDMPRECORD")}
        checks.check(all(sent_as.values()), "%s %s: the target's AOF received both forms: %r" % (tag, build, sent_as))
    stock, patched = results["stock"][1], results["patched"][1]
    checks.same(stock["target"], patched["target"], "%s: stock's target holds patched's keys" % tag)
    checks.same(stock["target"], patched["target"], "%s: stock's target has patched's layout" % tag, part="layout")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("stock")
    parser.add_argument("patched")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    release = release_of(args.patched)
    if release < (8, 6):
        print("slot-migration: %d.%d has no atomic slot migration, skipped" % release)
        return 0
    checks = Checks(args.verbose)
    root = tempfile.mkdtemp(prefix="slot-migration-")
    binaries = []
    for build, path in (("stock", args.stock), ("patched", args.patched)):
        copy = os.path.join(root, "redis-server-" + build)
        shutil.copy(path, copy)
        binaries.append((build, copy))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        failed = checks.failed
        run_seed(seed, binaries, root, checks, release)
        print("seed %d: %s" % (seed, "ok" if checks.failed == failed else "FAILED"))
    print("slot-migration: %d seeds, %d checks passed, %d failed" % (args.seeds, checks.passed, checks.failed))
    if checks.failed == 0:
        shutil.rmtree(root)
    else:
        print("server dirs kept in " + root)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

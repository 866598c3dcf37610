"""The AOF datasets, generated once per run by the stock build, written to disk (fsync), and
then loaded by both builds from the very same files (hard links, see stage()).

  sets      RESP-only AOF of SETs of distinct keys with 16-64 byte values (the issue's
            load figure: 2 million SETs), in the INCR file the writes went to.
  resp      RESP-only AOF (aof-use-rdb-preamble no): the mixed-type dataset, rewritten in
            command form into the BASE file.
  rdb-base  the same dataset with an RDB-preamble BASE; the input of the rewrite workload.
  sets-rdb  the SETs after a default-form rewrite (an RDB BASE) and 1 % more SETs (the INCR):
            the files the default configuration leaves.
  rdb-incr  a smaller mixed dataset as an RDB BASE, plus a large INCR file of writes
            (SET, INCR, RPUSH, HSET, SADD, ZADD, DEL, MULTI/EXEC blocks).
  large     64 KiB values, SET commands in a RESP INCR file.
  heavy-resp  the heavy dataset (below) as a RESP BASE (aof-use-rdb-preamble no) plus an
            INCR file of later writes: RESP-only, so the peer (Valkey) loads it too.
  heavy     the same keys with an RDB-preamble BASE (the default form) plus an INCR file of
            later writes: the restart a Redis 8 user with default settings has.

The mixed-type dataset has strings (some with a TTL), lists, sets (intset and not), zsets
and hashes; most collections have 8 elements (listpack encodings), one in a thousand has
300 (quicklist, hashtable, skiplist).

The heavy dataset (1.5 M keys at full size, about 1 GB of used_memory) is shaped like a
busy instance: half strings of 32 B to 4 KiB (most under 384 B) (a quarter with a TTL), and hashes, lists,
sets, zsets and streams (entries of three fields) whose sizes run from 1 to 600 elements
(most small, listpack-encoded; a tail in the hashtable, skiplist and quicklist forms), an
eighth of them with a TTL. Its string keys are hs:0 .. hs:<strings-1>, the keys the
rewrite-under-load workload overwrites. Every TTL is far in the future, so the key count
stays put.

A RESP-only dataset (no file starting with an RDB header) is one the peer can load:
Valkey reads Redis 7+ multi-part AOF directories (manifest, RESP BASE, INCR files) but not
Redis 8's RDB version.
"""

import os
import random
import shutil
from contextlib import contextmanager
from pathlib import Path

import servers

GEN_CONFIG = {"appendonly": "yes", "appendfsync": "no", "aof-use-rdb-preamble": "no"}
SMALL, BIG = 8, 300


def _values(rng, count, lo, hi):
    letters = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return [bytes(rng.choice(letters) for _ in range(rng.randint(lo, hi))) for _ in range(count)]


def mixed_commands(nkeys, seed=1):
    """Yields RESP-encoded write commands building nkeys keys of mixed types."""
    rng = random.Random(seed)
    vals = _values(rng, 1024, 16, 64)
    enc = servers.encode
    for i in range(nkeys):
        kind = i % 10
        n = BIG if i % 10000 == kind else SMALL
        v = vals[i & 1023]
        if kind <= 2:
            yield enc(b"SET", b"s:%d" % i, v)
        elif kind == 3:
            yield enc(b"SET", b"n:%d" % i, i * 7)
        elif kind == 4:
            yield enc(b"RPUSH", b"l:%d" % i, *(vals[(i + j) & 1023] for j in range(n)))
        elif kind == 5:
            if (i // 10) % 2:
                yield enc(b"SADD", b"t:%d" % i, *(b"m%d" % (i + j) for j in range(n)))
            else:
                yield enc(b"SADD", b"t:%d" % i, *(i + j for j in range(n)))
        elif kind == 6:
            args = []
            for j in range(n):
                args += [b"%d.%d" % (j, i % 97), b"z%d" % j]
            yield enc(b"ZADD", b"z:%d" % i, *args)
        elif kind in (7, 8):
            args = []
            for j in range(n):
                args += [b"f%d" % j, vals[(i * 3 + j) & 1023]]
            yield enc(b"HSET", b"h:%d" % i, *args)
        else:
            yield enc(b"SET", b"e:%d" % i, v, b"EX", 10000000)


def set_commands(nkeys, seed=4):
    """Yields nkeys SETs of distinct keys."""
    rng = random.Random(seed)
    vals = _values(rng, 1024, 16, 64)
    for i in range(nkeys):
        yield servers.encode(b"SET", b"key:%d" % i, vals[i & 1023])


def incr_commands(nkeys, ncmds, seed=2):
    """Yields ncmds RESP-encoded writes over the keys of mixed_commands(nkeys); every 40th
    is a MULTI/INCR/SET/EXEC block (counted as one)."""
    rng = random.Random(seed)
    vals = _values(rng, 1024, 16, 64)
    enc = servers.encode
    slots = max(nkeys // 10, 1)

    def key(prefix, kind):
        return b"%s:%d" % (prefix, rng.randrange(slots) * 10 + kind)
    for c in range(ncmds):
        v = vals[c & 1023]
        r = c % 40
        if r < 12:
            yield enc(b"SET", key(b"s", 0), v)
        elif r < 20:
            yield enc(b"INCR", key(b"n", 3))
        elif r < 24:
            yield enc(b"RPUSH", key(b"l", 4), v)
        elif r < 30:
            yield enc(b"HSET", key(b"h", 7), b"f%d" % (c % 16), v)
        elif r < 34:
            yield enc(b"SADD", key(b"t", 5), b"m%d" % c)
        elif r < 38:
            yield enc(b"ZADD", key(b"z", 6), c % 1000, b"z%d" % c)
        elif r == 38:
            yield enc(b"DEL", key(b"s", 1))
        else:
            yield b"".join([enc(b"MULTI"), enc(b"INCR", key(b"n", 3)),
                            enc(b"SET", key(b"s", 2), v), enc(b"EXEC")])


HEAVY_BIG = 600  # the largest collection of the heavy dataset
STREAM_MS = 1700000000000  # first stream entry ID of the heavy dataset (ms part)
TTL_S = 100000000  # far enough that nothing expires between generation and the last load


def _heavy_kinds(nkeys):
    """The kind of each heavy key, in order: of every 40, 20 strings, 6 hashes, 4 lists,
    4 sets, 5 zsets and 1 stream (a stream's first node preallocates 4 KiB)."""
    pattern = (["string"] * 20 + ["hash"] * 6 + ["list"] * 4 + ["set"] * 4 + ["zset"] * 5
               + ["stream"])
    return (pattern[i % 40] for i in range(nkeys))


def heavy_layout(nkeys):
    """{kind: number of keys of that kind} of heavy_commands(nkeys)."""
    counts = {}
    for kind in _heavy_kinds(nkeys):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _heavy_size(rng):
    """Elements of a collection: 1-16 (75 %), 17-128 (23.5 %), 129-600 (1.5 %)."""
    r = rng.random()
    if r < 0.75:
        return rng.randint(1, 16)
    if r < 0.985:
        return rng.randint(17, 128)
    return rng.randint(129, HEAVY_BIG)


def _stream_entry(j, vals):
    return [b"src", b"host-%d" % (j % 97), b"val", b"%d" % (j * 37 % 100003),
            b"note", vals[j & 1023][:8]]


def heavy_commands(nkeys, seed=5):
    """Yields RESP-encoded writes building the heavy dataset (module docstring)."""
    rng = random.Random(seed)
    small = _values(rng, 1024, 8, 32)
    strings = _values(rng, 1024, 32, 384) + _values(rng, 64, 512, 4096)
    enc = servers.encode
    index = {}
    for kind in _heavy_kinds(nkeys):
        j = index[kind] = index.get(kind, -1) + 1
        if kind == "string":
            v = strings[rng.randrange(1024 + 64 if rng.random() < 0.05 else 1024)]
            if j % 4 == 0:
                yield enc(b"SET", b"hs:%d" % j, v, b"EX", TTL_S + j % 1000)
            else:
                yield enc(b"SET", b"hs:%d" % j, v)
            continue
        n = _heavy_size(rng)
        key = b"h%s:%d" % (kind[:2].encode(), j)
        if kind == "hash":
            args = []
            for k in range(n):
                args += [b"field:%d" % k, small[(j * 7 + k) & 1023]]
            yield enc(b"HSET", key, *args)
        elif kind == "list":
            yield enc(b"RPUSH", key, *(small[(j + k) & 1023] for k in range(n)))
        elif kind == "set":
            if j % 3 == 0:
                yield enc(b"SADD", key, *(j * 1000 + k for k in range(n)))
            else:
                yield enc(b"SADD", key, *(b"member:%d:%d" % (j, k) for k in range(n)))
        elif kind == "zset":
            args = []
            for k in range(n):
                args += [b"%d.%d" % (k * 3, j % 89), b"m:%d:%d" % (j, k)]
            yield enc(b"ZADD", key, *args)
        else:  # stream: one XADD per entry, IDs explicit so the data is the same every run
            for k in range(n):
                yield enc(b"XADD", key, b"%d-0" % (STREAM_MS + k * 10),
                          *_stream_entry(j + k, small))
        if j % 8 == 0:
            yield enc(b"EXPIRE", key, TTL_S + j % 1000)


def heavy_tail_commands(nkeys, ncmds, seed):
    """Yields ncmds later writes over the keys of heavy_commands(nkeys), for the INCR file:
    string overwrites (60 %), hash field updates (20 %) and stream appends (20 %, IDs above
    every entry heavy_commands wrote)."""
    rng = random.Random(seed)
    vals = _values(rng, 1024, 32, 512)
    counts = heavy_layout(nkeys)
    enc = servers.encode
    for c in range(ncmds):
        r = c % 10
        if r < 6 or not counts.get("hash") or not counts.get("stream"):
            yield enc(b"SET", b"hs:%d" % rng.randrange(counts["string"]), vals[c & 1023])
        elif r < 8:
            yield enc(b"HSET", b"hha:%d" % rng.randrange(counts["hash"]),
                      b"field:%d" % rng.randrange(32), vals[c & 1023][:40])
        else:
            yield enc(b"XADD", b"hst:%d" % rng.randrange(counts["stream"]),
                      b"%d-%d" % (STREAM_MS + HEAVY_BIG * 10 + seed, c),
                      *_stream_entry(c, vals))


def large_commands(nkeys, size=64 * 1024, seed=3):
    rng = random.Random(seed)
    blob = bytes(rng.getrandbits(8) for _ in range(size + 1024))
    for i in range(nkeys):
        off = (i * 31) % 1024
        yield servers.encode(b"SET", b"big:%d" % i, blob[off:off + size])


def _pipe(server, commands):
    """Streams commands through redis-cli --pipe (pinned to the client CPU)."""
    def feed(stream):
        chunk = []
        size = 0
        for c in commands:
            chunk.append(c)
            size += len(c)
            if size >= 1 << 20:
                stream.write(b"".join(chunk))
                chunk, size = [], 0
        stream.write(b"".join(chunk))
    out = servers.run_client(server.build, "redis-cli", ["-p", server.port, "--pipe"], stdin=feed)
    if "errors: 0," not in out:
        raise RuntimeError("redis-cli --pipe reported errors while generating a dataset:\n" + out)


def _snapshot(server, dest):
    """Copies the (idle) server's appendonlydir to dest/appendonlydir and fsyncs the copy,
    so no writeback of it is left to land in a measurement."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    shutil.copytree(server.dir / "appendonlydir", dest / "appendonlydir")
    for f in (dest / "appendonlydir").iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    return dest


def _rewrite(server, preamble):
    servers.call(server, "CONFIG", "SET", "aof-use-rdb-preamble", preamble)
    servers.bgrewrite(server)


def resp_only(path):
    """True when no file of the dataset's appendonlydir starts with an RDB header: every
    BASE and INCR is RESP, which the peer (Valkey) reads."""
    for f in (path / "appendonlydir").iterdir():
        if not f.name.endswith("manifest"):
            with open(f, "rb") as fh:
                if fh.read(5) == b"REDIS":
                    return False
    return True


def describe(path):
    files = sorted((path / "appendonlydir").iterdir())
    return ", ".join("%s %.1f MiB" % (f.name.split(".", 2)[-1], f.stat().st_size / 2**20)
                     for f in files if not f.name.endswith("manifest"))


def stage(dataset, datadir, writable):
    """Puts the dataset's AOF files into datadir/appendonlydir (replacing what is there).

    Files are hard links to the dataset, so every run of both builds reads the very same
    bytes from the page cache. writable: copy the manifest and the INCR files instead,
    for a server that starts on the dataset (it opens the last INCR file for appending)."""
    src = dataset["path"] / "appendonlydir"
    dest = Path(datadir) / "appendonlydir"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for f in src.iterdir():
        if writable and ".base." not in f.name:
            shutil.copy2(f, dest / f.name)
        else:
            os.link(f, dest / f.name)


def fingerprint(datasets):
    """(name, size, mtime) of every dataset file: main.py checks it is unchanged after each
    task, so a server writing into a linked file could not go unnoticed."""
    return sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns)
                  for d in datasets.values() for f in (d["path"] / "appendonlydir").iterdir())


@contextmanager
def _generator(stock, workdir):
    """A stock server writing an AOF (fsync policy no) to generate a dataset from; killed and
    deleted afterwards (the dataset is a copy of its files)."""
    server = servers.start(stock, workdir, {**GEN_CONFIG, "hz": 100})
    try:
        yield server
    finally:
        servers.stop(server)
        shutil.rmtree(workdir, ignore_errors=True)


def generate(stock, workdir, sizes, names):
    """Builds the datasets listed in names with the stock build under workdir.
    sizes: dict with mixed_keys, incr_base_keys, incr_cmds, large_keys, heavy_keys.
    Returns {name: {"name", "path": Path, "keys": int, "files": str, "resp_only": bool}}
    (and "strings", the number of string keys, for the heavy datasets)."""
    workdir = Path(workdir)
    out = {}
    if {"resp", "rdb-base"} & set(names):
        with _generator(stock, workdir / "gen-mixed") as s:
            _pipe(s, mixed_commands(sizes["mixed_keys"]))
            keys = servers.call(s, "DBSIZE")
            _rewrite(s, "no")
            out["resp"] = _snapshot(s, workdir / "resp"), keys
            _rewrite(s, "yes")
            out["rdb-base"] = _snapshot(s, workdir / "rdb-base"), keys
    if {"sets", "sets-rdb"} & set(names):
        with _generator(stock, workdir / "gen-sets") as s:
            _pipe(s, set_commands(sizes["set_keys"]))
            out["sets"] = _snapshot(s, workdir / "sets"), servers.call(s, "DBSIZE")
            if "sets-rdb" in names:
                # The default configuration's files: a default-form rewrite, then writes.
                _rewrite(s, "yes")
                _pipe(s, set_commands(max(sizes["set_keys"] // 100, 1), seed=5))
                out["sets-rdb"] = _snapshot(s, workdir / "sets-rdb"), servers.call(s, "DBSIZE")
    if "rdb-incr" in names:
        with _generator(stock, workdir / "gen-incr") as s:
            _pipe(s, mixed_commands(sizes["incr_base_keys"]))
            _rewrite(s, "yes")
            _pipe(s, incr_commands(sizes["incr_base_keys"], sizes["incr_cmds"]))
            out["rdb-incr"] = _snapshot(s, workdir / "rdb-incr"), servers.call(s, "DBSIZE")
    if {"heavy", "heavy-resp"} & set(names):
        # Keys, a command-form rewrite, later writes (the INCR): heavy-resp. Then a rewrite
        # in the default form (RDB preamble) and later writes again: heavy.
        tail = max(sizes["heavy_keys"] // 20, 1)
        with _generator(stock, workdir / "gen-heavy") as s:
            _pipe(s, heavy_commands(sizes["heavy_keys"]))
            _rewrite(s, "no")
            _pipe(s, heavy_tail_commands(sizes["heavy_keys"], tail, seed=6))
            keys = servers.call(s, "DBSIZE")
            out["heavy-resp"] = _snapshot(s, workdir / "heavy-resp"), keys
            if "heavy" in names:
                _rewrite(s, "yes")
                _pipe(s, heavy_tail_commands(sizes["heavy_keys"], tail, seed=7))
                out["heavy"] = _snapshot(s, workdir / "heavy"), servers.call(s, "DBSIZE")
    if "large" in names:
        with _generator(stock, workdir / "gen-large") as s:
            _pipe(s, large_commands(sizes["large_keys"]))
            out["large"] = _snapshot(s, workdir / "large"), servers.call(s, "DBSIZE")
    made = {name: {"name": name, "path": p, "keys": k, "files": describe(p),
                   "resp_only": resp_only(p)}
            for name, (p, k) in out.items() if name in names}
    for name in ("heavy", "heavy-resp"):
        if name in made:  # the string keys hs:0 .. hs:<strings-1> (rewrite-load writes them)
            made[name]["strings"] = heavy_layout(sizes["heavy_keys"])["string"]
    return made

"""Part 4: corrupt input.

A generated corpus of damaged AOF directories (deterministic for a given seed) is loaded by
both builds: `redis-server --appendonly yes --aof-load-truncated yes` on a fresh copy of
each input. Outcomes:
  loaded   the server answered PING; DEBUG DIGEST recorded
  refused  the server exited with a status; the status and the last '#' log line recorded
  signal   the server died by a signal
  hung     neither within the timeout
Every directory is hashed before and after.

Checks (issue #4 and #5):
  - the patched build never dies by a signal, never hangs, and never modifies the files of
    an input it refused, where stock does not do the same (if stock does, the patched
    build reproduced an upstream flaw: a note, listed, not our failure);
  - where stock does not crash, both builds reach the same outcome: the same digest, or a
    refusal with the same exit status and last log line; every disagreement is listed and
    its input kept under WORKDIR/corpus/kept/NAME/data (a redis `dir`) for reproduction;
  - where they agree, the files are left in the same state (RDB files a build created
    are compared by name only: they hold a timestamp);
  - the patched build runs every input a second time with its loading thread off
    (REDIS_AOF_LOAD_THREAD=no): the same outcome and the same files left (issue #20);
  - one sequel: a transaction cut inside a command, appended to, reloaded (torn_multi).
Every input's outcome on both builds is written to WORKDIR/corpus/outcomes.tsv.

Seeds: "resp" (a RESP BASE + INCR written here), "rdb" (an RDB-preamble BASE and an INCR
produced by the stock server itself), "multi" (BASE + two INCR files), "legacy" (a single
pre-7.0 appendonly.aof in `dir`). Damage: truncation at many offsets, flipped bytes,
negative/huge/garbage `*` and `$` counts, missing CR/LF, binary garbage, well-formed
records no client could send, and damaged manifests (unknown keys, duplicate base, missing
or bad seq, bad type, over-long lines, names of missing files, paths, quoting, empty...).
"""

import concurrent.futures
import os
import random
import shutil
import time

from redistest.files import dir_hash
from redistest.resp import encode
from redistest.server import Server

AOFDIR = "appendonlydir"
MANIFEST = AOFDIR + "/appendonly.aof.manifest"
FAR = 4102444800  # 2100-01-01


def _commands(rnd, n, prefix):
    cmds = []
    for i in range(n):
        r = rnd.random()
        if r < 0.3:
            cmds.append(("SET", "%s:s:%d" % (prefix, i), "v%d" % rnd.randrange(10**6)))
        elif r < 0.45:
            cmds.append(("RPUSH", "%s:l" % prefix, *["e%d" % rnd.randrange(1000) for _ in range(3)]))
        elif r < 0.55:
            cmds.append(("HSET", "%s:h" % prefix, "f%d" % i, "x" * rnd.randrange(1, 40)))
        elif r < 0.65:
            cmds.append(("SADD", "%s:set" % prefix, rnd.randrange(100)))
        elif r < 0.72:
            cmds.append(("ZADD", "%s:z" % prefix, rnd.randrange(100), "m%d" % i))
        elif r < 0.8:
            cmds.append(("INCRBY", "%s:n" % prefix, rnd.randrange(1, 9)))
        elif r < 0.88:
            cmds.append(("MULTI",))
            cmds.append(("INCR", "%s:txa" % prefix))
            cmds.append(("INCR", "%s:txb" % prefix))
            cmds.append(("EXEC",))
        elif r < 0.93:
            cmds.append(("SET", "%s:bin:%d" % (prefix, i), bytes(rnd.randrange(256) for _ in range(20))))
        elif r < 0.97:
            cmds.append(("EXPIREAT", "%s:s:%d" % (prefix, max(0, i - 1)), FAR))
        else:
            cmds.append(("SELECT", rnd.choice((0, 1, 0))))
    cmds.append(("SELECT", 0))
    return b"".join(encode(*c) for c in cmds)


def manifest(*entries):
    return b"".join(b"file %s seq %d type %s\n" % (n.encode(), s, t.encode()) for n, s, t in entries)


def seeds(stock_bin, workdir, rnd):
    """{seed name: {relative path: bytes}}"""
    out = {}
    base = _commands(rnd, 120, "b")
    incr = _commands(rnd, 80, "i")
    out["resp"] = {
        MANIFEST: manifest(("appendonly.aof.1.base.aof", 1, "b"), ("appendonly.aof.1.incr.aof", 1, "i")),
        AOFDIR + "/appendonly.aof.1.base.aof": base,
        AOFDIR + "/appendonly.aof.1.incr.aof": incr,
    }
    incr2 = _commands(rnd, 40, "j")
    out["multi"] = {
        MANIFEST: manifest(("appendonly.aof.1.base.aof", 1, "b"), ("appendonly.aof.1.incr.aof", 1, "i"),
                           ("appendonly.aof.2.incr.aof", 2, "i")),
        AOFDIR + "/appendonly.aof.1.base.aof": base,
        AOFDIR + "/appendonly.aof.1.incr.aof": incr,
        AOFDIR + "/appendonly.aof.2.incr.aof": incr2,
    }
    out["legacy"] = {"appendonly.aof": base + incr}
    out["rdb"] = _rdb_seed(stock_bin, workdir, rnd)
    return out


def _rdb_seed(stock_bin, workdir, rnd):
    """An RDB-preamble BASE and an INCR written by the stock server."""
    d = os.path.join(workdir, "corpus", "rdbseed", "data")
    shutil.rmtree(os.path.dirname(d), ignore_errors=True)
    os.makedirs(d)
    srv = Server(stock_bin, d, {"aof-use-rdb-preamble": "yes", "appendfsync": "always"},
                 logfile=os.path.join(os.path.dirname(d), "redis.log")).start()
    try:
        if srv.wait_ready(30) != "ready":
            raise RuntimeError("stock server did not start for the rdb seed: " + srv.last_warning())
        with srv.client() as c:
            for i in range(60):
                c.call("SET", "r:s:%d" % i, "value-%d" % i)
            c.call("RPUSH", "r:l", *range(50))
            c.call("HSET", "r:h", *[x for i in range(20) for x in ("f%d" % i, "v%d" % i)])
            c.call("ZADD", "r:z", *[x for i in range(20) for x in (i, "m%d" % i)])
            c.call("SADD", "r:set", *range(30))
            c.call("XADD", "r:x", "1-1", "a", "1")
            c.call("BGREWRITEAOF")
            c.wait_rewrite(30)
            time.sleep(0.3)
            for i in range(30):
                c.call("SET", "r:after:%d" % i, i)
            c.call("MULTI")
            c.call("INCR", "r:txa")
            c.call("INCR", "r:txb")
            c.call("EXEC")
            c.call("RPUSH", "r:l", "tail")
    finally:
        srv.stop()
    files = {}
    aof = os.path.join(d, AOFDIR)
    for n in os.listdir(aof):
        with open(os.path.join(aof, n), "rb") as f:
            files[AOFDIR + "/" + n] = f.read()
    return files


def _find(files, suffix):
    for k in sorted(files):
        if k.endswith(suffix):
            return k
    return None


def _with(files, path, data):
    f = dict(files)
    if data is None:
        f.pop(path, None)
    else:
        f[path] = data
    return f


def _headers(data, kind):
    """Offsets of the '*' (kind b'*') or '$' (b'$') header lines of a RESP file."""
    out, i = [], 0
    while True:
        j = data.find(b"\r\n", i)
        if j == -1:
            break
        if data[i:i + 1] == kind:
            out.append((i, j))
        if data[i:i + 1] == b"$":
            try:
                n = int(data[i + 1:j])
                i = j + 2 + n + 2
                continue
            except ValueError:
                pass
        i = j + 2
    return out


def cases(sd, rnd, long_mode):
    """A list of (name, files). `long_mode` gives a few hundred inputs, else about 60."""
    out = []
    resp_s, rdb_s, multi_s = sd["resp"], sd["rdb"], sd["multi"]
    r_incr = _find(resp_s, ".incr.aof")
    r_base = _find(resp_s, ".base.aof")
    d_base = _find(rdb_s, ".base.rdb")
    d_incr = _find(rdb_s, ".incr.aof")
    m_incr1 = AOFDIR + "/appendonly.aof.1.incr.aof"

    out.append(("seed-resp", resp_s))
    out.append(("seed-rdb", rdb_s))
    out.append(("seed-multi", multi_s))
    out.append(("seed-legacy", sd["legacy"]))

    # Truncation at many offsets.
    def offsets(n, count, extra=()):
        if long_mode:
            count *= 6
        pts = set(extra) | {0, 1, n - 1, n - 2}
        pts |= {rnd.randrange(1, n) for _ in range(count)}
        return sorted(p for p in pts if 0 <= p < n)
    data = resp_s[r_incr]
    # Inside a transaction: just after MULTI's record, before EXEC.
    m = data.find(encode(b"MULTI"))
    extra = (m + len(encode(b"MULTI")) + 3,) if m >= 0 else ()
    for off in offsets(len(data), 6, extra):
        out.append(("trunc-resp-incr@%d" % off, _with(resp_s, r_incr, data[:off])))
    for off in offsets(len(resp_s[r_base]), 2):
        out.append(("trunc-resp-base@%d" % off, _with(resp_s, r_base, resp_s[r_base][:off])))
    if d_base:
        for off in offsets(len(rdb_s[d_base]), 3):
            out.append(("trunc-rdb-base@%d" % off, _with(rdb_s, d_base, rdb_s[d_base][:off])))
    for off in offsets(len(multi_s[m_incr1]), 1):
        out.append(("trunc-multi-incr1@%d" % off, _with(multi_s, m_incr1, multi_s[m_incr1][:off])))
    leg = sd["legacy"]["appendonly.aof"]
    for off in offsets(len(leg), 1):
        out.append(("trunc-legacy@%d" % off, {"appendonly.aof": leg[:off]}))

    # Flipped bytes.
    def flips(files, path, count, tag):
        d = files[path]
        for _ in range(count * (6 if long_mode else 1)):
            pos = rnd.randrange(len(d))
            mask = rnd.choice((0x01, 0x80, 0xff, 0x20, 0x0d ^ 0x0a))
            nd = d[:pos] + bytes([d[pos] ^ mask]) + d[pos + 1:]
            out.append(("flip-%s@%d^%02x" % (tag, pos, mask), _with(files, path, nd)))
    flips(resp_s, r_incr, 4, "resp-incr")
    flips(resp_s, r_base, 1, "resp-base")
    if d_base:
        flips(rdb_s, d_base, 3, "rdb-base")
    if d_incr and rdb_s[d_incr]:
        flips(rdb_s, d_incr, 1, "rdb-incr")

    # Negative, huge and garbage counts.
    stars = _headers(data, b"*")
    dollars = _headers(data, b"$")
    star_vals = [b"-1", b"0", b"-2147483648", b"999999999", b"2147483648", b"99999999999999999999",
                 b"abc", b"", b" 3", b"3x"]
    dollar_vals = [b"-1", b"-5", b"0", b"999999999", b"2147483648", b"99999999999999999999",
                   b"-99999999999999999999", b"abc", b"", b"+3"]
    picks = 1 if not long_mode else 3
    for v in star_vals:
        for (i, j) in rnd.sample(stars, min(picks, len(stars))):
            out.append(("count-star=%s@%d" % (v.decode() or "empty", i),
                        _with(resp_s, r_incr, data[:i + 1] + v + data[j:])))
    for v in dollar_vals:
        for (i, j) in rnd.sample(dollars, min(picks, len(dollars))):
            out.append(("count-dollar=%s@%d" % (v.decode() or "empty", i),
                        _with(resp_s, r_incr, data[:i + 1] + v + data[j:])))
    # A huge count in the first record of the legacy file and of the base.
    out.append(("count-dollar=-5-base@first", _with(resp_s, r_base, resp_s[r_base].replace(b"$3\r\n", b"$-5\r\n", 1))))

    # Missing CRLF.
    crlfs = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\r\n"]
    for tag, fn in (("no-crlf", lambda d, i: d[:i] + d[i + 2:]),
                    ("lf-only", lambda d, i: d[:i] + d[i + 1:]),
                    ("cr-only", lambda d, i: d[:i + 1] + d[i + 2:]),
                    ("crlf-swapped", lambda d, i: d[:i] + b"\n\r" + d[i + 2:])):
        for i in rnd.sample(crlfs, 2 if not long_mode else 8):
            out.append(("%s@%d" % (tag, i), _with(resp_s, r_incr, fn(data, i))))
    # Every CRLF of the incr as a bare LF.
    out.append(("lf-only@all", _with(resp_s, r_incr, data.replace(b"\r\n", b"\n"))))

    # Binary garbage.
    def garbage(n):
        return bytes(rnd.randrange(256) for _ in range(n))
    out.append(("garbage-incr-whole", _with(resp_s, r_incr, garbage(600))))
    out.append(("garbage-incr-appended", _with(resp_s, r_incr, data + garbage(64))))
    pos = rnd.randrange(len(data))
    out.append(("garbage-incr-inserted@%d" % pos, _with(resp_s, r_incr, data[:pos] + garbage(32) + data[pos:])))
    out.append(("garbage-base-whole", _with(resp_s, r_base, garbage(900))))
    out.append(("garbage-star-prefix", _with(resp_s, r_incr, b"*" + garbage(40) + data)))
    out.append(("nul-bytes-incr", _with(resp_s, r_incr, b"\0" * 200)))
    out.append(("annotation-overlong", _with(resp_s, r_incr, b"#" + b"a" * 5000 + b"\r\n" + data)))
    out.append(("unknown-command", _with(resp_s, r_incr, encode(b"NOSUCHCOMMAND", b"x") + data)))
    # Well-formed records a client could never have sent: wrong arity, bad arguments.
    for tag, cmd in (("set", (b"SET", b"onlykey")), ("incr", (b"INCR",)),
                     ("rpush", (b"RPUSH", b"k")), ("hset", (b"HSET", b"h", b"f")),
                     ("expire", (b"EXPIRE", b"k")), ("zadd", (b"ZADD", b"z", b"notanumber", b"m"))):
        out.append(("wrong-arity-%s" % tag, _with(resp_s, r_incr, encode(*cmd) + data)))
    out.append(("select-out-of-range", _with(resp_s, r_incr, encode(b"SELECT", b"99999") + data)))
    out.append(("blocking-command", _with(resp_s, r_incr, encode(b"BLPOP", b"nolist", b"0") + data)))
    out.append(("eval-error", _with(resp_s, r_incr, encode(b"EVAL", b"error('x')", b"0") + data)))
    out.append(("multi-without-exec", _with(resp_s, r_incr, data + encode(b"MULTI") + encode(b"SET", b"k", b"v"))))
    out.append(("exec-without-multi", _with(resp_s, r_incr, encode(b"EXEC") + data)))
    out.append(("nested-multi", _with(resp_s, r_incr, encode(b"MULTI") + encode(b"MULTI") + encode(b"EXEC") + data)))
    if d_base:
        out.append(("garbage-rdb-base", _with(rdb_s, d_base, b"REDIS0012" + garbage(300))))
        out.append(("rdb-base-bad-checksum", _with(rdb_s, d_base, rdb_s[d_base][:-8] + b"\x01" * 8)))
        if long_mode:
            for _ in range(10):
                p = rnd.randrange(9, len(rdb_s[d_base]))
                out.append(("garbage-rdb-base@%d" % p,
                            _with(rdb_s, d_base, rdb_s[d_base][:p] + garbage(16) + rdb_s[d_base][p + 16:])))
    out.append(("empty-incr", _with(resp_s, r_incr, b"")))
    out.append(("empty-base", _with(resp_s, r_base, b"")))
    out.append(("empty-all", _with(_with(resp_s, r_incr, b""), r_base, b"")))

    # Damaged manifests.
    B, I = "appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof"
    good = "file %s seq 1 type b\nfile %s seq 1 type i\n" % (B, I)
    mans = {
        "unknown-key": "file %s seq 1 type b foo bar\nfile %s seq 1 type i\n" % (B, I),
        "unknown-key-odd": "file %s seq 1 type b foo\nfile %s seq 1 type i\n" % (B, I),
        "duplicate-base": "file %s seq 1 type b\nfile %s seq 1 type b\nfile %s seq 1 type i\n" % (B, B, I),
        "missing-seq": "file %s type b x y\nfile %s seq 1 type i\n" % (B, I),
        "seq-zero": "file %s seq 0 type b\nfile %s seq 1 type i\n" % (B, I),
        "seq-negative": "file %s seq 1 type b\nfile %s seq -1 type i\n" % (B, I),
        "seq-garbage": "file %s seq 1 type b\nfile %s seq abc type i\n" % (B, I),
        "seq-huge": "file %s seq 1 type b\nfile %s seq 99999999999999999999999 type i\n" % (B, I),
        "seq-non-monotonic": "file %s seq 1 type b\nfile %s seq 2 type i\nfile %s seq 1 type i\n" % (B, I, I),
        "type-unknown": "file %s seq 1 type b\nfile %s seq 1 type x\n" % (B, I),
        "type-missing": "file %s seq 1 type b\nfile %s seq 1 foo i\n" % (B, I),
        "type-empty": "file %s seq 1 type b\nfile %s seq 1 type \"\"\n" % (B, I),
        "name-missing-file-incr": "file %s seq 1 type b\nfile appendonly.aof.9.incr.aof seq 9 type i\n" % B,
        "name-missing-file-base": "file appendonly.aof.9.base.aof seq 9 type b\nfile %s seq 1 type i\n" % I,
        "name-missing-history": good + "file appendonly.aof.0.incr.aof seq 0 type h\n",
        "name-path": "file ../%s seq 1 type b\nfile %s seq 1 type i\n" % (B, I),
        "name-absolute": "file /etc/passwd seq 1 type b\nfile %s seq 1 type i\n" % I,
        "name-quoted-space": "file \"a b.aof\" seq 1 type b\nfile %s seq 1 type i\n" % I,
        "name-unterminated-quote": "file \"%s seq 1 type b\nfile %s seq 1 type i\n" % (B, I),
        "name-empty": "file \"\" seq 1 type b\nfile %s seq 1 type i\n" % I,
        "over-long-line": "file %s seq 1 type b %s\nfile %s seq 1 type i\n" % (B, "k v " * 400, I),
        "over-long-name": "file %s seq 1 type b\nfile %s.aof seq 1 type i\n" % (B, "n" * 3000),
        "no-trailing-newline": good.rstrip("\n"),
        "crlf-lines": good.replace("\n", "\r\n"),
        "blank-line": "file %s seq 1 type b\n\nfile %s seq 1 type i\n" % (B, I),
        "comment-only": "# nothing here\n",
        "comments-and-entries": "# header\n" + good + "# trailer\n",
        "empty": "",
        "only-history": "file %s seq 1 type h\nfile %s seq 1 type h\n" % (B, I),
        "incr-only": "file %s seq 1 type i\n" % I,
        "base-after-incr": "file %s seq 1 type i\nfile %s seq 1 type b\n" % (I, B),
        "truncated-mid-line": good[:len(good) - 12],
        "keys-uppercase": good.upper().replace("APPENDONLY.AOF.1.BASE.AOF", B)
                          .replace("APPENDONLY.AOF.1.INCR.AOF", I),
        "startoffset-garbage": "file %s seq 1 type b\nfile %s seq 1 type i startoffset x endoffset -7\n" % (B, I),
        "tab-separated": good.replace(" ", "\t"),
        "binary-garbage": None,
        "no-manifest": False,
    }
    for tag, text in mans.items():
        if text is None:
            body = bytes(rnd.randrange(256) for _ in range(200))
        elif text is False:
            out.append(("manifest-%s" % tag, _with(resp_s, MANIFEST, None)))
            continue
        else:
            body = text.encode()
        out.append(("manifest-%s" % tag, _with(resp_s, MANIFEST, body)))
    return out


def _materialize(files, d):
    os.makedirs(os.path.join(d, AOFDIR), exist_ok=True)
    for rel, data in files.items():
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    if not any(k.startswith(AOFDIR + "/") for k in files):
        os.rmdir(os.path.join(d, AOFDIR))


def run_one(server_bin, files, d, timeout, env=None):
    shutil.rmtree(d, ignore_errors=True)
    data = os.path.join(d, "data")
    os.makedirs(data)
    _materialize(files, data)
    before = dir_hash(data)
    srv = Server(server_bin, data, {"appendfsync": "everysec", "aof-load-truncated": "yes"},
                 logfile=os.path.join(d, "redis.log"), env=env).start()
    res = {}
    try:
        st = srv.wait_ready(timeout)
        if st == "ready":
            res["outcome"] = "loaded"
            try:
                with srv.client(timeout=timeout) as c:
                    res["digest"] = c.call("DEBUG", "DIGEST")
                    res["keys"] = c.call("DBSIZE")
            except Exception as e:
                res["digest"] = "error: %s" % e
        elif st == "exited":
            rc = srv.proc.returncode
            if rc < 0:
                res["outcome"] = "signal"
                res["signal"] = -rc
                res["message"] = srv.crash_summary() or srv.last_warning()
            else:
                res["outcome"] = "refused"
                res["exit"] = rc
                res["message"] = srv.last_warning()
        else:
            res["outcome"] = "hung"
            res["message"] = srv.last_warning()
    finally:
        srv.stop()
    after = dir_hash(data)
    res["after"] = _comparable(after, before, data)
    res["modified"] = sorted(set(before.items()) ^ set(after.items()))
    res["modified_paths"] = sorted({p for p, _ in res["modified"]})
    # Messages may name files by absolute path; each run has its own directory.
    if "message" in res:
        res["message"] = res["message"].replace(os.path.realpath(data), "<dir>").replace(data, "<dir>")
    return res


def _comparable(hashes, before, data):
    """The files left behind, in a form two builds can be compared on: an RDB file a build
    created (a BASE written on start when there is no AOF) holds its creation time and
    memory use, so only its name counts."""
    out = {}
    for rel, h in hashes.items():
        if rel in before:
            out[rel] = h
            continue
        try:
            with open(os.path.join(data, rel), "rb") as f:
                rdb = f.read(5) == b"REDIS"
        except OSError:
            rdb = False
        out[rel] = "an RDB file" if rdb else h
    return out


# The patched build again, with its pipelined loader's reading thread switched off.
ONE_THREAD = "patched-one-thread"
ONE_THREAD_ENV = {"REDIS_AOF_LOAD_THREAD": "no"}

# The patched build's refusal of a command with the wrong number of arguments.
WRONG_ARITY_LINE = "Wrong number of arguments for command"
# Corpus records named wrong-arity-* whose argument count is in fact valid (bad values).
ARITY_CORRECT = {"wrong-arity-zadd"}


def key(res):
    """What must be equal for two builds to have reached the same outcome (issue #5): the
    loaded dataset's digest, or the refusal with its exit status and log line."""
    if res["outcome"] == "loaded":
        return ("loaded", res.get("digest"))
    if res["outcome"] == "refused":
        return ("refused", res.get("exit"), res.get("message"))
    if res["outcome"] == "signal":
        return ("signal", res.get("signal"))
    return (res["outcome"],)


def describe(res):
    o = res["outcome"]
    if o == "loaded":
        d = res.get("digest")
        d = d.decode() if isinstance(d, bytes) else str(d)
        return "loaded (digest %s, %s keys)" % (d[:12], res.get("keys"))
    if o == "refused":
        return "refused (exit %s: %r)" % (res.get("exit"), res.get("message", "")[:160])
    if o == "signal":
        return "died by signal %s (%r)" % (res.get("signal"), res.get("message", "")[:160])
    return "hung (%r)" % res.get("message", "")[:160]


def torn_multi(server_bin, d, timeout):
    """A sequel the one-shot corpus cannot show: an INCR file cut inside a command of a
    MULTI block. Upstream truncates it after the last complete command, which is inside
    the MULTI, so the file ends with a dangling MULTI; the server appends a complete
    transaction to it, and the next load runs the dangling INCR with it. Returns what a
    client sees after each step."""
    shutil.rmtree(d, ignore_errors=True)
    data = os.path.join(d, "data")
    incr = encode("SELECT", 0) + encode("MULTI") + encode("INCR", "a") + encode("INCR", "b")
    _materialize({
        MANIFEST: manifest(("appendonly.aof.1.base.aof", 1, "b"), ("appendonly.aof.1.incr.aof", 1, "i")),
        AOFDIR + "/appendonly.aof.1.base.aof": encode("SET", "x", "1"),
        AOFDIR + "/appendonly.aof.1.incr.aof": incr[:-5],
    }, data)
    steps = []
    for life in range(2):
        srv = Server(server_bin, data, {"appendfsync": "always", "aof-load-truncated": "yes"},
                     logfile=os.path.join(d, "redis.log")).start()
        try:
            st = srv.wait_ready(timeout)
            if st != "ready":
                steps.append("start %d: %s (%s)" % (life + 1, st, srv.last_warning()))
                break
            with srv.client(timeout=timeout) as c:
                a, b = c.call("MGET", "a", "b")
                steps.append("load %d: a=%s b=%s" % (life + 1, (a or b"-").decode(), (b or b"-").decode()))
                if life == 0:
                    c.pipeline([("MULTI",), ("INCR", "a"), ("INCR", "b"), ("EXEC",)])
        finally:
            srv.stop()
    return steps


def run(ledger, builds, workdir, long_mode, seed, timeout, log=print):
    sec = "corpus"
    rnd = random.Random(seed)
    base = os.path.join(workdir, "corpus")
    sd = seeds(builds["stock"], workdir, rnd)
    inputs = cases(sd, rnd, long_mode)
    names = [n for n, _ in inputs]
    assert len(names) == len(set(names)), "duplicate case names"
    # The patched build loads with its reading thread (the default); ONE_THREAD runs it
    # again without, and every outcome must be the same (issue #20).
    runs = dict(builds)
    runs[ONE_THREAD] = builds["patched"]
    jobs = [(i, name, files, b, bin_) for i, (name, files) in enumerate(inputs)
            for b, bin_ in runs.items()]
    results = {}

    def work(job):
        i, name, files, b, bin_ = job
        slot = "%s-%04d" % (b, i)
        env = ONE_THREAD_ENV if b == ONE_THREAD else None
        return name, b, run_one(bin_, files, os.path.join(base, "runs", slot), timeout, env)

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        for name, b, res in ex.map(work, jobs):
            results[(name, b)] = res
    elapsed = time.time() - t0
    files_of = dict(inputs)
    keep = os.path.join(base, "kept")
    shutil.rmtree(keep, ignore_errors=True)

    def kept(name):
        """The input, materialized again for reproduction: DIR/data is a redis `dir`."""
        d = os.path.join(keep, name.replace("/", "_"))
        if not os.path.exists(d):
            _materialize(files_of[name], os.path.join(d, "data"))
        return d

    # Every input's outcome on both builds, for a reader who wants more than the summary
    # (kept with the scratch dir when something fails).
    with open(os.path.join(base, "outcomes.tsv"), "w") as f:
        f.write("input\trun dir (runs/BUILD-N)\tstock\tpatched\tpatched, one thread\n")
        for i, name in enumerate(names):
            f.write("%s\t%04d\t%s\n" % (name, i, "\t".join(
                describe(results[(name, b)]) if (name, b) in results else "-"
                for b in ("stock", "patched", ONE_THREAD))))

    counts = {b: {} for b in runs}
    for (name, b), res in results.items():
        counts[b][res["outcome"]] = counts[b].get(res["outcome"], 0) + 1

    S, P = "stock", "patched"
    both = [n for n in names if (n, S) in results and (n, P) in results]
    st = {n: results[(n, S)] for n in both}
    pt = {n: results[(n, P)] for n in both}

    # Issue #4: the patched build never dies by a signal. Where stock dies on the same
    # input too, the patched build reproduced an upstream crash: a note, not our failure.
    crashed_alone = [n for n in both if pt[n]["outcome"] == "signal" and st[n]["outcome"] != "signal"]
    crashed_too = [n for n in both if pt[n]["outcome"] == "signal" and st[n]["outcome"] == "signal"]
    hung_alone = [n for n in both if pt[n]["outcome"] == "hung" and st[n]["outcome"] != "hung"]
    # ... and never modifies the files of an input it refused, even where upstream does
    # (upstream truncates a short non-last INCR file before refusing it; the patched build
    # leaves it whole). mod_too stays as a figure: refusals where both changed the files.
    refused = ("refused", "signal", "hung")
    mod_alone = [n for n in both if pt[n]["outcome"] in refused and pt[n]["modified"]]
    mod_too = [n for n in mod_alone if st[n]["outcome"] in refused and st[n]["modified"]]
    kept_whole = [n for n in both if pt[n]["outcome"] in refused and not pt[n]["modified"]
                  and st[n]["outcome"] in refused and st[n]["modified"]]
    # Issue #5: where stock does not crash, the same outcome (digest, or refusal with the
    # same log line), and the files left in the same state.
    # Deliberately better than upstream: a record with the wrong number of arguments is
    # refused with a line naming the command (upstream runs it, and the command reads past
    # its argument vector: a crash, or a value made of stale memory). Those inputs are
    # checked on their own below, not counted as disagreements.
    improved = [n for n in both if pt[n]["outcome"] == "refused"
                and WRONG_ARITY_LINE in (pt[n].get("message") or "")]
    disagree = [n for n in both if st[n]["outcome"] != "signal" and key(st[n]) != key(pt[n])
                and n not in improved]
    files_differ = [n for n in both if st[n]["outcome"] != "signal" and n not in disagree
                    and st[n]["after"] != pt[n]["after"] and n not in kept_whole]

    ledger.check(sec, "every input ran on both builds (%d inputs)" % len(names),
                 len(both) == len(names), "%d of %d" % (len(both), len(names)))
    ledger.check(sec, "patched never died by a signal where stock did not",
                 not crashed_alone, "; ".join("%s: %s (stock: %s)" % (n, describe(pt[n]), describe(st[n]))
                                              for n in crashed_alone[:5]))
    ledger.check(sec, "patched never hung where stock did not", not hung_alone,
                 ", ".join(hung_alone[:10]))
    for n in kept_whole:
        ledger.note(sec, "refused %s and left its files whole, where stock changed %s before "
                         "refusing" % (n, ", ".join(st[n]["modified_paths"])))
    ledger.check(sec, "patched never modified the files of an input it refused (%d refusals "
                      "where stock changed the files first)" % len(kept_whole), not mod_alone,
                 "; ".join("%s: %s changed" % (n, ", ".join(pt[n]["modified_paths"])) for n in mod_alone[:6]))
    ledger.check(sec, "where stock does not crash, patched reaches the same outcome "
                      "(%d inputs compared, %d disagree)" % (len(both) - sum(
                          1 for n in both if st[n]["outcome"] == "signal"), len(disagree)),
                 not disagree, "; ".join(disagree[:12]))
    # The reading thread changes nothing a user sees: the same outcome (digest, or exit
    # status and log line) and the same files left, input by input.
    one = {n: results[(n, ONE_THREAD)] for n in names if (n, ONE_THREAD) in results}
    thread_differs = [n for n in both if n not in one or key(one[n]) != key(pt[n])
                      or one[n]["after"] != pt[n]["after"]]
    ledger.check(sec, "the patched build reaches the same outcome and leaves the same files with "
                      "its loading thread on and off (%d inputs)" % len(both), not thread_differs,
                 "; ".join("%s: on %s | off %s" % (n, describe(pt[n]), describe(one[n]) if n in one else "-")
                           for n in thread_differs[:6]))
    arity_inputs = [n for n in both if n.startswith("wrong-arity-") and n not in ARITY_CORRECT]
    ledger.check(sec, "a record with the wrong number of arguments is refused with a line naming "
                      "the command, files untouched (%d inputs; upstream runs it past its "
                      "argument vector)" % len(arity_inputs),
                 bool(arity_inputs) and all(n in improved and not pt[n]["modified"] for n in arity_inputs),
                 "; ".join("%s: %s" % (n, describe(pt[n])) for n in arity_inputs
                           if n not in improved or pt[n]["modified"]))
    for n in improved:
        ledger.note(sec, "refused a wrong-arity record where stock %s: %s" % (describe(st[n]), n))
    ledger.check(sec, "where both load or refuse alike, the files are left in the same state",
                 not files_differ, ", ".join(files_differ[:10]))

    for n in crashed_too:
        ledger.note(sec, "patched died by a signal where stock died too: %s: patched %s; stock %s; "
                         "input in %s" % (n, describe(pt[n]), describe(st[n]), kept(n)))
    for n in mod_too:
        ledger.note(sec, "patched changed %s of refused input %s, as stock does"
                    % (", ".join(pt[n]["modified_paths"]), n))

    ledger.figure(sec, "inputs", len(names))
    ledger.figure(sec, "corpus wall time (s)", "%.1f" % elapsed)
    for b in builds:
        ledger.figure(sec, "%s outcomes" % b, ", ".join("%s=%d" % kv for kv in sorted(counts[b].items())))
    ledger.figure(sec, "files refused (patched / stock)", "%d / %d" % (
        counts[P].get("refused", 0), counts[S].get("refused", 0)))
    ledger.figure(sec, "stock died by a signal (not compared)", "%d: %s" % (
        sum(1 for n in both if st[n]["outcome"] == "signal"),
        ", ".join(n for n in both if st[n]["outcome"] == "signal") or "none"))
    ledger.figure(sec, "disagreements where stock did not crash", len(disagree))
    for n in disagree:
        ledger.figure(sec, "DISAGREE %s" % n, "stock: %s | patched: %s | input in %s"
                      % (describe(st[n]), describe(pt[n]), kept(n)))
    for n in files_differ:
        ledger.figure(sec, "FILES DIFFER %s" % n, "stock changed %s, patched changed %s | input in %s"
                      % (", ".join(st[n]["modified_paths"]) or "nothing",
                         ", ".join(pt[n]["modified_paths"]) or "nothing", kept(n)))
    for b in builds:
        ledger.summary(sec, "%s: %d inputs: %s" % (b, len(names), ", ".join(
            "%s %d" % (o, counts[b].get(o, 0)) for o in ("loaded", "refused", "signal", "hung"))))
    ledger.summary(sec, "disagreements where stock did not crash: %d; patched crashed alone: %d, "
                        "with stock: %d; refused inputs patched changed: %d (%d like stock); "
                        "refused inputs left whole where stock changed them: %d"
                   % (len(disagree), len(crashed_alone), len(crashed_too), len(mod_alone), len(mod_too),
                      len(kept_whole)))
    torn = {b: torn_multi(bin_, os.path.join(base, "torn-multi-" + b), timeout)
            for b, bin_ in builds.items()}
    ledger.check(sec, "a transaction cut inside a command, then appended to and reloaded: "
                      "patched ends like stock", torn[S] == torn[P],
                 "stock: %s | patched: %s" % ("; ".join(torn[S]), "; ".join(torn[P])))
    if torn[S] == torn[P] and torn[P][-1:] != ["load 2: a=1 b=1"]:
        ledger.note(sec, "upstream quirk, reproduced by the patched build: an INCR file cut inside "
                         "a command of a MULTI block is truncated inside the MULTI; after one more "
                         "MULTI/INCR a/INCR b/EXEC the reload shows %s (a partial transaction)"
                    % "; ".join(torn[P]))
    summary = {"inputs": len(names), "counts": counts, "disagree": len(disagree)}
    return results, summary

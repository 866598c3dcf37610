"""Checksummed AOF ranges (`aof-checksum yes`, issue #31), stock and patched side by side.

    python3 tests/checksum.py STOCK_REDIS_SERVER PATCHED_REDIS_SERVER [--seed N]

What it proves (each check counts; a failing one exits 1 with what it saw):
- CRC64: this file's CRC64 equals the `crc64` stock Redis links, on random input (the CRC
  that ends every `DUMP` payload), and every checksum annotation the patched build wrote in
  this run verifies with it (so the Rust CRC is upstream's on those ranges too).
- off = upstream: with `aof-checksum no` the INCR files are byte-identical to stock's.
- stock reads the files: a directory written with `aof-checksum yes` (random commands in
  several dbs, MULTI/EXEC, `#TS:` annotations, a BGREWRITEAOF that switches INCR files,
  `CONFIG SET aof-checksum no` then `yes` while writing, under `always` and `everysec`)
  loads on stock to the patched build's DEBUG DIGEST, and `redis-check-aof` accepts it;
  the patched build loads it to the same digest on restart and on DEBUG LOADAOF.
- every byte of a small checksummed INCR flipped: the patched build refuses every flip
  before the last range with a line naming the file, the offset and the range (a range
  starting at or before the flip), files untouched, also with
  `aof-load-corrupt-tail-max-size` large; a flip in the last range is a torn tail, cut
  back to the boundary before it (the dataset of the ranges before it); no flip loads any
  other dataset. Stock's outcome for every flip is counted beside it.
- torn tails: zeros and garbage after the last verified range, and a last range cut
  inside a command, load on the patched build with every key of the verified ranges kept
  and the file cut back to the boundary (whatever the corrupt-tail limit says), and are
  refused with `aof-load-truncated no` (files untouched); stock's outcome with its defaults
  is counted beside it.
- a MULTI opened in one range and closed in the next: loads on both builds; with the second
  range torn, the patched build cuts back before the MULTI.
"""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

from redistest.pair import PairServer
from redistest.resp import ReplyError, encode as resp

# ------------------------------------------------------------------------------------------
# Upstream's CRC64 (crc64.c: Jones polynomial, reflected, no final xor).

_POLY = 0x95AC9329AC4BC9B5
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc64(data, crc=0):
    t = _TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA

# The closing lines (crates/aof-core/src/checksum.rs): the long form, still read and
# written for `end`, and the short form the writer puts after each write: `#C`, the CRC64
# in ten base-94 digits (`!` = 0 ... `~` = 93), the length in as few as it needs, LF.
CLOSE_RE = re.compile(rb"^#CRC64 ([0-9a-f]{16}) (0|[1-9][0-9]*)( end)?\r\n$")
SHORT_RE = re.compile(rb"^#C([!-~]{10})(!|[\"-~][!-~]{0,9})\n$")
BEGIN = b"#CRC64 begin\r\n"


def base94(digits):
    value = 0
    for b in digits:
        value = value * 94 + b - 0x21
    return value


def to_base94(value, width=0):
    out = b""
    while value or not out or len(out) < width:
        out = bytes([0x21 + value % 94]) + out
        value //= 94
    return out


def parse_close(line):
    """(crc, length, end) of a closing line of either form, or None."""
    m = CLOSE_RE.match(line)
    if m:
        return int(m.group(1), 16), int(m.group(2)), bool(m.group(3))
    m = SHORT_RE.match(line)
    if m and base94(m.group(1)) < 2**64:
        return base94(m.group(1)), base94(m.group(2)), False
    return None


def lines_of(data):
    """(offset, line) of every line of a RESP AOF, walking commands as the loader does."""
    out = []
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        line = data[pos:nl + 1]
        if line.startswith(b"#"):
            out.append((pos, line))
            pos = nl + 1
            continue
        assert line.startswith(b"*"), (pos, line)
        argc = int(line[1:-2])
        pos = nl + 1
        for _ in range(argc):
            nl = data.find(b"\n", pos)
            n = int(data[pos + 1:nl - 1])
            pos = nl + 1 + n + 2
    return out


def check_annotations(data):
    """Verifies every checksum annotation of a RESP AOF with this file's CRC64: returns the
    numbers of (begin, closing) lines and the ranges' ends."""
    begins = closes = 0
    start = None
    ends = []
    for pos, line in lines_of(data):
        if line == BEGIN:
            begins += 1
            start = pos + len(line)
            continue
        close = parse_close(line)
        if not close:
            continue
        assert start is not None, "a closing line at %d with no range" % pos
        crc, length, end = close
        assert length == pos - start, (pos, length, start)
        assert crc64(data[start:pos]) == crc, "range %d..%d" % (start, pos)
        closes += 1
        ends.append(pos + len(line))
        start = None if end else pos + len(line)
    return begins, closes, ends


def close_line(data):
    """The short closing line of `data`, encoded here independently of the Rust writer."""
    return b"#C" + to_base94(crc64(data), 10) + to_base94(len(data)) + b"\n"


def long_close_line(data, end=False):
    """The long form (`end`, and every closing line of builds before the short form)."""
    return b"#CRC64 %016x %d%s\r\n" % (crc64(data), len(data), b" end" if end else b"")


assert parse_close(close_line(b"123456789")) == (0xE9C6D914C4B8D9CA, 9, False)
assert parse_close(long_close_line(b"x" * 70, True)) == (crc64(b"x" * 70), 70, True)


# ------------------------------------------------------------------------------------------
# Servers.

class Server(PairServer):
    """A PairServer (appendfsync always; statuses and bulk strings as bytes, error replies
    returned as ReplyError) that records whether it loaded: `started` is False when it
    exited instead (it refused its files)."""

    def __init__(self, binary, workdir, *extra):
        super().__init__(binary, workdir, *extra, wait=False)
        try:
            self.wait_loaded(70)
            self.started = True
        except RuntimeError:
            if self.proc.poll() is None:
                raise
            self.started = False

    def info(self, section):
        return self.conn.info(section)

    def wait_rewrite(self):
        return super().wait_rewrite(timeout=20)

    def stop(self):
        return PairServer.stop(self) if self.started else self.wait_exit(30)


def load(binary, workdir, *extra):
    """Starts a server on `workdir`: (digest or None if it did not start, log)."""
    s = Server(binary, workdir, *extra)
    digest = s.call("DEBUG", "DIGEST") if s.started else None
    s.stop()
    return digest, s.log_text()


def aof_dir(workdir):
    return os.path.join(workdir, "appendonlydir")


def incr_files(workdir):
    d = aof_dir(workdir)
    names = sorted((n for n in os.listdir(d) if n.endswith(".incr.aof")),
                   key=lambda n: int(n.split(".")[-3]))
    return [os.path.join(d, n) for n in names]


def snapshot(workdir):
    d = aof_dir(workdir)
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))}


def copy_dir(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    shutil.copytree(aof_dir(src), aof_dir(dst))


# ------------------------------------------------------------------------------------------

class Checks:
    def __init__(self):
        self.passed = 0
        self.notes = []

    def ok(self, cond, what):
        if not cond:
            print("FAIL:", what)
            sys.exit(1)
        self.passed += 1

    def note(self, text):
        self.notes.append(text)
        print("  " + text)


def random_commands(rng, n, dbs=3):
    out = []
    in_multi = False
    for _ in range(n):
        r = rng.random()
        key = "k%d" % rng.randrange(40)
        if r < 0.05:
            out.append(("SELECT", str(rng.randrange(dbs))))
        elif r < 0.1 and not in_multi:
            out.append(("MULTI",))
            in_multi = True
        elif r < 0.15 and in_multi:
            out.append(("EXEC",))
            in_multi = False
        elif r < 0.3:
            out.append(("INCRBY", "n" + key, str(rng.randrange(-9, 10))))
        elif r < 0.45:
            out.append(("RPUSH", "l" + key, *[os.urandom(rng.randrange(1, 30)) for _ in range(3)]))
        elif r < 0.55:
            out.append(("HSET", "h" + key, "f%d" % rng.randrange(9), os.urandom(rng.randrange(50))))
        elif r < 0.6:
            out.append(("DEL", key))
        elif r < 0.63:
            out.append(("SET", "big" + key, os.urandom(rng.randrange(40000, 90000))))
        else:
            out.append(("SET", key, os.urandom(rng.randrange(0, 300))))
    if in_multi:
        out.append(("EXEC",))
    return out


def send_all(server, commands, pipeline):
    """Sends commands in pipelined batches (each batch is one event-loop's writes)."""
    for i in range(0, len(commands), pipeline):
        batch = commands[i:i + pipeline]
        # One write for the whole batch (conn.pipeline sends it at once).
        for reply in server.conn.pipeline(batch):
            if isinstance(reply, ReplyError) and "EXECABORT" not in str(reply):
                raise reply


def check_crc_equals_upstream(checks, stock, tmp, rng):
    d = os.path.join(tmp, "crc")
    os.makedirs(d)
    s = Server(stock, d, "--appendonly", "no")
    n = 0
    for i in range(300):
        value = os.urandom(rng.choice([0, 1, 7, 8, 9, 63, 64, 1000, rng.randrange(5000)]))
        s.call("SET", "v", value)
        dump = s.call("DUMP", "v")
        # DUMP: payload, then the CRC64 (little endian) of everything before it.
        checks.ok(crc64(dump[:-8]) == int.from_bytes(dump[-8:], "little"),
                  "crc64 differs from stock's on a %d-byte value" % len(value))
        n += 1
    s.stop()
    checks.note("CRC64: equal to stock's crc64 (DUMP) on %d random inputs" % n)


def check_off_is_upstream(checks, stock, patched, tmp, rng):
    commands = random_commands(rng, 400)
    files = {}
    for name, binary, extra in (("stock", stock, ()), ("patched", patched, ("--aof-checksum", "no"))):
        d = os.path.join(tmp, "off-" + name)
        os.makedirs(d)
        s = Server(binary, d, "--aof-timestamp-enabled", "no", *extra)
        send_all(s, commands, 7)
        s.call("BGREWRITEAOF")
        s.wait_rewrite()
        send_all(s, commands[:50], 3)
        s.stop()
        files[name] = [open(f, "rb").read() for f in incr_files(d)]
    checks.ok(files["stock"] == files["patched"], "aof-checksum no: INCR files differ from stock's")
    checks.note("off: %d INCR files, %d bytes, byte-identical to stock's"
                % (len(files["stock"]), sum(map(len, files["stock"]))))


def write_checksummed(checks, patched, d, rng, policy):
    """A directory written with aof-checksum yes; returns its digest."""
    os.makedirs(d)
    s = Server(patched, d, "--aof-checksum", "yes", "--appendfsync", policy,
               "--aof-timestamp-enabled", "yes", "--aof-use-rdb-preamble", "no")
    checks.ok(s.call("CONFIG", "GET", "aof-checksum") == [b"aof-checksum", b"yes"], "CONFIG GET")
    checks.ok(s.info("persistence").get("aof_checksum") == "1", "INFO persistence aof_checksum")
    send_all(s, random_commands(rng, 300), 5)
    time.sleep(1.1)  # a #TS: annotation with another second, and the everysec timer
    send_all(s, random_commands(rng, 200), 1)
    s.call("BGREWRITEAOF")
    s.wait_rewrite()
    send_all(s, random_commands(rng, 200), 9)
    s.call("CONFIG", "SET", "aof-checksum", "no")
    checks.ok(s.info("persistence").get("aof_checksum") == "0", "INFO after CONFIG SET no")
    send_all(s, random_commands(rng, 100), 4)
    s.call("CONFIG", "SET", "aof-checksum", "yes")
    send_all(s, random_commands(rng, 150), 3)
    time.sleep(1.1)
    send_all(s, random_commands(rng, 20), 1)
    digest = s.call("DEBUG", "DIGEST")
    checks.ok(s.call("DEBUG", "LOADAOF") == b"OK", "DEBUG LOADAOF")
    checks.ok(s.call("DEBUG", "DIGEST") == digest, "DEBUG LOADAOF changed the dataset")
    s.stop()
    return digest


def check_stock_reads(checks, stock, patched, tmp, rng):
    check_aof = os.path.join(os.path.dirname(stock), "redis-check-aof")
    for policy in ("always", "everysec"):
        d = os.path.join(tmp, "written-" + policy)
        digest = write_checksummed(checks, patched, d, rng, policy)
        incrs = incr_files(d)
        checks.ok(len(incrs) >= 1, "an INCR file")
        data = open(incrs[-1], "rb").read()
        checks.ok(data.startswith(BEGIN), "the INCR a rewrite opened starts a range")
        begins, closes, _ = check_annotations(data)
        checks.ok(begins >= 2 and closes >= 2, "begin/closing lines: %d/%d" % (begins, closes))
        checks.ok(b" end\r\n" in data, "CONFIG SET no closed the range with `end`")
        closing = [l for _, l in lines_of(data) if parse_close(l) and not l.endswith(b" end\r\n")]
        checks.ok(closing and all(SHORT_RE.match(l) for l in closing)
                  and all(len(l) <= 16 for l in closing if parse_close(l)[1] < 94 ** 3),
                  "closing lines are short: at most 16 bytes for a range under 94^3 bytes (%s)"
                  % sorted({len(l) for l in closing}))
        base = [n for n in os.listdir(aof_dir(d)) if ".base." in n][0]
        base_data = open(os.path.join(aof_dir(d), base), "rb").read()
        b_begins, b_closes, _ = check_annotations(base_data)
        checks.ok(b_begins == 1 and b_closes >= 1 and base_data.startswith(BEGIN),
                  "the command-form BASE carries checksums: %d/%d" % (b_begins, b_closes))
        longest = max(len(line) for _, line in lines_of(data) if line.startswith(b"#"))
        checks.ok(longest < 1023 and not any(line.startswith(b"#TS:") and b"CRC" in line
                                             for _, line in lines_of(data)),
                  "annotation lines fit upstream's fgets buffer")
        # Stock (same release) loads the directory to the same digest; so does patched.
        cd = os.path.join(tmp, "stock-reads-" + policy)
        copy_dir(d, cd)
        got, log = load(stock, cd)
        checks.ok(got == digest, "stock loads the checksummed directory (%s): %r vs %r\n%s"
                  % (policy, got, digest, log[-1500:]))
        manifest = os.path.join(aof_dir(d), "appendonly.aof.manifest")
        r = subprocess.run([check_aof, manifest], capture_output=True, text=True)
        checks.ok(r.returncode == 0 and "is valid" in r.stdout, "redis-check-aof: " + r.stdout[-500:])
        got, log = load(patched, d)
        checks.ok(got == digest, "patched restarts to the same digest (%s)" % policy)
        # A byte of the BASE's range changed: refused (the BASE is never the last file).
        fd_ = os.path.join(tmp, "base-flip-" + policy)
        copy_dir(d, fd_)
        bad = bytearray(base_data)
        bad[len(BEGIN) + rng.randrange(len(base_data) // 2)] ^= 0x04
        with open(os.path.join(aof_dir(fd_), base), "wb") as f:
            f.write(bad)
        got, log = load(patched, fd_)
        checks.ok(got is None and "Checksum failure" in log and base in log,
                  "a flipped BASE byte: %r %s" % (got, log[-1600:]))
        checks.note("stock reads (%s): digest %s on stock and patched; %d INCR files, %d begin and "
                    "%d closing lines verified in the last, command-form BASE %d/%d; "
                    "redis-check-aof valid" % (policy, digest.decode(), len(incrs), begins, closes,
                                               b_begins, b_closes))


def has_corrupt_tail_limit(binary):
    """8.4 added aof-load-corrupt-tail-max-size; 8.0 has none."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return " v=8.0." not in out


def check_flips(checks, stock, patched, tmp, rng):
    d = os.path.join(tmp, "flip-src")
    os.makedirs(d)
    s = Server(patched, d, "--aof-checksum", "yes", "--aof-timestamp-enabled", "no")
    digests = [s.call("DEBUG", "DIGEST")]
    keys = ["a", "bb", "c", "dd", "e"]
    for i, k in enumerate(keys):
        s.call("SET", k, os.urandom(rng.randrange(3, 12)).hex())
        digests.append(s.call("DEBUG", "DIGEST"))
    s.stop()
    incr = incr_files(d)[-1]
    data = open(incr, "rb").read()
    begins, closes, ends = check_annotations(data)
    checks.ok(begins == 1 and closes == len(keys), "one range per write under always")
    last_start = ends[-2]
    name = os.path.basename(incr)
    stats = {"refused": 0, "cut": 0, "kept": 0}
    stock_stats = {}
    flip_dir = os.path.join(tmp, "flip")
    for p in range(len(data)):
        bad = bytearray(data)
        bad[p] ^= rng.randrange(1, 256)
        copy_dir(d, flip_dir)
        with open(os.path.join(aof_dir(flip_dir), name), "wb") as f:
            f.write(bad)
        before = snapshot(flip_dir)
        got, log = load(patched, flip_dir)
        if p < last_start:
            m = re.search(r"Checksum failure in the append only file (\S+) at offset (\d+): "
                          r"(?:the range from offset (\d+)|a command before)", log)
            checks.ok(got is None and m is not None,
                      "flip at %d (before the last range) not refused: %r\n%s" % (p, got, log[-800:]))
            checks.ok(m.group(1).endswith(name) and int(m.group(3) or 0) <= p,
                      "flip at %d: the line names %s" % (p, m.group(0)))
            if m.group(3) is None:
                stats["unrunnable"] = stats.get("unrunnable", 0) + 1
            checks.ok(snapshot(flip_dir) == before, "flip at %d: files changed" % p)
            stats["refused"] += 1
        elif got == digests[-2]:
            checks.ok("torn write" in log, "flip at %d: cut without the torn-tail line" % p)
            checks.ok(os.path.getsize(os.path.join(aof_dir(flip_dir), name)) == last_start,
                      "flip at %d: cut at the boundary" % p)
            stats["cut"] += 1
        else:
            checks.ok(got == digests[-1], "flip at %d: loaded another dataset %r" % (p, got))
            stats["kept"] += 1
        copy_dir(d, flip_dir)
        with open(os.path.join(aof_dir(flip_dir), name), "wb") as f:
            f.write(bad)
        got, _ = load(stock, flip_dir)
        kind = ("refused" if got is None else "same data" if got == digests[-1]
                else "earlier writes (cut)" if got in digests else "wrong data")
        stock_stats[kind] = stock_stats.get(kind, 0) + 1
    checks.note("flips (%d bytes, %d ranges): patched refused %d (every flip before the last range, "
                "the file and offset named, and the range, except %d where the damaged bytes made "
                "an unknown command or a wrong arity; files untouched), cut %d as a torn tail, "
                "loaded %d intact (a flip in the last closing line); stock: %s"
                % (len(data), closes, stats["refused"], stats.get("unrunnable", 0), stats["cut"],
                   stats["kept"],
                   ", ".join("%s %d" % kv for kv in sorted(stock_stats.items()))))
    # The corrupt-tail limit forgives nothing checksummed: a flip in the first range.
    if has_corrupt_tail_limit(patched):
        refused = stock_cut = 0
        for p in range(ends[0], ends[1] - 3):
            bad = bytearray(data)
            bad[p] ^= 0x55
            copy_dir(d, flip_dir)
            with open(os.path.join(aof_dir(flip_dir), name), "wb") as f:
                f.write(bad)
            extra = ("--aof-load-corrupt-tail-max-size", "100000000")
            got, log = load(patched, flip_dir, *extra)
            if got is None and "Checksum failure" in log:
                refused += 1
            checks.ok(got is None, "flip at %d with a corrupt-tail limit: loaded" % p)
            got, _ = load(stock, flip_dir, *extra)
            if got is not None and got != digests[-1]:
                stock_cut += 1
        checks.note("corrupt-tail limit 100000000, %d flips in the first range: patched refused "
                    "%d; stock loaded other data for %d" % (ends[1] - 3 - ends[0], refused, stock_cut))


def check_torn_tails(checks, stock, patched, tmp, rng):
    d = os.path.join(tmp, "torn-src")
    os.makedirs(d)
    s = Server(patched, d, "--aof-checksum", "yes", "--aof-timestamp-enabled", "no")
    send_all(s, random_commands(rng, 200), 4)
    digest = s.call("DEBUG", "DIGEST")
    s.stop()
    incr = incr_files(d)[-1]
    name = os.path.basename(incr)
    data = open(incr, "rb").read()
    cut_command = resp("SET", "torn", "x" * 100)[:-30]
    tails = ([("zeros %d" % n, b"\0" * n) for n in (1, 4096, 70000)]
             + [("garbage %d" % i, os.urandom(rng.randrange(1, 5000))) for i in range(5)]
             + [("a cut command", cut_command)])
    t = os.path.join(tmp, "torn")
    stock_outcomes = {}
    for label, tail in tails:
        limits = [()] + ([("--aof-load-corrupt-tail-max-size", "1")]
                         if has_corrupt_tail_limit(patched) else [])
        for extra in limits:
            copy_dir(d, t)
            with open(os.path.join(aof_dir(t), name), "ab") as f:
                f.write(tail)
            got, log = load(patched, t, *extra)
            checks.ok(got == digest, "%s: patched did not load the verified ranges: %r\n%s"
                      % (label, got, log[-1500:]))
            checks.ok(os.path.getsize(os.path.join(aof_dir(t), name)) == len(data),
                      "%s: not cut back to the last boundary" % label)
            checks.ok("torn write" in log, "%s: no torn-tail line" % label)
        copy_dir(d, t)
        with open(os.path.join(aof_dir(t), name), "ab") as f:
            f.write(tail)
        before = snapshot(t)
        got, log = load(patched, t, "--aof-load-truncated", "no")
        checks.ok(got is None and snapshot(t) == before,
                  "%s with aof-load-truncated no: loaded or changed the files" % label)
        got, log = load(stock, t)
        kind = "refused" if got is None else "loaded" if got == digest else "loaded other data"
        stock_outcomes[kind] = stock_outcomes.get(kind, 0) + 1
    checks.note("torn tails (%d: zeros, garbage, a cut command): patched kept every verified key "
                "and cut back to the boundary, with and without a corrupt-tail limit; refused "
                "with aof-load-truncated no, files untouched; stock with defaults: %s"
                % (len(tails), ", ".join("%s %d" % kv for kv in sorted(stock_outcomes.items()))))


def check_multi_across_ranges(checks, stock, patched, tmp):
    d = os.path.join(tmp, "multi")
    os.makedirs(d)
    s = Server(patched, d, "--aof-checksum", "yes")
    s.stop()
    incr = incr_files(d)[-1]
    r1 = resp("SELECT", "0") + resp("SET", "a", "1") + resp("MULTI") + resp("SET", "b", "2")
    r2 = resp("SET", "c", "3") + resp("EXEC")
    r3 = resp("SET", "d", "4")
    # The first range closed by the long form an older build wrote: it verifies alike.
    body = BEGIN + r1 + long_close_line(r1) + r2 + close_line(r2)
    with open(incr, "wb") as f:
        f.write(body)
    digests = {}
    for name, binary in (("stock", stock), ("patched", patched)):
        c = os.path.join(tmp, "multi-" + name)
        copy_dir(d, c)
        digests[name], log = load(binary, c)
    checks.ok(digests["stock"] is not None and digests["stock"] == digests["patched"],
              "a MULTI across a range boundary: %r" % digests)
    # The second range torn (its closing line damaged, data after): cut before the MULTI.
    with open(incr, "wb") as f:
        f.write(BEGIN + r1 + close_line(r1) + r2 + close_line(r2 + b"x") + r3[:9])
    got, log = load(patched, d)
    checks.ok("Revert incomplete MULTI" in log and os.path.getsize(incr) == len(BEGIN + r1) - len(
        resp("MULTI") + resp("SET", "b", "2")), "torn range after a MULTI: %s" % log[-800:])
    checks.note("MULTI across a boundary: both builds load it alike; torn after it, patched cuts "
                "back before the MULTI")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stock")
    ap.add_argument("patched")
    ap.add_argument("--seed", type=int, default=31)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    checks = Checks()
    tmp = tempfile.mkdtemp(prefix="aof-checksum-")
    started = time.time()
    try:
        check_crc_equals_upstream(checks, args.stock, tmp, rng)
        check_off_is_upstream(checks, args.stock, args.patched, tmp, rng)
        check_stock_reads(checks, args.stock, args.patched, tmp, rng)
        check_multi_across_ranges(checks, args.stock, args.patched, tmp)
        check_torn_tails(checks, args.stock, args.patched, tmp, rng)
        check_flips(checks, args.stock, args.patched, tmp, rng)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("checksum: %d checks passed in %.0f s" % (checks.passed, time.time() - started))


if __name__ == "__main__":
    main()

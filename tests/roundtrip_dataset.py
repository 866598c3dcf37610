"""Random datasets for tests/roundtrip_random.py: one seed gives one dataset (a list of
commands, each tagged with its db and key) and the per-seed server configuration (the
encoding thresholds: the defaults for some seeds, small random ones for others), and
collection sizes are drawn on either side of the seed's thresholds, so that every type
lands in each of its encodings without large volumes.

What a dataset holds, in db 0 and one to three of dbs 1, 3, 9, 15 (key names plain,
binary with \r\n and \0, 300 bytes long, and at most one empty per db):
- strings: shared integers 0..9999, int64 extremes and random ones (int), <= 44 bytes
  (embstr), longer (raw, some of 4 KiB and more), all 256 byte values, empty, integers
  just outside int64 and non-canonical spellings ("007", "+1", "-0"), built by SET,
  INCRBY, APPEND, SETRANGE, INCRBYFLOAT, SET PXAT;
- lists (listpack or quicklist, list-compress-depth 0-2, plain nodes through
  DEBUG QUICKLIST-PACKED-THRESHOLD), sets (intset, listpack, hashtable), zsets (listpack,
  skiplist; scores negative, fractional, +-inf, extreme), hashes (listpack, listpackex,
  hashtable; field TTLs by HPEXPIREAT and HSETEX, some removed by HPERSIST), elements
  integer-like or not, under and over the value-length thresholds;
- streams: several fields per entry, integer and string values mixed, the same or other
  field sets, XDEL (of the last entry too), exact XTRIM, XADD MAXLEN 0 and MKSTREAM empty
  streams, groups created at 0, $ or an ID (with ENTRIESREAD), XREADGROUP, XGROUP SETID,
  XCLAIM to other consumers, XACK, XGROUP CREATECONSUMER (consumers without PEL), XSETID
  with ENTRIESADDED and MAXDELETEDID;
- key TTLs (PEXPIREAT) on any type, FUNCTION LOAD libraries, and with the module
  (blockonkeys.so) FSL values from FSL.PUSH, int64 extremes included;
- on releases that have them (`release` >= 8.6): strings from MSETEX with PXAT, and
  idempotent producers on streams: XIDMPRECORD of existing entries for a few producers,
  XCFGSET before (settings the records live under) or after them (which clears them).

Everything is a function of random.Random(seed) only, never of the server's clock or
replies, so the same seed sends the same commands to both builds:
- expiries are absolute and far in the future (FUTURE_MS, 2100), so nothing expires;
- stream IDs are explicit (ms-seq, or ms-* whose sequence the server derives from the ID
  alone); "*" would take each server's clock;
- the delivery time of every pending entry is made explicit: XREADGROUP (and XCLAIM
  without TIME) stamp it with the server's clock, so once a stream's reads are done every
  entry still pending is XCLAIMed again with TIME <past ms> RETRYCOUNT <n>. The stream
  model below (entries, last ID, each group's last delivered ID and PEL) knows which IDs
  are pending. DEBUG DIGEST does not cover consumer groups at all (only the entries), so
  this is what lets XINFO STREAM FULL (groups, PELs, delivery times and counts) be
  compared across builds; consumers' seen-time/active-time stay clock-dependent and are
  masked by the runner.

Usage: imported by roundtrip_random.py; `python3 tests/roundtrip_dataset.py SEED [small|large]`
prints the seed's configuration and commands (one repr per line, FSL values included).
"""

import random
import sys

from redistest.pair import FUTURE_MS  # 2100-01-01: nothing expires

INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

# Integer-looking strings: canonical ones that fit int64 (stored int-encoded in strings,
# intsets and listpacks), ones just outside int64 (stored as strings), and non-canonical
# spellings string2ll rejects.
INT_EDGES = ["0", "1", "-1", "7", "-7", "100", "123", "-5", "9999", "10000", "99999",
             "9223372036854775807", "-9223372036854775808", "4294967296", "-2147483649"]
NOT_INT64 = ["9223372036854775808", "-9223372036854775809", "18446744073709551616",
             "99999999999999999999"]
NON_CANONICAL = ["007", "+1", "1.5", "-0", " 1", "1e3", "0x1f", "1 "]
# Zset scores: integers, negatives, fractions, infinities, signed zero, extremes.
# No "-0": stock does not round-trip it (see roundtrip_random.py).
SCORES = ["0", "1", "-1", "0.5", "-2.25", "inf", "-inf", "+inf", "1e-300",
          "5e-324", "1.7976931348623157e308", "-1.7976931348623157e308", "0.1",
          "3.141592653589793", "9007199254740993", "-123456789"]
STREAM_VALUES = ["1", "100", "99999", "-7", "hello", "0", "-1", "", "1.5", "007",
                 "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                 "4294967296", "x" * 70]
STREAM_FIELDS = ["a", "b", "c", "name", "temp", "1", "2", "-3", "100", "f" * 70, "", "\x00\r\n"]
BINARY = bytes(range(256)) + b"\r\n\x00\r\n"


def tagged(x, sep, i):
    """x (str or bytes) made unique by a suffix."""
    suffix = "%s%d" % (sep, i)
    return x + suffix if isinstance(x, str) else x + suffix.encode()


class Config:
    """Per-seed encoding thresholds, passed on every server's command line (so restarts
    and cross-loads use the same ones)."""

    def __init__(self, rnd, size):
        defaults = rnd.random() < (0.5 if size == "large" else 0.3)

        def pick(default, small):
            return default if defaults or rnd.random() < 0.25 else rnd.choice(small)

        self.values = {
            "list-max-listpack-size": rnd.choice([-2, -1, -2, 3, 8, 32, 128]),
            "list-compress-depth": rnd.choice([0, 0, 1, 2]),
            "set-max-intset-entries": pick(512, [3, 8, 20, 64]),
            "set-max-listpack-entries": pick(128, [2, 8, 16, 40]),
            "set-max-listpack-value": pick(64, [8, 16, 64]),
            "zset-max-listpack-entries": pick(128, [2, 8, 16, 40]),
            "zset-max-listpack-value": pick(64, [8, 16, 64]),
            "hash-max-listpack-entries": pick(128, [2, 8, 16, 40]),
            "hash-max-listpack-value": pick(64, [8, 16, 64]),
            "stream-node-max-entries": pick(100, [1, 2, 5, 10]),
            "stream-node-max-bytes": pick(4096, [64, 256, 4096]),
        }
        # Plain quicklist nodes (elements above the threshold get a node of their own).
        # A DEBUG setting: it holds for the process that builds the dataset and for its
        # DEBUG LOADAOF, not after a restart, which only changes the layout, not the data.
        self.packed_threshold = rnd.choice([None, None, None, 100, 1000])

    def args(self):
        out = []
        for name, value in self.values.items():
            out += ["--" + name, str(value)]
        return out

    def __getitem__(self, name):
        return self.values[name]


class Dataset:
    def __init__(self, seed, size="small", module=False, release=(8, 0)):
        self.rnd = random.Random(seed)
        self.size = size
        self.module = module
        self.since_8_6 = release >= (8, 6)
        self.config = Config(self.rnd, size)
        self.items = []          # (db, key, command tuple); db None for server-wide ones
        self.setup = []          # commands sent first, not part of the data (DEBUG ...)
        if self.config.packed_threshold:
            self.setup.append(("DEBUG", "QUICKLIST-PACKED-THRESHOLD", self.config.packed_threshold))
        self._build()

    # ---------------------------------------------------------------- values

    def int_str(self):
        rnd = self.rnd
        r = rnd.random()
        if r < 0.3:
            return str(rnd.randrange(0, 10000))             # shared integers 0..9999
        if r < 0.45:
            return str(rnd.randrange(-10**6, 0))
        if r < 0.7:
            return str(rnd.randrange(-2**63, 2**63))
        if r < 0.85:
            return rnd.choice(INT_EDGES)
        return rnd.choice(NOT_INT64)

    def short_str(self, limit=44):
        rnd = self.rnd
        r = rnd.random()
        n = rnd.randrange(1, max(2, limit + 1))
        if r < 0.6:
            return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789:-_") for _ in range(n))
        if r < 0.8:
            return bytes(rnd.randrange(256) for _ in range(n))
        return rnd.choice(NON_CANONICAL + ["", "\r\n", "\x00"])

    def long_str(self, over=44, big=False):
        rnd = self.rnd
        n = over + 1 + rnd.randrange(0, 200)
        if big or rnd.random() < 0.03:
            n = rnd.choice([4095, 4096, 5000, 9000, 20000])
        if rnd.random() < 0.3:
            return (BINARY * (n // len(BINARY) + 1))[:n]
        c = rnd.choice("xyzw")
        return c * (n - 8) + "%08d" % rnd.randrange(10**8)

    def element(self, limit, long_ok=True, int_bias=0.4):
        """A collection element: int-like, short (<= limit) or, rarely, long (> limit)."""
        r = self.rnd.random()
        if r < int_bias:
            return self.int_str()
        if long_ok and r > 0.95:
            return self.long_str(over=limit)
        return self.short_str(min(limit, 44))

    def count(self, threshold):
        """A size on one side or the other of an entry-count threshold."""
        rnd = self.rnd
        top = 3 if self.size == "small" else 8
        if rnd.random() < 0.5:
            return rnd.randrange(1, threshold + 1)
        return threshold + 1 + rnd.randrange(0, max(2, min(threshold, 40 * top)))

    def batches(self, items, per=None):
        rnd = self.rnd
        i = 0
        while i < len(items):
            n = per or rnd.choice([1, 2, 5, 10, 50, 100])
            yield items[i:i + n]
            i += n

    # ---------------------------------------------------------------- dataset

    def add(self, db, key, *cmd):
        self.items.append((db, key, cmd))

    def key_name(self, db, kind, i):
        rnd = self.rnd
        r = rnd.random()
        if r < 0.1:
            return ("%s:%d:" % (kind, i)).encode() + bytes(rnd.randrange(256) for _ in range(5)) + b"\r\n\x00"
        if r < 0.12:
            return ("%s:%d:" % (kind, i)).encode() + b"K" * 300
        return ("%s:%d" % (kind, i)).encode()

    def _build(self):
        rnd = self.rnd
        if rnd.random() < 0.7:
            for n in range(rnd.randrange(1, 4)):
                body = "#!lua name=lib%d_%d\n" % (n, rnd.randrange(1000))
                for k in range(rnd.randrange(1, 3)):
                    body += "redis.register_function('f%d_%d', function(keys, args) return %d end)\n" % (n, k, rnd.randrange(100))
                self.add(None, None, "FUNCTION", "LOAD", body)
        dbs = [0] + rnd.sample([1, 3, 9, 15], rnd.randrange(1, 4))
        scale = 1 if self.size == "small" else 3
        makers = [(self.make_string, 6), (self.make_list, 3), (self.make_set, 4), (self.make_zset, 3),
                  (self.make_hash, 4), (self.make_stream, 3)]
        if self.module:
            makers.append((self.make_module, 2))
        for db in dbs:
            empty_key_taken = False
            for maker, n in makers:
                for i in range(rnd.randrange(1, n * scale + 1)):
                    key = self.key_name(db, maker.__name__[5:], i)
                    if not empty_key_taken and rnd.random() < 0.03:
                        key, empty_key_taken = b"", True
                    maker(db, key)
                    if rnd.random() < 0.3:
                        self.add(db, key, "PEXPIREAT", key, FUTURE_MS + rnd.randrange(10**9))

    def make_string(self, db, key):
        rnd = self.rnd
        r = rnd.random()
        if r < 0.2:
            self.add(db, key, "SET", key, str(rnd.randrange(0, 10000)))
        elif r < 0.35:
            self.add(db, key, "SET", key, self.int_str())
        elif r < 0.45:
            self.add(db, key, "SET", key, "0")
            self.add(db, key, "INCRBY", key, rnd.randrange(-2**62, 2**62))
        elif r < 0.6:
            self.add(db, key, "SET", key, self.short_str(44))
        elif r < 0.7:
            self.add(db, key, "SET", key, self.long_str(44))
        elif r < 0.78:
            self.add(db, key, "SET", key, BINARY * rnd.randrange(1, 4))
        elif r < 0.83:
            self.add(db, key, "SET", key, "")
        elif r < 0.88:
            self.add(db, key, "SET", key, self.short_str(10))
            self.add(db, key, "APPEND", key, self.short_str(60))
        elif r < 0.92:
            self.add(db, key, "SETRANGE", key, rnd.randrange(0, 100), self.short_str(20))
        elif r < 0.96:
            self.add(db, key, "SET", key, "10.5")
            self.add(db, key, "INCRBYFLOAT", key, "%.3f" % rnd.uniform(-100, 100))
        elif r < 0.98 or not self.since_8_6:
            self.add(db, key, "SET", key, self.short_str(20), "PXAT", FUTURE_MS + rnd.randrange(10**6))
        else:
            self.add(db, key, "MSETEX", 1, key, self.short_str(30), "PXAT", FUTURE_MS + rnd.randrange(10**6))

    def make_list(self, db, key):
        rnd = self.rnd
        size = self.config["list-max-listpack-size"]
        threshold = size if size > 0 else 2 ** (11 + -size) // 40   # roughly 40-byte elements
        n = self.count(threshold)
        long_values = rnd.random() < 0.2
        elems = [self.long_str(60) if long_values and rnd.random() < 0.3 else self.element(64)
                 for _ in range(n)]
        for batch in self.batches(elems):
            self.add(db, key, rnd.choice(["RPUSH", "RPUSH", "LPUSH"]), key, *batch)
        if rnd.random() < 0.3:
            self.add(db, key, "LINSERT", key, "BEFORE", elems[0], self.element(64))
        if rnd.random() < 0.3:
            self.add(db, key, "LSET", key, rnd.randrange(-n, n), self.element(64))
        if rnd.random() < 0.2:
            self.add(db, key, "LREM", key, 0, elems[rnd.randrange(n)])
        if rnd.random() < 0.2 and n > 4:
            self.add(db, key, "LTRIM", key, 1, -2)

    def make_set(self, db, key):
        rnd = self.rnd
        r = rnd.random()
        if r < 0.4:      # integers: intset on either side of set-max-intset-entries
            n = self.count(self.config["set-max-intset-entries"])
            members = [str(x) for x in rnd.sample(range(-10**6, 10**6), n)]
            if rnd.random() < 0.3:
                members[0] = rnd.choice(["9223372036854775807", "-9223372036854775808"])
            if rnd.random() < 0.15:
                members.append(rnd.choice(NOT_INT64))   # one member that does not fit: no intset
        else:            # strings (with some integers): listpack or hashtable
            limit = self.config["set-max-listpack-value"]
            n = self.count(self.config["set-max-listpack-entries"])
            members = [tagged(self.element(limit, long_ok=False, int_bias=0.2), "", i)
                       if rnd.random() < 0.7 else self.element(limit, int_bias=0.5) for i in range(n)]
            if rnd.random() < 0.15:
                members.append(self.long_str(limit))    # one long member: hashtable
        for batch in self.batches(members):
            self.add(db, key, "SADD", key, *batch)
        if rnd.random() < 0.3 and len(members) > 2:
            self.add(db, key, "SREM", key, *rnd.sample(members, rnd.randrange(1, len(members))))

    def make_zset(self, db, key):
        rnd = self.rnd
        limit = self.config["zset-max-listpack-value"]
        n = self.count(self.config["zset-max-listpack-entries"])
        args = []
        for i in range(n):
            r = rnd.random()
            score = (rnd.choice(SCORES) if r < 0.3 else str(rnd.randrange(-1000, 1000)) if r < 0.6
                     else repr(rnd.uniform(-1e6, 1e6)))
            member = self.element(limit, long_ok=rnd.random() < 0.2)
            if rnd.random() < 0.7:
                member = tagged(member, "", i)
            args += [score, member]
        for batch in self.batches(args, per=2 * rnd.choice([1, 3, 10, 64])):
            self.add(db, key, "ZADD", key, *batch)
        if rnd.random() < 0.3:
            self.add(db, key, "ZINCRBY", key, "2.5", args[1])
        if rnd.random() < 0.2 and n > 2:
            self.add(db, key, "ZREM", key, args[3])

    def make_hash(self, db, key):
        rnd = self.rnd
        limit = self.config["hash-max-listpack-value"]
        n = self.count(self.config["hash-max-listpack-entries"])
        fields = []
        args = []
        for i in range(n):
            f = self.element(limit, long_ok=rnd.random() < 0.1, int_bias=0.3)
            f = tagged(f, "#", i)
            if rnd.random() < 0.2:
                f = str(i * 7 - 50)      # an integer field name
            fields.append(f)
            args += [f, self.element(limit, long_ok=rnd.random() < 0.2, int_bias=0.5)]
        for batch in self.batches(args, per=2 * rnd.choice([1, 4, 20, 64])):
            self.add(db, key, rnd.choice(["HSET", "HSET", "HMSET"]), key, *batch)
        if rnd.random() < 0.4:    # hash field TTLs, far future, on some fields
            chosen = rnd.sample(fields, rnd.randrange(1, len(fields) + 1))
            for batch in self.batches(chosen, per=rnd.choice([1, 5, 50])):
                self.add(db, key, "HPEXPIREAT", key, FUTURE_MS + rnd.randrange(10**9),
                         "FIELDS", len(batch), *batch)
            if rnd.random() < 0.3:
                self.add(db, key, "HPERSIST", key, "FIELDS", 1, chosen[0])
        if rnd.random() < 0.15:
            self.add(db, key, "HSETEX", key, "PXAT", FUTURE_MS + rnd.randrange(10**6),
                     "FIELDS", 1, "hsetex-field", self.element(limit))
        if rnd.random() < 0.2 and n > 2:
            self.add(db, key, "HDEL", key, fields[1])
        if rnd.random() < 0.1:
            self.add(db, key, "HINCRBY", key, "counter", rnd.randrange(-10**9, 10**9))

    def make_module(self, db, key):
        rnd = self.rnd
        n = rnd.randrange(1, 40 if self.size == "small" else 300)
        lo = rnd.choice([-2**63, -10**6, 0, rnd.randrange(-2**62, 2**62)])
        values, v = [], lo
        for _ in range(n):
            values.append(v)
            v += rnd.choice([1, 2, 1000, 2**40])
            if v > INT64_MAX:
                break
        if rnd.random() < 0.2 and values[-1] < INT64_MAX:
            values.append(INT64_MAX)
        for v in values:
            self.add(db, key, "FSL.PUSH", key, v)

    # ---------------------------------------------------------------- streams

    def make_stream(self, db, key):
        rnd = self.rnd
        s = StreamModel()
        r = rnd.random()
        if r < 0.08:      # an empty stream from XADD MAXLEN 0
            s.xadd(self, db, key, ("1-1" if rnd.random() < 0.5 else None), maxlen0=True)
            return self.stream_tail(db, key, s)
        if r < 0.13:      # an empty stream from MKSTREAM, last ID 0-0
            self.add(db, key, "XGROUP", "CREATE", key, "g0", "$", "MKSTREAM")
            s.groups["g0"] = {"last": (0, 0), "pel": {}}
            if rnd.random() < 0.5:
                self.add(db, key, "XGROUP", "CREATECONSUMER", key, "g0", "idle")
            return
        # A stream whose producers record IIDs has its IDs after 2100: the server drops a
        # record once its entry's ID is older than the IDMP duration by the server's clock
        # (handleExpiredIdmpEntries, on cron), which would make the dataset a matter of time.
        idmp = self.since_8_6 and rnd.random() < 0.4
        if idmp:
            s.last_id = (FUTURE_MS, 0)
        n = rnd.randrange(1, {"small": 25, "large": 200}[self.size])
        for _ in range(n):
            s.xadd(self, db, key)
        # XDEL (sometimes of the last entry) and exact XTRIM before any group exists.
        if rnd.random() < 0.5 and s.entries:
            victims = rnd.sample(s.entries, rnd.randrange(1, len(s.entries) + 1) if rnd.random() < 0.2
                                 else min(len(s.entries), rnd.randrange(1, 4)))
            if rnd.random() < 0.4:
                victims.append(s.entries[-1])
            s.xdel(self, db, key, sorted(set(victims)))
        if rnd.random() < 0.2:
            if rnd.random() < 0.5:
                s.xtrim_maxlen(self, db, key, rnd.randrange(0, len(s.entries) + 2))
            elif s.entries:
                s.xtrim_minid(self, db, key, rnd.choice(s.entries))
        # Consumer groups, reads, more entries, more deletions (some of pending IDs).
        for g in range(rnd.choice([0, 1, 1, 2, 3])):
            name = rnd.choice(["g%d" % g, "group:%d" % g, "grp\r\n%d" % g])
            start = rnd.choice(["0", "$", "id"])
            if start == "id" and s.entries:
                last = rnd.choice(s.entries)
            elif start == "$":
                last = s.last_id
            else:
                last = (0, 0)
            cmd = ["XGROUP", "CREATE", key, name, "%d-%d" % last]
            if rnd.random() < 0.3:
                cmd += ["ENTRIESREAD", rnd.randrange(0, len(s.entries) + 1)]
            self.add(db, key, *cmd)
            s.groups[name] = {"last": last, "pel": {}}
        for _ in range(rnd.randrange(0, 6) if s.groups else 0):
            group = rnd.choice(sorted(s.groups))
            consumer = rnd.choice(["c1", "c2", "alice", "\x00bob"])
            count = rnd.randrange(1, 8)
            self.add(db, key, "XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", key, ">")
            s.deliver(group, consumer, count)
        for _ in range(rnd.randrange(0, 4)):
            s.xadd(self, db, key)
        if rnd.random() < 0.3 and s.entries:
            s.xdel(self, db, key, [rnd.choice(s.entries)])   # possibly a pending one
        if s.groups and rnd.random() < 0.2:
            group = rnd.choice(sorted(s.groups))
            setid = rnd.choice(s.entries) if s.entries else s.last_id
            cmd = ["XGROUP", "SETID", key, group, "%d-%d" % setid]
            if rnd.random() < 0.5:
                cmd += ["ENTRIESREAD", rnd.randrange(0, len(s.entries) + 1)]
            self.add(db, key, *cmd)
            s.groups[group]["last"] = setid
        if s.groups and rnd.random() < 0.3:
            group = rnd.choice(sorted(s.groups))
            consumer = rnd.choice(["c3", "late"])
            count = rnd.randrange(1, 5)
            self.add(db, key, "XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", key, ">")
            s.deliver(group, consumer, count)
        if rnd.random() < 0.1 and s.groups:
            s.xtrim_maxlen(self, db, key, 0)     # entries gone, groups and PELs stay
        self.stream_tail(db, key, s)
        if idmp and s.entries:
            self.stream_idmp(db, key, s)

    def stream_idmp(self, db, key, s):
        """Idempotent producers' records of existing entries, and per-stream settings."""
        rnd = self.rnd
        settings = ["XCFGSET", key, "IDMP-DURATION", rnd.randrange(1, 86400),
                    "IDMP-MAXSIZE", rnd.choice([1, 2, 5, 100, 10000])]
        after = rnd.random() < 0.2        # XCFGSET after the records clears them
        if not after and rnd.random() < 0.6:
            self.add(db, key, *settings)
        for p in range(rnd.randrange(1, 4)):
            producer = rnd.choice(["p%d" % p, "producer:%d" % p, "\x00p\r\n%d" % p])
            for i in range(rnd.randrange(1, 8)):
                iid = rnd.choice(["iid-%d" % i, str(i), "\r\n%d" % i, "i" * 50 + str(i)])
                self.add(db, key, "XIDMPRECORD", key, producer, iid, "%d-%d" % rnd.choice(s.entries))
        if after:
            self.add(db, key, *settings)

    def stream_tail(self, db, key, s):
        """Explicit delivery times for every pending entry, then changes that keep them."""
        rnd = self.rnd
        for name in sorted(s.groups):
            g = s.groups[name]
            pending = sorted(g["pel"])
            for batch in self.batches(pending, per=rnd.choice([1, 3, 50])):
                target = rnd.choice([g["pel"][batch[0]], "c1", "claimer"])
                cmd = ["XCLAIM", key, name, target, 0, *["%d-%d" % i for i in batch],
                       "TIME", 1_600_000_000_000 + rnd.randrange(10**10), "RETRYCOUNT", rnd.randrange(0, 6)]
                if rnd.random() < 0.5:
                    cmd.append("JUSTID")
                self.add(db, key, *cmd)
                for i in batch:
                    if i in s.entries:
                        g["pel"][i] = target
                    else:
                        del g["pel"][i]      # XCLAIM drops the PEL entry of a deleted ID
            if g["pel"] and rnd.random() < 0.4:
                acked = rnd.sample(sorted(g["pel"]), rnd.randrange(1, len(g["pel"]) + 1))
                self.add(db, key, "XACK", key, name, *["%d-%d" % i for i in acked])
                for i in acked:
                    del g["pel"][i]
            if rnd.random() < 0.4:
                self.add(db, key, "XGROUP", "CREATECONSUMER", key, name, rnd.choice(["empty", "idle", "z"]))
        pending = set()
        for g in s.groups.values():
            pending.update(g["pel"])
        free = [i for i in s.entries if i not in pending]
        if free and rnd.random() < 0.3:
            # Deleting a pending ID here would leave a PEL entry stock cannot rewrite (see
            # roundtrip_random.py), so only IDs nobody has pending.
            victims = [free[-1]] if rnd.random() < 0.5 else rnd.sample(free, 1)
            s.xdel(self, db, key, victims)
        if rnd.random() < 0.3:
            ms, seq = s.last_id
            step = rnd.randrange(1, 10)
            new_last = (ms + rnd.randrange(0, 1000), seq + step) if seq + step <= UINT64_MAX else (ms + 1, 0)
            cmd = ["XSETID", key, "%d-%d" % new_last]
            if rnd.random() < 0.7:
                cmd += ["ENTRIESADDED", s.added + rnd.randrange(0, 50)]
            if rnd.random() < 0.7:
                cmd += ["MAXDELETEDID", "%d-%d" % max(s.max_deleted, (ms, 0))]
            self.add(db, key, *cmd)
            s.last_id = new_last


class StreamModel:
    """What the generator needs to know of a stream: its IDs, groups and PELs."""

    def __init__(self):
        self.entries = []       # IDs (ms, seq), ascending
        self.last_id = (0, 0)
        self.max_deleted = (0, 0)
        self.added = 0
        self.groups = {}        # name -> {"last": ID, "pel": {ID: consumer}}
        self.fields = None

    def next_id(self, rnd):
        ms, seq = self.last_id
        r = rnd.random()
        if r < 0.4 and seq < UINT64_MAX:
            return (ms, seq + 1), None
        if r < 0.5:
            new_ms = ms + rnd.randrange(1, 5)
            return (new_ms, 0), "%d-*" % new_ms              # the server picks seq 0
        if r < 0.52:
            new_ms = ms + rnd.randrange(1, 5)
            return (new_ms, UINT64_MAX), None                 # the largest sequence
        new_ms = ms + rnd.randrange(1, 10**6) if ms or rnd.random() < 0.5 else rnd.randrange(1, 2**44)
        return (new_ms, rnd.choice([0, 1, rnd.randrange(2**32)])), None

    def xadd(self, ds, db, key, explicit=None, maxlen0=False):
        rnd = ds.rnd
        ident, spelled = self.next_id(rnd)
        if explicit:
            ident, spelled = (1, 1), explicit
        if self.fields is None or rnd.random() < 0.35:
            self.fields = rnd.sample(STREAM_FIELDS, rnd.randrange(1, 6))
            if rnd.random() < 0.05:
                self.fields.append(self.fields[0])            # a repeated field name
        args = []
        for f in self.fields:
            r = rnd.random()
            v = (rnd.choice(STREAM_VALUES) if r < 0.5 else ds.int_str() if r < 0.8
                 else ds.short_str(30) if r < 0.99 else ds.long_str(64, big=True))
            args += [f, v]
        cmd = ["XADD", key] + (["MAXLEN", 0] if maxlen0 else []) + [spelled or "%d-%d" % ident] + args
        ds.add(db, key, *cmd)
        self.last_id = ident
        self.added += 1
        if not maxlen0:
            self.entries.append(ident)

    def xdel(self, ds, db, key, victims):
        ds.add(db, key, "XDEL", key, *["%d-%d" % i for i in victims])
        for i in victims:
            if i in self.entries:
                self.entries.remove(i)
                self.max_deleted = max(self.max_deleted, i)

    def xtrim_maxlen(self, ds, db, key, n):
        ds.add(db, key, "XTRIM", key, "MAXLEN", n)
        self.entries = self.entries[len(self.entries) - n:] if n < len(self.entries) else self.entries

    def xtrim_minid(self, ds, db, key, minid):
        ds.add(db, key, "XTRIM", key, "MINID", "%d-%d" % minid)
        self.entries = [i for i in self.entries if i >= minid]

    def deliver(self, group, consumer, count):
        g = self.groups[group]
        fresh = [i for i in self.entries if i > g["last"]][:count]
        for i in fresh:
            g["pel"][i] = consumer
        if fresh:
            g["last"] = fresh[-1]


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    ds = Dataset(seed, sys.argv[2] if len(sys.argv) > 2 else "small", module=True)
    print(" ".join(ds.config.args()), ds.setup)
    for db, key, cmd in ds.items:
        print(db, repr(cmd)[:200])
    print("%d commands" % len(ds.items))


if __name__ == "__main__":
    main()

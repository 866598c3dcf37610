"""The write load shared by the kill, power-loss and full-disk parts, and the model of what
was acknowledged.

Each worker thread has its own connection and sends, one at a time (so every reply is an
acknowledgement of exactly one write):
  INCR ctr:K                      K one of a few counters shared by all workers
  RPUSH lst:EPOCH:W  "W:SEQ"      a list per worker and epoch (an epoch = one server life)
  SET str:W:J  "W:SEQ"            a few strings per worker, overwritten again and again
  MULTI INCR txa:W INCR txb:W EXEC            two keys a worker changes together
  MULTI INCR txa:all INCR txb:all EXEC        two keys all workers change together
Values are unique (worker id and a per-worker sequence number), so a value found after a
restart tells exactly which write it came from.

After a restart `verify` reads everything back and compares it with the model:
  violations  things no crash may cause: a counter above the number of INCRs ever sent,
              a list that is not a prefix of what was sent (a hole or a reordering), a
              string holding a value never sent, the two keys of a transaction disagreeing,
              a key of an earlier epoch changed (checked with DEBUG DIGEST-VALUE)
  lost        acknowledged writes that are missing, with the time each was acknowledged
Then `rebase` makes what was found the new baseline for the next server life.
"""

import random
import threading
import time

from redistest.client import Client
from redistest.resp import ReplyError

N_COUNTERS = 4
N_STRINGS = 8


def _last(times, n):
    """Ack times of the last n acknowledged writes; 0.0 (an earlier server life) for any
    beyond those of this life."""
    if n <= len(times):
        return times[len(times) - n:]
    return [0.0] * (n - len(times)) + list(times)


class Model:
    def __init__(self, nworkers):
        self.nworkers = nworkers
        self.lock = threading.Lock()
        self.epoch = 0
        # counter -> dict(base, acked, attempted, ack_times)
        self.counters = {"ctr:%d" % k: self._counter() for k in range(N_COUNTERS)}
        # (worker) -> dict(key, base list, sent list, acked n, ack_times)
        self.lists = {}
        # key -> dict(base value, sent [values], acked n, ack_times)
        self.strings = {"str:%d:%d" % (w, j): self._string() for w in range(nworkers)
                        for j in range(N_STRINGS)}
        # worker -> counter-like for the txa/txb pair
        self.tx = {w: self._counter() for w in range(nworkers)}
        # shared pair: base, attempted, acked values [(value, time)]
        self.shared = {"base": 0, "attempted": 0, "acked": []}
        # key -> DEBUG DIGEST-VALUE expected (keys no longer written: earlier epochs, fill)
        self.frozen = {}
        self.seq = [0] * nworkers
        self.errors = {}  # error reply prefix -> count
        self.new_epoch()

    @staticmethod
    def _counter():
        return {"base": 0, "acked": 0, "attempted": 0, "ack_times": []}

    @staticmethod
    def _string():
        return {"base": None, "sent": [], "acked": 0, "ack_times": []}

    def list_key(self, w):
        return "lst:%d:%d" % (self.epoch, w)

    def new_epoch(self):
        self.epoch += 1
        self.lists = {w: {"key": self.list_key(w), "base": [], "sent": [], "acked": 0,
                          "ack_times": []} for w in range(self.nworkers)}

    def acked_total(self):
        n = sum(c["acked"] for c in self.counters.values())
        n += sum(l["acked"] for l in self.lists.values())
        n += sum(s["acked"] for s in self.strings.values())
        n += sum(t["acked"] for t in self.tx.values())
        n += len(self.shared["acked"])
        return n

    def note_error(self, err):
        k = str(err).split(" ", 1)[0]
        with self.lock:
            self.errors[k] = self.errors.get(k, 0) + 1

    # ------------------------------------------------------------------ verification

    def read_state(self, c):
        """Everything the model knows about, read from the server."""
        st = {}
        keys = list(self.counters)
        for k, v in zip(keys, c.pipeline([("GET", k) for k in keys])):
            st[k] = v
        for w, l in self.lists.items():
            st[l["key"]] = c.call("LRANGE", l["key"], 0, -1)
        keys = list(self.strings)
        for k, v in zip(keys, c.call("MGET", *keys)):
            st[k] = v
        for w in self.tx:
            st["tx:%d" % w] = c.call("MGET", "txa:%d" % w, "txb:%d" % w)
        st["tx:all"] = c.call("MGET", "txa:all", "txb:all")
        frozen = list(self.frozen)
        digests = {}
        for i in range(0, len(frozen), 500):
            chunk = frozen[i:i + 500]
            for k, d in zip(chunk, c.pipeline([("DEBUG", "DIGEST-VALUE", k) for k in chunk])):
                digests[k] = d[0] if isinstance(d, list) and d else d
        st["__frozen__"] = digests
        return st

    def verify(self, st):
        """Compares a state read after a restart with the model. Returns a dict with
        violations, lost (count), lost_times (ack times of lost writes), acked, found."""
        viol, lost_times = [], []
        approx = False

        def toint(v):
            return int(v) if v is not None else 0

        for k, m in self.counters.items():
            v = toint(st[k])
            lo, hi = m["base"] + m["acked"], m["base"] + m["attempted"]
            if v > hi:
                viol.append("%s=%d but only %d INCR were ever sent" % (k, v, hi))
            if v < lo:
                lost_times.extend(_last(sorted(m["ack_times"]), lo - v))
                approx = True
        for w, m in self.lists.items():
            got = st[m["key"]] or []
            exp = m["base"] + m["sent"]
            if got != exp[:len(got)]:
                i = next(i for i in range(len(got)) if i >= len(exp) or got[i] != exp[i])
                viol.append("%s is not a prefix of what was sent: index %d holds %r, expected %r"
                            % (m["key"], i, got[i], exp[i] if i < len(exp) else None))
            need = len(m["base"]) + m["acked"]
            if len(got) < need:
                for i in range(len(got), need):
                    j = i - len(m["base"])
                    lost_times.append(m["ack_times"][j] if j >= 0 else 0.0)
        for k, m in self.strings.items():
            v = st[k]
            if m["acked"] == 0 and v == m["base"]:
                continue
            if v in m["sent"]:
                i = m["sent"].index(v) + 1  # writes up to i applied
                if i < m["acked"]:
                    lost_times.extend(m["ack_times"][i:m["acked"]])
            elif v == m["base"]:
                lost_times.extend(m["ack_times"][:m["acked"]])
            else:
                viol.append("%s=%r: a value never sent (base %r)" % (k, v, m["base"]))
        for w, m in self.tx.items():
            a, b = st["tx:%d" % w]
            a, b = toint(a), toint(b)
            if a != b:
                viol.append("partial transaction: txa:%d=%d txb:%d=%d" % (w, a, w, b))
            lo, hi = m["base"] + m["acked"], m["base"] + m["attempted"]
            if a > hi:
                viol.append("txa:%d=%d but only %d transactions sent" % (w, a, hi))
            if a < lo:
                lost_times.extend(_last(m["ack_times"], lo - a))
        a, b = st["tx:all"]
        a, b = toint(a), toint(b)
        if a != b:
            viol.append("partial transaction: txa:all=%d txb:all=%d" % (a, b))
        if a > self.shared["base"] + self.shared["attempted"]:
            viol.append("txa:all=%d above transactions sent" % a)
        lost_times.extend(t for (val, t) in self.shared["acked"] if val > a)
        if a < self.shared["base"]:
            lost_times.extend([0.0] * (self.shared["base"] - a))
        for k, d in st["__frozen__"].items():
            if d != self.frozen[k]:
                viol.append("key %s of an earlier server life changed or vanished" % k)
                lost_times.append(0.0)
        acked = self.acked_total()
        return {"violations": viol, "lost": len(lost_times), "lost_times": lost_times,
                "acked": acked, "found": acked - len(lost_times), "approx": approx}

    def rebase(self, st, c):
        """What was found becomes the baseline; the lists of this epoch are frozen."""
        for k, m in self.counters.items():
            v = int(st[k]) if st[k] is not None else 0
            m.update(base=v, acked=0, attempted=0, ack_times=[])
        for w, m in self.lists.items():
            if st[m["key"]]:
                self.frozen[m["key"]] = None
        for k, m in self.strings.items():
            m.update(base=st[k], sent=[], acked=0, ack_times=[])
        for w, m in self.tx.items():
            v = int(st["tx:%d" % w][0] or 0)
            m.update(base=v, acked=0, attempted=0, ack_times=[])
        self.shared = {"base": int(st["tx:all"][0] or 0), "attempted": 0, "acked": []}
        self.freeze_pending(c)
        self.new_epoch()

    def freeze(self, c, keys):
        for k in keys:
            self.frozen[k] = None
        self.freeze_pending(c)

    def freeze_pending(self, c):
        keys = [k for k, d in self.frozen.items() if d is None]
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for k, d in zip(chunk, c.pipeline([("DEBUG", "DIGEST-VALUE", k) for k in chunk])):
                self.frozen[k] = d[0] if isinstance(d, list) and d else d


class Worker(threading.Thread):
    """Writes until stopped, the connection breaks, or max_ops writes were attempted."""

    def __init__(self, model, w, port, seed, stop, max_ops=None, value_size=0):
        super().__init__(daemon=True)
        self.m, self.w, self.port, self.stop = model, w, port, stop
        self.rnd = random.Random(seed)
        self.max_ops = max_ops
        self.pad = b"x" * value_size
        self.ops = 0
        self.acked = 0
        self.refused = 0
        self.ended_by = None

    def value(self):
        self.m.seq[self.w] += 1
        return b"%d:%d%s" % (self.w, self.m.seq[self.w], self.pad)

    def run(self):
        try:
            c = Client(self.port, timeout=20)
        except OSError as e:
            self.ended_by = "connect: %s" % e
            return
        m = self.m
        try:
            while not self.stop.is_set():
                if self.max_ops is not None and self.ops >= self.max_ops:
                    self.ended_by = "max_ops"
                    break
                self.ops += 1
                r = self.rnd.random()
                if r < 0.22:
                    k = "ctr:%d" % self.rnd.randrange(N_COUNTERS)
                    cm = m.counters[k]
                    with m.lock:
                        cm["attempted"] += 1
                    rep = self._one(c, ("INCR", k))
                    if isinstance(rep, ReplyError):
                        with m.lock:
                            cm["attempted"] -= 1
                        self._refused(rep)
                        continue
                    t = time.time()
                    with m.lock:
                        cm["acked"] += 1
                        cm["ack_times"].append(t)
                elif r < 0.47:
                    lm = m.lists[self.w]
                    v = self.value()
                    lm["sent"].append(v)
                    rep = self._one(c, ("RPUSH", lm["key"], v))
                    if isinstance(rep, ReplyError):
                        lm["sent"].pop()
                        self._refused(rep)
                        continue
                    lm["ack_times"].append(time.time())
                    lm["acked"] += 1
                elif r < 0.72:
                    k = "str:%d:%d" % (self.w, self.rnd.randrange(N_STRINGS))
                    sm = m.strings[k]
                    v = self.value()
                    sm["sent"].append(v)
                    rep = self._one(c, ("SET", k, v))
                    if isinstance(rep, ReplyError):
                        sm["sent"].pop()
                        self._refused(rep)
                        continue
                    sm["ack_times"].append(time.time())
                    sm["acked"] += 1
                elif r < 0.88:
                    tm = m.tx[self.w]
                    tm["attempted"] += 1
                    reps = self._tx(c, "txa:%d" % self.w, "txb:%d" % self.w)
                    if reps is None:
                        tm["attempted"] -= 1
                        continue
                    tm["ack_times"].append(time.time())
                    tm["acked"] += 1
                else:
                    with m.lock:
                        m.shared["attempted"] += 1
                    reps = self._tx(c, "txa:all", "txb:all")
                    if reps is None:
                        with m.lock:
                            m.shared["attempted"] -= 1
                        continue
                    with m.lock:
                        m.shared["acked"].append((reps[0], time.time()))
                self.acked += 1
        except (OSError, ConnectionError) as e:
            self.ended_by = "connection: %s" % e.__class__.__name__
        finally:
            c.close()

    def _one(self, c, cmd):
        c.send(cmd)
        return c.read_reply()

    def _refused(self, err):
        self.refused += 1
        self.m.note_error(err)

    def _tx(self, c, ka, kb):
        """MULTI/INCR/INCR/EXEC pipelined; the EXEC reply is the acknowledgement. Returns
        the two values, or None when refused (nothing applied)."""
        reps = c.pipeline([("MULTI",), ("INCR", ka), ("INCR", kb), ("EXEC",)])
        for r in reps:
            if isinstance(r, ReplyError):
                self._refused(r)
                return None
        ex = reps[3]
        if not isinstance(ex, list) or len(ex) != 2 or any(isinstance(x, ReplyError) for x in ex):
            self._refused(ReplyError("EXEC-ABORT %r" % (ex,)))
            return None
        if ex[0] != ex[1]:
            # Live disagreement would be a bug too; the restart check reports it.
            self.m.note_error(ReplyError("LIVE-TX-DISAGREE %r" % (ex,)))
        return ex


def start_workers(model, port, n, seed, stop, max_ops=None, value_size=0):
    ws = [Worker(model, w, port, seed * 1000 + w, stop, max_ops, value_size) for w in range(n)]
    for w in ws:
        w.start()
    return ws


def fill(c, n, size=64, prefix="fill"):
    """n keys that are never written again (frozen), so a rewrite has something to copy."""
    keys = ["%s:%d" % (prefix, i) for i in range(n)]
    for i in range(0, n, 1000):
        c.pipeline([("SET", k, (k + ":") * (size // len(k) + 1)) for k in keys[i:i + 1000]])
    return keys

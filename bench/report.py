"""From raw rows to figures (per-pair ratios, median, min-max), goals, report.md, summary.csv,
ratios.png, and the 'Latest result' block of bench/README.md.

A figure is one (workload, case, metric). For each pair, ratio = patched against stock:
  speed figures (throughput):         patched_rps / stock_rps
  time figures (seconds, latency):    stock_time / patched_time   (i.e. a ratio of speeds)
  size figures (memory, COW):         patched_bytes / stock_bytes
so a speed ratio above 1 is faster and a size ratio below 1 is smaller.

Where the peer (Valkey) ran too, a second ratio compares patched with it the same way, the
peer in stock's place: peer_time / patched_time, patched_bytes / peer_bytes.
"""

import csv
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

KIND = {"rps": "speed", "p50_ms": "time", "p99_ms": "time", "load_s": "time",
        "rewrite_s": "time", "used_memory": "size", "rss": "size", "rss_empty": "size",
        "cow_bytes": "size", "child_peak_private_dirty": "size", "child_peak_rss": "size",
        "restart_s": "time", "peak_total_mem": "size", "parent_peak_rss": "size",
        "parent_rss_start": "size", "write_max_ms": "time"}
UNIT = {"rps": "ops/s", "p50_ms": "ms", "p99_ms": "ms", "load_s": "s", "rewrite_s": "s",
        "used_memory": "B", "rss": "B", "rss_empty": "B", "cow_bytes": "B",
        "child_peak_private_dirty": "B", "child_peak_rss": "B", "restart_s": "s",
        "peak_total_mem": "B", "parent_peak_rss": "B", "parent_rss_start": "B",
        "write_max_ms": "ms"}
POLICIES = ["off", "no", "everysec", "always"]
COMMAND_ORDER = ["SET", "INCR", "LPUSH", "HSET", "MSET"]
README_BEGIN = "<!-- latest-result:begin (written by bench/main.py after a full run) -->"
README_END = "<!-- latest-result:end -->"
SIZES_NOTE = {
    "full": "The issue fixes 2 M keys and 64 KiB; the size of the INCR dataset and the number "
            "of large values are this harness's choice, so that each load takes seconds.",
    "quick": "Quick mode: smaller datasets and a subset of the writes (SET only), a sanity "
             "check whose figures do not compare with a full run's.",
}


def _median(values):
    return statistics.median(values) if values else None


@dataclass
class Figure:
    """A series of per-pair values; for A/B figures, ratios patched/stock (and, where the
    peer ran, peer_ratios: patched against the peer)."""
    workload: str
    case: str
    metric: str
    stock: list = field(default_factory=list)
    patched: list = field(default_factory=list)
    ratios: list = field(default_factory=list)
    peer: list = field(default_factory=list)
    peer_ratios: list = field(default_factory=list)

    @property
    def kind(self):
        return KIND.get(self.metric, "ratio")

    @property
    def median(self):
        return _median(self.ratios)

    @property
    def spread(self):
        return (min(self.ratios), max(self.ratios)) if self.ratios else (None, None)

    @property
    def label(self):
        return "%s %s" % (self.case, self.metric)

    def vs_peer(self):
        """The same figure with the peer in stock's place (None when the peer did not run)."""
        if not self.peer_ratios:
            return None
        return Figure(self.workload, self.case, self.metric + " vs peer", self.peer,
                      self.patched, self.peer_ratios)


def ratio(kind, stock, patched):
    num, den = (stock, patched) if kind == "time" else (patched, stock)
    return num / den if den else None


def _by_pair(rows, key):
    """The rows' values grouped for pairing: {key(row): [{build: value}, ...]}, one dict
    per pair in pair order, over the rows for which key(row) is not None."""
    by = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        k = key(r)
        if k is not None:
            by[k][int(r["pair"])][r["build"]] = float(r["value"])
    return {k: [v for _, v in sorted(pairs.items())] for k, pairs in by.items()}


def figures(rows):
    """{(workload, case, metric): Figure}, pairs matched by pair index."""
    def key(r):
        return (r["workload"], r["case"], r["metric"]) if r["metric"] in KIND else None
    out = {}
    for k, pairs in _by_pair(rows, key).items():
        f = Figure(*k)
        for v in pairs:
            f.stock += [v["stock"]] if "stock" in v else []
            f.patched += [v["patched"]] if "patched" in v else []
            f.peer += [v["peer"]] if "peer" in v else []
            if "stock" in v and "patched" in v:
                r = ratio(f.kind, v["stock"], v["patched"])
                if r is not None:
                    f.ratios.append(r)
            if "peer" in v and "patched" in v:
                r = ratio(f.kind, v["peer"], v["patched"])
                if r is not None:
                    f.peer_ratios.append(r)
        out[k] = f
    return out


def write_case(case):
    """'SET 32B P16 everysec' -> ('SET', '32B', 'P16', 'everysec')"""
    return tuple(case.split())


def _case_order(key):
    """(cmd, size, pipeline, ...) -> 32B before 1024B, pipelined first, then command order."""
    cmd, size, pipe = key[:3]
    rank = COMMAND_ORDER.index(cmd) if cmd in COMMAND_ORDER else len(COMMAND_ORDER)
    return (int(size[:-1]), -int(pipe[1:]), rank)


def aof_cost(rows):
    """The cost of AOF on each build: {(cmd size pipeline, policy): {build: Figure}} whose
    per-pair values are rps with AOF under the policy / rps of the same binary with
    appendonly no, in the same pair."""
    rps = defaultdict(dict)
    for r in rows:
        if r["workload"] == "write" and r["metric"] == "rps":
            rps[(int(r["pair"]), r["build"])][r["case"]] = float(r["value"])
    cost = defaultdict(dict)
    for (pair, build), cases in sorted(rps.items()):
        for case, value in cases.items():
            cmd, size, pipe, policy = write_case(case)
            base = "%s %s %s" % (cmd, size, pipe)
            off = cases.get(base + " off")
            if policy != "off" and off:
                f = cost[(base, policy)].setdefault(
                    build, Figure("aof-cost", "%s %s" % (base, policy), "%s rps/off" % build))
                f.ratios.append(value / off)
    return cost


CHECKSUM_BUILD = "checksum"  # the patched binary with `aof-checksum yes` (main.py)


def checksum_cost(rows):
    """What `aof-checksum yes` costs (issue #31), the same binary with it on against off in
    the same pair: {(case, metric): Figure} for each AOF-on write case, metric "rps" (speed
    ratio checksum rps / patched rps) and "aof_bytes" (size ratio: the bytes a
    redis-benchmark run added to the AOF with checksums / without). In these figures
    `stock` holds the values with `aof-checksum no` and `patched` those with yes."""
    def key(r):
        measured = (r["workload"], r["metric"]) in (("write", "rps"), ("check", "aof_bytes"))
        return (r["case"], r["metric"]) if measured else None
    out = {}
    for (case, metric), pairs in sorted(_by_pair(rows, key).items()):
        f = Figure("checksum", case, metric)
        for v in pairs:
            if "patched" in v and CHECKSUM_BUILD in v:
                f.stock.append(v["patched"])
                f.patched.append(v[CHECKSUM_BUILD])
                if v["patched"]:
                    f.ratios.append(v[CHECKSUM_BUILD] / v["patched"])
        if f.ratios:
            out[(case, metric)] = f
    return out


def _checksum_figs(metric, pipeline=None):
    return lambda _figs, rows: [f for (case, m), f in sorted(checksum_cost(rows).items())
                                if m == metric and (pipeline is None
                                                    or write_case(case)[2] == pipeline)]


# ---------------------------------------------------------------------------------------
# Goals: computed from the medians of this run, never written down

@dataclass
class Goal:
    title: str
    select: object  # (figs, rows) -> [Figure]
    op: str  # ">=" or "<="
    threshold: float
    ambition: bool = False  # reported, but not a requirement

    def met(self, value):
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def gap(self, value):
        """How far value is from the threshold, as text ('' when met)."""
        if self.met(value):
            return ""
        diff = abs(value - self.threshold)
        return "%s by %.3f, %+.1f %%" % ("short" if self.op == ">=" else "over", diff,
                                        100 * (value / self.threshold - 1))


def _select(figs, pred):
    return [f for f in figs.values() if pred(f) and f.median is not None]


def _is_aof_write(f, pipeline=None, policy=None):
    if f.workload != "write" or f.metric != "rps":
        return False
    _, _, pipe, pol = write_case(f.case)
    return (pol != "off" and (pipeline is None or pipe == pipeline)
            and (policy is None or pol == policy))


def _loads(figs, _rows):
    return _select(figs, lambda f: f.workload == "load" and f.metric == "load_s")


def _load_of_sets(figs, _rows):
    """The issue's own figure: a RESP-only AOF of 2 M SETs."""
    return _select(figs, lambda f: f.workload == "load" and f.case == "sets"
                   and f.metric == "load_s")


def _patched_cost_everysec_p16(_figs, rows):
    return [per["patched"] for (case, policy), per in sorted(aof_cost(rows).items())
            if policy == "everysec" and case.endswith(" P16") and "patched" in per]


def _figs(workload, cases, metrics):
    """A selector of the figures of workload over the given cases and metrics (issue #20's
    goals name their datasets)."""
    return lambda figs, _rows: [f for c in cases for m in metrics
                                for f in [figs.get((workload, c, m))]
                                if f is not None and f.median is not None]


def _joined(*selects):
    """A selector of what each of `selects` selects."""
    return lambda figs, rows: [f for select in selects for f in select(figs, rows)]


def _vs_peer(select):
    """The same figures with the peer in stock's place; those the peer did not run are left
    out (a run without the peer marks the goal 'not measured')."""
    return lambda figs, rows: [p for p in (f.vs_peer() for f in select(figs, rows))
                               if p is not None and p.median is not None]


_REWRITES_DEFAULT_FORM = _figs("rewrite", ["sets preamble yes"], ["rewrite_s"])
_REWRITES_HEAVY_DEFAULT_FORM = _figs("rewrite-load", ["heavy-resp preamble yes"], ["rewrite_s"])


def _restarts(figs, _rows):
    return _select(figs, lambda f: f.workload == "restart" and f.metric == "restart_s")


GOALS = [
    Goal("AOF load of 2 M SETs ≥ 1.5× stock (the issue's figure)", _load_of_sets, ">=", 1.5),
    Goal("AOF load of 2 M SETs 2× stock (ambition)", _load_of_sets, ">=", 2.0, ambition=True),
    Goal("AOF load ≥ 1.5× stock, every dataset (stricter than the issue)", _loads, ">=", 1.5),
    Goal("AOF load never slower than stock (large values, RDB base)", _loads, ">=", 1.0),
    Goal("Command-form rewrite ≥ 1.5× stock",
         lambda figs, _: _select(figs, lambda f: f.workload == "rewrite"
                                 and f.case.endswith("preamble no") and f.metric == "rewrite_s"),
         ">=", 1.5),
    Goal("Pipelined write throughput under everysec ≥ 1.15× stock",
         lambda figs, _: _select(figs, lambda f: _is_aof_write(f, "P16", "everysec")),
         ">=", 1.15),
    Goal("Cost of AOF on patched, pipelined everysec ≤ 5 % (rps ≥ 0.95× its appendonly no)",
         _patched_cost_everysec_p16, ">=", 0.95),
    Goal("Write throughput never below 1.0× stock, any appendfsync policy",
         lambda figs, _: _select(figs, _is_aof_write), ">=", 1.0),
    Goal("Memory after loading ≤ stock + 1 % (used_memory and RSS)",
         lambda figs, _: _select(figs, lambda f: f.workload == "load"
                                 and f.metric in ("used_memory", "rss")), "<=", 1.01),
    # Issue #20: what a user feels, beside the fastest peer.
    Goal("Restart of 2 M SETs ≥ 2.5× stock (#20)",
         _figs("restart", ["sets"], ["restart_s"]), ">=", 2.5),
    Goal("Restart of the mixed and the RDB base + INCR datasets ≥ 2× stock (#20)",
         _figs("restart", ["resp", "rdb-incr"], ["restart_s"]), ">=", 2.0),
    Goal("Restart of the heavy RESP AOF ≥ 1.6× stock (#20)",
         _figs("restart", ["heavy-resp"], ["restart_s"]), ">=", 1.6),
    # Issue #30: the restart in the default configuration (an RDB BASE), warm and cold.
    Goal("Default-configuration restart of 2 M SETs ≥ 2× stock, warm and cold (#30)",
         _figs("restart", ["sets-rdb", "sets-rdb cold"], ["restart_s"]), ">=", 2.0),
    Goal("Default-configuration restart of the mixed and heavy datasets ≥ 1.6× stock, warm "
         "and cold (#30)", _figs("restart", ["rdb-base", "heavy", "rdb-base cold", "heavy cold"],
                                 ["restart_s"]), ">=", 1.6),
    Goal("RSS after a default-configuration restart ≤ stock + 1 % (#30)",
         _figs("restart", ["sets-rdb", "rdb-base", "heavy"], ["rss"]), "<=", 1.01),
    Goal("Restart ahead of the peer on every dataset it reads (#20)", _vs_peer(_restarts),
         ">=", 1.0),
    Goal("Default-form BGREWRITEAOF of 2 M SETs ≥ 2.2× stock (#20)", _REWRITES_DEFAULT_FORM,
         ">=", 2.2),
    Goal("Default-form BGREWRITEAOF of the heavy dataset under load ≥ 1.3× stock (#20)",
         _REWRITES_HEAVY_DEFAULT_FORM, ">=", 1.3),
    Goal("Default-form BGREWRITEAOF ahead of the peer (#20)",
         _vs_peer(_joined(_REWRITES_DEFAULT_FORM, _REWRITES_HEAVY_DEFAULT_FORM)), ">=", 1.0),
    # Issue #31: aof-checksum yes against no, the same binary.
    Goal("aof-checksum yes: the AOF grows ≤ 1 % on every write workload (#31)",
         _checksum_figs("aof_bytes"), "<=", 1.01),
    Goal("aof-checksum yes: pipelined write throughput ≥ 0.97× aof-checksum no (#31)",
         _checksum_figs("rps", "P16"), ">=", 0.97),
    Goal("Command-form child COW, and peak memory across a rewrite under load, ≤ stock (#20)",
         _joined(_figs("rewrite-load", ["heavy-resp preamble no"], ["cow_bytes"]),
                 _figs("rewrite-load", ["heavy-resp preamble yes", "heavy-resp preamble no"],
                       ["peak_total_mem"])), "<=", 1.0),
]


def evaluate(goal, figs, rows):
    chosen = goal.select(figs, rows)
    if not chosen:
        return {"mark": "not measured", "figures": 0, "met": 0, "worst": None, "in_spread": 0,
                "missed": []}
    worst = (min if goal.op == ">=" else max)(chosen, key=lambda f: f.median)
    missed = [f for f in chosen if not goal.met(f.median)]
    in_spread = sum(f.spread[0] <= goal.threshold <= f.spread[1] for f in chosen)
    if goal.ambition:
        mark = "reached" if not missed else "not reached"
    else:
        mark = "PASS" if not missed else "MISS"
    return {"mark": mark, "figures": len(chosen), "met": len(chosen) - len(missed),
            "worst": worst, "in_spread": in_spread, "missed": missed}


# ---------------------------------------------------------------------------------------
# Formatting

def fmt_value(metric, v):
    if v is None:
        return "n/a"
    unit = UNIT[metric]
    if unit == "B":
        return "%.1f MiB" % (v / 2**20)
    if unit == "ops/s":
        return "%.1fk" % (v / 1000)
    if unit == "s":
        return "%.3f s" % v
    return "%.3f ms" % v


def fmt_ratio(f):
    if f is None or f.median is None:
        return "n/a"
    lo, hi = f.spread
    return "%.3f (%.3f–%.3f)" % (f.median, lo, hi)


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _both(f, metric):
    """'stock median / patched median' of a figure's raw values."""
    return "%s / %s" % (fmt_value(metric, _median(f.stock)), fmt_value(metric, _median(f.patched)))


def _three(f, metric):
    """'stock / patched / peer' medians ('—' for the peer where it did not run)."""
    if f is None:
        return "n/a"
    peer = fmt_value(metric, _median(f.peer)) if f.peer else "—"
    return "%s / %s" % (_both(f, metric), peer)


def _spread3(f, metric):
    """Per build: 'median (min–max)' of its raw values, stock, patched, peer, one per line."""
    if f is None:
        return "n/a"

    def one(values):
        if not values:
            return "—"
        med = fmt_value(metric, _median(values))
        if len(values) < 2:
            return med
        return "%s (%s–%s)" % (med, fmt_value(metric, min(values)).split()[0],
                               fmt_value(metric, max(values)).split()[0])
    return " / ".join(one(v) for v in (f.stock, f.patched, f.peer))


def _peer_ratio(f):
    return fmt_ratio(f.vs_peer()) if f is not None and f.peer_ratios else "—"


def noise_floor(figs):
    """(min, max) of the `appendonly no` write ratios (no AOF code runs there, so each
    should be 1.0), or None when the run measured none."""
    off = [f.median for f in figs.values() if f.workload == "write" and f.metric == "rps"
           and f.case.endswith(" off") and f.median]
    return (min(off), max(off)) if off else None


def _noise_line(figs):
    floor = noise_floor(figs)
    if floor is None:
        return ("Noise floor: this run measured no `appendonly no` writes, so it has no "
                "floor of its own; read each ratio with its min–max range.")
    return ("Noise floor of this run (the `appendonly no` write ratios, where no AOF code "
            "runs): %.3f–%.3f; a ratio inside it is no difference." % floor)


def _section_goals(figs, rows):
    table, misses = [], []
    for g in GOALS:
        e = evaluate(g, figs, rows)
        worst = e["worst"]
        table.append([g.title, "**%s**" % e["mark"], "%d/%d" % (e["met"], e["figures"]),
                      "%.3f (%s)" % (worst.median, worst.label) if worst else "n/a",
                      "%s %.2f" % ("≥" if g.op == ">=" else "≤", g.threshold),
                      g.gap(worst.median) if worst else "", "%d" % e["in_spread"]])
        if e["missed"]:
            misses.append("- **%s** — %s: %s" % (g.title, e["mark"], "; ".join(
                "%s %.3f — %s" % (f.label, f.median, g.gap(f.median))
                for f in sorted(e["missed"], key=lambda f: f.median, reverse=g.op == "<="))))
    out = ["## Goals", "",
           "Marks are computed from this run's medians: PASS when every figure the goal covers "
           "meets it, MISS otherwise; the gap is that of the worst figure. 'within spread' "
           "counts figures whose min–max range straddles the threshold, i.e. where the mark "
           "could flip with noise. Speed goals compare ratios patched/stock (the cost-of-AOF "
           "goal: patched with AOF / patched with `appendonly no`; the goals 'ahead of the peer': "
           "patched / Valkey; the #31 goals: patched with `aof-checksum yes` / the same "
           "binary with `no`); the memory and growth goals compare size ratios.", "",
           _table(["goal", "mark", "figures meeting", "worst median", "threshold", "gap",
                   "within spread"], table)]
    if misses:
        out += ["", "Every figure that misses a goal, and by how much:", ""] + misses
    return out


def _section_writes(figs):
    writes = [f for f in figs.values() if f.workload == "write"]
    keys = sorted({write_case(f.case)[:3] for f in writes}, key=_case_order)
    policies = [p for p in POLICIES if any(write_case(f.case)[3] == p for f in writes)]
    if not keys:
        return []
    rows = [[" ".join(k)] + [fmt_ratio(figs.get(("write", " ".join(k + (p,)), "rps")))
                             for p in policies] for k in keys]
    header = ["command, value, pipeline"] + [
        ("appendonly no" if p == "off" else "appendfsync " + p) for p in policies]
    lat = []
    for k in keys:
        case = " ".join(k + ("always",))
        p50, p99 = figs.get(("write", case, "p50_ms")), figs.get(("write", case, "p99_ms"))
        if p50 and p99:
            lat.append([" ".join(k), _both(p50, "p50_ms"), _both(p99, "p99_ms"),
                        fmt_ratio(p50), fmt_ratio(p99)])
    out = ["", "## Write throughput",
           "", "`redis-benchmark -c 50 -r 100000 --seed 4242 -P <pipeline> -d <value>`, one "
           "run per command on a fresh, empty server per (value, pipeline, policy). MSET sets "
           "10 keys per request. INCR sends no value, so it runs at 32 B only. Speed ratio "
           "patched/stock of requests per second, median (min–max) over pairs.",
           "", _table(header, rows)]
    if lat:
        out += ["", "### Latency under appendfsync always",
                "", "Latency as redis-benchmark reports it (medians over pairs, stock / "
                "patched); ratio = stock latency / patched latency (above 1 = patched answers "
                "sooner).", "",
                _table(["case", "p50 stock / patched", "p99 stock / patched", "p50 ratio",
                        "p99 ratio"], lat)]
    return out


def _section_cost(rows):
    cost = aof_cost(rows)
    if not cost:
        return []
    cases = sorted({c for c, _ in cost}, key=lambda c: _case_order(c.split()))
    policies = [p for p in POLICIES[1:] if any(p == q for _, q in cost)]

    def cell(case, p):
        per = cost.get((case, p), {})
        return " / ".join("%+.1f %%" % (100 * (per[b].median - 1)) if b in per else "n/a"
                          for b in ("stock", "patched"))
    return ["", "## Cost of AOF itself",
            "", "Per build: throughput with AOF under the policy against throughput of the "
            "same binary with `appendonly no`, both measured in the same pair; median over "
            "pairs of (rps with AOF / rps without − 1), shown as stock / patched. −20 % means "
            "AOF costs that build a fifth of its throughput.", "",
            _table(["case"] + ["appendfsync " + p for p in policies],
                   [[c] + [cell(c, p) for p in policies] for c in cases])]


def _section_checksum(rows, figs):
    cost = checksum_cost(rows)
    if not cost:
        return []
    cases = sorted({c for c, _ in cost}, key=lambda c: _case_order(write_case(c)) + (
        POLICIES.index(write_case(c)[3]),))

    def growth(f):
        if f is None:
            return "n/a"
        lo, hi = f.spread
        return "%+.2f %% (%+.2f – %+.2f)" % (100 * (f.median - 1), 100 * (lo - 1), 100 * (hi - 1))

    table = []
    for c in cases:
        size, speed = cost.get((c, "aof_bytes")), cost.get((c, "rps"))
        table.append([c, growth(size),
                      "%s / %s" % (fmt_value("rps", _median(speed.stock)),
                                   fmt_value("rps", _median(speed.patched))) if speed else "n/a",
                      fmt_ratio(speed)])
    return ["", "## aof-checksum yes against no (issue #31)",
            "", "The patched binary run a third time in each write pair with `aof-checksum yes`, "
            "beside its run with the default `no` (order within a pair: stock, patched, "
            "checksum, reversed in odd pairs). Growth: the bytes each redis-benchmark run added "
            "to the AOF with checksums against without, median (min–max) over pairs; under "
            "`always` every write gets a closing line, so its growth is the line over the "
            "bytes one event-loop iteration wrote. Throughput: requests per second without / "
            "with (medians), and the speed ratio with/without, median (min–max) over pairs. "
            + _noise_line(figs), "",
            _table(["case", "AOF growth", "rps no / yes", "speed yes/no"], table)]


def _section_load(figs, meta):
    names = [n for n in ("sets", "resp", "rdb-incr", "large") if ("load", n, "load_s") in figs]
    if not names:
        return []
    ds = meta.get("datasets", {})
    rows, mem = [], []
    for n in names:
        g = lambda m: figs[("load", n, m)]
        d = ds.get(n, {})
        rows.append([n, "%s keys; %s" % (d.get("keys", "?"), d.get("files", "?")),
                     _both(g("load_s"), "load_s"), fmt_ratio(g("load_s"))])
        mem.append([n, _both(g("used_memory"), "used_memory"), _both(g("rss"), "rss"),
                    fmt_ratio(g("used_memory")), fmt_ratio(g("rss")),
                    _both(g("rss_empty"), "rss_empty")])
    return ["", "## AOF load",
            "", "`DEBUG LOADAOF`, timed by the client from sending it to the reply: each build "
            "starts empty with `appendonly yes`, the dataset's files (hard links to one set of "
            "files, generated once by stock and fsynced) replace its `appendonlydir`, and "
            "DEBUG LOADAOF reads the manifest and loads them into the empty keyspace. The files "
            "are in the page cache, so this measures parsing and applying, not the disk.", "",
            _table(["dataset", "files", "load time stock / patched", "load speed ratio"], rows),
            "", "## Memory after loading", "",
            "Right after DEBUG LOADAOF: `used_memory` from INFO (the allocator's count, exact "
            "at the call) and the server's RSS read from `/proc/<pid>/status` (INFO's "
            "`used_memory_rss` is sampled every 100 ms, possibly before a short load ended); "
            "size ratio patched/stock (below 1 = smaller). RSS before loading is the same "
            "server, empty, just before: the part of RSS that does not depend on the data.", "",
            _table(["dataset", "used_memory stock / patched", "RSS stock / patched",
                    "used_memory ratio", "RSS ratio", "RSS before loading"], mem)]


def _section_rewrite(figs, meta):
    cases = sorted({f.case for f in figs.values() if f.workload == "rewrite"})
    if not cases:
        return []
    rows = []
    for c in cases:
        g = lambda m: figs.get(("rewrite", c, m))
        rows.append([c, _spread3(g("rewrite_s"), "rewrite_s"), fmt_ratio(g("rewrite_s")),
                     _peer_ratio(g("rewrite_s"))]
                    + [_three(g(m), m) + " → " + fmt_ratio(g(m)) if g(m) else "n/a"
                       for m in ("cow_bytes", "child_peak_private_dirty", "child_peak_rss")])
    ds = meta.get("datasets", {})
    about = {"rdb-base": "%s keys of mixed types under an RDB base, so no peer",
             "sets": "%s SETs in a RESP AOF, the peer too"}
    names = sorted({c.split()[0] for c in cases})
    which = "; ".join("`%s`: %s" % (n, about.get(n, "%s keys") % ds.get(n, {}).get("keys", "?"))
                      for n in names)
    return ["", "## BGREWRITEAOF",
            "", "Each build starts on a copy of a dataset (%s), then runs BGREWRITEAOF with "
            "the RDB preamble (the default form), then in command form "
            "(`aof-use-rdb-preamble no`). Wall time from sending BGREWRITEAOF until INFO shows "
            "no rewrite in progress (polled every 10 ms, server hz 100 so the parent reaps the "
            "child within 10 ms): stock / patched / peer, each its median (min–max) over "
            "pairs; speed ratios patched against stock and against the peer. COW is INFO "
            "`aof_last_cow_size` (what the child reports); "
            "child peak private dirty is sampled from `/proc/<child>/smaps_rollup` every 50 ms "
            "(a lower bound of the true peak); child peak RSS is the child's VmHWM, which "
            "includes the pages it shares with the parent. Memory cells: stock / patched / "
            "peer medians, then the size ratio against stock. The peer writes its own RDB "
            "version in the preamble, so its files and their sizes are not stock's. %s"
            % (which, _noise_line(figs)), "",
            _table(["case", "time stock / patched / peer", "vs stock", "vs peer", "COW (INFO)",
                    "child peak private dirty", "child peak RSS (VmHWM)"], rows)]


def _section_restart(figs, meta):
    names = [n for n in ("sets", "resp", "rdb-incr", "large", "heavy", "heavy-resp",
                         "sets-rdb", "rdb-base", "sets-rdb cold", "rdb-base cold", "heavy cold")
             if ("restart", n, "restart_s") in figs]
    if not names:
        return []
    ds = meta.get("datasets", {})
    rows, mem = [], []
    for n in names:
        g = lambda m: figs.get(("restart", n, m))
        d = ds.get(n.replace(" cold", ""), {})
        rows.append([n, "%s keys; %s%s" % (d.get("keys", "?"), d.get("files", "?"),
                                           "" if d.get("resp_only") else " (RDB: no peer)"),
                     _spread3(g("restart_s"), "restart_s"), fmt_ratio(g("restart_s")),
                     _peer_ratio(g("restart_s"))])
        mem.append([n, _three(g("used_memory"), "used_memory"), _three(g("rss"), "rss"),
                    fmt_ratio(g("rss")), _peer_ratio(g("rss"))])
    return ["", "## Restart",
            "", "What a user waits for after a restart: each build is exec'd with `appendonly "
            "yes` (every other setting its default) on a data dir whose `appendonlydir` holds "
            "the dataset's files (hard links to the files the other builds read; in the page "
            "cache), and timed from just before the exec to the first PONG (a PING every "
            "millisecond, one at a time; `-LOADING` replies meanwhile). Times: stock / patched "
            "/ peer, each its median (min–max) over pairs; speed ratios patched against stock and against the peer (above "
            "1 = patched up sooner), median (min–max) over pairs. The peer (Valkey) reads "
            "Redis 7+ multi-part AOF directories but not Redis 8's RDB version, so it runs only "
            "on the RESP-only datasets. " + _noise_line(figs), "",
            _table(["dataset", "files", "time to first PONG stock / patched / peer",
                    "vs stock", "vs peer"], rows),
            "", "Memory right after the restart: `used_memory` (INFO) and RSS "
            "(`/proc/<pid>/status`); size ratio of RSS, patched against each (below 1 = "
            "patched smaller).", "",
            _table(["dataset", "used_memory stock / patched / peer",
                    "RSS stock / patched / peer", "RSS vs stock", "RSS vs peer"], mem)]


def _section_rewrite_load(figs, meta, rows_raw):
    cases = sorted({f.case for f in figs.values() if f.workload == "rewrite-load"},
                   key=lambda c: (c.split()[0], c.endswith("load"), c.endswith("no")))
    if not cases:
        return []
    rows = []
    for c in cases:
        g = lambda m: figs.get(("rewrite-load", c, m))
        for metric, title in (("peak_total_mem", "peak parent RSS + child Private_Dirty"),
                              ("rewrite_s", "BGREWRITEAOF time"),
                              ("parent_rss_start", "parent RSS before"),
                              ("parent_peak_rss", "parent peak RSS"),
                              ("child_peak_private_dirty", "child peak Private_Dirty"),
                              ("cow_bytes", "COW (INFO)"),
                              ("write_max_ms", "longest wait of a write batch, whole run")):
            f = g(metric)
            if f is not None:
                cell = (_spread3(f, metric) if metric in ("peak_total_mem", "rewrite_s")
                        else _three(f, metric))
                rows.append([c, title, cell, fmt_ratio(f), _peer_ratio(f)])
    rates = _checks(rows_raw, "writes_per_s")
    rate = "; ".join("%s: %s" % (case, " / ".join(
        "%s %.0f/s" % (b, statistics.median(float(x) for x in v)) for b, v in sorted(d.items())))
        for case, d in sorted(rates.items()))
    names = sorted({c.split()[0] for c in cases})
    keys = ", ".join("%s %s keys" % (n, meta.get("datasets", {}).get(n, {}).get("keys", "?"))
                     for n in names)
    return ["", "## Memory across a rewrite under write load",
            "", "Each build starts on a copy of the dataset (%s); a steady write load "
            "(`bench/writeload.py`, %s SETs/s of existing string keys, 64–400 B values, "
            "pinned to the client CPU) runs throughout; BGREWRITEAOF in the default form (RDB "
            "preamble), then in command form, each after MEMORY PURGE. The peak is of parent "
            "RSS + the child's `Private_Dirty` (`/proc/<child>/smaps_rollup` and the parent's "
            "VmRSS read together every 10 ms while the child lives): the memory the two hold "
            "at once, shared pages counted once. The longest wait is that of one batch of "
            "writes (10 ms of the load) for its replies, over the whole run (warm-up, forks, "
            "both rewrites): the stall a client felt. Writes made per second (the same load on "
            "every build): %s. Cells: stock / patched / peer medians (for the peak and the "
            "time, each with its min–max over pairs); ratios: size patched "
            "against stock and the peer (below 1 = smaller), speed for the time (above 1 = "
            "faster). %s"
            % (keys, meta.get("write_load_rps", "?"), rate or "n/a", _noise_line(figs)), "",
            _table(["case", "figure", "stock / patched / peer", "vs stock", "vs peer"], rows)]


def _checks(rows, metric):
    """{case: {build: [values]}} of a check metric."""
    out = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["workload"] == "check" and r["metric"] == metric:
            out[r["case"]][r["build"]].append(r["value"])
    return out


def _section_checks(rows, figs):
    out = ["", "## Sanity checks", ""]
    for case, d in sorted(_checks(rows, "digest").items(),
                          key=lambda kv: (kv[0].startswith("restart "), kv[0])):
        if case.startswith("restart "):
            same = d.get("stock") == d.get("patched")
            peer = ("" if "peer" not in d else "; the peer's %s" % (
                "is the same" if d["peer"] == d.get("stock") else "differs (%s; Valkey's "
                "digest leaves out hash field TTLs, for one; the key count matched)"
                % d["peer"][0][:16]))
            out.append("- %s: DEBUG DIGEST after the restart %s (%s)%s"
                       % (case, "identical on stock and patched" if same else "**DIFFERS**",
                          (d.get("stock") or ["?"])[0][:16], peer))
            continue
        same = d.get("stock") == d.get("patched")
        out.append("- load `%s`: DEBUG DIGEST after loading %s (%s)"
                   % (case, "identical on both builds" if same else "**DIFFERS**",
                      (d.get("stock") or ["?"])[0][:16]))
    loaded = {case: d.get("stock", [None])[0] for case, d in _checks(rows, "digest").items()
              if not case.startswith("restart ")}
    for case, d in sorted(_checks(rows, "reload_digest").items()):
        # The load of the same keys: resp holds rdb-base's, sets is its own.
        same_keys = {"rdb-base": "resp"}.get(case.split()[0], case.split()[0])
        got = {v for b in ("stock", "patched") for v in d.get(b, [])}
        peer = ("" if "peer" not in d else "; the peer's %s" % (
            "is the same" if set(d["peer"]) == got else "differs (%s)" % d["peer"][0][:16]))
        out.append("- rewrite `%s`: the AOF it wrote, reloaded with DEBUG LOADAOF, has %s%s%s"
                   % (case, "the same DEBUG DIGEST on stock and patched"
                      if len(got) == 1 else "**different DEBUG DIGESTs on the two builds**",
                      "" if same_keys not in loaded else
                      ", equal to the `%s` load's" % same_keys
                      if len(got) == 1 and loaded[same_keys] in got else
                      ", **not the `%s` load's**" % same_keys, peer))
    for case, d in sorted(_checks(rows, "base_bytes").items()):
        # The peer writes its own RDB version: its sizes are its own, not compared.
        sizes = {b: sorted(set(int(x) for x in v)) for b, v in d.items() if b != "peer"}
        if len({tuple(v) for v in sizes.values()}) == 1 and len(sizes["stock"]) == 1:
            text = "%s bytes on both builds, every pair" % format(sizes["stock"][0], ",")
        else:
            text = "**differs**: " + "; ".join("%s %s bytes" % (b, ", ".join(map(str, v)))
                                               for b, v in sorted(sizes.items()))
        out.append("- rewrite `%s`: BASE file written: %s" % (case, text))
    aof = _checks(rows, "aof_bytes")
    if aof:
        differ = [c for c, d in aof.items()
                  if set(map(str, d.get("stock", []))) != set(map(str, d.get("patched", [])))]
        out.append("- AOF bytes written per redis-benchmark run (the same commands, so the same "
                   "bytes): identical on both builds in %d of %d cases%s"
                   % (len(aof) - len(differ), len(aof),
                      "; **differ**: " + ", ".join(sorted(differ)) if differ else ""))
    floor = noise_floor(figs)
    if floor:
        out.append("- `appendonly no` throughput (no AOF code runs, so both builds should be "
                   "equal): speed ratios from %.3f to %.3f — the noise floor of this run."
                   % floor)
    spreads = [f.spread[1] - f.spread[0] for f in figs.values() if len(f.ratios) > 1]
    if spreads:
        out.append("- min–max spread of the ratios: median %.3f, largest %.3f."
                   % (statistics.median(spreads), max(spreads)))
    rates = _checks(rows, "writes_per_s")
    for case, d in sorted(rates.items()):
        med = {b: statistics.median(float(x) for x in v) for b, v in d.items()}
        lo, hi = min(med.values()), max(med.values())
        out.append("- rewrite `%s`: the write load ran at %s writes/s%s"
                   % (case, " / ".join("%s %.0f" % kv for kv in sorted(med.items())),
                      "" if hi <= lo * 1.02 else " — **not the same load on every build**"))
    return out


def _header(meta, run_dir):
    m = meta["machine"]
    ported = meta.get("ported")
    pin = meta.get("pinning")
    sizes = meta.get("sizes", {})
    # Runs before the version was recorded were all of 8.0.2.
    peer = meta.get("peer_version")
    out = ["# Benchmark: patched (Rust AOF) vs stock Redis %s%s — %s"
           % (meta.get("redis_version", "8.0.2"), ", beside Valkey %s" % peer if peer else "",
              meta["stamp"]), ""]
    if meta.get("aa"):
        out += ["> **A/A calibration run:** the side labelled *patched* is a copy of the "
                "stock binary, so every ratio should be 1.0; the spread and the distance "
                "from 1.0 are the noise of this machine and harness, not a result.", ""]
    if meta.get("debug"):
        out += ["> **Debug run** (%s): a check of the harness, not a result."
                % ", ".join(x for x in [
                    "only `%s`" % meta["only"] if meta.get("only") else "",
                    "scale %g" % meta["scale"] if meta.get("scale", 1.0) != 1.0 else "",
                    "%d pairs" % meta["pairs"] if meta["pairs"] < 5 else ""] if x), ""]
    out += [
        "**How to read:** every figure is measured on both builds in the same pair, back to "
        "back, and reported as a ratio patched/stock. **Speed ratio** (throughput, times, "
        "latencies) = patched_rps / stock_rps = stock_time / patched_time: above 1 means "
        "patched is faster. **Size ratio** (memory) = patched_bytes / stock_bytes: below 1 "
        "means patched is smaller. Each cell is the median over %d pairs with the min–max "
        "of the per-pair ratios in parentheses; raw numbers are in `%s/raw.csv`."
        % (meta["pairs"], run_dir), "",
        "- mode: **%s**, %d pairs (A B in each pair; the order alternates: stock first in "
        "even pairs, patched first in odd%s), took %.0f s"
        % (meta["mode"], meta["pairs"], "; where the peer runs: stock, patched, peer in even "
           "pairs, peer, patched, stock in odd" if peer else "", meta.get("duration_s", 0)),
        "- datasets: %s SETs of distinct keys (RESP-only AOF, the issue's load figure); "
        "%s mixed keys (RESP-only AOF, and RDB base for the rewrite); RDB base of "
        "%s keys + INCR of %s writes; %s values of 64 KiB%s. %s Load figures come from "
        "`DEBUG LOADAOF`%s."
        % (tuple(format(sizes.get(k, 0), ",") for k in
                 ("set_keys", "mixed_keys", "incr_base_keys", "incr_cmds", "large_keys"))
           + ("; the heavy dataset, %s keys (strings, hashes, lists, sets, zsets, streams of "
              "up to 600 elements, TTLs) as an RDB-preamble and as a RESP BASE, each with an "
              "INCR" % format(sizes["heavy_keys"], ",") if "heavy_keys" in sizes else "",
              SIZES_NOTE[meta["mode"]],
              "; restart figures from an exec on the files (the rewrite workloads' start-up "
              "loads are not timed)" if "heavy_keys" in sizes else
              ", never a restart (the rewrite workload's start-up load is not timed)")),
        "- source: commit `%s`%s; Rust library defines %s of upstream aof.c's functions"
        % (m["git_commit"], " (with uncommitted changes)" if m["git_dirty"] else "",
           "%d/%d" % tuple(ported) if ported else "an unknown number"),
        "- binaries: stock `%s…`, patched `%s…`%s (sha256 of the server binary)"
        % (meta["sha256"]["stock"], meta["sha256"]["patched"],
           ", peer `%s…`" % meta["sha256"]["peer"] if "peer" in meta["sha256"] else ""),
        "- peer: %s" % ("Valkey %s (`make peer`: its Debian orig tarball, sha256-verified, "
                        "built unmodified with its own defaults), third in the restart and "
                        "rewrite-under-load tasks on RESP-only datasets; the ratio *vs peer* "
                        "puts it in stock's place" % peer if peer else
                        "none (`make peer` builds it; `--no-peer` leaves it out)")]
    for name, v in sorted(meta.get("version", {}).items()):
        out.append("- `%s-server --version`, %s: `%s`"
                   % ("valkey" if name == "peer" else "redis", name, v))
    out += [
        "- machine: %s" % machine_line(meta),
        "- load average at start %s, at end %s" % (meta["loadavg_start"],
                                                  meta.get("loadavg_end", "?")),
        "- pinning: %s" % ("server (and its fork children) on CPU %d, clients on CPU %d; "
                           "in the load and restart tasks, where no client competes, the "
                           "server on every CPU" % (pin["server"], pin["client"])
                           if pin else "none"),
        ""]
    return out


def machine_line(meta):
    m = meta["machine"]
    return ("%s CPUs (%s), %s, %s GiB RAM; data on %s (%s), %s GiB free of %s GiB"
            % (m["nproc"], m["cpu_model"], m["kernel"], m["mem_total_gib"],
               m.get("disk_device", "?"), m.get("disk_fs", "?"), m["disk_free_gib"],
               m["disk_total_gib"]))


def render(rows, meta, image, run_dir):
    figs = figures(rows)
    body = _section_goals(figs, rows) + ["", "![ratios](%s)" % image]
    body += _section_writes(figs) + _section_cost(rows) + _section_checksum(rows, figs)
    body += _section_load(figs, meta)
    body += _section_rewrite(figs, meta) + _section_restart(figs, meta)
    body += _section_rewrite_load(figs, meta, rows) + _section_checks(rows, figs)
    every = [[f.workload, f.case, f.metric, fmt_value(f.metric, _median(f.stock)),
              fmt_value(f.metric, _median(f.patched)), fmt_ratio(f), len(f.ratios)]
             + ([fmt_value(f.metric, _median(f.peer)) if f.peer else "—", _peer_ratio(f)]
                if meta.get("peer_version") else [])
             for f in sorted(figs.values(), key=lambda f: (f.workload, f.case, f.metric))]
    body += ["", "<details><summary>Every figure</summary>", "",
             _table(["workload", "case", "metric", "stock median", "patched median",
                     "ratio (min–max)", "pairs"]
                    + (["peer median", "vs peer (min–max)"] if meta.get("peer_version") else []),
                    every), "", "</details>", ""]
    return "\n".join(_header(meta, run_dir) + body)


def readme_block(text, rows, meta, run_dir):
    """bench/README.md's text with its 'Latest result' block replaced by this run's: where
    the report is, when and on which machine it ran, and the goal marks."""
    figs = figures(rows)
    marks = ["- %s: **%s**" % (g.title, evaluate(g, figs, rows)["mark"]) for g in GOALS]
    block = "\n".join([
        README_BEGIN,
        "[`results/latest.md`](results/latest.md) (chart: [`results/latest.png`]"
        "(results/latest.png); raw numbers: [`results/%s/`](results/%s/)) is the last full "
        "run: %s, %d pairs, %.0f minutes, commit `%s`, on %s."
        % (run_dir, run_dir, meta["stamp"], meta["pairs"], meta.get("duration_s", 0) / 60,
           meta["machine"]["git_commit"], machine_line(meta)),
        "", "Goals in that run (medians; the report gives the gaps):", ""]
        + marks + [README_END])
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip("\n") + "\n\n## Latest result\n\n" + block + "\n"


def write_summary(path, figs):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "case", "metric", "kind", "unit", "stock_median",
                    "patched_median", "ratio_median", "ratio_min", "ratio_max", "pairs",
                    "peer_median", "vs_peer_median", "vs_peer_min", "vs_peer_max"])
        for x in sorted(figs.values(), key=lambda f: (f.workload, f.case, f.metric)):
            lo, hi = x.spread
            v = x.vs_peer()
            w.writerow([x.workload, x.case, x.metric, x.kind, UNIT[x.metric], _median(x.stock),
                        _median(x.patched), x.median, lo, hi, len(x.ratios),
                        _median(x.peer), v and v.median, v and v.spread[0],
                        v and v.spread[1]])


# ---------------------------------------------------------------------------------------
# Chart: one PNG, a panel per kind of figure, median with min-max bars

POLICY_COLORS = {"off": "grey", "no": "tab:blue", "everysec": "tab:green", "always": "tab:red"}


def _write_panel(ax, figs):
    """One row per (command, value, pipeline), a marker per policy, offset vertically."""
    writes = [f for f in figs.values() if f.workload == "write" and f.metric == "rps"
              and f.median is not None]
    keys = sorted({write_case(f.case)[:3] for f in writes}, key=_case_order)
    offset = {p: (i - 1.5) * 0.18 for i, p in enumerate(POLICIES)}
    for f in writes:
        k, policy = write_case(f.case)[:3], write_case(f.case)[3]
        lo, hi = f.spread
        ax.errorbar(f.median, keys.index(k) + offset[policy],
                    xerr=[[f.median - lo], [hi - f.median]], fmt="o",
                    color=POLICY_COLORS[policy], ms=3, capsize=1.5, lw=0.8)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([" ".join(k) for k in keys], fontsize=7)
    from matplotlib.lines import Line2D
    used = {write_case(f.case)[3] for f in writes}
    ax.legend(handles=[Line2D([], [], marker="o", ls="", color=c,
                              label="appendonly no" if p == "off" else "appendfsync " + p)
                       for p, c in POLICY_COLORS.items() if p in used],
              fontsize=7, loc="best")
    return len(keys)


def _figure_panel(ax, rows):
    """One row per figure: the ratio against stock (purple) and, where the peer ran, the
    ratio against the peer (teal, just below)."""
    for y, f in enumerate(rows):
        lo, hi = f.spread
        ax.errorbar(f.median, y, xerr=[[f.median - lo], [hi - f.median]], fmt="o",
                    color="tab:purple", ms=4, capsize=2, lw=1)
        v = f.vs_peer()
        if v is not None:
            lo, hi = v.spread
            ax.errorbar(v.median, y + 0.3, xerr=[[v.median - lo], [hi - v.median]], fmt="s",
                        color="tab:cyan", ms=3, capsize=2, lw=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([("%s: %s" % (f.workload, f.label)) if f.workload != "load" else f.label
                        for f in rows], fontsize=7)
    if any(f.peer_ratios for f in rows):
        from matplotlib.lines import Line2D
        ax.legend(handles=[Line2D([], [], marker="o", ls="", color="tab:purple",
                                  label="patched vs stock"),
                           Line2D([], [], marker="s", ls="", color="tab:cyan",
                                  label="patched vs peer (Valkey)")], fontsize=7, loc="best")


def chart(path, figs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def pick(sel):
        return [f for f in sorted(figs.values(), key=lambda f: (f.workload, f.case, f.metric))
                if sel(f) and f.median is not None]
    nwrite = len({write_case(f.case)[:3] for f in figs.values() if f.workload == "write"})
    speeds = pick(lambda f: f.workload in ("load", "rewrite") and f.kind == "time"
                  or f.workload == "restart" and f.metric == "restart_s"
                  or f.workload == "rewrite-load" and f.metric == "rewrite_s")
    sizes = pick(lambda f: f.workload in ("load", "rewrite") and f.kind == "size"
                 and f.metric != "rss_empty"  # the empty server's RSS is in the table only
                 or f.workload == "rewrite-load" and f.metric == "peak_total_mem")
    panels = [p for p in [
        ("Write throughput — speed ratio patched/stock", nwrite, None, [1.0, 1.15]),
        ("AOF load, rewrite, restart — speed ratio", len(speeds), speeds, [1.0, 1.5, 2.0]),
        ("Memory — size ratio (below 1 = smaller)", len(sizes), sizes, [1.0, 1.01])] if p[1]]
    if not panels:
        return
    heights = [max(n, 2) * (0.4 if rows and any(f.peer_ratios for f in rows) else 0.28) + 0.8
               for _, n, rows, _ in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (title, _, rows, lines) in zip(axes[:, 0], panels):
        if rows is None:
            _write_panel(ax, figs)
        else:
            _figure_panel(ax, rows)
        ax.invert_yaxis()
        for x in lines:
            ax.axvline(x, color="black" if x == 1.0 else "tab:orange", lw=0.8,
                       ls="-" if x == 1.0 else "--")
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("patched vs stock (and vs the peer): median, bars = min–max over "
                           "pairs; dashed = goal thresholds", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(out, rows, meta):
    out = Path(out)
    figs = figures(rows)
    write_summary(out / "summary.csv", figs)
    chart(out / "ratios.png", figs)
    (out / "report.md").write_text(render(rows, meta, image="ratios.png", run_dir="."))

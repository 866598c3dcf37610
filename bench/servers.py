"""Start, talk to and stop redis-server processes, and run client tools, for the benchmark.

The server process, its client connection and the RESP encoder are the tests' library's
(tests/lib/redistest, on PYTHONPATH from bench/run.sh). Every process started here is
registered and killed by stop_all() (main.py calls it in a finally block and on SIGTERM);
each also gets PR_SET_PDEATHSIG, so it dies with the harness even if the harness itself is
killed with SIGKILL.
"""

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redistest.server
from redistest.client import Client
from redistest.resp import ReplyError, encode  # noqa: F401  (servers.encode: datasets.py)
from redistest.server import children_of as children, proc_status_kib

PORTS = (30000, 30999)  # never the runtest default ports (21000-29999)
_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_live = []  # servers started and not yet stopped
# Sets of CPU ids, or None for no pinning. "any" is never pinned: a server that loads
# alone (the load and restart tasks; the harness's PING loop mostly sleeps) gets every
# CPU, as a user's server has, so the patched loader's reading thread runs beside its
# main thread (pinned to one CPU, the two would take turns on it).
CPUS = {"server": None, "client": None, "any": None}


RedisError = ReplyError  # an error reply, raised by call()


@dataclass
class Build:
    name: str  # "stock", "patched" or "peer"
    bindir: Path
    prog: str = "redis"  # the tools' prefix: redis-server, or valkey-server for the peer
    # Directives this build's servers always get (after the task's own), as ab.py's
    # "patched@aof-checksum=yes" asks.
    config: tuple = ()

    def tool(self, name):
        """The path of a tool named as Redis names it (redis-server, redis-cli, ...)."""
        if name.startswith("redis-"):
            name = self.prog + name[len("redis"):]
        return str(self.bindir / name)


def version(build):
    """The first line of `redis-server --version` (version, allocator, bits, build id); the
    peer's `valkey-server --version` says "Valkey server v=..." alike."""
    out = subprocess.run([build.tool("redis-server"), "--version"], capture_output=True,
                         text=True, timeout=30)
    return out.stdout.strip()


def release(version_line):
    """The release in a `redis-server --version` line ("Redis server v=8.0.6 sha=...")."""
    m = re.search(r"\bv=(\S+)", version_line)
    return m.group(1) if m else "unknown"


# Every server's directives before the workload's: loopback only, RDB snapshots and
# automatic AOF rewrites off (no unplanned fork lands in a measurement); upstream's
# defaults otherwise.
BASE_CONF = {"bind": "127.0.0.1", "save": "", "daemonize": "no",
             "auto-aof-rewrite-percentage": 0, "enable-debug-command": "local"}


class Server(redistest.server.Server):
    """One build's redis-server with data in WORKDIR/data and its log in WORKDIR/server.log
    (stdout and stderr dropped); `conn` is the connection call() uses. started and ready:
    time.monotonic() just before the exec and when the first PING got its PONG."""

    def __init__(self, build, workdir, config, pinned):
        datadir = Path(workdir) / "data"
        datadir.mkdir(parents=True, exist_ok=True)
        super().__init__(build.tool("redis-server"), datadir, config,
                         logfile=Path(workdir) / "server.log", output=False, ports=PORTS,
                         base_conf=BASE_CONF,
                         preexec_fn=_preexec("server" if pinned else "any"))
        self.build = build
        self.dir = Path(self.datadir)
        self.log = Path(self.logfile)
        self.conn = None


def set_pinning(server_cpus, client_cpus):
    CPUS["server"] = server_cpus
    CPUS["client"] = client_cpus


def _preexec(role):
    cpus = CPUS[role]

    def setup():
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if cpus:
            os.sched_setaffinity(0, cpus)
    return setup


def _connection(server, timeout):
    if server.conn is None:
        server.conn = Client(server.port, timeout=5, text_status=True, text_bulk=True)
    server.conn.settimeout(timeout)
    return server.conn


def call(server, *args, timeout=600):
    """The reply (statuses and bulk strings as str); an error reply is raised."""
    return _connection(server, timeout).call(*args)


def info(server, section):
    return _connection(server, 600).info(section)


# ---------------------------------------------------------------------------------------
# Servers

def start(build, workdir, config, wait_timeout=900, poll=0.005, pinned=True):
    """Starts build's redis-server on loopback with data in workdir/data, waits for PONG
    (a PING every `poll` seconds, one at a time; server.ready - server.started is the time
    from the exec to the first PONG).

    config: dict of extra directives (name -> value), after BASE_CONF.
    pinned=False: the server may run on every CPU the harness may (see set_pinning), for
    the tasks where no client competes with it."""
    server = Server(build, workdir, {**config, **dict(build.config)}, pinned)
    server.start()
    _live.append(server)
    state = server.wait_ready(wait_timeout, poll)
    if state == "exited":
        raise RuntimeError("%s redis-server exited with %s during start-up; log %s:\n%s"
                           % (build.name, server.proc.returncode, server.log, log_tail(server)))
    if state != "ready":
        raise RuntimeError("%s redis-server not ready after %ss" % (build.name, wait_timeout))
    return server


def log_tail(server, lines=15):
    try:
        return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def log_seconds(server, pattern):
    """The float captured by pattern in the server log (last match), e.g. load time."""
    matches = re.findall(pattern, server.log.read_text(errors="replace"))
    if not matches:
        raise RuntimeError("%s: %r not in %s:\n%s" % (server.build.name, pattern, server.log,
                                                       log_tail(server)))
    return float(matches[-1])


def stop(server, timeout=30):
    """Kills the server (SIGKILL) and its fork children and waits for it.

    Every server's data is thrown away afterwards, so there is nothing to save: SHUTDOWN
    would fsync the AOF (seconds of disk writes after a 1 KiB write group), and that
    writeback would land in the next measurement. Killed first, then deleted, the dirty
    pages of the AOF are dropped unwritten."""
    proc = server.proc
    if proc.poll() is None:
        for child in children(proc.pid):
            _kill(child, signal.SIGKILL)
        _kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    server.wait_exit(timeout)  # the library's bookkeeping (it is reaped already)
    if server.conn is not None:
        server.conn.close()
        server.conn = None
    if server in _live:
        _live.remove(server)


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_all():
    for server in list(_live):
        try:
            stop(server)
        except Exception as e:  # keep going: every other server must still be stopped
            print("bench: could not stop server on port %d: %s" % (server.port, e))


# ---------------------------------------------------------------------------------------
# Client tools (redis-benchmark, redis-cli --pipe), pinned to the client CPUs

def run_client(build, tool, args, stdin=None, timeout=1800):
    """Runs build's tool to completion; returns stdout. stdin: a callable that writes to
    the process's stdin (streaming, so big inputs never sit in memory)."""
    proc = subprocess.Popen([build.tool(tool)] + [str(a) for a in args],
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_preexec("client"))
    try:
        if stdin:
            stdin(proc.stdin)  # communicate() flushes and closes it
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError("%s %s exited with %d:\n%s" % (build.name, tool, proc.returncode,
                                                          err.decode(errors="replace")))
    return out.decode(errors="replace")


def start_write_load(server, rate, keys, seed, prefix="hs:"):
    """bench/writeload.py against server (rate SETs/s of prefix<n>, n < keys), pinned to
    the client CPUs; stop_write_load() ends it and returns the writes per second it made and
    the longest wait of one batch for its replies, in ms."""
    script = Path(__file__).resolve().parent / "writeload.py"
    return subprocess.Popen([sys.executable, str(script), str(server.port), str(rate),
                             str(keys), str(seed), prefix],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_preexec("client"))


def stop_write_load(proc, timeout=30):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError("writeload exited with %s: %s" % (proc.returncode,
                                                            err.decode(errors="replace")))
    writes, seconds, longest_ms = out.split()
    return int(writes) / float(seconds), float(longest_ms)


# ---------------------------------------------------------------------------------------
# Background rewrite, timed by polling INFO at ~10 ms

def rss(server):
    """The server's resident set size in bytes, read now from /proc (INFO's used_memory_rss
    is a sample the server takes every 100 ms, possibly from before a short load)."""
    kib = proc_status_kib(server.proc.pid, "VmRSS")
    if kib is None:
        raise RuntimeError("%s: no VmRSS for pid %d" % (server.build.name, server.proc.pid))
    return kib * 1024


def bgrewrite(server, poll=0.01, rollup_every=5, timeout=1800, total=False):
    """BGREWRITEAOF and wait until the parent has finished it (hz should be raised so the
    parent notices the child's exit promptly). Returns wall seconds, the COW size the child
    reported (INFO aof_last_cow_size) and the child's peak private-dirty and peak RSS
    (VmHWM) sampled from /proc (every rollup_every polls for smaps_rollup).

    total=True: smaps_rollup every poll instead, each time with the parent's VmRSS read
    beside it, and two more figures: the peak of parent RSS + child Private_Dirty (the
    memory the pair holds: the pages they share count once, in the parent's RSS; each page
    either side has copied since the fork counts again, in the child's Private_Dirty) and
    the parent's peak RSS, both over the samples taken while the child lived."""
    every = 1 if total else rollup_every
    t0 = time.monotonic()
    call(server, "BGREWRITEAOF")
    kids = children(server.proc.pid)
    child = kids[0] if kids else None
    peak_dirty = peak_hwm = peak_total = peak_parent = None
    polls = 0
    while True:
        p = info(server, "persistence")
        if p["aof_rewrite_in_progress"] == "0" and p["aof_rewrite_scheduled"] == "0":
            break
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("%s: rewrite still running after %ss" % (server.build.name, timeout))
        if child is not None:
            hwm = proc_status_kib(child, "VmHWM")
            if hwm is not None:
                peak_hwm = max(peak_hwm or 0, hwm)
            if polls % every == 0:
                dirty = proc_status_kib(child, "Private_Dirty", "smaps_rollup")
                if dirty is not None:
                    peak_dirty = max(peak_dirty or 0, dirty)
                    parent = proc_status_kib(server.proc.pid, "VmRSS") if total else None
                    if parent is not None:
                        peak_parent = max(peak_parent or 0, parent)
                        peak_total = max(peak_total or 0, parent + dirty)
        polls += 1
        time.sleep(poll)
    elapsed = time.monotonic() - t0
    if p["aof_last_bgrewrite_status"] != "ok":
        raise RuntimeError("%s: BGREWRITEAOF failed:\n%s" % (server.build.name, log_tail(server)))
    out = {"rewrite_s": elapsed,
           "cow_bytes": int(p["aof_last_cow_size"]),
           "child_peak_private_dirty": None if peak_dirty is None else peak_dirty * 1024,
           "child_peak_rss": None if peak_hwm is None else peak_hwm * 1024}
    if total:
        out["peak_total_mem"] = None if peak_total is None else peak_total * 1024
        out["parent_peak_rss"] = None if peak_parent is None else peak_parent * 1024
    return out

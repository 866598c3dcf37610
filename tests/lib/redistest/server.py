"""Starting, watching and stopping redis-server processes.

Every server runs in a session of its own, so a SIGKILL to its process group ends it and
its rewrite child in the same instant; every one started and not yet reaped is SIGKILLed
at exit (kill_all, also called by the harnesses' own clean-up)."""

import atexit
import os
import signal
import subprocess
import threading
import time

from redistest.client import Client
from redistest.ports import TEST_PORTS, alloc_port
from redistest.resp import ReplyError

# The directives every test server starts with, before the harness's own: loopback only,
# no RDB snapshot, DEBUG allowed, an AOF in upstream's default names. The harnesses add
# theirs (fsync policy, timestamps, rewrite thresholds) in `conf`.
BASE_CONF = {
    "bind": "127.0.0.1",
    "daemonize": "no",
    "save": "",
    "enable-debug-command": "yes",
    "protected-mode": "no",
    "appendonly": "yes",
    "appenddirname": "appendonlydir",
    "appendfilename": "appendonly.aof",
    "hz": "10",
}

_live = set()
_live_lock = threading.Lock()


def kill_all():
    """SIGKILLs every server started here and not yet reaped, with its process group."""
    with _live_lock:
        procs = list(_live)
    for p in procs:
        try:
            if p.returncode is None:
                os.killpg(p.pid, signal.SIGKILL)
        except Exception:
            pass
        try:
            p.wait(5)
        except Exception:
            pass


atexit.register(kill_all)


class Server:
    """A redis-server process. conf is a dict of config directives (values are strings,
    numbers or paths, or lists of them), given after BASE_CONF and the port, dir and
    logfile; `args` are more command-line arguments after those. The log goes to
    `logfile` (default: redis-PORT.log beside datadir); stdout and stderr to
    logfile + '.out' (output=True) or nowhere (output=False). env: variables set on top of
    this process's environment. preexec_fn runs in the child before the exec (the bench
    pins CPUs and sets PR_SET_PDEATHSIG there). base_conf replaces BASE_CONF (the bench
    starts servers with its own directives, upstream's defaults otherwise)."""

    def __init__(self, binary, datadir, conf=None, logfile=None, env=None, port=None, *,
                 args=(), output=True, ports=TEST_PORTS, preexec_fn=None, base_conf=BASE_CONF):
        # The server runs in datadir: a relative path to it would be looked up there.
        self.binary = os.path.abspath(binary) if os.sep in os.fspath(binary) else binary
        # Absolute, as the server runs in datadir (a relative --dir would be looked up there).
        self.datadir = os.path.abspath(datadir)
        self.ports = ports
        self.port = port or alloc_port(ports)
        self.logfile = os.path.abspath(logfile) if logfile else os.path.join(
            os.path.dirname(self.datadir.rstrip("/")), "redis-%d.log" % self.port)
        self.conf = {"port": str(self.port), "dir": self.datadir, "logfile": self.logfile}
        self.conf.update(base_conf)
        self.conf.update(conf or {})
        # Directives only the patched build knows (aof-checksum, issue #31), for the
        # patched binaries only: REDIS_AOF_PATCHED_CONF="aof-checksum yes" names them,
        # REDIS_AOF_PATCHED_DIR the patched build's src directory (make
        # test-reliability-checksum).
        patched_dir = os.environ.get("REDIS_AOF_PATCHED_DIR")
        if patched_dir and os.path.realpath(binary).startswith(os.path.realpath(patched_dir) + os.sep):
            words = os.environ.get("REDIS_AOF_PATCHED_CONF", "").split()
            self.conf.update(zip(words[0::2], words[1::2]))
        self.extra_args = list(args)
        self.env = env
        self.output = output
        self.preexec_fn = preexec_fn
        self.proc = None
        self.out = None
        self.started = None  # time.monotonic() just before the exec
        self.ready = None    # time.monotonic() when the first PING got its PONG

    def args(self):
        out = [self.binary]
        for k, v in self.conf.items():
            out.append("--" + k)
            if isinstance(v, (list, tuple)):
                out.extend(str(x) for x in v)
            else:
                out.append(os.fspath(v) if isinstance(v, os.PathLike) else str(v))
        return out + [str(a) for a in self.extra_args]

    def start(self):
        try:
            self.log_offset = os.path.getsize(self.logfile)
        except OSError:
            self.log_offset = 0
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        if self.output:
            self.out = open(self.logfile + ".out", "ab")
            stdout, stderr = self.out, subprocess.STDOUT
        else:
            stdout = stderr = subprocess.DEVNULL
        self.ready = None
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.args(), stdout=stdout, stderr=stderr,
                                     stdin=subprocess.DEVNULL, env=env, cwd=self.datadir,
                                     start_new_session=True, preexec_fn=self.preexec_fn)
        with _live_lock:
            _live.add(self.proc)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=30.0, poll=0.02):
        """'ready' (answers PING), 'exited' (process ended) or 'timeout'; a PING every
        `poll` seconds, one at a time. A server that could not bind its port (taken by
        someone else since alloc_port checked it) is started again on another port: the
        bind comes before any file is opened, so nothing was touched."""
        for attempt in range(5):
            st = self._wait_ready(timeout, poll)
            if st != "exited" or not self._bind_failed():
                return st
            self._forget()
            self.port = alloc_port(self.ports)
            self.conf["port"] = str(self.port)
            self.start()
        return st

    def _bind_failed(self):
        try:
            with open(self.logfile, "rb") as f:
                f.seek(self.log_offset)
                return b"Address already in use" in f.read()
        except OSError:
            return False

    def _wait_ready(self, timeout, poll):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                with Client(self.port, timeout=2.0) as c:
                    while time.time() < deadline:
                        try:
                            if c.call("PING") == "PONG":
                                self.ready = time.monotonic()
                                return "ready"
                        except ReplyError:
                            time.sleep(poll)  # -LOADING
                        if self.proc.poll() is not None:
                            return "exited"
            except (OSError, ConnectionError):
                time.sleep(poll)
        return "exited" if self.proc.poll() is not None else "timeout"

    def connect(self, timeout=30.0, client_timeout=10.0, **client_opts):
        """A Client as soon as the server accepts connections (it may still be loading);
        RuntimeError with the log's tail if it exits or does not listen in time."""
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s: %s" % (self.proc.returncode,
                                                                  self.log_text()[-2000:]))
            try:
                return Client(self.port, timeout=client_timeout, **client_opts)
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("server did not accept connections")
                time.sleep(0.025)

    def client(self, timeout=10.0, **client_opts):
        return Client(self.port, timeout=timeout, **client_opts)

    def kill9(self, timeout=10):
        """SIGKILL to the server's process group: the server and any rewrite child die in
        the same instant (a power failure stops them all)."""
        if self.proc and self.proc.returncode is None:
            # Not reaped yet, so the process group id is still ours.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return self.wait_exit(timeout)

    def wait_exit(self, timeout=30.0):
        if not self.proc:
            return None
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._forget()
        return rc

    def _forget(self):
        with _live_lock:
            _live.discard(self.proc)
        if self.out is not None:
            try:
                self.out.close()
            except Exception:
                pass
        # A rewrite child left behind by a SIGKILLed parent is reparented to init; it
        # notices the parent is gone and exits by itself, but make sure of it.
        kill_orphan_children(self.proc.pid)

    def stop(self):
        """Ends the server without letting it touch its files again (SIGKILL)."""
        if self.proc is None:
            return None
        return self.kill9()

    def shutdown(self, nosave=True, timeout=30, client=None):
        """SHUTDOWN [NOSAVE] (over `client`, or a new connection) and the exit status; a
        server still running `timeout` seconds later is SIGKILLed, and None returned."""
        if self.proc is None or self.proc.poll() is not None:
            return self.wait_exit(timeout) if self.proc else None
        args = ("SHUTDOWN", "NOSAVE") if nosave else ("SHUTDOWN",)
        try:
            if client is None:
                with self.client(timeout=timeout) as c:
                    c.send(args)
            else:
                client.send(args)
        except OSError:
            pass
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill9()
        return rc

    def log_lines(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode(errors="replace").splitlines()
        except OSError:
            return []

    def log_text(self):
        return "\n".join(self.log_lines())

    def peak_rss_kb(self):
        """The server's peak resident set (VmHWM) in KiB."""
        kib = proc_status_kib(self.proc.pid, "VmHWM")
        if kib is None:
            raise RuntimeError("no VmHWM for pid %d" % self.proc.pid)
        return kib

    def crash_summary(self):
        """For a server that died by a signal: the 'crashed by signal' or assertion line
        and the innermost frame of the stack trace."""
        lines = self.log_lines()
        what, frame, assertion = "", "", ""
        for i, line in enumerate(lines):
            msg = line.split(" # ", 1)[-1].strip()
            if not what and ("crashed by signal" in line or "Guru Meditation" in line):
                what = msg
            if not assertion and "==> " in line:
                assertion = "assertion " + line.split("==> ", 1)[1].strip()
            if not frame and line.strip() == "EIP:" and i + 1 < len(lines):
                frame = lines[i + 1].rsplit("(", 1)[-1].split(")", 1)[0]
        if assertion:
            return assertion
        return ("%s at %s" % (what, frame)) if frame else what

    def last_warning(self):
        """The last non-empty '#' (warning) line of the log, message part only."""
        for line in reversed(self.log_lines()):
            if " # " in line:
                msg = line.split(" # ", 1)[1].strip()
                if msg:
                    return msg
        return ""


# ----------------------------------------------------------------------------- /proc

_children_seen = {}


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
        return data[data.rindex(")") + 2]
    except (OSError, ValueError):
        return None


def proc_status_kib(pid, key, path="status"):
    """A figure in KiB of /proc/PID/status (or smaps_rollup: path), None if unreadable."""
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def remember_children(pid):
    """Records the children (rewrite child) of a server so they can be reaped later."""
    kids = children_of(pid)
    if kids:
        _children_seen.setdefault(pid, set()).update(kids)
    return kids


def kill_orphan_children(pid):
    for kid in _children_seen.pop(pid, ()):
        try:
            with open("/proc/%d/cmdline" % kid, "rb") as f:
                if b"redis" not in f.read():
                    continue
            os.kill(kid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass

"""Shared pieces: a tiny RESP client, starting/stopping redis-server, ports, the
pass/fail ledger and the figures printed at the end. Python standard library only."""

import atexit
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

# Below Linux's ephemeral range (32768-60999 by default), so no client socket of this or
# any other process can be handed one of these ports between our check and the server's
# bind; a bind that still fails is retried on another port (see Server.wait_ready).
PORT_LO, PORT_HI = 26000, 31999

# ----------------------------------------------------------------------------- RESP


class RespError(Exception):
    """An error reply (-ERR ..., -MISCONF ...)."""


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, bytes):
            b = a
        elif isinstance(a, str):
            b = a.encode()
        else:
            b = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Client:
    """One connection. call() raises RespError on an error reply and ConnectionError
    (or OSError) when the server goes away; pipeline() returns errors as RespError
    objects in the reply list."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb", buffering=65536)

    def close(self):
        try:
            self.f.close()
        except Exception:
            pass
        try:
            self.sock.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _line(self):
        line = self.f.readline()
        if not line or not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed")
        return line[:-2]

    def read_reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            if len(data) != n + 2:
                raise ConnectionError("connection closed")
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read_reply() for _ in range(n)]
        raise ConnectionError("protocol error: %r" % line[:80])

    def send(self, *commands):
        self.sock.sendall(b"".join(encode(c) for c in commands))

    def call(self, *args):
        self.send(args)
        r = self.read_reply()
        if isinstance(r, RespError):
            raise r
        return r

    def pipeline(self, commands):
        self.send(*commands)
        return [self.read_reply() for _ in commands]

    def info(self, section=""):
        raw = self.call("INFO", section) if section else self.call("INFO")
        out = {}
        for line in raw.decode().splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out


# ----------------------------------------------------------------------------- ports

_port_lock = threading.Lock()
_next_port = [PORT_LO + (os.getpid() * 7919) % (PORT_HI - PORT_LO + 1)]


def alloc_port():
    """A free port in PORT_LO-PORT_HI, handed out round-robin from a random start so
    consecutive servers never reuse the port of one still in TIME_WAIT and two harnesses
    running at once rarely meet."""
    with _port_lock:
        for _ in range(PORT_HI - PORT_LO + 1):
            p = _next_port[0]
            _next_port[0] = PORT_LO if p >= PORT_HI else p + 1
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
            finally:
                s.close()
    raise RuntimeError("no free port in %d-%d" % (PORT_LO, PORT_HI))


# ----------------------------------------------------------------------------- servers

_live = set()
_live_lock = threading.Lock()


def _cleanup_servers():
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


atexit.register(_cleanup_servers)


class Server:
    """A redis-server process. conf is a dict of config directives (values are strings
    or lists of strings); logs go to `logfile`, stdout/stderr to logfile + '.out'."""

    def __init__(self, binary, datadir, conf=None, logfile=None, env=None, port=None):
        self.binary = binary
        self.datadir = datadir
        self.port = port or alloc_port()
        self.logfile = logfile or os.path.join(os.path.dirname(datadir.rstrip("/")),
                                               "redis-%d.log" % self.port)
        self.conf = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": datadir,
            "daemonize": "no",
            "save": "",
            "logfile": self.logfile,
            "enable-debug-command": "yes",
            "protected-mode": "no",
            "appendonly": "yes",
            "appenddirname": "appendonlydir",
            "appendfilename": "appendonly.aof",
            "hz": "10",
        }
        self.conf.update(conf or {})
        # Directives only the patched build knows (aof-checksum, issue #31), for the
        # patched binaries only: REDIS_AOF_PATCHED_CONF="aof-checksum yes" names them,
        # REDIS_AOF_PATCHED_DIR the patched build's src directory.
        patched_dir = os.environ.get("REDIS_AOF_PATCHED_DIR")
        if patched_dir and os.path.realpath(binary).startswith(os.path.realpath(patched_dir) + os.sep):
            words = os.environ.get("REDIS_AOF_PATCHED_CONF", "").split()
            self.conf.update(zip(words[0::2], words[1::2]))
        self.env = env
        self.proc = None
        self.start_time = None

    def args(self):
        out = [self.binary]
        for k, v in self.conf.items():
            out.append("--" + k)
            if isinstance(v, (list, tuple)):
                out.extend(v)
            else:
                out.append(v)
        return out

    def start(self):
        try:
            self.log_offset = os.path.getsize(self.logfile)
        except OSError:
            self.log_offset = 0
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.out = open(self.logfile + ".out", "ab")
        self.start_time = time.time()
        self.proc = subprocess.Popen(self.args(), stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=self.datadir,
                                     start_new_session=True)
        with _live_lock:
            _live.add(self.proc)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=30.0):
        """'ready' (answers PING), 'exited' (process ended) or 'timeout'. A server that
        could not bind its port (taken by someone else since alloc_port checked it) is
        started again on another port: the bind comes before any file is opened, so
        nothing was touched."""
        for attempt in range(5):
            st = self._wait_ready(timeout)
            if st != "exited" or not self._bind_failed():
                return st
            self._forget()
            self.port = alloc_port()
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

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                with Client(self.port, timeout=2.0) as c:
                    while time.time() < deadline:
                        try:
                            if c.call("PING") == "PONG":
                                return "ready"
                        except RespError:
                            time.sleep(0.02)  # -LOADING
                        if self.proc.poll() is not None:
                            return "exited"
            except (OSError, ConnectionError):
                time.sleep(0.02)
        return "exited" if self.proc.poll() is not None else "timeout"

    def client(self, timeout=10.0):
        return Client(self.port, timeout=timeout)

    def kill9(self):
        """SIGKILL to the server's process group: the server and any rewrite child die in
        the same instant (a power failure stops them all)."""
        if self.proc and self.proc.returncode is None:
            # Not reaped yet, so the process group id is still ours.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return self.wait_exit(10)

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

    def log_lines(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode(errors="replace").splitlines()
        except OSError:
            return []

    def log_text(self):
        return "\n".join(self.log_lines())

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


# ----------------------------------------------------------------------------- binaries


def _is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def snapshot_binaries(src_dir, dest_dir, names=("redis-server", "redis-check-aof"),
                      wait=300):
    """Copies the binaries to dest_dir, waiting while one is being relinked (size or
    mtime changing: others may rebuild the tree while this runs). Returns {name: path}
    and a short sha256 of the server."""
    os.makedirs(dest_dir, exist_ok=True)
    out = {}
    deadline = time.time() + wait
    for name in names:
        src = os.path.join(src_dir, name)
        if not os.path.exists(src):
            raise RuntimeError("%s is missing: build it first (make / make stock)" % src)
        while True:
            try:
                st1 = os.stat(src)
                time.sleep(0.5)
                st2 = os.stat(src)
                if (st1.st_size == st2.st_size and st1.st_mtime == st2.st_mtime
                        and st1.st_size > 0 and _is_elf(src) and os.access(src, os.X_OK)):
                    dst = os.path.join(dest_dir, name)
                    shutil.copy2(src, dst)
                    if os.path.getsize(dst) == st2.st_size:
                        out[name] = dst
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("%s missing or never stable" % src)
            time.sleep(2)
    h = hashlib.sha256()
    with open(out["redis-server"], "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return out, h.hexdigest()[:12]


# ----------------------------------------------------------------------------- files


def dir_hash(path):
    """{relative path: (size, sha256)} of every file under path."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            rel = os.path.relpath(p, path)
            h = hashlib.sha256()
            try:
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out[rel] = (os.path.getsize(p), h.hexdigest())
            except OSError as e:
                out[rel] = (-1, str(e))
    return out


def copy_dir(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


# ----------------------------------------------------------------------------- ledger


class Ledger:
    """Every check is one pass or fail; figures are printed at the end."""

    def __init__(self, verbose=True):
        self.results = []  # (section, name, ok, detail)
        self.figures = []  # (section, name, value)
        self.notes = []
        self.summaries = []  # (section, one line with the part's headline figures)
        self.loss_checks = []  # (section, name, ok)
        self.lock = threading.Lock()
        self.verbose = verbose

    def check(self, section, name, ok, detail="", loss=False):
        """loss: a check that acknowledged writes survived, which --sabotage must fail."""
        ok = bool(ok)
        with self.lock:
            self.results.append((section, name, ok, detail))
            if loss:
                self.loss_checks.append((section, name, ok))
        if self.verbose or not ok:
            print("  [%s] %s: %s%s" % (section, "PASS" if ok else "FAIL", name,
                                       (" -- " + detail) if detail and not ok else ""),
                  flush=True)
        return ok

    def figure(self, section, name, value):
        with self.lock:
            self.figures.append((section, name, value))

    def summary(self, section, text):
        with self.lock:
            self.summaries.append((section, text))

    def note(self, section, text):
        with self.lock:
            self.notes.append((section, text))
        print("  [%s] note: %s" % (section, text), flush=True)

    def passed(self):
        return sum(1 for r in self.results if r[2])

    def failed(self):
        return sum(1 for r in self.results if not r[2])

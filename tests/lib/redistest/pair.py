"""The stock/patched pair the differential tests run side by side: the servers both builds
start as, the [ok]/[err] ledger, and a start that is expected to end in an exit."""

import os
import time

from redistest.server import Server

FUTURE_MS = 4_102_444_800_000  # 2100-01-01, so nothing expires during a test
BUILDS = ("stock", "patched")

# Every write on disk before its reply (the files are compared after the last one), and
# no #TS annotations (each server's clock).
PAIR_CONF = {"appendfsync": "always", "aof-timestamp-enabled": "no"}


def builds(stock, patched):
    """[(name, binary)] in the order the tests run them: stock first."""
    return list(zip(BUILDS, (stock, patched)))


class PairServer(Server):
    """One redis-server on a work dir (log in WORKDIR/log, stdout and stderr dropped) with
    one blocking connection, `conn`, on which statuses and bulk strings come back as
    bytes and call() returns an error reply as a ReplyError instead of raising it.
    `extra` are command-line arguments after PAIR_CONF's. With wait=False the caller
    waits itself: open() to talk to it while it loads, wait_loaded() for its PONG.
    `sent` counts the commands call() and pipeline() sent."""

    def __init__(self, binary, workdir, *extra, wait=True, timeout=70.0, client_timeout=60.0):
        super().__init__(binary, workdir, PAIR_CONF, logfile=os.path.join(workdir, "log"),
                         args=extra, output=False)
        self.workdir = workdir
        self.client_timeout = client_timeout
        self.conn = None
        self.sent = 0
        self.start()
        if wait:
            self.wait_loaded(timeout)

    def open(self, timeout=10.0):
        """The connection, as soon as the server accepts it (RuntimeError if it exits)."""
        if self.conn is None:
            self.conn = self.connect(timeout, self.client_timeout, text_status=False)
        return self.conn

    def wait_loaded(self, timeout=70.0):
        """Until the server answers PING (RuntimeError with the log's tail if it exits or
        times out), then the connection."""
        st = self.wait_ready(timeout)
        if st != "ready":
            raise RuntimeError("server %s (exit status %s): %s" % (
                st, self.proc.poll(), self.log_text()[-2000:]))
        return self.open()

    def call(self, *args):
        self.sent += 1
        return self.conn.reply(*args)

    def pipeline(self, cmds, chunk=256):
        """The replies to cmds, sent `chunk` at a time."""
        out = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            out += self.conn.pipeline(part)
            self.sent += len(part)
        return out

    def info(self, section):
        return self.conn.info(section)

    def wait_rewrite(self, timeout=30.0, poll=0.025):
        """Polls INFO persistence (not counted in `sent`) until no rewrite is running or
        scheduled; the last INFO persistence."""
        return self.conn.wait_rewrite(timeout, poll)

    def stop(self, nosave=True, timeout=30):
        """SHUTDOWN [NOSAVE] on the connection; the exit status, None if it had to be
        killed after `timeout` seconds."""
        rc = self.shutdown(nosave=nosave, timeout=timeout, client=self.conn)
        self._close()
        return rc

    def kill(self):
        self.kill9()
        self._close()

    def _close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_to_exit(binary, workdir, *extra, timeout=60):
    """Starts a server that is expected to exit during start-up: its exit code (or "still
    running", then it is killed) and its log."""
    server = PairServer(binary, workdir, *extra, wait=False)
    code = server.wait_exit(timeout)
    if code is None:
        server.kill()
        code = "still running"
    return code, server.log_text()


class Checks:
    """Every check is one [ok] or [err] line, counted."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
            print("[ok] " + what)
        else:
            self.failed += 1
            print("[err] " + what)
        return ok

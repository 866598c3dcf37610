"""The port a test server listens on."""

import os
import socket
import threading

# Below Linux's ephemeral range (32768-60999 by default), so no client socket of this or
# any other process can be handed one of these ports between our check and the server's
# bind (a bind that still fails is retried on another port: Server.wait_ready), and away
# from runtest's 21111-25111 and 41111-45111, where upstream's suite may be running.
TEST_PORTS = (26000, 31999)

_lock = threading.Lock()
_next = {}  # (lo, hi) -> the next port to try


def alloc_port(ports=TEST_PORTS):
    """A free port in ports (lo, hi), handed out round-robin from a start that depends on
    the pid, so consecutive servers never reuse the port of one still in TIME_WAIT and
    two harnesses running at once rarely meet. Free: a bind with SO_REUSEADDR succeeds,
    as Redis's own does."""
    lo, hi = ports
    with _lock:
        for _ in range(hi - lo + 1):
            p = _next.get(ports, lo + (os.getpid() * 7919) % (hi - lo + 1))
            _next[ports] = lo if p >= hi else p + 1
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
            finally:
                s.close()
    raise RuntimeError("no free port in %d-%d" % (lo, hi))

"""A steady write load for the bench's rewrite-under-load workload: SETs of existing string
keys, chosen at random, at a fixed rate, from one connection.

    python3 bench/writeload.py PORT RATE KEYS SEED [PREFIX]

Every 10 ms it sends RATE/100 SETs of PREFIX<n> (n random below KEYS; 64-400 byte values)
as one pipelined batch and reads their +OK replies. A batch late by less than a second is
caught up at once, so the average rate holds across a fork's stall; later than that, the
schedule restarts from now (no burst after a long stall). On SIGTERM it finishes the
batch in flight, prints "<writes> <seconds> <longest batch ms>" (the longest a batch
waited from its send to its last reply: the stall a client felt) and exits 0; any reply
but +OK exits 1.
The harness runs it pinned to the client CPU, like redis-benchmark, and it dies with the
harness (PR_SET_PDEATHSIG).
"""

import random
import signal
import socket
import sys
import time

from redistest.resp import encode

TICK = 0.01


def main():
    port, rate, keys, seed = (int(a) for a in sys.argv[1:5])
    prefix = (sys.argv[5] if len(sys.argv) > 5 else "hs:").encode()
    per_tick = max(1, round(rate * TICK))
    rng = random.Random(seed)
    letters = b"abcdefghijklmnopqrstuvwxyz0123456789"
    values = [bytes(rng.choice(letters) for _ in range(rng.randint(64, 400))) for _ in range(256)]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    expected = b"+OK\r\n" * per_tick
    sent = 0
    longest = 0.0
    t0 = time.monotonic()
    due = t0
    while not stop:
        batch = b"".join(encode(b"SET", b"%s%d" % (prefix, rng.randrange(keys)),
                                values[rng.randrange(256)]) for _ in range(per_tick))
        t_send = time.monotonic()
        sock.sendall(batch)
        got = b""
        while len(got) < len(expected):
            chunk = sock.recv(len(expected) - len(got))
            if not chunk:
                sys.exit("writeload: connection closed by the server")
            got += chunk
        if got != expected:
            sys.exit("writeload: unexpected reply %r" % got[:200])
        sent += per_tick
        longest = max(longest, time.monotonic() - t_send)
        due += TICK
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:
            due = time.monotonic()
    print(sent, "%.3f" % (time.monotonic() - t0), "%.3f" % (longest * 1000), flush=True)


if __name__ == "__main__":
    main()

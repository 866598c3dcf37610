"""One blocking connection to a server."""

import socket
import time

from redistest.resp import ReplyError, encode, read_reply


class Client:
    """One connection. call() raises ReplyError on an error reply and ConnectionError
    (or OSError) when the server goes away; reply() and pipeline() return error replies
    as ReplyError objects among the others. Statuses come back as str and bulk strings
    as bytes unless text_status/text_bulk say otherwise (resp.read_reply)."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1", text_status=True, text_bulk=False):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb", buffering=65536)
        self.text_status, self.text_bulk = text_status, text_bulk

    def close(self):
        for part in (self.f, self.sock):
            try:
                part.close()
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, seconds):
        self.sock.settimeout(seconds)

    def read_reply(self):
        return read_reply(self.f, self.text_status, self.text_bulk)

    def send(self, *commands):
        """Sends each command (a sequence of arguments) without reading a reply."""
        self.sock.sendall(b"".join(encode(*c) for c in commands))

    def reply(self, *args):
        self.send(args)
        return self.read_reply()

    def call(self, *args):
        r = self.reply(*args)
        if isinstance(r, ReplyError):
            raise r
        return r

    def pipeline(self, commands):
        self.send(*commands)
        return [self.read_reply() for _ in commands]

    def info(self, section=""):
        """INFO [section] as {field: value}, both str."""
        raw = self.call("INFO", section) if section else self.call("INFO")
        if isinstance(raw, bytes):
            raw = raw.decode()
        out = {}
        for line in raw.splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def wait_rewrite(self, timeout=30.0, poll=0.025):
        """Polls INFO persistence until no rewrite is running or scheduled; the last INFO
        persistence. Raises if one still is after `timeout` seconds."""
        deadline = time.time() + timeout
        while True:
            info = self.info("persistence")
            if info.get("aof_rewrite_in_progress") == "0" and info.get("aof_rewrite_scheduled") == "0":
                return info
            if time.time() > deadline:
                raise RuntimeError("rewrite did not finish in %s s" % timeout)
            time.sleep(poll)

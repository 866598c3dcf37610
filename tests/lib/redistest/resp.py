"""RESP2: the encoder every harness sends commands (and writes AOF files) with, the reader of
one reply, and the parser of the commands an AOF file holds."""


class ReplyError(Exception):
    """An error reply (-ERR ..., -MISCONF ..., -LOADING ...). Two are equal when their
    messages are: replies of two builds are compared as values."""

    def __eq__(self, other):
        return isinstance(other, ReplyError) and str(self) == str(other)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(str(self))

    def __repr__(self):
        return "ReplyError(%r)" % str(self)


def encode(*args):
    """One command as a RESP array of bulk strings: bytes go as they are, anything else as
    its str() in UTF-8 (ints and floats as Python prints them)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, (bytes, bytearray)):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_reply(f, text_status=False, text_bulk=False):
    """One complete reply from the binary file `f` (a socket's makefile("rb")): a status as
    bytes (str with text_status), an error as a ReplyError (returned, not raised: a
    pipeline's other replies still follow it), an integer as int, a bulk string as bytes
    (str with text_bulk, undecodable bytes replaced), a null as None, an array as a list.
    ConnectionError when the server closed the connection or sent no RESP."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode() if text_status else rest
    if kind == b"-":
        return ReplyError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("connection closed")
        return data[:-2].decode(errors="replace") if text_bulk else data[:-2]
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [read_reply(f, text_status, text_bulk) for _ in range(n)]
    raise ConnectionError("protocol error: %r" % line[:80])


def parse_commands(data):
    """The commands of a RESP AOF (a BASE or INCR file's bytes), as tuples of bytes;
    annotations (#TS:..., lines starting with #) are skipped."""
    cmds, pos = [], 0
    while pos < len(data):
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = data.index(b"\r\n", pos)
        argc = int(data[pos + 1:end])
        pos = end + 2
        args = []
        for _ in range(argc):
            end = data.index(b"\r\n", pos)
            n = int(data[pos + 1:end])
            args.append(data[end + 2:end + 2 + n])
            pos = end + 2 + n + 2
        cmds.append(tuple(args))
    return cmds

//! RESP encoding of commands as the AOF stores them: `*<argc>\r\n` then, per argument,
//! `$<len>\r\n<bytes>\r\n`. Integer-encoded arguments are written in decimal, as
//! upstream's `getDecodedObject` would turn them into strings.
//!
//! The write path calls this once per command: [`command_len`] sizes the whole record so
//! the AOF buffer grows once, then [`RecordWriter`] fills the reserved [`Region`] in place.
//! No temporary string, no formatted printing.

use std::mem::MaybeUninit;

/// One command argument as the AOF sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg<'a> {
    Bytes(&'a [u8]),
    /// An integer-encoded string object: its decimal form is the argument.
    Int(i64),
}

impl<'a> Arg<'a> {
    /// The payload's bytes: the slice itself, or the integer's decimal form in `digits`.
    fn payload<'d>(self, digits: &'d mut itoa::Buffer) -> &'d [u8]
    where
        'a: 'd,
    {
        match self {
            Arg::Bytes(b) => b,
            Arg::Int(n) => digits.format(n).as_bytes(),
        }
    }

    fn payload_len(self) -> usize {
        match self {
            Arg::Bytes(b) => b.len(),
            Arg::Int(n) => decimal_len_i64(n),
        }
    }
}

/// Upstream's SELECT, emitted when a command targets another db than the previous one.
pub const SELECT: &[u8] = b"SELECT";

/// Bytes of the `*<argc>\r\n` header.
pub fn array_header_len(argc: usize) -> usize {
    1 + decimal_len_u64(argc as u64) + 2
}

/// Bytes of one `$<len>\r\n<payload>\r\n` element.
pub fn bulk_len(arg: Arg<'_>) -> usize {
    let payload = arg.payload_len();
    1 + decimal_len_u64(payload as u64) + 2 + payload + 2
}

/// Bytes of a whole command record (inlined: it runs for every command the AOF records).
#[inline(always)]
pub fn command_len<'a>(args: impl IntoIterator<Item = Arg<'a>>) -> usize {
    let mut argc = 0;
    let mut total = 0;
    for arg in args {
        argc += 1;
        total += bulk_len(arg);
    }
    array_header_len(argc) + total
}

/// Bytes of `SELECT <db>`.
pub fn select_len(db: i64) -> usize {
    command_len([Arg::Bytes(SELECT), Arg::Int(db)])
}

/// Bytes of the `#TS:<unix time>\r\n` annotation.
pub fn timestamp_annotation_len(unix_time: i64) -> usize {
    4 + decimal_len_i64(unix_time) + 2
}

/// Where encoded bytes go: a growable vector, or a reserved [`Region`] of exact size.
pub trait Sink {
    fn put(&mut self, bytes: &[u8]);

    /// The framing before a payload, `[CRLF]<marker><n>CRLF` (the CRLF ending the previous
    /// payload when `after_payload`). A sink may write it faster than as a slice: the
    /// per-piece cost, not the bytes, dominates for the short commands that make up most
    /// of an AOF.
    fn put_length_line(&mut self, after_payload: bool, marker: u8, n: usize) {
        let mut line = [0u8; LENGTH_LINE_ROOM];
        let len = fill_length_line(&mut line, after_payload, marker, n);
        self.put(&line[..len]);
    }
}

/// Room for the longest framing piece: CRLF, the marker, 20 digits, CRLF.
const LENGTH_LINE_ROOM: usize = 25;

/// Writes `[CRLF]<marker><n>CRLF` at the start of `line`, returning its length. The
/// window's fixed size lets the common short lengths compile to a few stores, with no
/// bounds check per byte.
#[inline(always)]
fn fill_length_line<B: RegionByte>(
    line: &mut [B; LENGTH_LINE_ROOM],
    after_payload: bool,
    marker: u8,
    n: usize,
) -> usize {
    let at = if after_payload {
        line[0] = B::from_byte(b'\r');
        line[1] = B::from_byte(b'\n');
        2
    } else {
        0
    };
    line[at] = B::from_byte(marker);
    let digits = if n < 10 {
        line[at + 1] = B::from_byte(b'0' + n as u8);
        1
    } else if n < 100 {
        line[at + 1] = B::from_byte(b'0' + (n / 10) as u8);
        line[at + 2] = B::from_byte(b'0' + (n % 10) as u8);
        2
    } else {
        let mut buffer = itoa::Buffer::new();
        let digits = buffer.format(n).as_bytes();
        B::copy_in(&mut line[at + 1..at + 1 + digits.len()], digits);
        digits.len()
    };
    line[at + 1 + digits] = B::from_byte(b'\r');
    line[at + 2 + digits] = B::from_byte(b'\n');
    at + 3 + digits
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A byte of a [`Region`]: uninitialised memory in the server (the spare room of
/// `aof_buf`), plain bytes in tests, which can then read back what was written.
pub trait RegionByte: Sized {
    fn from_byte(byte: u8) -> Self;
    fn copy_in(dst: &mut [Self], src: &[u8]);
}

impl RegionByte for MaybeUninit<u8> {
    fn from_byte(byte: u8) -> Self {
        MaybeUninit::new(byte)
    }

    fn copy_in(dst: &mut [Self], src: &[u8]) {
        dst.write_copy_of_slice(src);
    }
}

impl RegionByte for u8 {
    fn from_byte(byte: u8) -> Self {
        byte
    }

    fn copy_in(dst: &mut [Self], src: &[u8]) {
        dst.copy_from_slice(src);
    }
}

/// A reserved region of exactly the size computed with the `*_len` functions. Writing
/// past it panics (an encoder bug must never become memory corruption);
/// [`Region::finish`] checks that it was filled exactly.
pub struct Region<'a, B: RegionByte = MaybeUninit<u8>> {
    out: &'a mut [B],
    pos: usize,
}

impl<'a, B: RegionByte> Region<'a, B> {
    pub fn new(out: &'a mut [B]) -> Self {
        Region { out, pos: 0 }
    }

    /// The number of bytes written; panics unless the region was filled exactly, so the
    /// caller never publishes uninitialised bytes.
    pub fn finish(self) -> usize {
        assert_eq!(self.pos, self.out.len(), "record size was miscomputed");
        self.pos
    }
}

impl<B: RegionByte> Sink for Region<'_, B> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        B::copy_in(&mut self.out[self.pos..end], bytes);
        self.pos = end;
    }

    /// Written straight into the region while a whole window fits before its end (the
    /// window's bytes past the line are left for the record's later bytes), exactly near
    /// the end.
    #[inline(always)]
    fn put_length_line(&mut self, after_payload: bool, marker: u8, n: usize) {
        match self.out.get_mut(self.pos..self.pos + LENGTH_LINE_ROOM) {
            Some(window) => {
                let window = window.try_into().expect("the window has its fixed size");
                self.pos += fill_length_line(window, after_payload, marker, n);
            }
            None => {
                let mut line = [0u8; LENGTH_LINE_ROOM];
                let len = fill_length_line(&mut line, after_payload, marker, n);
                self.put(&line[..len]);
            }
        }
    }
}

/// Writes AOF records into a [`Sink`].
pub struct RecordWriter<S: Sink> {
    sink: S,
}

impl<S: Sink> RecordWriter<S> {
    pub fn new(sink: S) -> Self {
        RecordWriter { sink }
    }

    pub fn into_inner(self) -> S {
        self.sink
    }

    /// The sink, e.g. to hand a full buffer to a file and reuse it.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Bytes written as they are (fixed record prefixes).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.sink.put(bytes);
    }

    pub fn array_header(&mut self, argc: usize) {
        self.sink.put_length_line(false, b'*', argc);
    }

    pub fn bulk(&mut self, arg: Arg<'_>) {
        let mut digits = itoa::Buffer::new();
        let payload = arg.payload(&mut digits);
        self.sink.put_length_line(false, b'$', payload.len());
        self.sink.put(payload);
        self.sink.put(b"\r\n");
    }

    /// A whole command; `argc` must be the number of items `args` yields.
    pub fn command<'b>(&mut self, argc: usize, args: impl IntoIterator<Item = Arg<'b>>) {
        // Pieces: the header, then for each argument its length line (after the CRLF
        // that ends the previous payload) and its payload, then the last CRLF.
        self.sink.put_length_line(false, b'*', argc);
        let mut written = 0;
        for arg in args {
            let mut digits = itoa::Buffer::new();
            let payload = arg.payload(&mut digits);
            self.sink.put_length_line(written > 0, b'$', payload.len());
            self.sink.put(payload);
            written += 1;
        }
        if written > 0 {
            self.sink.put(b"\r\n");
        }
        assert_eq!(written, argc, "argc does not match the arguments given");
    }

    pub fn select(&mut self, db: i64) {
        self.command(2, [Arg::Bytes(SELECT), Arg::Int(db)]);
    }

    pub fn timestamp_annotation(&mut self, unix_time: i64) {
        self.sink.put(b"#TS:");
        self.sink
            .put(itoa::Buffer::new().format(unix_time).as_bytes());
        self.sink.put(b"\r\n");
    }
}

impl<B: RegionByte> RecordWriter<Region<'_, B>> {
    /// See [`Region::finish`].
    pub fn finish(self) -> usize {
        self.sink.finish()
    }
}

fn decimal_len_u64(n: u64) -> usize {
    // Most lengths in an AOF are short: answer those without a logarithm.
    if n < 10 {
        1
    } else if n < 100 {
        2
    } else {
        n.ilog10() as usize + 1
    }
}

fn decimal_len_i64(n: i64) -> usize {
    decimal_len_u64(n.unsigned_abs()) + usize::from(n < 0)
}

/// Encodes a command into a new vector (tests and cold paths).
pub fn encode_command(args: &[Arg<'_>]) -> Vec<u8> {
    let mut w = RecordWriter::new(Vec::with_capacity(command_len(args.iter().copied())));
    w.command(args.len(), args.iter().copied());
    w.into_inner()
}

/// Encodes a command of byte-string arguments (tests, fuzz targets and cold paths).
pub fn encode_bytes_command(args: &[&[u8]]) -> Vec<u8> {
    let args: Vec<Arg<'_>> = args.iter().map(|a| Arg::Bytes(a)).collect();
    encode_command(&args)
}

/// Encodes a command of text arguments (tests and fuzz targets).
pub fn encode_text_command(args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode_bytes_command(&args)
}

/// The `#TS:<unix time>\r\n` annotation line.
pub fn encode_timestamp_annotation(unix_time: i64) -> Vec<u8> {
    let mut w = RecordWriter::new(Vec::with_capacity(timestamp_annotation_len(unix_time)));
    w.timestamp_annotation(unix_time);
    w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_command_is_framed_as_upstream_frames_it() {
        let encoded = encode_command(&[Arg::Bytes(b"SET"), Arg::Bytes(b"k"), Arg::Bytes(b"v")]);
        assert_eq!(encoded, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }

    #[test]
    fn integer_arguments_are_written_in_decimal() {
        let encoded = encode_command(&[Arg::Bytes(b"SELECT"), Arg::Int(12)]);
        assert_eq!(encoded, b"*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n");
        let encoded = encode_command(&[Arg::Int(i64::MIN), Arg::Int(-1), Arg::Int(0)]);
        assert_eq!(
            encoded,
            b"*3\r\n$20\r\n-9223372036854775808\r\n$2\r\n-1\r\n$1\r\n0\r\n".to_vec()
        );
    }

    #[test]
    fn binary_and_empty_payloads_are_kept_verbatim() {
        let payload = b"a\r\nb\0c\xff";
        let encoded = encode_command(&[Arg::Bytes(payload), Arg::Bytes(b"")]);
        let mut expected = b"*2\r\n$7\r\n".to_vec();
        expected.extend_from_slice(payload);
        expected.extend_from_slice(b"\r\n$0\r\n\r\n");
        assert_eq!(encoded, expected);
    }

    #[test]
    fn computed_lengths_match_what_is_written() {
        let big = vec![b'x'; 100_000];
        let cases: Vec<Vec<Arg>> = vec![
            vec![Arg::Bytes(b"PING")],
            vec![Arg::Bytes(&big), Arg::Int(9), Arg::Int(10), Arg::Int(-10)],
            (0..1000).map(Arg::Int).collect(),
            vec![Arg::Int(i64::MAX), Arg::Int(i64::MIN)],
        ];
        for args in cases {
            assert_eq!(
                command_len(args.iter().copied()),
                encode_command(&args).len()
            );
        }
    }

    /// The straightforward encoding, piece by piece, to compare the fast one against.
    fn reference_encoding(args: &[Arg]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            let payload = match arg {
                Arg::Bytes(b) => b.to_vec(),
                Arg::Int(n) => n.to_string().into_bytes(),
            };
            out.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
            out.extend_from_slice(&payload);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Records written into an exactly sized region (where length lines are written
    /// through a fixed window while one fits, and exactly near the end) and into a vector
    /// are the reference bytes, several records back to back, for payloads of every size
    /// around the window's and of one, two and three digits.
    #[test]
    fn region_and_vector_encodings_equal_the_reference() {
        let payload = vec![b'p'; 300];
        let mut commands: Vec<Vec<Arg>> = vec![vec![]];
        for len in (0..80).chain([99, 100, 101, 299, 300]) {
            commands.push(vec![Arg::Bytes(b"SET"), Arg::Bytes(&payload[..len])]);
            commands.push(vec![
                Arg::Bytes(&payload[..len]),
                Arg::Int(len as i64 * 1_000_003 - 7),
            ]);
        }
        commands.push((0..40).map(|n| Arg::Int(-n)).collect());
        for first in 0..commands.len() {
            let group = &commands[first..(first + 3).min(commands.len())];
            let expected: Vec<u8> = group.iter().flat_map(|c| reference_encoding(c)).collect();
            let total: usize = group.iter().map(|c| command_len(c.iter().copied())).sum();
            assert_eq!(total, expected.len());
            let mut region = vec![0xAAu8; total];
            let mut w = RecordWriter::new(Region::new(&mut region[..]));
            for c in group {
                w.command(c.len(), c.iter().copied());
            }
            assert_eq!(w.finish(), total);
            assert_eq!(region, expected);
            let mut v = RecordWriter::new(Vec::new());
            for c in group {
                v.command(c.len(), c.iter().copied());
            }
            assert_eq!(v.into_inner(), expected);
        }
    }

    #[test]
    fn select_and_timestamp_records() {
        for db in [0i64, 9, 10, 15, 1234] {
            let mut w = RecordWriter::new(Vec::new());
            w.select(db);
            let bytes = w.into_inner();
            assert_eq!(bytes.len(), select_len(db));
            let digits = db.to_string();
            let expected = format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{}\r\n", digits.len(), digits);
            assert_eq!(bytes, expected.as_bytes());
        }
        let ts = 1_732_460_000i64;
        let bytes = encode_timestamp_annotation(ts);
        assert_eq!(bytes, b"#TS:1732460000\r\n");
        assert_eq!(bytes.len(), timestamp_annotation_len(ts));
    }

    #[test]
    #[should_panic(expected = "record size was miscomputed")]
    fn an_underfilled_region_is_refused() {
        let mut buf = vec![MaybeUninit::uninit(); 10];
        let mut w = RecordWriter::new(Region::new(&mut buf));
        w.array_header(1);
        w.finish();
    }

    #[test]
    #[should_panic]
    fn writing_past_the_region_panics_instead_of_corrupting() {
        let mut buf = vec![MaybeUninit::uninit(); 3];
        RecordWriter::new(Region::new(&mut buf)).bulk(Arg::Bytes(b"abc"));
    }
}

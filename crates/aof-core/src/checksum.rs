//! Checksummed AOF ranges (`aof-checksum yes`, issue #31): the annotation format, upstream's
//! CRC64, the range verifier the [`framer`](crate::framer) runs on every replay, and the
//! torn-tail decision the loader takes before a file's replay.
//!
//! # Format
//! Annotation lines, each a `#` line between commands (upstream's loader and
//! `redis-check-aof` skip every such line; none starts with `#TS:`; the longest is 48
//! bytes, far under the 1023 of upstream's `fgets` buffer):
//! ```text
//! #CRC64 begin\r\n                       a range begins after this line
//! #C<crc: 10 digits><len: 1-10 digits>\n  closes the range of the <len> bytes before this
//!                                         line, whose CRC64 is <crc>; the next range
//!                                         begins after it (the short form: base-94
//!                                         digits, below)
//! #CRC64 <16 hex digits> <len>\r\n       the same, in the long form (written before the
//!                                         short one existed; still read)
//! #CRC64 <16 hex digits> <len> end\r\n   closes a range, and no range begins (checksums
//!                                         were switched off: what follows is not verified)
//! ```
//! The short form is what the writer puts after each write under `appendfsync always`,
//! so its length is the file's growth: 14 bytes for a range under 94 bytes, 15 under
//! 8 836, against 30 in the long form (about 1 % of the 1.1-2.5 KB one event-loop
//! iteration of 50 unpipelined clients writes). Its digits are the printable bytes `!` (0) to `~`
//! (93), most significant first: the CRC64 in exactly ten (94^10 > 2^64; a value above
//! `u64::MAX` is no mark), the length in as few as it needs (no leading `!` but for 0).
//! A CRC64 cannot be written in fewer printable bytes than ten, so no `#` line holding
//! one is shorter than 12 bytes (`#`, ten digits, LF).
//! Ranges are independent (each checksum covers its own bytes only, never chained), so a
//! file cut back at a range boundary, or a MULTI reverted at load, leaves every other
//! range verifiable. The bytes of a range are the file's bytes between the two lines,
//! `#TS:` annotations included; checksum lines are in no range. Bytes before the first
//! `begin`, or between an `end` and the next `begin`, are in no range: written while
//! checksums were off (or by a release without them), they load as upstream loads them.
//!
//! # The checksum
//! Upstream's `crc64` (`src/crc64.c`: Jones polynomial, reflected, no final xor; the
//! check value of `"123456789"` is `0xe9c6d914c4b8d9ca`): from [`SMALL`] bytes on by the
//! `crc-fast` crate (`CRC-64/REDIS`, carry-less multiplies), below by sixteen table
//! lookups a step, which is faster for a few bytes and is the oracle the tests hold the
//! crate to; `tests/checksum.py` proves the result equal to stock's (the CRC64 of a
//! `DUMP` payload, on random values), `tests/rdb_base_load.py` to the one upstream's RDB
//! loader expects.

use memchr::memmem;

/// The first bytes of every checksum annotation, short or long.
pub const TAG: &[u8] = b"#C";
/// The first bytes of the long form (`begin`, the long closing line, `end`).
pub const LONG_TAG: &[u8] = b"#CRC64 ";
/// The short closing line's digits: `!` + value, value below [`SHORT_BASE`].
const SHORT_ZERO: u8 = b'!';
const SHORT_BASE: u64 = 94;
/// The short closing line's CRC digits (94^10 > 2^64 > 94^9).
const SHORT_CRC_DIGITS: usize = 10;
/// The longest short closing line: tag, the CRC's digits, ten length digits, LF.
pub const SHORT_LINE_MAX: usize = 2 + SHORT_CRC_DIGITS + 10 + 1;
/// The line that begins a range.
pub const BEGIN: &[u8] = b"#CRC64 begin\r\n";
/// The longest annotation: tag, 16 digits, a space, 20 digits, " end", CRLF.
pub const LINE_MAX: usize = 7 + 16 + 1 + 20 + 4 + 2;
const _: () = assert!(LINE_MAX < crate::command_reader::LINE_MAX);

// ---------------------------------------------------------------------------------------
// CRC64 (upstream's crc64.c), slice-by-16.

/// Upstream's polynomial, reflected (`0xad93d23594c935a9` bit-reversed).
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn make_tables() -> [[u64; 256]; 16] {
    let mut tables = [[0u64; 256]; 16];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut t = 1;
    while t < 16 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
}

static TABLES: [[u64; 256]; 16] = make_tables();

/// Inputs shorter than this go to the table loop ([`crc64_by_tables`]): below it the
/// crate's setup costs more than its speed saves (1.5 GB/s at 64 bytes, against the
/// tables' 2.8; 30 GB/s at 1 KiB).
pub const SMALL: usize = 256;

/// Upstream's `crc64(crc, s, l)`: the CRC64 of `bytes` continued from `crc` (0 to start).
pub fn crc64(crc: u64, bytes: &[u8]) -> u64 {
    if bytes.len() < SMALL {
        return crc64_by_tables(crc, bytes);
    }
    // Jones has no final xor and reflects in and out, so the running value is the state.
    let mut digest = crc_fast::Digest::new_with_init_state(crc_fast::CrcAlgorithm::Crc64Redis, crc);
    digest.update(bytes);
    digest.finalize()
}

/// [`crc64`] by tables, sixteen bytes a step.
pub fn crc64_by_tables(mut crc: u64, bytes: &[u8]) -> u64 {
    let t = &TABLES;
    // Sixteen bytes a step: the write path digests every byte a checksummed AOF gets, so
    // this loop's speed is the feature's cost (bench figures in the README).
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        let a = crc ^ u64::from_le_bytes(chunk[..8].try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(chunk[8..].try_into().expect("8 bytes"));
        let byte = |w: u64, i: u32| ((w >> (8 * i)) & 0xff) as usize;
        crc = t[15][byte(a, 0)]
            ^ t[14][byte(a, 1)]
            ^ t[13][byte(a, 2)]
            ^ t[12][byte(a, 3)]
            ^ t[11][byte(a, 4)]
            ^ t[10][byte(a, 5)]
            ^ t[9][byte(a, 6)]
            ^ t[8][byte(a, 7)]
            ^ t[7][byte(b, 0)]
            ^ t[6][byte(b, 1)]
            ^ t[5][byte(b, 2)]
            ^ t[4][byte(b, 3)]
            ^ t[3][byte(b, 4)]
            ^ t[2][byte(b, 5)]
            ^ t[1][byte(b, 6)]
            ^ t[0][byte(b, 7)];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// A running checksum of a range: its CRC64 and length so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    pub crc: u64,
    pub len: u64,
}

impl Digest {
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        self.crc = crc64(self.crc, bytes);
        self.len += bytes.len() as u64;
    }
}

// ---------------------------------------------------------------------------------------
// The annotation lines.

/// A checksum annotation, as read from its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// `#CRC64 begin`.
    Begin,
    /// `#CRC64 <crc> <len>[ end]`: closes the range of `len` bytes before the line.
    /// `end`: no range begins after it.
    Close { crc: u64, len: u64, end: bool },
}

/// Writes the annotation that closes a range of `digest`'s bytes (`end`: and begins
/// none) into `out`; returns its length (at most [`LINE_MAX`]). A range that stays open
/// after it gets the short form, an `end` the long one (rare: `CONFIG SET aof-checksum
/// no`).
pub fn write_close(digest: Digest, end: bool, out: &mut [u8; LINE_MAX]) -> usize {
    if end {
        write_long_close(digest, true, out)
    } else {
        write_short_close(digest, out)
    }
}

/// The short closing line (module doc): `#C`, the CRC in ten base-94 digits, the length
/// in as few as it needs, LF.
fn write_short_close(digest: Digest, out: &mut [u8; LINE_MAX]) -> usize {
    /// `value`'s digits, most significant first, at least `width` of them (and one).
    fn digits(mut value: u64, width: usize, out: &mut [u8]) -> usize {
        let mut reversed = [0u8; 10];
        let mut n = 0;
        loop {
            reversed[n] = SHORT_ZERO + (value % SHORT_BASE) as u8;
            value /= SHORT_BASE;
            n += 1;
            if value == 0 && n >= width {
                break;
            }
        }
        for (to, from) in out.iter_mut().zip(reversed[..n].iter().rev()) {
            *to = *from;
        }
        n
    }
    out[..TAG.len()].copy_from_slice(TAG);
    let mut n = TAG.len();
    n += digits(digest.crc, SHORT_CRC_DIGITS, &mut out[n..]);
    n += digits(digest.len, 0, &mut out[n..]);
    out[n] = b'\n';
    n + 1
}

/// The long closing line: `#CRC64 <16 hex> <decimal length>[ end]\r\n`.
fn write_long_close(digest: Digest, end: bool, out: &mut [u8; LINE_MAX]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = 0;
    out[..LONG_TAG.len()].copy_from_slice(LONG_TAG);
    n += LONG_TAG.len();
    for shift in (0..16).rev() {
        out[n] = HEX[((digest.crc >> (shift * 4)) & 0xf) as usize];
        n += 1;
    }
    out[n] = b' ';
    n += 1;
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(digest.len).as_bytes();
    out[n..n + digits.len()].copy_from_slice(digits);
    n += digits.len();
    if end {
        out[n..n + 4].copy_from_slice(b" end");
        n += 4;
    }
    out[n..n + 2].copy_from_slice(b"\r\n");
    n + 2
}

/// The annotation closing a range, as bytes.
pub fn close_line(digest: Digest, end: bool) -> Vec<u8> {
    let mut out = [0u8; LINE_MAX];
    let n = write_close(digest, end, &mut out);
    out[..n].to_vec()
}

/// The long closing line (what builds before the short form wrote), as bytes: for the
/// tests that prove such files still verify.
pub fn long_close_line(digest: Digest, end: bool) -> Vec<u8> {
    let mut out = [0u8; LINE_MAX];
    let n = write_long_close(digest, end, &mut out);
    out[..n].to_vec()
}

/// Reads a whole annotation line (its line end included) as a checksum annotation. Only
/// the exact shapes [`write_close`] and [`BEGIN`] write (and the long closing line older
/// builds wrote) are marks: anything else starting with `#` is another annotation
/// (skipped, and part of the range it sits in).
pub fn parse(line: &[u8]) -> Option<Mark> {
    if line.starts_with(LONG_TAG) {
        parse_long(line)
    } else {
        parse_short(line)
    }
}

/// The short closing line, canonical only: exactly ten CRC digits whose value fits a
/// u64, one to ten length digits without a leading zero digit (but for 0 itself), LF.
fn parse_short(line: &[u8]) -> Option<Mark> {
    let body = line.strip_prefix(TAG)?.strip_suffix(b"\n")?;
    if body.len() <= SHORT_CRC_DIGITS || body.len() > SHORT_LINE_MAX - TAG.len() - 1 {
        return None;
    }
    fn value(digits: &[u8]) -> Option<u64> {
        digits.iter().try_fold(0u64, |acc, &d| {
            let v = d
                .checked_sub(SHORT_ZERO)
                .filter(|&v| u64::from(v) < SHORT_BASE)?;
            acc.checked_mul(SHORT_BASE)?.checked_add(u64::from(v))
        })
    }
    let (crc, len) = body.split_at(SHORT_CRC_DIGITS);
    if len.len() > 1 && len[0] == SHORT_ZERO {
        return None;
    }
    Some(Mark::Close {
        crc: value(crc)?,
        len: value(len)?,
        end: false,
    })
}

/// The long form: `begin`, or `<16 hex> <decimal length>[ end]`, CRLF.
fn parse_long(line: &[u8]) -> Option<Mark> {
    let body = line.strip_prefix(LONG_TAG)?.strip_suffix(b"\r\n")?;
    if body == b"begin" {
        return Some(Mark::Begin);
    }
    if body.len() < 18 || body[16] != b' ' {
        return None;
    }
    let hex = &body[..16];
    let mut crc = 0u64;
    for &h in hex {
        let v = match h {
            b'0'..=b'9' => h - b'0',
            b'a'..=b'f' => h - b'a' + 10,
            _ => return None,
        };
        crc = (crc << 4) | u64::from(v);
    }
    let rest = &body[17..];
    let (digits, end) = match rest.strip_suffix(b" end") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    // Canonical decimal only (what the writer writes): no sign, no leading zero.
    if digits.is_empty()
        || digits.len() > 20
        || (digits.len() > 1 && digits[0] == b'0')
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let len = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
    Some(Mark::Close { crc, len, end })
}

// ---------------------------------------------------------------------------------------
// The verifier the framer runs.

/// What a failed verification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The range's bytes do not have the checksum (or the length) its annotation says.
    Mismatch,
    /// A closing annotation with no range begun before it (its `begin`, or the closing
    /// annotation before it, is damaged).
    NoOpenRange,
    /// The replay stopped (bad framing, a short read) before the last verified boundary
    /// of the file: damage inside data that verified annotations follow.
    Unreadable,
    /// The replay reached the last verified boundary but not as the end of an annotation
    /// it verified (the framing went astray before it).
    Misframed,
}

/// A failed verification: the range that failed (from `range_start`, up to `at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// Where the failing range begins: the end of the last verified boundary (or of the
    /// `begin`) before the damage.
    pub range_start: u64,
    /// The file offset of the annotation (or of the stop) where the failure showed.
    pub at: u64,
}

/// What the loader decided before the replay ([`plan_tail`]): the file's last verified
/// boundary, and whether what follows it is a torn append to leave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TailPlan {
    /// The end of the last checksum annotation of the file that verifies (a verified
    /// closing line, or a `begin`).
    pub boundary: u64,
    /// The bytes after `boundary` are a torn append (they do not parse to the end of the
    /// file, or hold a checksum annotation that fails): the replay ends at `boundary`.
    pub torn: bool,
}

/// The range verifier: follows the file's checksum annotations through a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    /// Where the file's commands begin.
    start: u64,
    /// The file offset the reading stands at.
    position: u64,
    /// The open range's start, when one is open.
    open: Option<u64>,
    /// The end of the last annotation verified (or `begin`), if any.
    last_boundary: Option<u64>,
    /// Whether the file carried any checksum annotation so far.
    seen: bool,
    plan: Option<TailPlan>,
}

impl Verifier {
    pub fn new(start: u64) -> Verifier {
        Verifier {
            start,
            position: start,
            open: None,
            last_boundary: None,
            seen: false,
            plan: None,
        }
    }

    /// The loader's decision about the file's end ([`plan_tail`]).
    pub fn set_plan(&mut self, plan: Option<TailPlan>) {
        self.plan = plan;
    }

    pub fn plan(&self) -> Option<TailPlan> {
        self.plan
    }

    #[inline]
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Whether a range is open: the bytes consumed now are checksummed.
    #[inline]
    pub fn digesting(&self) -> bool {
        self.open.is_some()
    }

    /// Whether the file carried a checksum annotation so far.
    pub fn seen(&self) -> bool {
        self.seen
    }

    pub fn last_boundary(&self) -> Option<u64> {
        self.last_boundary
    }

    /// `n` bytes of data (commands, pieces, other annotations) consumed.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        self.position += n as u64;
    }

    /// An annotation line at the position: `Some(mark)` if it is a checksum annotation,
    /// to be handled with [`Verifier::mark`] after the window's digest is taken.
    #[inline]
    pub fn recognise(line: &[u8]) -> Option<Mark> {
        if line.starts_with(TAG) {
            parse(line)
        } else {
            None
        }
    }

    /// A checksum annotation of `line_len` bytes at the position; `digest` is what the
    /// window digested since the open range began (None when no range was open). Returns
    /// whether a range begins after the line (the window digests from there), or the
    /// failure.
    pub fn mark(
        &mut self,
        mark: Mark,
        line_len: usize,
        digest: Option<Digest>,
    ) -> Result<bool, Failure> {
        self.seen = true;
        let at = self.position;
        let after = at + line_len as u64;
        let result = match (mark, self.open) {
            // A `begin` while a range is open: a writer started over (a new process
            // appending after one that died before closing its range, or checksums
            // switched on again); the open range's bytes are not verified, and load as
            // upstream loads them.
            (Mark::Begin, _) => Ok(true),
            (Mark::Close { .. }, None) => Err(Failure {
                kind: FailureKind::NoOpenRange,
                range_start: self.last_boundary.unwrap_or(self.start),
                at,
            }),
            (Mark::Close { crc, len, end }, Some(start)) => {
                let got = digest.unwrap_or_default();
                if got.crc == crc && got.len == len && at - start == len {
                    Ok(!end)
                } else {
                    Err(Failure {
                        kind: FailureKind::Mismatch,
                        range_start: start,
                        at,
                    })
                }
            }
        };
        self.position = after;
        match result {
            Ok(opens) => {
                self.last_boundary = Some(after);
                self.open = opens.then_some(after);
                Ok(opens)
            }
            Err(failure) => {
                self.open = None;
                Err(failure)
            }
        }
    }

    /// The reading stopped (`clean`: between items, at the end of what was read). With a
    /// plan, a stop short of the verified boundary is damage that verified data follows;
    /// a stop at a torn file's boundary must be the end of an annotation verified here.
    /// `pending`: bytes of an unfinished command consumed before the stop (the failure
    /// names where that command starts, whatever the windows were).
    pub fn at_stop(&self, clean: bool, pending: usize) -> Result<(), Failure> {
        let Some(plan) = self.plan else {
            return Ok(());
        };
        let at = self.position - pending as u64;
        let range_start = self.last_boundary.unwrap_or(self.start);
        if at < plan.boundary || (!clean && plan.torn) {
            return Err(Failure {
                kind: FailureKind::Unreadable,
                range_start,
                at,
            });
        }
        if plan.torn && self.last_boundary != Some(plan.boundary) {
            return Err(Failure {
                kind: FailureKind::Misframed,
                range_start,
                at,
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The writer's side.

/// Which range is open in which file, and when the writer closes it. A range lives in one
/// file: a file the writer did not leave as it is (a new INCR after a rewrite, one cut by
/// a load, a process that just started) gets a `begin` before its first checksummed
/// bytes, so every range starts clean.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeWriter {
    /// The open range's file: its descriptor and its size after the writer's last write.
    file: Option<(i32, u64)>,
    open: Option<Digest>,
    /// When the last range was closed or begun (milliseconds).
    last_close_ms: i64,
}

impl RangeWriter {
    pub const fn new() -> RangeWriter {
        RangeWriter {
            file: None,
            open: None,
            last_close_ms: 0,
        }
    }

    /// Before bytes go to the file `fd` of `size` bytes: whether a `begin` line must go
    /// first (`on`: `aof-checksum` now). A range open in another file (or in this one
    /// changed by someone else) is forgotten.
    pub fn needs_begin(&mut self, on: bool, fd: i32, size: u64) -> bool {
        if self.file != Some((fd, size)) {
            self.file = None;
            self.open = None;
        }
        on && self.open.is_none()
    }

    /// The `begin` line was written: the file is `size` bytes long now.
    pub fn begun(&mut self, fd: i32, size: u64, now_ms: i64) {
        self.file = Some((fd, size));
        self.open = Some(Digest::default());
        self.last_close_ms = now_ms;
    }

    /// `bytes` were written to the file, which is `size` bytes long now.
    pub fn wrote(&mut self, bytes: &[u8], fd: i32, size: u64) {
        if let Some(digest) = &mut self.open {
            digest.update(bytes);
            self.file = Some((fd, size));
        }
    }

    /// The closing line to write now, if any, and whether it ends checksumming: with
    /// `aof-checksum no` an open range is closed by an `end` line; otherwise a range with
    /// bytes closes after every write when `every_write` (`appendfsync always`), else once
    /// a second (the fsync cadence of `everysec`) or once it holds [`RANGE_MAX`] bytes.
    pub fn close_due(
        &self,
        on: bool,
        every_write: bool,
        fd: i32,
        size: u64,
        now_ms: i64,
    ) -> Option<(Digest, bool)> {
        let digest = self.open?;
        if self.file != Some((fd, size)) {
            return None;
        }
        if !on {
            return Some((digest, true));
        }
        let due = every_write || now_ms - self.last_close_ms >= 1000 || digest.len >= RANGE_MAX;
        (digest.len > 0 && due).then_some((digest, false))
    }

    /// The closing line was written; the file is `size` bytes long now.
    pub fn closed(&mut self, end: bool, fd: i32, size: u64, now_ms: i64) {
        self.last_close_ms = now_ms;
        if end {
            self.open = None;
            self.file = None;
        } else {
            self.open = Some(Digest::default());
            self.file = Some((fd, size));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The torn-tail decision.

/// How far from a file's end its last verified boundary is looked for. The writer closes
/// a range at least every [`RANGE_MAX`] bytes of commands (and after every write under
/// `appendfsync always`, every second otherwise), so a file written with checksums on
/// that was not torn has an annotation within this distance of its end, unless a single
/// command is longer (its closing line is still found, just after it).
pub const TAIL_SCAN: u64 = 4 << 20;
/// The writer closes a range once it holds this many bytes.
pub const RANGE_MAX: u64 = 1 << 20;
/// At most this many candidate annotations are checked from the end.
pub const TAIL_CANDIDATES: usize = 64;

/// Checksum annotations in `tail` (the file's bytes from offset `tail_offset`; `start` is
/// where the file's commands begin), last first: each line's offset, its length and what
/// it says. A line counts when it starts the file's commands or follows a newline.
pub fn marks_backwards(tail: &[u8], tail_offset: u64, start: u64) -> Vec<(u64, usize, Mark)> {
    let mut found = Vec::new();
    for hit in memmem::rfind_iter(tail, TAG) {
        let offset = tail_offset + hit as u64;
        let at_line_start = offset == start || (hit > 0 && tail[hit - 1] == b'\n');
        if !at_line_start {
            continue;
        }
        let rest = &tail[hit..tail.len().min(hit + LINE_MAX)];
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            continue;
        };
        if let Some(mark) = parse(&rest[..=nl]) {
            found.push((offset, nl + 1, mark));
            if found.len() == TAIL_CANDIDATES {
                break;
            }
        }
    }
    found
}

/// Whether bytes after the last verified boundary are an append to keep: they parse as
/// whole commands to their end (as upstream would load them) and hold no checksum
/// annotation (one there failed to verify, or it would be the boundary).
pub fn tail_is_clean(tail: &[u8]) -> bool {
    use crate::framer::mem::{frames_with, MemFrame, Shape};
    use crate::framer::Framer;
    let (frames, _) = frames_with(Framer::new(), tail, &Shape::production());
    // Only annotations between commands are marks: a value may hold any bytes, a line
    // that reads as a mark included, and is still an append upstream would load. (The
    // framer's own verifier stops at a closing mark with no range begun; a `begin` it
    // passes as an annotation.)
    let mut at = 0;
    frames.iter().all(|frame| match frame {
        MemFrame::Command { consumed, .. } => {
            at += consumed;
            true
        }
        MemFrame::Annotation { consumed } => {
            let line = &tail[at..at + consumed];
            at += consumed;
            Verifier::recognise(line).is_none()
        }
        MemFrame::Stop { stop, .. } => *stop == crate::load_machine::Stop::End,
        _ => false,
    })
}

/// The loader's decision for a file's end, before its replay: the last checksum
/// annotation (within [`TAIL_SCAN`] of the end) that verifies, and whether the bytes
/// after it are a torn append. `tail` is the file's last bytes, from `tail_offset`;
/// `range_crc(offset, len)` is the CRC64 of the file's bytes there (read from the file
/// when they precede the tail). `None`: no verifiable annotation near the end (a file
/// without checksums): the replay ends as upstream's does, verifying what it meets.
pub fn plan_tail<E>(
    tail: &[u8],
    tail_offset: u64,
    start: u64,
    file_len: u64,
    mut range_crc: impl FnMut(u64, u64) -> Result<u64, E>,
) -> Result<Option<TailPlan>, E> {
    for (offset, line_len, mark) in marks_backwards(tail, tail_offset, start) {
        let verified = match mark {
            Mark::Begin => true,
            Mark::Close { crc, len, .. } => {
                offset >= start + len
                    && if offset - len >= tail_offset {
                        let from = (offset - len - tail_offset) as usize;
                        crc64(0, &tail[from..(offset - tail_offset) as usize]) == crc
                    } else {
                        range_crc(offset - len, len)? == crc
                    }
            }
        };
        if !verified {
            continue;
        }
        let boundary = offset + line_len as u64;
        let after = &tail[(boundary - tail_offset) as usize..];
        let torn = boundary < file_len && !tail_is_clean(after);
        return Ok(Some(TailPlan { boundary, torn }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_upstreams() {
        // crc64.c's own test: crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        // Continued in pieces, as a range is digested across reads.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = crc64(0, &data);
        for cut in [0, 1, 7, 8, 9, 500, 999, 1000] {
            assert_eq!(crc64(crc64(0, &data[..cut]), &data[cut..]), whole);
        }
        // The bytewise definition.
        let mut bitwise = 0u64;
        for &b in &data {
            bitwise ^= u64::from(b);
            for _ in 0..8 {
                bitwise = if bitwise & 1 == 1 {
                    (bitwise >> 1) ^ POLY_REFLECTED
                } else {
                    bitwise >> 1
                };
            }
        }
        assert_eq!(bitwise, whole);
    }

    #[test]
    fn lines_round_trip_and_stay_short() {
        for (crc, len, end) in [
            (0, 0, false),
            (u64::MAX, u64::MAX, true),
            (0xabc, 42, false),
        ] {
            let line = close_line(Digest { crc, len }, end);
            assert!(line.len() <= LINE_MAX);
            assert!(line.starts_with(b"#") && !line.starts_with(b"#TS:"));
            assert_eq!(parse(&line), Some(Mark::Close { crc, len, end }));
        }
        assert_eq!(parse(BEGIN), Some(Mark::Begin));
        for bad in [
            &b"#CRC64 begin\n"[..],
            b"#CRC64 begin \r\n",
            b"#CRC64 000000000000000g 1\r\n",
            b"#CRC64 0000000000000000 01\r\n",
            b"#CRC64 0000000000000000 \r\n",
            b"#CRC64 0000000000000000 1 END\r\n",
            b"#CRC64 000000000000000 1\r\n",
            b"#CRC64 0000000000000000 +1\r\n",
            b"#TS:1\r\n",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        // Every single-byte change of a line is no longer the same mark.
        let line = close_line(
            Digest {
                crc: 0x1234,
                len: 99,
            },
            false,
        );
        for i in 0..line.len() {
            for x in [1u8, 0x80, 0xff] {
                let mut bad = line.clone();
                bad[i] ^= x;
                assert_ne!(parse(&bad), parse(&line), "byte {i} ^ {x}");
            }
        }
    }

    #[test]
    fn short_lines_round_trip_on_random_digests() {
        let mut rng = crate::xorshift::Xorshift(0x5407);
        for i in 0..20_000u64 {
            let crc = match i {
                0 => 0,
                1 => u64::MAX,
                _ => rng.next_u64(),
            };
            let len = match i % 4 {
                0 => rng.below(SHORT_BASE * SHORT_BASE),
                1 => rng.below(1 << 20),
                2 => rng.next_u64(),
                _ => i,
            };
            let line = close_line(Digest { crc, len }, false);
            assert_eq!(
                parse(&line),
                Some(Mark::Close {
                    crc,
                    len,
                    end: false
                })
            );
            assert!(line.starts_with(TAG) && !line.starts_with(b"#TS:"));
            assert!(line.len() <= SHORT_LINE_MAX && line.ends_with(b"\n"));
            // Printable digits only: no CR, no space, nothing a text tool mangles.
            let digits = &line[TAG.len()..line.len() - 1];
            assert!(
                digits.iter().all(|&b| (b'!'..=b'~').contains(&b)),
                "{line:?}"
            );
            // The growth under `always`: 14 bytes for a length below 94, 15 below 94^2.
            if len < SHORT_BASE * SHORT_BASE {
                assert!(line.len() <= 15, "{line:?}");
            }
        }
    }

    #[test]
    fn only_canonical_short_lines_are_marks() {
        let good = b"#C!!!!!!!!!!!\n";
        assert_eq!(
            parse(good),
            Some(Mark::Close {
                crc: 0,
                len: 0,
                end: false
            })
        );
        for bad in [
            &b"#C!!!!!!!!!!!\r\n"[..],     // CRLF: not the short form
            b"#C!!!!!!!!!!\n",             // ten digits: no length
            b"#C!!!!!!!!!!!!\n",           // a leading zero digit in the length
            b"#C~~~~~~~~~~!\n",            // a CRC above u64::MAX
            b"#C!!!!! !!!!!\n",            // a space
            b"#C!!!!!!!!!!\x7f\n",         // DEL is no digit
            b"#C!!!!!!!!!!\"!!!!!!!!!!\n", // eleven length digits
            b"#Comment line\n",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        // The largest CRC still fits, the next value does not.
        let max = close_line(
            Digest {
                crc: u64::MAX,
                len: 1,
            },
            false,
        );
        let mut over = max.clone();
        over[TAG.len() + SHORT_CRC_DIGITS - 1] += 1;
        assert_eq!(parse(&over), None, "{:?}", String::from_utf8_lossy(&over));
    }

    #[test]
    fn long_closing_lines_of_older_builds_still_verify() {
        use crate::framer::mem::{frames_with, MemFrame, Shape};
        use crate::framer::Framer;
        use crate::resp::encode_text_command as cmd;
        let mut file = BEGIN.to_vec();
        for (i, long) in [true, false, true, true, false].into_iter().enumerate() {
            let range = cmd(&["SET", &format!("k{i}"), "v"]);
            let mut d = Digest::default();
            d.update(&range);
            file.extend(&range);
            file.extend(if long {
                long_close_line(d, false)
            } else {
                close_line(d, false)
            });
        }
        let (frames, _) = frames_with(Framer::new(), &file, &Shape::production());
        let commands = frames
            .iter()
            .filter(|f| matches!(f, MemFrame::Command { .. }))
            .count();
        assert_eq!(commands, 5);
        assert!(matches!(
            frames.last(),
            Some(MemFrame::Stop {
                stop: crate::load_machine::Stop::End,
                ..
            })
        ));
        assert_eq!(
            plan(&file),
            Some(TailPlan {
                boundary: file.len() as u64,
                torn: false
            })
        );
        // A damaged long line is a failing range like a damaged short one.
        let mut bad = file.clone();
        let at = file.len() - 3;
        bad[at] ^= 1;
        let (frames, _) = frames_with(Framer::new(), &bad, &Shape::production());
        assert!(matches!(
            frames.last(),
            Some(MemFrame::Stop {
                stop: crate::load_machine::Stop::Checksum(_),
                ..
            })
        ));
    }

    #[test]
    fn a_mark_inside_a_value_leaves_the_tail_clean() {
        use crate::resp::encode_text_command as cmd;
        let short = close_line(Digest { crc: 7, len: 3 }, false);
        let long = String::from_utf8(long_close_line(Digest { crc: 7, len: 3 }, true)).unwrap();
        let value = format!(
            "x\n{}{}\n#CRC64 begin\r\n",
            String::from_utf8(short.clone()).unwrap(),
            long
        );
        let mut tail = cmd(&["SET", "a", &value]);
        tail.extend(cmd(&["SET", "b", "2"]));
        assert!(tail_is_clean(&tail));
        // Between commands, the same lines are marks: the tail is not an append to keep.
        for mark in [&short[..], BEGIN, long.as_bytes()] {
            let mut t = tail.clone();
            t.extend_from_slice(mark);
            t.extend(cmd(&["SET", "c", "3"]));
            assert!(!tail_is_clean(&t), "{:?}", String::from_utf8_lossy(mark));
        }
    }

    fn verify(v: &mut Verifier, mark: &[u8], digest: Option<Digest>) -> Result<bool, Failure> {
        v.mark(parse(mark).unwrap(), mark.len(), digest)
    }

    #[test]
    fn the_verifier_follows_ranges() {
        let data = b"*1\r\n$4\r\nPING\r\n";
        let mut d = Digest::default();
        d.update(data);
        let mut v = Verifier::new(0);
        assert!(!v.digesting());
        assert_eq!(verify(&mut v, BEGIN, None), Ok(true));
        assert_eq!(v.last_boundary(), Some(BEGIN.len() as u64));
        v.advance(data.len());
        let close = close_line(d, false);
        assert_eq!(verify(&mut v, &close, Some(d)), Ok(true));
        let boundary = (BEGIN.len() + data.len() + close.len()) as u64;
        assert_eq!(v.last_boundary(), Some(boundary));
        // A wrong checksum fails, naming the range.
        v.advance(data.len());
        let mut wrong = d;
        wrong.crc ^= 1;
        let failure = verify(&mut v, &close, Some(wrong)).unwrap_err();
        assert_eq!(
            failure,
            Failure {
                kind: FailureKind::Mismatch,
                range_start: boundary,
                at: boundary + data.len() as u64
            }
        );
        // A closing line with no range open; a begin while one is open.
        let mut v = Verifier::new(0);
        assert_eq!(
            verify(&mut v, &close, None).unwrap_err().kind,
            FailureKind::NoOpenRange
        );
        // A begin while one is open starts over (a new writer after one that died).
        let mut v = Verifier::new(0);
        verify(&mut v, BEGIN, None).unwrap();
        v.advance(data.len());
        assert_eq!(verify(&mut v, BEGIN, Some(d)), Ok(true));
        assert_eq!(
            v.last_boundary(),
            Some((2 * BEGIN.len() + data.len()) as u64)
        );
        // `end` closes without opening.
        let mut v = Verifier::new(0);
        verify(&mut v, BEGIN, None).unwrap();
        v.advance(data.len());
        assert_eq!(verify(&mut v, &close_line(d, true), Some(d)), Ok(false));
        assert!(!v.digesting());
    }

    fn checksummed(ranges: &[&[u8]]) -> Vec<u8> {
        let mut file = BEGIN.to_vec();
        for range in ranges {
            file.extend_from_slice(range);
            let mut d = Digest::default();
            d.update(range);
            file.extend(close_line(d, false));
        }
        file
    }

    fn plan(file: &[u8]) -> Option<TailPlan> {
        plan_tail::<()>(file, 0, 0, file.len() as u64, |_, _| unreachable!()).unwrap()
    }

    #[test]
    fn the_tail_plan_finds_the_last_verified_boundary() {
        use crate::resp::encode_text_command as cmd;
        let r1 = cmd(&["SET", "a", "1"]);
        let r2 = cmd(&["SET", "b", "2"]);
        let file = checksummed(&[&r1, &r2]);
        let end = file.len() as u64;
        assert_eq!(
            plan(&file),
            Some(TailPlan {
                boundary: end,
                torn: false
            })
        );
        // Zeros, garbage, a cut command after it: torn.
        for tail in [&[0u8; 100][..], b"xyz\r\n\x01", b"*3\r\n$3\r\nSET\r\n$1"] {
            let mut torn = file.clone();
            torn.extend_from_slice(tail);
            assert_eq!(
                plan(&torn),
                Some(TailPlan {
                    boundary: end,
                    torn: true
                })
            );
        }
        // Whole commands without annotations (a release without checksums appended): kept.
        let mut kept = file.clone();
        kept.extend(cmd(&["SET", "c", "3"]));
        assert_eq!(
            plan(&kept),
            Some(TailPlan {
                boundary: end,
                torn: false
            })
        );
        // The last range damaged: the boundary before it, and the rest torn.
        let mut damaged = file.clone();
        let at = file.len() - 10 - r2.len();
        damaged[at] ^= 1;
        let mut d1 = Digest::default();
        d1.update(&r1);
        let b1 = (BEGIN.len() + r1.len() + close_line(d1, false).len()) as u64;
        assert_eq!(
            plan(&damaged),
            Some(TailPlan {
                boundary: b1,
                torn: true
            })
        );
        // No annotations at all.
        assert_eq!(plan(&r1), None);
    }

    #[test]
    fn a_range_before_the_tail_is_checked_through_the_reader() {
        let mut data = vec![b'x'; 998];
        data.extend_from_slice(b"\r\n");
        let mut file = BEGIN.to_vec();
        let mut d = Digest::default();
        d.update(&data);
        file.extend(&data);
        file.extend(close_line(d, false));
        let tail_offset = 500;
        let got = plan_tail::<()>(&file[500..], tail_offset, 0, file.len() as u64, |o, l| {
            Ok(crc64(0, &file[o as usize..(o + l) as usize]))
        })
        .unwrap();
        assert_eq!(
            got,
            Some(TailPlan {
                boundary: file.len() as u64,
                torn: false
            })
        );
    }
}
#[cfg(test)]
mod crate_against_tables {
    use super::*;
    use crate::xorshift::Xorshift as Rng;

    #[test]
    fn the_crate_and_the_tables_agree_at_every_length_and_start() {
        let mut rng = Rng(0xc4c64);
        for len in (0..3000).chain([4095, 4096, 65536, 1 << 20]) {
            let bytes = rng.bytes(len);
            let start = rng.next_u64();
            let mut digest =
                crc_fast::Digest::new_with_init_state(crc_fast::CrcAlgorithm::Crc64Redis, start);
            digest.update(&bytes);
            assert_eq!(
                digest.finalize(),
                crc64_by_tables(start, &bytes),
                "{len} bytes"
            );
            assert_eq!(
                crc64(start, &bytes),
                crc64_by_tables(start, &bytes),
                "{len} bytes"
            );
        }
        // Continued in pieces of any size, as the write path and the RDB blocks do.
        let bytes = rng.bytes(100_000);
        let mut crc = 0;
        let mut at = 0;
        while at < bytes.len() {
            let n = (1 + rng.below(5000) as usize).min(bytes.len() - at);
            crc = crc64(crc, &bytes[at..at + n]);
            at += n;
        }
        assert_eq!(crc, crc64_by_tables(0, &bytes));
    }
}

#[cfg(test)]
mod speed {
    #[test]
    #[ignore]
    fn crc64_speed() {
        let data = vec![7u8; 64 << 20];
        let t = std::time::Instant::now();
        let c = super::crc64(0, &data);
        let s = t.elapsed().as_secs_f64();
        eprintln!("crc64: {:.2} GB/s ({c:x})", 64.0 / 1024.0 / s);
    }
}

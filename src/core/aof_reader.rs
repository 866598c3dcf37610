//! Streaming parser for the command part of an append-only file (everything after an
//! optional RDB preamble), behaving like Redis 8.0.2's `loadSingleAppendOnlyFile` on
//! every input it survives, and failing cleanly where that function would crash.
//!
//! # Grammar, as upstream actually reads it
//!
//! Upstream reads "lines" with `fgets` into a 1024-byte buffer and payloads with
//! `fread`, so the real grammar is defined by those calls, not by RESP:
//!
//! ```text
//! file       := item*
//! item       := annotation | command
//! annotation := chunk starting with '#'                      (skipped)
//! command    := header argument{argc}
//! header     := chunk: '*' count                             argc = atoi(count)
//! argument   := chunk: '$' count, then len raw bytes, then 2 bytes that are not looked at
//!                                                            len = strtol(count)
//! chunk      := up to and including the next '\n', but at most 1023 bytes,
//!               or whatever is left before end of file
//! ```
//!
//! A line longer than 1023 bytes is therefore read as several chunks, the tail being
//! taken as the next item or argument line. Counts are parsed like C's `atoi`/`strtol`:
//! leading blanks, an optional sign, digits, and anything after them ignored; a NUL byte
//! ends the C string, which the digit scan handles by itself.
//!
//! # Outcomes
//!
//! Every way a read can stop maps to one of upstream's three exits ([`ErrorClass`]):
//!
//! * [`ErrorClass::ShortRead`]: upstream's unexpected-end-of-file path. With
//!   `aof-load-truncated yes` the file is cut at [`ReadError::valid_up_to`], the end of
//!   the last complete command (annotations do not move it). A file that ends cleanly
//!   inside MULTI without EXEC also lands here ([`ErrorKind::OpenTransaction`]), with
//!   the cut placed before that MULTI.
//! * [`ErrorClass::BadFormat`]: upstream's "Bad file format reading the append only
//!   file".
//! * [`ErrorClass::ReadFailure`]: upstream's "Unrecoverable error reading the append
//!   only file", which a well-formed read can reach only through `*` followed by a NUL
//!   byte away from the end of the file.
//!
//! # Where this reader differs, on purpose
//!
//! Upstream sizes memory by untrusted counts: `argc` pointers before reading any
//! argument, `len` bytes before reading a payload. A negative length becomes a huge
//! unsigned size and aborts the server; a length past the end of the file allocates it
//! and then reports a short read. Here nothing is sized by a count:
//!
//! * `argc` is never used to allocate; arguments are recorded as they are read, so a
//!   huge `argc` yields what upstream would yield had its allocation succeeded (a short
//!   read, or a bad format at the first line that is not an argument).
//! * a length beyond the bytes left in the file (when the caller says how large the file
//!   is) is the same short read upstream reaches, decided without waiting for the bytes.
//! * a negative length is [`ErrorKind::NegativeArgumentLength`] (bad format) instead of
//!   an abort.
//! * a length above the configured `max_bulk_len` ([`DEFAULT_MAX_BULK_LEN`], like
//!   `proto-max-bulk-len`) that the file could hold is [`ErrorKind::ArgumentTooLong`].
//!   Upstream has no such limit when loading; set `max_bulk_len` to `u64::MAX` to accept
//!   anything the file holds, as upstream does.
//! * upstream starts its truncation point at offset 0 even after an RDB preamble, so a
//!   short read before the first complete command of the tail truncates the preamble
//!   away. Here the truncation point starts at [`ReaderConfig::start_offset`], which
//!   keeps the preamble (`redis-check-aof --fix` does the same).
//!
//! # Driving it
//!
//! The caller owns the bytes. Each call to [`AofReader::parse_next`] gets a window that
//! starts at the first byte not yet consumed, and returns one [`Step`]. Argument spans
//! are offsets into that window, valid until the window changes. After
//! [`Step::NeedMore`] the next window must start at the same file offset (the unconsumed
//! bytes may have moved in memory) and be longer; the parser resumes where it stopped
//! instead of rescanning the command.

use memchr::memchr;

/// Upstream's line buffer size; `fgets` stores at most one byte less than this.
pub const AOF_ANNOTATION_LINE_MAX_LEN: usize = 1024;
/// The most bytes one `fgets` call takes from the file.
pub const LINE_CHUNK_MAX: usize = AOF_ANNOTATION_LINE_MAX_LEN - 1;
/// `proto-max-bulk-len`'s default (512 MiB).
pub const DEFAULT_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// One argument's payload: `len` bytes at `start` in the window the step was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgSpan {
    pub start: usize,
    pub len: usize,
}

impl ArgSpan {
    pub fn end(self) -> usize {
        self.start + self.len
    }

    /// The payload bytes, from the window this span was parsed from.
    pub fn bytes(self, window: &[u8]) -> &[u8] {
        &window[self.start..self.end()]
    }
}

/// Upstream's exit paths, which decide its log lines and return code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// `uxeof`: "short read" / "Unexpected end of file"; `aof-load-truncated` may truncate.
    ShortRead,
    /// `fmterr`: "Bad file format reading the append only file".
    BadFormat,
    /// `readerr` away from end of file: "Unrecoverable error reading the append only file".
    ReadFailure,
}

/// What exactly stopped the read; [`ErrorKind::class`] gives upstream's exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file ends right after a `*` (upstream: `buf[1] == '\0'` with end of file).
    EofAfterStar,
    /// The file ends where an argument line should begin.
    EofBeforeArgument,
    /// The file ends inside an argument's payload.
    EofInPayload,
    /// The file ends inside the two bytes that follow a payload.
    EofInTerminator,
    /// The file ends cleanly between commands, but inside MULTI without EXEC.
    OpenTransaction,
    /// An item starts with neither `#` nor `*` (a NUL byte included).
    NotACommand,
    /// `atoi` of the count after `*` is below 1 ("*0", "*-2", "*abc", "*\r\n", overflow).
    BadArgumentCount,
    /// An argument line does not start with `$`.
    MissingArgumentPrefix,
    /// The tail of a line longer than [`LINE_CHUNK_MAX`] bytes, read as the next line,
    /// starts with no valid prefix (upstream reports it as any other bad prefix).
    OverlongLine,
    /// `$` followed by a negative length (upstream aborts trying to allocate it).
    NegativeArgumentLength,
    /// A length above the configured `max_bulk_len`.
    ArgumentTooLong,
    /// `*` followed by a NUL byte, not at the end of the file (upstream's read-error
    /// path without end of file).
    NulAfterStar,
}

impl ErrorKind {
    pub fn class(self) -> ErrorClass {
        use ErrorKind::*;
        match self {
            EofAfterStar | EofBeforeArgument | EofInPayload | EofInTerminator | OpenTransaction => {
                ErrorClass::ShortRead
            }
            NotACommand
            | BadArgumentCount
            | MissingArgumentPrefix
            | OverlongLine
            | NegativeArgumentLength
            | ArgumentTooLong => ErrorClass::BadFormat,
            NulAfterStar => ErrorClass::ReadFailure,
        }
    }

    /// A short English description, for a diagnostic line next to upstream's message.
    pub fn describe(self) -> &'static str {
        use ErrorKind::*;
        match self {
            EofAfterStar => "end of file after '*'",
            EofBeforeArgument => "end of file before an argument",
            EofInPayload => "end of file inside an argument",
            EofInTerminator => "end of file inside the CRLF after an argument",
            OpenTransaction => "end of file inside MULTI without EXEC",
            NotACommand => "item starting with neither '#' nor '*'",
            BadArgumentCount => "argument count below 1",
            MissingArgumentPrefix => "argument line without '$'",
            OverlongLine => "line longer than 1023 bytes",
            NegativeArgumentLength => "negative argument length",
            ArgumentTooLong => "argument longer than proto-max-bulk-len",
            NulAfterStar => "NUL byte after '*'",
        }
    }
}

/// A read that cannot go on. All offsets are absolute positions in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadError {
    pub kind: ErrorKind,
    /// Start of the item (command or annotation) being read.
    pub item_offset: u64,
    /// The offending position: start of the bad line, of the missing payload or
    /// terminator, or the end of the file.
    pub offset: u64,
    /// Where upstream would truncate the file: the end of the last complete command, or
    /// for [`ErrorKind::OpenTransaction`] the offset before the MULTI being reverted.
    pub valid_up_to: u64,
}

impl ReadError {
    pub fn class(&self) -> ErrorClass {
        self.kind.class()
    }

    /// The truncation point `aof-load-truncated yes` applies, for short reads only.
    pub fn truncate_at(&self) -> Option<u64> {
        (self.class() == ErrorClass::ShortRead).then_some(self.valid_up_to)
    }
}

/// One result of [`AofReader::parse_next`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A complete command of `consumed` bytes at the start of the window; `args` point
    /// into the window (`args[0]` is the command name; there is always one).
    Command {
        consumed: usize,
        args: &'a [ArgSpan],
    },
    /// An annotation chunk (`#...`) of `consumed` bytes, to skip.
    Annotation { consumed: usize },
    /// The window ends inside an item. Call again with a window starting at the same
    /// file offset holding at least `min_window` bytes, or every byte left in the file
    /// with `at_eof`. Never returned when `at_eof` was set, and always more than the
    /// window held.
    NeedMore { min_window: usize },
    /// The file ended cleanly between items, outside any transaction.
    End,
    /// The read stops here; see [`ReadError`].
    Error(ReadError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderConfig {
    /// File offset of the first byte of the first window: 0, or the end of an RDB
    /// preamble. Also the first truncation point.
    pub start_offset: u64,
    /// The file's size, if known. Bounds every length before anything waits for it;
    /// without it, only `max_bulk_len` does.
    pub file_len: Option<u64>,
    /// Longest accepted argument (`proto-max-bulk-len`); `u64::MAX` accepts any.
    pub max_bulk_len: u64,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            start_offset: 0,
            file_len: None,
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
        }
    }
}

/// The offsets upstream keeps to decide where to truncate, and whether the fake
/// client is inside MULTI, derived from command names alone.
///
/// Upstream records the position before every command named MULTI (even one queued
/// inside an open transaction, which does not reopen it); only EXEC closes the
/// transaction, since inside MULTI every other command, DISCARD included, is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncationPoints {
    valid_up_to: u64,
    valid_before_multi: u64,
    in_multi: bool,
}

impl TruncationPoints {
    pub fn new(start_offset: u64) -> Self {
        TruncationPoints {
            valid_up_to: start_offset,
            valid_before_multi: start_offset,
            in_multi: false,
        }
    }

    /// Accounts for a complete command named `name` ending at file offset `end`.
    pub fn record_command(&mut self, name: &[u8], end: u64) {
        if name.eq_ignore_ascii_case(b"multi") {
            self.valid_before_multi = self.valid_up_to;
            self.in_multi = true;
        } else if name.eq_ignore_ascii_case(b"exec") {
            self.in_multi = false;
        }
        self.valid_up_to = end;
    }

    /// End of the last complete command.
    pub fn valid_up_to(&self) -> u64 {
        self.valid_up_to
    }

    /// Position before the last MULTI seen.
    pub fn valid_before_multi(&self) -> u64 {
        self.valid_before_multi
    }

    pub fn in_transaction(&self) -> bool {
        self.in_multi
    }
}

/// The incremental parser. It keeps its argument-span vector between commands, so
/// parsing allocates only while that vector grows to the widest command seen.
#[derive(Debug)]
pub struct AofReader {
    config: ReaderConfig,
    /// File offset of the first byte of the current window.
    offset: u64,
    spans: Vec<ArgSpan>,
    /// A command cut by the end of the previous window, to resume.
    pending: Option<PartialCommand>,
    /// The last annotation chunk stopped at the line-length cap without a newline, so
    /// the next item is that line's tail.
    item_is_line_tail: bool,
    points: TruncationPoints,
}

/// How far a command has been read: its header and `spans.len()` arguments.
#[derive(Clone, Copy, Debug)]
struct PartialCommand {
    argc: usize,
    /// Window offset of the next argument line.
    next_line: usize,
    /// That line is the tail of an over-long header line.
    next_line_is_tail: bool,
}

/// Why a chunk stopped where it did; decides `feof` in upstream's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkEnd {
    Newline,
    LengthCap,
    EndOfFile,
}

#[derive(Clone, Copy, Debug)]
struct Chunk {
    /// Window offset one past the chunk's last byte.
    end: usize,
    ended_by: ChunkEnd,
}

enum LineRead {
    Chunk(Chunk),
    /// `fgets` would return NULL: end of file before any byte.
    Nothing,
    Incomplete {
        min_window: usize,
    },
}

/// One `fgets(buf, 1024, fp)` starting at `start` in the window.
fn read_line(window: &[u8], start: usize, at_eof: bool) -> LineRead {
    let rest = &window[start..];
    let scanned = &rest[..rest.len().min(LINE_CHUNK_MAX)];
    if let Some(newline) = memchr(b'\n', scanned) {
        return LineRead::Chunk(Chunk {
            end: start + newline + 1,
            ended_by: ChunkEnd::Newline,
        });
    }
    if rest.len() >= LINE_CHUNK_MAX {
        return LineRead::Chunk(Chunk {
            end: start + LINE_CHUNK_MAX,
            ended_by: ChunkEnd::LengthCap,
        });
    }
    if !at_eof {
        // A chunk is never longer than the cap, so this many bytes settle it.
        return LineRead::Incomplete {
            min_window: start + LINE_CHUNK_MAX,
        };
    }
    if rest.is_empty() {
        LineRead::Nothing
    } else {
        LineRead::Chunk(Chunk {
            end: window.len(),
            ended_by: ChunkEnd::EndOfFile,
        })
    }
}

/// C's `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// glibc's `strtol(text, NULL, 10)`: blanks, a sign, digits; saturates on overflow.
/// A NUL byte (the end of the C string) stops the digit scan like any non-digit.
fn c_strtol(text: &[u8]) -> i64 {
    let mut rest = text;
    while let [first, tail @ ..] = rest {
        if !is_c_space(*first) {
            break;
        }
        rest = tail;
    }
    let negative = match rest.first() {
        Some(b'-') => true,
        Some(b'+') => false,
        _ => return digits_value(rest, false),
    };
    digits_value(&rest[1..], negative)
}

fn digits_value(text: &[u8], negative: bool) -> i64 {
    let mut magnitude: u64 = 0;
    for &byte in text {
        if !byte.is_ascii_digit() {
            break;
        }
        let digit = u64::from(byte - b'0');
        match magnitude.checked_mul(10).and_then(|m| m.checked_add(digit)) {
            Some(m) => magnitude = m,
            None => return if negative { i64::MIN } else { i64::MAX },
        }
    }
    match (negative, i64::try_from(magnitude)) {
        (false, Ok(value)) => value,
        (false, Err(_)) => i64::MAX,
        (true, Ok(value)) => -value,
        // 2^63 negates to exactly i64::MIN; anything larger saturates there too.
        (true, Err(_)) => i64::MIN,
    }
}

/// glibc's `atoi`, which is `(int) strtol(...)`: the low 32 bits of the saturated long.
fn c_atoi(text: &[u8]) -> i32 {
    c_strtol(text) as i32
}

/// What [`AofReader::advance`] found, before the spans are lent out.
enum Parsed {
    Command { consumed: usize },
    Annotation { consumed: usize },
    NeedMore { min_window: usize },
    End,
    Error(ReadError),
}

enum HeaderStep {
    Command(PartialCommand),
    Done(Parsed),
}

enum ArgumentStop {
    NeedMore { min_window: usize },
    Error { kind: ErrorKind, at: usize },
}

impl AofReader {
    pub fn new(config: ReaderConfig) -> Self {
        AofReader {
            config,
            offset: config.start_offset,
            spans: Vec::new(),
            pending: None,
            item_is_line_tail: false,
            points: TruncationPoints::new(config.start_offset),
        }
    }

    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    /// File offset of the next window's first byte (everything before is consumed).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn truncation_points(&self) -> &TruncationPoints {
        &self.points
    }

    /// Parses the item at the start of `window`, whose first byte is at
    /// [`AofReader::offset`] in the file. `at_eof`: the window holds every byte left in
    /// the file. Consumed bytes of a returned command or annotation count as read, so the
    /// next window must start right after them.
    pub fn parse_next(&mut self, window: &[u8], at_eof: bool) -> Step<'_> {
        match self.advance(window, at_eof) {
            Parsed::Command { consumed } => Step::Command {
                consumed,
                args: &self.spans,
            },
            Parsed::Annotation { consumed } => Step::Annotation { consumed },
            Parsed::NeedMore { min_window } => Step::NeedMore {
                min_window: self.reachable_min_window(min_window, window.len()),
            },
            Parsed::End => Step::End,
            Parsed::Error(error) => Step::Error(error),
        }
    }

    fn advance(&mut self, window: &[u8], at_eof: bool) -> Parsed {
        // A window shorter than the one that suspended the command breaks the caller's
        // contract; starting the command over is always correct and cannot index out.
        let resumed = self
            .pending
            .take()
            .filter(|partial| partial.next_line <= window.len());
        let partial = match resumed {
            Some(partial) => partial,
            None => match self.parse_item_start(window, at_eof) {
                HeaderStep::Command(partial) => partial,
                HeaderStep::Done(parsed) => return parsed,
            },
        };
        self.parse_arguments(window, at_eof, partial)
    }

    /// Reads the first chunk of an item: an annotation, a command header, or the end.
    fn parse_item_start(&mut self, window: &[u8], at_eof: bool) -> HeaderStep {
        let chunk = match read_line(window, 0, at_eof) {
            LineRead::Chunk(chunk) => chunk,
            LineRead::Incomplete { min_window } => {
                return HeaderStep::Done(Parsed::NeedMore { min_window })
            }
            LineRead::Nothing => return HeaderStep::Done(self.end_of_file()),
        };
        let line = &window[..chunk.end];
        let is_tail = std::mem::replace(&mut self.item_is_line_tail, false);
        match line[0] {
            b'#' => {
                self.item_is_line_tail = chunk.ended_by == ChunkEnd::LengthCap;
                self.offset += chunk.end as u64;
                return HeaderStep::Done(Parsed::Annotation {
                    consumed: chunk.end,
                });
            }
            b'*' => {}
            _ if is_tail => return HeaderStep::Done(self.error(ErrorKind::OverlongLine, 0)),
            _ => return HeaderStep::Done(self.error(ErrorKind::NotACommand, 0)),
        }
        if line.get(1).is_none_or(|&byte| byte == 0) {
            // Upstream takes an empty count as a failed read: a short read if that
            // fgets met the end of the file, an I/O-style failure otherwise.
            let kind = if chunk.ended_by == ChunkEnd::EndOfFile {
                ErrorKind::EofAfterStar
            } else {
                ErrorKind::NulAfterStar
            };
            return HeaderStep::Done(self.error(kind, 0));
        }
        let argc = c_atoi(&line[1..]);
        if argc < 1 {
            return HeaderStep::Done(self.error(ErrorKind::BadArgumentCount, 0));
        }
        self.spans.clear();
        HeaderStep::Command(PartialCommand {
            argc: argc as usize,
            next_line: chunk.end,
            next_line_is_tail: chunk.ended_by == ChunkEnd::LengthCap,
        })
    }

    /// Fgets returned nothing at an item boundary: upstream's loop exit, where an open
    /// transaction is reverted like a short read.
    fn end_of_file(&self) -> Parsed {
        if !self.points.in_transaction() {
            return Parsed::End;
        }
        Parsed::Error(ReadError {
            kind: ErrorKind::OpenTransaction,
            item_offset: self.offset,
            offset: self.offset,
            valid_up_to: self.points.valid_before_multi(),
        })
    }

    fn parse_arguments(
        &mut self,
        window: &[u8],
        at_eof: bool,
        mut partial: PartialCommand,
    ) -> Parsed {
        while self.spans.len() < partial.argc {
            match self.parse_argument(window, at_eof, &partial) {
                Ok(span) => {
                    self.spans.push(span);
                    partial.next_line = span.end() + 2;
                    partial.next_line_is_tail = false;
                }
                Err(ArgumentStop::NeedMore { min_window }) => {
                    self.pending = Some(partial);
                    return Parsed::NeedMore { min_window };
                }
                Err(ArgumentStop::Error { kind, at }) => return self.error(kind, at),
            }
        }
        self.finish_command(window, partial.next_line)
    }

    /// Reads one `$len` line and checks its payload and the two bytes after it are in
    /// the window.
    fn parse_argument(
        &self,
        window: &[u8],
        at_eof: bool,
        partial: &PartialCommand,
    ) -> Result<ArgSpan, ArgumentStop> {
        let line_start = partial.next_line;
        let chunk = match read_line(window, line_start, at_eof) {
            LineRead::Chunk(chunk) => chunk,
            LineRead::Incomplete { min_window } => {
                return Err(ArgumentStop::NeedMore { min_window })
            }
            LineRead::Nothing => return Err(stop(ErrorKind::EofBeforeArgument, line_start)),
        };
        if window[line_start] != b'$' {
            let kind = if partial.next_line_is_tail {
                ErrorKind::OverlongLine
            } else {
                ErrorKind::MissingArgumentPrefix
            };
            return Err(stop(kind, line_start));
        }
        let payload_start = chunk.end;
        let len = self.checked_length(
            c_strtol(&window[line_start + 1..chunk.end]),
            line_start,
            payload_start,
            window.len(),
        )?;
        let payload_end = payload_start.saturating_add(len);
        let argument_end = payload_end.saturating_add(2);
        if argument_end > window.len() {
            if !at_eof {
                return Err(ArgumentStop::NeedMore {
                    min_window: argument_end,
                });
            }
            return Err(if payload_end > window.len() {
                stop(ErrorKind::EofInPayload, payload_start)
            } else {
                stop(ErrorKind::EofInTerminator, payload_end)
            });
        }
        // Upstream discards these two bytes unread; "\r\n" is not required.
        Ok(ArgSpan {
            start: payload_start,
            len,
        })
    }

    /// Validates a parsed `$` length before anything waits for or stores that many bytes.
    fn checked_length(
        &self,
        parsed: i64,
        line_start: usize,
        payload_start: usize,
        window_len: usize,
    ) -> Result<usize, ArgumentStop> {
        let Ok(len) = u64::try_from(parsed) else {
            return Err(stop(ErrorKind::NegativeArgumentLength, line_start));
        };
        // Past the end of the file is upstream's short read; checked before the size
        // limit so a cut file reads as cut whatever the length claims.
        if let Some(left) = self.file_bytes_from(payload_start, window_len) {
            if len > left {
                return Err(stop(ErrorKind::EofInPayload, payload_start));
            }
        }
        if len > self.config.max_bulk_len {
            return Err(stop(ErrorKind::ArgumentTooLong, line_start));
        }
        usize::try_from(len).map_err(|_| stop(ErrorKind::ArgumentTooLong, line_start))
    }

    /// Bytes of the file from window offset `pos` on, if the file's size is known (never
    /// fewer than the window itself holds, should the file have grown).
    fn file_bytes_from(&self, pos: usize, window_len: usize) -> Option<u64> {
        let file_len = self.config.file_len?;
        let in_file = file_len.saturating_sub(self.offset.saturating_add(pos as u64));
        Some(in_file.max(window_len.saturating_sub(pos) as u64))
    }

    fn finish_command(&mut self, window: &[u8], consumed: usize) -> Parsed {
        let end = self.offset + consumed as u64;
        self.points.record_command(self.spans[0].bytes(window), end);
        self.offset = end;
        Parsed::Command { consumed }
    }

    fn error(&self, kind: ErrorKind, at: usize) -> Parsed {
        Parsed::Error(ReadError {
            kind,
            item_offset: self.offset,
            offset: self.offset + at as u64,
            valid_up_to: self.points.valid_up_to(),
        })
    }

    /// Never asks for bytes past the end of a file of known size (the caller then
    /// passes what is left with `at_eof`), and always for more than the window holds.
    fn reachable_min_window(&self, wanted: usize, window_len: usize) -> usize {
        let reachable = match self.file_bytes_from(0, window_len) {
            Some(left) => wanted.min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => wanted,
        };
        reachable.max(window_len + 1)
    }
}

fn stop(kind: ErrorKind, at: usize) -> ArgumentStop {
    ArgumentStop::Error { kind, at }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything a read produced, with absolute offsets, for comparing runs.
    #[derive(Debug, PartialEq, Eq)]
    struct Transcript {
        /// (start offset, arguments) of each command.
        commands: Vec<(u64, Vec<Vec<u8>>)>,
        annotations: Vec<u64>,
        ending: Result<(), ReadError>,
        points: TruncationPoints,
    }

    impl Transcript {
        fn names(&self) -> Vec<String> {
            self.commands
                .iter()
                .map(|(_, args)| String::from_utf8_lossy(&args[0]).into_owned())
                .collect()
        }

        fn error(&self) -> ReadError {
            self.ending.expect_err("the read should fail")
        }
    }

    fn config_for(file: &[u8]) -> ReaderConfig {
        ReaderConfig {
            file_len: Some(file.len() as u64),
            ..ReaderConfig::default()
        }
    }

    /// Reads `file` (the bytes from `config.start_offset` on) through windows that grow
    /// by `refill(n)` bytes at the n-th refill, moving like a loader's buffer would.
    fn read_with(
        file: &[u8],
        config: ReaderConfig,
        mut refill: impl FnMut(usize) -> usize,
    ) -> Transcript {
        let mut reader = AofReader::new(config);
        let base = config.start_offset;
        let (mut start, mut end, mut refills) = (0usize, 0usize, 0usize);
        let mut transcript = Transcript {
            commands: Vec::new(),
            annotations: Vec::new(),
            ending: Ok(()),
            points: TruncationPoints::new(base),
        };
        loop {
            let at_eof = end == file.len();
            let window = &file[start..end];
            assert_eq!(reader.offset(), base + start as u64);
            match reader.parse_next(window, at_eof) {
                Step::Command { consumed, args } => {
                    assert!(consumed <= window.len() && !args.is_empty());
                    let args = args.iter().map(|a| a.bytes(window).to_vec()).collect();
                    transcript.commands.push((base + start as u64, args));
                    start += consumed;
                }
                Step::Annotation { consumed } => {
                    assert!(consumed > 0 && consumed <= window.len());
                    transcript.annotations.push(base + start as u64);
                    start += consumed;
                }
                Step::NeedMore { min_window } => {
                    assert!(!at_eof, "NeedMore with the whole file in the window");
                    assert!(min_window > window.len());
                    if config.file_len.is_some() {
                        assert!(
                            start + min_window <= file.len(),
                            "asked for bytes past the end of the file"
                        );
                    }
                    refills += 1;
                    end = (end + refill(refills).max(1))
                        .max(start + min_window)
                        .min(file.len());
                }
                Step::End => break,
                Step::Error(error) => {
                    transcript.ending = Err(error);
                    break;
                }
            }
        }
        transcript.points = *reader.truncation_points();
        transcript
    }

    fn read_whole(file: &[u8]) -> Transcript {
        read_with(file, config_for(file), |_| file.len())
    }

    fn read_in_blocks(file: &[u8], block: usize) -> Transcript {
        read_with(file, config_for(file), |_| block)
    }

    fn cmd(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Items of a sample file, each with its kind, so expectations can be computed.
    #[derive(Clone, Copy, PartialEq)]
    enum ItemKind {
        Command,
        Annotation,
    }

    fn sample_items() -> Vec<(ItemKind, Vec<u8>)> {
        use ItemKind::*;
        vec![
            (Command, cmd(&[b"SELECT", b"0"])),
            (Annotation, b"#TS:1700000000\r\n".to_vec()),
            (Command, cmd(&[b"SET", b"key", b"va\r\nlue"])),
            (Command, cmd(&[b"multi"])),
            (Command, cmd(&[b"INCR", b"n"])),
            (Annotation, b"#note\n".to_vec()),
            (Command, cmd(&[b"Exec"])),
            (
                Command,
                cmd(&[b"RPUSH", b"l", b"", &[0, 255, b'\n', b'\r', 0]]),
            ),
        ]
    }

    fn sample_file() -> Vec<u8> {
        sample_items()
            .into_iter()
            .flat_map(|(_, bytes)| bytes)
            .collect()
    }

    fn single_error(file: &[u8]) -> ReadError {
        let transcript = read_whole(file);
        assert_eq!(
            transcript,
            read_in_blocks(file, 1),
            "byte-wise read of {:?}",
            String::from_utf8_lossy(file)
        );
        transcript.error()
    }

    fn assert_error(file: &[u8], kind: ErrorKind, offset: u64) {
        let error = single_error(file);
        assert_eq!(
            (error.kind, error.offset),
            (kind, offset),
            "{:?}",
            String::from_utf8_lossy(file)
        );
    }

    #[test]
    fn a_well_formed_file_yields_every_item_with_its_offset() {
        let file = sample_file();
        let transcript = read_whole(&file);
        assert_eq!(transcript.ending, Ok(()));
        assert_eq!(
            transcript.names(),
            ["SELECT", "SET", "multi", "INCR", "Exec", "RPUSH"]
        );
        let mut offset = 0u64;
        let mut commands = transcript.commands.iter();
        let mut annotations = transcript.annotations.iter();
        for (kind, bytes) in sample_items() {
            match kind {
                ItemKind::Command => assert_eq!(commands.next().unwrap().0, offset),
                ItemKind::Annotation => assert_eq!(*annotations.next().unwrap(), offset),
            }
            offset += bytes.len() as u64;
        }
        assert_eq!(transcript.points.valid_up_to(), file.len() as u64);
        assert!(!transcript.points.in_transaction());
    }

    #[test]
    fn binary_payloads_keep_their_crlf_nul_and_high_bytes() {
        let payload: Vec<u8> = (0..=255u8).chain(*b"\r\n*3\r\n$1\r\n").collect();
        let file = cmd(&[b"SET", b"k\r\n", &payload]);
        let transcript = read_whole(&file);
        assert_eq!(transcript.ending, Ok(()));
        assert_eq!(transcript.commands[0].1[1], b"k\r\n");
        assert_eq!(transcript.commands[0].1[2], payload);
    }

    #[test]
    fn every_refill_size_gives_the_same_transcript() {
        let file = sample_file();
        let whole = read_whole(&file);
        for block in 1..=file.len() + 1 {
            assert_eq!(read_in_blocks(&file, block), whole, "block {block}");
        }
        // Irregular refills: 1, 2, 3, 1, 2, 3, ...
        assert_eq!(read_with(&file, config_for(&file), |n| n % 3 + 1), whole);
    }

    #[test]
    fn a_refill_at_every_split_point_gives_the_same_transcript() {
        let file = sample_file();
        let whole = read_whole(&file);
        for split in 1..file.len() {
            // The first window holds `split` bytes, the next one all the rest.
            let split_once = read_with(&file, config_for(&file), |n| {
                if n == 1 {
                    split
                } else {
                    file.len()
                }
            });
            assert_eq!(split_once, whole, "split at {split}");
        }
    }

    #[test]
    fn without_a_file_size_the_outcome_is_the_same() {
        let file = sample_file();
        let size_unknown = ReaderConfig::default();
        for block in [1, 5, 64] {
            assert_eq!(read_with(&file, size_unknown, |_| block), read_whole(&file));
        }
    }

    #[test]
    fn a_cut_at_every_offset_yields_the_complete_prefix_or_a_short_read() {
        let items = sample_items();
        let file = sample_file();
        for cut in 0..=file.len() {
            let cut_file = &file[..cut];
            let transcript = read_whole(cut_file);
            assert_eq!(read_in_blocks(cut_file, 3), transcript, "cut {cut}");

            // The model: complete commands before the cut, and what the cut falls in.
            let mut points = TruncationPoints::new(0);
            let mut complete = Vec::new();
            let mut start = 0usize;
            let mut cut_inside = None;
            for (kind, bytes) in &items {
                let end = start + bytes.len();
                if end <= cut {
                    if *kind == ItemKind::Command {
                        let name = read_whole(bytes).commands[0].1[0].clone();
                        points.record_command(&name, end as u64);
                        complete.push(start as u64);
                    }
                } else if start < cut {
                    cut_inside = Some(*kind);
                }
                start = end;
            }
            let offsets: Vec<u64> = transcript.commands.iter().map(|c| c.0).collect();
            assert_eq!(offsets, complete, "cut {cut}");
            match cut_inside {
                // A cut annotation is still an annotation: the file ends between items.
                None | Some(ItemKind::Annotation) if points.in_transaction() => {
                    let error = transcript.error();
                    assert_eq!(error.kind, ErrorKind::OpenTransaction, "cut {cut}");
                    assert_eq!(error.truncate_at(), Some(points.valid_before_multi()));
                }
                None | Some(ItemKind::Annotation) => assert_eq!(transcript.ending, Ok(())),
                Some(ItemKind::Command) => {
                    let error = transcript.error();
                    assert_eq!(error.class(), ErrorClass::ShortRead, "cut {cut}: {error:?}");
                    assert_eq!(error.truncate_at(), Some(points.valid_up_to()), "cut {cut}");
                }
            }
        }
    }

    #[test]
    fn short_reads_name_where_the_file_ends() {
        use ErrorKind::*;
        let set = cmd(&[b"SET", b"k", b"v"]);
        let len = set.len() as u64;
        let with_tail = |tail: &[u8]| [set.clone(), tail.to_vec()].concat();
        assert_error(&with_tail(b"*"), EofAfterStar, len);
        assert_error(&with_tail(b"*\0ab"), EofAfterStar, len);
        assert_error(&with_tail(b"*2\r\n"), EofBeforeArgument, len + 4);
        assert_error(&with_tail(b"*2"), EofBeforeArgument, len + 2);
        assert_error(&with_tail(b"*1\r\n$3\r\nGE"), EofInPayload, len + 8);
        assert_error(&with_tail(b"*1\r\n$3"), EofInPayload, len + 6);
        assert_error(&with_tail(b"*1\r\n$3\r\nGET\r"), EofInTerminator, len + 11);
        assert_error(&with_tail(b"*1\r\n$"), EofInTerminator, len + 5);
        for tail in [&b"*"[..], b"*2\r\n", b"*1\r\n$3\r\nGE"] {
            assert_eq!(single_error(&with_tail(tail)).truncate_at(), Some(len));
            assert_eq!(single_error(&with_tail(tail)).item_offset, len);
        }
    }

    #[test]
    fn framing_errors_are_bad_format_at_the_offending_line() {
        use ErrorKind::*;
        let set = cmd(&[b"SET", b"k", b"v"]);
        let len = set.len() as u64;
        let with_tail = |tail: &[u8]| [set.clone(), tail.to_vec()].concat();
        let cases: &[(&[u8], ErrorKind, u64)] = &[
            (b"SET k v\r\n", NotACommand, 0),
            (b"\r\n", NotACommand, 0),
            (b"\0*1\r\n", NotACommand, 0),
            (b"*0\r\n", BadArgumentCount, 0),
            (b"*-3\r\n", BadArgumentCount, 0),
            (b"*abc\r\n", BadArgumentCount, 0),
            (b"*\r\n", BadArgumentCount, 0),
            (b"*\n", BadArgumentCount, 0),
            // atoi keeps the low 32 bits of a saturated long: negative.
            (b"*2147483648\r\n", BadArgumentCount, 0),
            (b"*99999999999999999999\r\n", BadArgumentCount, 0),
            (b"*1\r\nSET\r\n", MissingArgumentPrefix, 4),
            (b"*2\r\n$3\r\nGET\r\n*1\r\n", MissingArgumentPrefix, 13),
            (b"*1\r\n\0$3\r\n", MissingArgumentPrefix, 4),
            (b"*1\r\n$-1\r\n", NegativeArgumentLength, 4),
            (
                b"*1\r\n$-9223372036854775809\r\n",
                NegativeArgumentLength,
                4,
            ),
        ];
        for &(tail, kind, at) in cases {
            let error = single_error(&with_tail(tail));
            assert_eq!(error.kind, kind, "{:?}", String::from_utf8_lossy(tail));
            assert_eq!(
                error.offset,
                len + at,
                "{:?}",
                String::from_utf8_lossy(tail)
            );
            assert_eq!(error.item_offset, len);
            assert_eq!(error.class(), ErrorClass::BadFormat);
            assert_eq!(error.truncate_at(), None);
        }
    }

    #[test]
    fn a_nul_after_star_inside_the_file_is_a_read_failure() {
        // Upstream's `buf[1] == '\0'` without end of file: its I/O error path.
        for file in [&b"*\0\r\n*1\r\n$4\r\nPING\r\n"[..], b"*\0\n"] {
            let error = single_error(file);
            assert_eq!(error.kind, ErrorKind::NulAfterStar);
            assert_eq!(error.class(), ErrorClass::ReadFailure);
        }
        // A 1023-byte chunk stops at the cap, not at the end of the file.
        let mut file = b"*\0".to_vec();
        file.resize(LINE_CHUNK_MAX, b'x');
        assert_eq!(single_error(&file).kind, ErrorKind::NulAfterStar);
        file.pop();
        assert_eq!(single_error(&file).kind, ErrorKind::EofAfterStar);
    }

    #[test]
    fn huge_or_negative_counts_are_refused_without_allocating() {
        // Upstream allocates argc pointers up front; here the count sizes nothing, and
        // the outcome is the one upstream reaches after its allocation.
        let file = b"*2147483647\r\n$3\r\nSET\r\n$1\r\nk\r\n";
        let mut reader = AofReader::new(config_for(file));
        match reader.parse_next(file, true) {
            Step::Error(error) => {
                assert_eq!(error.kind, ErrorKind::EofBeforeArgument);
                assert_eq!(error.offset, file.len() as u64);
            }
            other => panic!("{other:?}"),
        }
        assert!(reader.spans.capacity() < 16, "{}", reader.spans.capacity());
        // The same count followed by a non-argument is a bad format, as upstream.
        assert_error(
            b"*2147483647\r\n*1\r\n",
            ErrorKind::MissingArgumentPrefix,
            13,
        );

        // A length beyond the file is a short read decided up front: the reader never
        // asks for the bytes (upstream allocates them, or aborts when it cannot).
        for header in [
            &b"*1\r\n$1000000\r\nabc"[..],
            b"*1\r\n$9223372036854775807\r\nabc",
        ] {
            let mut reader = AofReader::new(config_for(header));
            let window = &header[..header.len() - 1];
            match reader.parse_next(window, false) {
                Step::Error(error) => assert_eq!(error.kind, ErrorKind::EofInPayload),
                other => panic!("{other:?}"),
            }
        }
        // Without a file size, the configured limit bounds what the caller must buffer.
        let mut reader = AofReader::new(ReaderConfig::default());
        let huge = b"*1\r\n$536870913\r\n";
        match reader.parse_next(huge, false) {
            Step::Error(error) => assert_eq!(error.kind, ErrorKind::ArgumentTooLong),
            other => panic!("{other:?}"),
        }
        let mut reader = AofReader::new(ReaderConfig::default());
        match reader.parse_next(b"*1\r\n$536870912\r\n", false) {
            Step::NeedMore { min_window } => assert_eq!(min_window, 16 + 536870912 + 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_bulk_limit_is_configurable_and_applies_to_lengths_the_file_holds() {
        let file = cmd(&[b"SET", b"k", b"0123456789"]);
        let limited = ReaderConfig {
            max_bulk_len: 9,
            ..config_for(&file)
        };
        let transcript = read_with(&file, limited, |_| 4);
        let error = transcript.error();
        assert_eq!(error.kind, ErrorKind::ArgumentTooLong);
        assert_eq!(error.offset, 20);
        assert_eq!(error.class(), ErrorClass::BadFormat);
        let exact = ReaderConfig {
            max_bulk_len: 10,
            ..config_for(&file)
        };
        assert_eq!(read_with(&file, exact, |_| 4).ending, Ok(()));
        // A cut file reads as cut even when the length claimed is above the limit.
        let cut = b"*1\r\n$20\r\nabc";
        let cut_limited = ReaderConfig {
            max_bulk_len: 9,
            ..config_for(cut)
        };
        assert_eq!(
            read_with(cut, cut_limited, |_| 1).error().kind,
            ErrorKind::EofInPayload
        );
    }

    #[test]
    fn upstream_leniencies_are_mirrored() {
        // Counts stop at the first non-digit, blanks and '+' lead, a non-numeric length
        // is 0, and the two bytes after a payload are not checked.
        let file = b"*2abc\r\n$ +3xyz\r\nGETxx$1\r\nk!!*\t1\r\n$abc\r\n\r\n";
        let transcript = read_whole(file);
        assert_eq!(transcript.ending, Ok(()));
        assert_eq!(
            transcript.commands,
            vec![
                (0, vec![b"GET".to_vec(), b"k".to_vec()]),
                (28, vec![b"".to_vec()])
            ]
        );
        // atoi wraps 2^32 + 1 to 1.
        let wrapped = b"*4294967297\r\n$4\r\nPING\r\n";
        assert_eq!(read_whole(wrapped).names(), ["PING"]);
        // A bare '\n' ends a line as well as "\r\n" does.
        assert_eq!(read_whole(b"*1\n$4\nPING\r\n").names(), ["PING"]);
        // A '$' line at the very end of the file still reads as length 0.
        assert_eq!(single_error(b"*1\r\n$").kind, ErrorKind::EofInTerminator);
    }

    #[test]
    fn annotations_are_skipped_and_do_not_move_the_truncation_point() {
        let mut file = cmd(&[b"SET", b"a", b"1"]);
        let set_len = file.len() as u64;
        file.extend_from_slice(b"#TS:1\r\n#\n#no newline at the end");
        let transcript = read_whole(&file);
        assert_eq!(transcript.ending, Ok(()));
        assert_eq!(transcript.annotations.len(), 3);
        assert_eq!(transcript.points.valid_up_to(), set_len);
        // A short read after annotations cuts them away with the incomplete command.
        let mut cut = cmd(&[b"SET", b"a", b"1"]);
        cut.extend_from_slice(b"#TS:1\r\n*2\r\n$3\r\nGET");
        assert_eq!(single_error(&cut).truncate_at(), Some(set_len));
        // Leading annotations: nothing valid yet, the truncation point is the start.
        assert_eq!(single_error(b"#TS:1\r\n*1\r\n").truncate_at(), Some(0));
    }

    #[test]
    fn overlong_lines_are_read_in_fgets_sized_chunks() {
        let long_annotation = |tail: &[u8]| {
            let mut file = b"#".to_vec();
            file.resize(LINE_CHUNK_MAX, b'x');
            file.extend_from_slice(tail);
            file
        };
        // The tail of a long annotation is the next item: garbage is a bad format...
        let error = single_error(&long_annotation(b"yyy\r\n"));
        assert_eq!(error.kind, ErrorKind::OverlongLine);
        assert_eq!(error.offset, LINE_CHUNK_MAX as u64);
        // ... another annotation if it starts with '#', a command if with '*'.
        let transcript = read_whole(&long_annotation(b"#\r\n"));
        assert_eq!(
            (transcript.annotations.len(), transcript.ending),
            (2, Ok(()))
        );
        let transcript = read_whole(&long_annotation(b"*1\r\n$4\r\nPING\r\n"));
        assert_eq!(transcript.names(), ["PING"]);
        // A line of exactly the cap, newline included, is one chunk.
        let mut exact = b"#".to_vec();
        exact.resize(LINE_CHUNK_MAX - 1, b'x');
        exact.push(b'\n');
        exact.extend(cmd(&[b"PING"]));
        assert_eq!(read_whole(&exact).names(), ["PING"]);

        // A long header: its tail is read as the first argument line.
        let mut header = b"*1".to_vec();
        header.resize(LINE_CHUNK_MAX, b' ');
        let mut bad = header.clone();
        bad.extend_from_slice(b" \r\n$4\r\nPING\r\n");
        let error = single_error(&bad);
        assert_eq!((error.kind, error.offset), (ErrorKind::OverlongLine, 1023));
        let mut good = header;
        good.extend_from_slice(b"$4\r\nPING\r\n");
        assert_eq!(read_whole(&good).names(), ["PING"]);
        // A long '$' line: the payload is read from the line's own tail.
        let mut long_length = b"*1\r\n$2".to_vec();
        long_length.resize(4 + LINE_CHUNK_MAX, b' ');
        long_length.extend_from_slice(b"OK\r\n");
        assert_eq!(read_whole(&long_length).names(), ["OK"]);
    }

    #[test]
    fn a_transaction_left_open_at_the_end_is_reverted_to_before_its_multi() {
        let before = [cmd(&[b"SET", b"a", b"1"]), b"#TS:9\r\n".to_vec()].concat();
        let set_len = cmd(&[b"SET", b"a", b"1"]).len() as u64;
        let open = [
            before.clone(),
            cmd(&[b"MuLtI"]),
            cmd(&[b"INCR", b"a"]),
            cmd(&[b"DISCARD"]), // queued by upstream: does not close the transaction
        ]
        .concat();
        let error = single_error(&open);
        assert_eq!(error.kind, ErrorKind::OpenTransaction);
        assert_eq!(error.class(), ErrorClass::ShortRead);
        assert_eq!(error.offset, open.len() as u64);
        // The annotation between SET and MULTI is not a command: it goes too.
        assert_eq!(error.truncate_at(), Some(set_len));

        let closed = [open.clone(), cmd(&[b"exec"])].concat();
        let transcript = read_whole(&closed);
        assert_eq!(transcript.ending, Ok(()));
        assert!(!transcript.points.in_transaction());

        // A cut inside an open transaction truncates after its last complete command,
        // like upstream (the next load then reverts the transaction).
        let cut = [open.clone(), b"*2\r\n$3\r\n".to_vec()].concat();
        let error = single_error(&cut);
        assert_eq!(error.kind, ErrorKind::EofInPayload);
        assert_eq!(error.truncate_at(), Some(open.len() as u64));
    }

    #[test]
    fn nested_multi_moves_the_revert_point_and_exec_without_multi_is_ignored() {
        let first = [
            cmd(&[b"EXEC"]),
            cmd(&[b"MULTI"]),
            cmd(&[b"SET", b"a", b"1"]),
        ]
        .concat();
        let nested = [first.clone(), cmd(&[b"MULTI"]), cmd(&[b"SET", b"b", b"2"])].concat();
        let error = single_error(&nested);
        assert_eq!(error.kind, ErrorKind::OpenTransaction);
        // Upstream records the offset before every MULTI, queued or not.
        assert_eq!(error.truncate_at(), Some(first.len() as u64));
        // "MULTI" with extra arguments is still MULTI; "MULTIX" is not.
        let extra = cmd(&[b"multi", b"x"]);
        assert_eq!(single_error(&extra).kind, ErrorKind::OpenTransaction);
        assert_eq!(read_whole(&cmd(&[b"MULTIX"])).ending, Ok(()));
    }

    #[test]
    fn offsets_are_absolute_after_a_preamble() {
        // Upstream would truncate at 0 here, erasing the preamble; the reader starts its
        // truncation point at the end of the preamble instead.
        let preamble = 1000u64;
        let tail = [cmd(&[b"PING"]), b"*2\r\n$3\r\nGET".to_vec()].concat();
        let config = ReaderConfig {
            start_offset: preamble,
            file_len: Some(preamble + tail.len() as u64),
            ..ReaderConfig::default()
        };
        let transcript = read_with(&tail, config, |_| 5);
        assert_eq!(transcript.commands[0].0, preamble);
        let error = transcript.error();
        assert_eq!(error.kind, ErrorKind::EofInTerminator);
        assert_eq!(error.item_offset, preamble + 14);
        assert_eq!(error.offset, preamble + 25);
        assert_eq!(error.truncate_at(), Some(preamble + 14));
        let only_cut = &tail[14..];
        let config = ReaderConfig {
            start_offset: preamble,
            file_len: Some(preamble + only_cut.len() as u64),
            ..ReaderConfig::default()
        };
        assert_eq!(
            read_with(only_cut, config, |_| 64).error().truncate_at(),
            Some(preamble)
        );
    }

    #[test]
    fn an_empty_file_ends_cleanly() {
        let transcript = read_whole(b"");
        assert_eq!(transcript.ending, Ok(()));
        assert!(transcript.commands.is_empty());
        let mut reader = AofReader::new(ReaderConfig::default());
        assert!(matches!(
            reader.parse_next(b"", false),
            Step::NeedMore { min_window } if min_window == LINE_CHUNK_MAX
        ));
    }

    #[test]
    fn need_more_never_reaches_past_the_end_of_a_sized_file() {
        let file = b"*1\r\n$4\r\nPI";
        let mut reader = AofReader::new(config_for(file));
        match reader.parse_next(&file[..3], false) {
            Step::NeedMore { min_window } => assert_eq!(min_window, file.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_shrunken_window_after_need_more_restarts_the_command_safely() {
        let file = cmd(&[b"SET", b"key", b"value"]);
        let mut reader = AofReader::new(config_for(&file));
        assert!(matches!(
            reader.parse_next(&file[..20], false),
            Step::NeedMore { .. }
        ));
        assert!(matches!(
            reader.parse_next(&file[..5], false),
            Step::NeedMore { .. }
        ));
        match reader.parse_next(&file, true) {
            Step::Command { consumed, args } => {
                assert_eq!(consumed, file.len());
                assert_eq!(args.len(), 3);
                assert_eq!(args[2].bytes(&file), b"value");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn need_more_resumes_after_the_arguments_already_read() {
        let args: Vec<Vec<u8>> = (0..3000).map(|i| i.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let file = cmd(&refs);
        let mut reader = AofReader::new(config_for(&file));
        let half = file.len() / 2;
        assert!(matches!(
            reader.parse_next(&file[..half], false),
            Step::NeedMore { .. }
        ));
        let read_so_far = reader.spans.len();
        assert!(read_so_far > 1000, "{read_so_far}");
        // Proof that the bytes already read are not scanned again: a resumed parse does
        // not notice that the (contract-breaking) next window changed its header.
        let mut changed = file.clone();
        changed[0] = b'!';
        match reader.parse_next(&changed, true) {
            Step::Command { args, consumed } => {
                assert_eq!((args.len(), consumed), (3000, file.len()));
                assert_eq!(args[2999].bytes(&file), b"2999");
            }
            other => panic!("{other:?}"),
        }
        // Byte-by-byte feeding completes with one call per byte.
        let mut reader = AofReader::new(config_for(&file));
        let mut calls = 0;
        for end in 0..=file.len() {
            calls += 1;
            if let Step::Command { args, .. } = reader.parse_next(&file[..end], end == file.len()) {
                assert_eq!(args.len(), 3000);
                break;
            }
        }
        assert_eq!(calls, file.len() + 1);
    }

    #[test]
    fn the_argument_vector_is_reused_between_commands() {
        let file = [cmd(&[b"SET", b"a", b"b"]), cmd(&[b"DEL", b"a"])].concat();
        let mut reader = AofReader::new(config_for(&file));
        let first = match reader.parse_next(&file, true) {
            Step::Command { consumed, .. } => consumed,
            other => panic!("{other:?}"),
        };
        let capacity = reader.spans.capacity();
        let pointer = reader.spans.as_ptr();
        assert!(matches!(
            reader.parse_next(&file[first..], true),
            Step::Command { args, .. } if args.len() == 2
        ));
        assert_eq!(reader.spans.capacity(), capacity);
        assert_eq!(reader.spans.as_ptr(), pointer);
        assert_eq!(reader.parse_next(b"", true), Step::End);
    }

    #[test]
    fn strtol_and_atoi_match_glibc() {
        assert_eq!(c_strtol(b"  -42xyz"), -42);
        assert_eq!(c_strtol(b"\t\x0b\x0c\r\n+7"), 7);
        assert_eq!(c_strtol(b"9223372036854775807"), i64::MAX);
        assert_eq!(c_strtol(b"9223372036854775808"), i64::MAX);
        assert_eq!(c_strtol(b"99999999999999999999"), i64::MAX);
        assert_eq!(c_strtol(b"-9223372036854775808"), i64::MIN);
        assert_eq!(c_strtol(b"-99999999999999999999"), i64::MIN);
        assert_eq!(c_strtol(b"1\x002"), 1);
        assert_eq!(c_strtol(b"- 1"), 0);
        assert_eq!(c_strtol(b"--1"), 0);
        assert_eq!(c_strtol(b""), 0);
        assert_eq!(c_atoi(b"4294967297"), 1);
        assert_eq!(c_atoi(b"2147483648"), i32::MIN);
        assert_eq!(c_atoi(b"99999999999999999999"), -1);
    }

    #[test]
    fn every_error_kind_has_its_upstream_class() {
        use ErrorKind::*;
        let short = [
            EofAfterStar,
            EofBeforeArgument,
            EofInPayload,
            EofInTerminator,
            OpenTransaction,
        ];
        let format = [
            NotACommand,
            BadArgumentCount,
            MissingArgumentPrefix,
            OverlongLine,
            NegativeArgumentLength,
            ArgumentTooLong,
        ];
        for kind in short {
            assert_eq!(kind.class(), ErrorClass::ShortRead);
        }
        for kind in format {
            assert_eq!(kind.class(), ErrorClass::BadFormat);
        }
        assert_eq!(NulAfterStar.class(), ErrorClass::ReadFailure);
        let all: Vec<_> = short.iter().chain(&format).chain(&[NulAfterStar]).collect();
        let mut descriptions: Vec<_> = all.iter().map(|k| k.describe()).collect();
        descriptions.sort_unstable();
        descriptions.dedup();
        assert_eq!(descriptions.len(), all.len());
    }

    /// `cargo test --release -- --ignored --nocapture parse_speed`
    #[test]
    #[ignore]
    fn parse_speed() {
        let mut file = Vec::new();
        for i in 0..2_000_000u32 {
            let key = format!("key:{i}");
            let value = format!("value-{}", i.wrapping_mul(2654435761));
            file.extend(cmd(&[b"SET", key.as_bytes(), value.as_bytes()]));
        }
        let started = std::time::Instant::now();
        let mut reader = AofReader::new(config_for(&file));
        let (mut pos, mut commands, mut checksum) = (0, 0u64, 0usize);
        const BUFFER: usize = 4 << 20;
        loop {
            let end = (pos + BUFFER).min(file.len());
            match reader.parse_next(&file[pos..end], end == file.len()) {
                Step::Command { consumed, args } => {
                    commands += 1;
                    checksum += args[2].len;
                    pos += consumed;
                }
                Step::End => break,
                other => panic!("{other:?}"),
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(commands, 2_000_000);
        println!(
            "{commands} commands, {} MB in {seconds:.3}s: {:.0} MB/s, {:.1} M commands/s (checksum {checksum})",
            file.len() / 1_000_000,
            file.len() as f64 / seconds / 1e6,
            commands as f64 / seconds / 1e6
        );
    }
}

//! The streaming reader of RESP commands in an AOF file (the part after any RDB preamble).
//!
//! Grammar, as upstream's loader reads it line by line with `fgets` into a 1024-byte
//! buffer and `fread` for payloads:
//! ```text
//! file      := item*
//! item      := annotation | command
//! annotation:= '#' ... '\n'                       (skipped)
//! command   := '*' argc '\n' ( '$' len '\n' payload(len) any(2) ){argc}
//! ```
//! Counts are read like C's `atoi`/`strtol` (leading blanks, a sign, digits, anything
//! after ignored), the two bytes after a payload are skipped unchecked, and a "line" is at
//! most 1023 bytes: everything upstream accepts is accepted here, so a file loads to the
//! same dataset on both builds.
//!
//! Outcomes mirror upstream's two error classes: [`ReadError::Truncated`] (the file ends
//! inside a command: upstream's short read, which `aof-load-truncated` may forgive) and
//! [`ReadError::BadFormat`]. Upstream sizes allocations by the counts it reads; this
//! reader sizes nothing by them: a corrupt argument count ends where upstream's reading
//! ends (the first line that is not an argument, or the end of the file); a length past
//! the end of the file is a short file (upstream reaches the end of the file the same way,
//! when the allocation does not kill it first); a negative length is a bad format.
//! `proto-max-bulk-len` does not bind the file: upstream's loading client obeys no client
//! limit (`mustObeyClient`), so a legitimate AOF may hold longer arguments (written by a
//! master, a script, a module, or before the limit was lowered); the only bound is what
//! the file holds.
//!
//! The reader is incremental: it parses from the start of a window of bytes and asks for
//! more ([`Step::NeedMore`]) when an item is incomplete, so the caller can read the file
//! in large blocks; argument spans point into the window, with no copy. A command the
//! window does not hold whole comes in pieces ([`Step::Partial`], then the rest), and an
//! argument of at least [`DIRECT_READ_MIN`] bytes that the window does not hold is left
//! for the caller to read straight into its own storage ([`Step::LargeArgument`]): the
//! window never grows beyond a line plus one smaller argument, so loading a value of N
//! bytes needs N bytes and a constant, as upstream's loader does.

use crate::framer::mem::{frames, frames_with, FileShape, MemFrame, Shape, StoreShape};
use crate::framer::Framer;
use crate::load_machine::Stop;
use memchr::memchr;
use std::ops::Range;

/// Upstream reads lines with `fgets(buf, 1024, fp)`: at most 1023 bytes per read.
pub const LINE_MAX: usize = 1023;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The file ends inside a command.
    Truncated,
    /// Bytes that are not an AOF command.
    BadFormat,
}

/// Arguments at least this long that the window does not hold whole are read by the
/// caller straight into their own storage ([`Step::LargeArgument`]): upstream's
/// `PROTO_MBULK_BIG_ARG`, the size from which its networking code, too, reads a bulk
/// argument straight into its own string. Below it, copying from the window costs less
/// than a `read` of its own.
pub const DIRECT_READ_MIN: usize = 32 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// The last `args` of a command (all of them unless pieces came before), spans of the
    /// window; the command is complete after `consumed` bytes.
    Command {
        consumed: usize,
        args: &'a [Range<usize>],
    },
    /// The first `args` of a command (after any earlier pieces) that the window does not
    /// hold whole: consume `consumed` bytes and call again for the rest.
    Partial {
        consumed: usize,
        args: &'a [Range<usize>],
    },
    /// `args` (spans of the window) are followed by an argument of `len` bytes whose
    /// payload starts after `consumed` bytes: the caller consumes them, reads the `len`
    /// payload bytes and the two bytes after them (a short read there is a truncated
    /// file), then the command is complete unless [`CommandParser::in_command`] says
    /// more arguments follow (call again for them).
    LargeArgument {
        consumed: usize,
        args: &'a [Range<usize>],
        len: usize,
    },
    /// An annotation line (`#...`), skipped.
    Annotation {
        consumed: usize,
    },
    /// The window ends inside an item: call again with at least `min_bytes` bytes.
    NeedMore {
        min_bytes: usize,
    },
    /// The file ended cleanly, between items.
    End,
    Error(ReadError),
}

/// Parses commands; keeps its argument-span vector between calls so the hot path does
/// not allocate.
#[derive(Debug)]
pub struct CommandParser {
    spans: Vec<Range<usize>>,
    /// Arguments of the current command not handed out yet: zero between commands.
    args_left: u32,
    direct_read_min: usize,
}

impl Default for CommandParser {
    fn default() -> Self {
        Self::new()
    }
}

/// One `fgets` on the window at `pos`.
enum Line {
    /// The line's bytes are `pos..end` (newline included when there was one).
    Read {
        end: usize,
    },
    /// End of file before any byte (`fgets` returns NULL).
    Eof,
    NeedMore,
}

fn fgets(window: &[u8], pos: usize, at_eof: bool) -> Line {
    let rest = &window[pos..];
    let limit = rest.len().min(LINE_MAX);
    if let Some(nl) = memchr(b'\n', &rest[..limit]) {
        return Line::Read { end: pos + nl + 1 };
    }
    if rest.len() >= LINE_MAX {
        return Line::Read {
            end: pos + LINE_MAX,
        };
    }
    if !at_eof {
        return Line::NeedMore;
    }
    if rest.is_empty() {
        Line::Eof
    } else {
        Line::Read { end: window.len() }
    }
}

/// C's `strtol(s, NULL, 10)` on a line (which ends at its first NUL, as a C string
/// does): leading whitespace, an optional sign, digits; saturates like glibc.
fn c_strtol(bytes: &[u8]) -> i64 {
    let bytes = &bytes[..memchr(0, bytes).unwrap_or(bytes.len())];
    let mut i = 0;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
        i += 1;
    }
    let negative = match bytes.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut value: i64 = 0;
    let mut overflow = false;
    while let Some(d) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        let digit = i64::from(d - b'0');
        match value.checked_mul(10).and_then(|v| v.checked_add(digit)) {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    match (overflow, negative) {
        (true, false) => i64::MAX,
        (true, true) => i64::MIN,
        (false, false) => value,
        (false, true) => -value,
    }
}

/// C's `atoi`: glibc computes `(int) strtol(...)`.
fn c_atoi(bytes: &[u8]) -> i32 {
    c_strtol(bytes) as i32
}

/// The byte at `i` of a C string read by fgets: a NUL ends the string early.
fn c_byte(line: &[u8], i: usize) -> u8 {
    match memchr(0, line) {
        Some(nul) if nul <= i => 0,
        _ => line.get(i).copied().unwrap_or(0),
    }
}

impl CommandParser {
    pub fn new() -> CommandParser {
        CommandParser {
            spans: Vec::new(),
            args_left: 0,
            direct_read_min: DIRECT_READ_MIN,
        }
    }

    /// Changes [`DIRECT_READ_MIN`] (tests and fuzzing reach the large-argument path with
    /// small files this way).
    pub fn set_direct_read_min(&mut self, min: usize) {
        self.direct_read_min = min.max(1);
    }

    /// Whether a command was begun (by [`Step::Partial`] or [`Step::LargeArgument`]) and
    /// has arguments still to come.
    pub fn in_command(&self) -> bool {
        self.args_left > 0
    }

    /// Parses the item at the start of `window` (or, inside a command, its next
    /// arguments). `at_eof`: nothing follows the window in the file. `left_in_file`: the
    /// file's bytes from the window's start on (bounds every length before anything is
    /// sized by it).
    pub fn parse_next(&mut self, window: &[u8], at_eof: bool, left_in_file: u64) -> Step<'_> {
        self.spans.clear();
        let mut pos = 0;
        if self.args_left == 0 {
            let (argc, header_end) = match plain_count_line(window, 0, b'*') {
                // `atoi` is `(int) strtol`.
                Some((count, end)) => (count as i32, end),
                None => match read_header(window, at_eof) {
                    Ok(header) => header,
                    Err(step) => return step,
                },
            };
            if argc < 1 {
                return Step::Error(ReadError::BadFormat);
            }
            // Nothing is sized by `argc`: the spans grow as arguments are actually read
            // (each takes at least four bytes of the window), so a corrupt count ends where
            // upstream ends, at the first line that is not an argument or at the end of the
            // file.
            self.args_left = argc as u32;
            pos = header_end;
        }
        while self.args_left > 0 {
            let (len, line_end) = match plain_count_line(window, pos, b'$') {
                Some(plain) => plain,
                None => match read_length_line(window, pos, at_eof) {
                    Ok(line) => line,
                    Err(Step::NeedMore { min_bytes }) => return self.cut_at(pos, min_bytes),
                    Err(step) => return self.failed(step),
                },
            };
            if len < 0 {
                return self.failed(Step::Error(ReadError::BadFormat));
            }
            let len = len as u64;
            let payload_start = line_end;
            let left = left_in_file.saturating_sub(payload_start as u64);
            // Past the end of the file: upstream reads to the end and reports a short
            // file, whatever the length said.
            if len + 2 > left {
                return self.failed(Step::Error(ReadError::Truncated));
            }
            // Checked against the file: the sum fits the address space.
            let len = len as usize;
            let arg_end = payload_start + len + 2;
            if arg_end > window.len() {
                if at_eof {
                    return self.failed(Step::Error(ReadError::Truncated));
                }
                if len >= self.direct_read_min {
                    self.args_left -= 1;
                    return Step::LargeArgument {
                        consumed: payload_start,
                        args: &self.spans,
                        len,
                    };
                }
                return self.cut_at(pos, arg_end);
            }
            self.spans.push(payload_start..payload_start + len);
            self.args_left -= 1;
            pos = arg_end;
        }
        Step::Command {
            consumed: pos,
            args: &self.spans,
        }
    }

    /// The window ends inside the argument at `pos`: hand out what was read before it (a
    /// piece of the command), or, when nothing was, ask for `min_bytes`.
    fn cut_at(&self, pos: usize, min_bytes: usize) -> Step<'_> {
        if pos == 0 {
            Step::NeedMore { min_bytes }
        } else {
            Step::Partial {
                consumed: pos,
                args: &self.spans,
            }
        }
    }

    /// An error ends the file's reading; the parser is left between commands.
    fn failed(&mut self, step: Step<'static>) -> Step<'static> {
        self.args_left = 0;
        step
    }
}

/// A command ahead of the one being run, as far as prefetching needs it: where its first
/// argument after the name is (the key of nearly every write) and where the command ends.
#[derive(Debug, PartialEq, Eq)]
pub struct Upcoming {
    pub key: Option<Range<usize>>,
    pub end: usize,
}

/// Looks at the command starting at `pos` without parsing it for real: only the plain
/// shape (`*<digits>\r\n`, then `$<digits>\r\n<payload>\r\n` per argument) entirely
/// inside the window is recognised; anything else (an annotation, odd blanks, a command
/// the window cuts) returns `None`, and the caller simply stops looking ahead. The result
/// is only a hint for the cache, so it needs none of the checks [`CommandParser`] makes.
pub fn peek_upcoming(window: &[u8], pos: usize) -> Option<Upcoming> {
    let (argc, mut at) = plain_count_line(window, pos, b'*')?;
    let mut key = None;
    for index in 0..argc {
        let (len, payload_start) = plain_count_line(window, at, b'$')?;
        let payload_end = payload_start.checked_add(usize::try_from(len).ok()?)?;
        at = payload_end.checked_add(2)?;
        if at > window.len() {
            return None;
        }
        if index == 1 {
            key = Some(payload_start..payload_end);
        }
    }
    Some(Upcoming { key, end: at })
}

/// Digits a count may have for the fast path: 18 cannot overflow an `i64`.
const PLAIN_COUNT_MAX_DIGITS: usize = 18;

/// The shape nearly every line has, `<prefix><digits>\r\n`, read without searching for
/// the newline: the count and the offset after the line. Such a line is exactly what
/// `fgets` would return (its only newline is its last byte, far below [`LINE_MAX`]), and
/// `strtol` of it is the digits' value, so the general path would reach the same result;
/// any other shape (signs, blanks, NULs, long lines, a window ending inside the line)
/// returns `None` and goes through the general path.
fn plain_count_line(window: &[u8], pos: usize, prefix: u8) -> Option<(i64, usize)> {
    let line = window.get(pos..)?;
    if *line.first()? != prefix {
        return None;
    }
    let digits_end = line.len().min(1 + PLAIN_COUNT_MAX_DIGITS);
    let mut value: i64 = 0;
    let mut end = 1;
    while end < digits_end && line[end].is_ascii_digit() {
        value = value * 10 + i64::from(line[end] - b'0');
        end += 1;
    }
    if end == 1 || line.get(end..end + 2)? != b"\r\n" {
        return None;
    }
    Some((value, pos + end + 2))
}

/// The general path for a command's header line: `fgets`, then `atoi` after the `*`.
/// Returns the argument count and the offset after the line, or the step that ends the
/// item here (an annotation, the end of the file, more bytes needed, an error).
fn read_header(window: &[u8], at_eof: bool) -> Result<(i32, usize), Step<'static>> {
    let header_end = match fgets(window, 0, at_eof) {
        Line::Eof => return Err(Step::End),
        Line::NeedMore => return Err(need_more(window)),
        Line::Read { end } => end,
    };
    let header = &window[..header_end];
    match c_byte(header, 0) {
        b'#' => {
            return Err(Step::Annotation {
                consumed: header_end,
            })
        }
        b'*' => {}
        _ => return Err(Step::Error(ReadError::BadFormat)),
    }
    if c_byte(header, 1) == 0 {
        // Upstream treats "*" with nothing after it as a read error: end of file if
        // the file ends there, otherwise an unreadable file.
        return Err(Step::Error(if header_end == window.len() && at_eof {
            ReadError::Truncated
        } else {
            ReadError::BadFormat
        }));
    }
    Ok((c_atoi(&header[1..]), header_end))
}

/// The general path for an argument's length line at `pos`: `fgets`, a `$`, then `strtol`.
fn read_length_line(
    window: &[u8],
    pos: usize,
    at_eof: bool,
) -> Result<(i64, usize), Step<'static>> {
    let line_end = match fgets(window, pos, at_eof) {
        Line::Eof => return Err(Step::Error(ReadError::Truncated)),
        Line::NeedMore => return Err(need_more(window)),
        Line::Read { end } => end,
    };
    let line = &window[pos..line_end];
    if c_byte(line, 0) != b'$' {
        return Err(Step::Error(ReadError::BadFormat));
    }
    Ok((c_strtol(&line[1..]), line_end))
}

/// An incomplete line: ask for more than the window holds (a line is at most LINE_MAX).
fn need_more(window: &[u8]) -> Step<'static> {
    Step::NeedMore {
        min_bytes: window.len() + LINE_MAX,
    }
}

/// What [`read_all`] read: the commands, how the file ended, and where its last complete
/// item ended.
pub type ReadAll = (Vec<Vec<Vec<u8>>>, Result<(), ReadError>, usize);

/// Reads a whole in-memory file the way the loader reads it: through the
/// [`framer`](crate::framer) over the block reader's window ([`FileShape::blocks`] of
/// `block` bytes) into the AOF client's vector. The reference for the loader, and what the
/// tests and the fuzz target compare across shapes. Panics if the parser or the framer
/// ever breaks its promises (see [`framer::mem`](crate::framer::mem)).
pub fn read_all(parser: CommandParser, file: &[u8], block: usize) -> ReadAll {
    let shape = Shape {
        file: FileShape::blocks(block),
        direct_read_min: DIRECT_READ_MIN,
        store: StoreShape::Vector,
    };
    read_all_frames(frames_with(Framer::with_parser(parser), file, &shape).0)
        .expect("a file in memory reads")
}

/// [`read_all`] in any [`Shape`]; `None` when the shape made the reading fail (a failed
/// read, a declined argument) before the end.
pub fn read_all_in(file: &[u8], shape: &Shape) -> Option<ReadAll> {
    read_all_frames(frames(file, shape).0)
}

fn read_all_frames(frames: Vec<MemFrame>) -> Option<ReadAll> {
    let mut commands = Vec::new();
    let mut complete_up_to = 0;
    for frame in frames {
        match frame {
            MemFrame::Command { args, consumed } => {
                commands.push(args);
                complete_up_to += consumed;
            }
            MemFrame::Annotation { consumed } => complete_up_to += consumed,
            MemFrame::Stop { stop, .. } => {
                let ending = match stop {
                    Stop::End => Ok(()),
                    Stop::Truncated => Err(ReadError::Truncated),
                    Stop::BadFormat | Stop::Checksum(_) => Err(ReadError::BadFormat),
                    Stop::TornTail => Err(ReadError::Truncated),
                };
                return Some((commands, ending, complete_up_to));
            }
            MemFrame::ReadFailed | MemFrame::Declined => return None,
        }
    }
    unreachable!("the last frame ends the reading")
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = ReadAll;

    /// Parses a whole in-memory file; returns the commands, how it ended and where the
    /// last complete item ended.
    fn parse_all(file: &[u8]) -> Parsed {
        read_all(CommandParser::new(), file, file.len().max(1))
    }

    /// The same file fed through windows of at most `block` new bytes per refill.
    fn parse_in_blocks(file: &[u8], block: usize) -> Parsed {
        read_all(CommandParser::new(), file, block)
    }

    use crate::resp::encode_bytes_command as cmd;

    fn sample_file() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(cmd(&[b"SELECT", b"0"]));
        f.extend_from_slice(b"#TS:1700000000\r\n");
        f.extend(cmd(&[b"SET", b"key", b"va\r\nlue"]));
        f.extend(cmd(&[b"MULTI"]));
        f.extend(cmd(&[b"INCR", b"n"]));
        f.extend(cmd(&[b"EXEC"]));
        f.extend(cmd(&[b"RPUSH", b"l", b"", &[0u8, 255, 10, 13]]));
        f
    }

    #[test]
    fn a_well_formed_file_yields_every_command() {
        let file = sample_file();
        let (commands, ending, consumed) = parse_all(&file);
        assert_eq!(ending, Ok(()));
        assert_eq!(consumed, file.len());
        assert_eq!(commands.len(), 6);
        assert_eq!(
            commands[1],
            vec![b"SET".to_vec(), b"key".to_vec(), b"va\r\nlue".to_vec()]
        );
        assert_eq!(commands[5][3], vec![0u8, 255, 10, 13]);
    }

    #[test]
    fn every_window_size_gives_the_same_result() {
        let file = sample_file();
        let whole = parse_all(&file);
        for block in 1..=file.len() {
            assert_eq!(parse_in_blocks(&file, block), whole, "block size {block}");
        }
    }

    #[test]
    fn a_cut_anywhere_is_a_clean_end_or_a_short_read_never_bad_format() {
        let file = sample_file();
        // Command boundaries: a cut exactly there is a clean end.
        let mut boundaries = vec![0];
        let mut pos = 0;
        let mut parser = CommandParser::new();
        while pos < file.len() {
            match parser.parse_next(&file[pos..], true, (file.len() - pos) as u64) {
                Step::Command { consumed, .. } | Step::Annotation { consumed } => pos += consumed,
                other => panic!("{other:?}"),
            }
            boundaries.push(pos);
        }
        for cut in 0..file.len() {
            let (commands, ending, consumed) = parse_all(&file[..cut]);
            assert_eq!(
                parse_in_blocks(&file[..cut], 7),
                (commands.clone(), ending, consumed)
            );
            if boundaries.contains(&cut) {
                assert_eq!(ending, Ok(()), "cut at {cut}");
            } else if file[..cut].ends_with(b"#TS:1700000000") || is_inside_annotation(&file, cut) {
                // An annotation without its newline is still an annotation.
                assert_eq!(ending, Ok(()), "cut at {cut}");
            } else {
                assert_eq!(ending, Err(ReadError::Truncated), "cut at {cut}");
                assert!(
                    boundaries.contains(&consumed),
                    "consumed {consumed} at cut {cut}"
                );
            }
        }
    }

    fn is_inside_annotation(file: &[u8], cut: usize) -> bool {
        let start = memchr::memmem::find(file, b"#TS:").unwrap();
        cut > start && cut < start + b"#TS:1700000000\r\n".len()
    }

    #[test]
    fn framing_errors_are_bad_format() {
        for bad in [
            &b"SET k v\r\n"[..],
            b"\r\n",
            b"*0\r\n",
            b"*-3\r\n",
            b"*abc\r\n",
            b"*\r\n",
            b"*1\r\nSET\r\n",
            b"*1\r\n$-1\r\n",
            b"*1\r\n$-9223372036854775808\r\n",
        ] {
            assert_eq!(
                parse_all(bad).1,
                Err(ReadError::BadFormat),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn huge_counts_and_lengths_are_refused_without_allocating() {
        // A count or length far beyond the file is a short file, decided before sizing
        // anything by it.
        assert_eq!(
            parse_all(b"*2147483647\r\n$3\r\nSET\r\n").1,
            Err(ReadError::Truncated)
        );
        assert_eq!(
            parse_all(b"*1\r\n$9223372036854775807\r\nabc\r\n").1,
            Err(ReadError::Truncated)
        );
        // A count larger than the file mid-file: the next command's header is where an
        // argument was expected, as upstream finds (bad format, the file left alone).
        let mut file = b"*999999999\r\n".to_vec();
        file.extend(cmd(&[b"SET", b"b", b"2"]));
        file.extend(cmd(&[b"SET", b"c", b"3"]));
        assert_eq!(parse_all(&file).1, Err(ReadError::BadFormat));
        let mut parser = CommandParser::new();
        assert_eq!(
            parser.parse_next(b"*1\r\n$1000000\r\nabc", false, 20),
            Step::Error(ReadError::Truncated),
            "a length beyond the file's end never asks for a window that large"
        );
    }

    /// `proto-max-bulk-len` does not bind an AOF (upstream's loading client obeys no
    /// client limit): any length the file holds is read, however large.
    #[test]
    fn any_length_the_file_holds_is_read() {
        let big = vec![b'v'; 3 << 20];
        let file = cmd(&[b"SET", b"big", &big]);
        let (commands, ending, _) = parse_all(&file);
        assert_eq!(ending, Ok(()));
        assert_eq!(commands[0][2], big);
    }

    /// A command in pieces and large arguments read directly give the same commands, and
    /// the same outcome at every cut, as the whole file in one window; the window never
    /// has to hold a large argument.
    #[test]
    fn pieces_and_direct_reads_give_the_same_commands() {
        let mut file = Vec::new();
        file.extend(cmd(&[
            b"RPUSH",
            b"l",
            b"a",
            &[b'x'; 40],
            b"b",
            &[b'y'; 100],
        ]));
        file.extend(cmd(&[b"SET", &[b'k'; 70], &[b'z'; 90]]));
        file.extend(cmd(&[b"SET", b"k", &[b'w'; 64]]));
        let whole = parse_all(&file);
        assert_eq!(whole.0.len(), 3);
        for direct_min in [1, 16, 64, 65, 1000] {
            for block in [1, 2, 5, 17, 64, 1000] {
                let mut parser = CommandParser::new();
                parser.set_direct_read_min(direct_min);
                let got = read_all(parser, &file, block);
                assert_eq!(got, whole, "direct_min {direct_min}, block {block}");
            }
        }
        for cut in 0..file.len() {
            let expected = parse_all(&file[..cut]);
            for (direct_min, block) in [(1, 3), (32, 7), (64, 64)] {
                let mut parser = CommandParser::new();
                parser.set_direct_read_min(direct_min);
                let got = read_all(parser, &file[..cut], block);
                assert_eq!(
                    got, expected,
                    "cut {cut} direct_min {direct_min} block {block}"
                );
            }
        }
    }

    /// A large argument the window does not hold is handed out, with the arguments before
    /// it, instead of asking for a window that large.
    #[test]
    fn a_large_argument_is_left_to_the_caller() {
        let mut parser = CommandParser::new();
        let header = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$300000\r\nvvvv";
        let file_len = (header.len() - 4 + 300_002) as u64;
        let Step::LargeArgument {
            consumed,
            args,
            len,
        } = parser.parse_next(header, false, file_len)
        else {
            panic!("a large argument");
        };
        assert_eq!((consumed, len, args.len()), (header.len() - 4, 300_000, 2));
        assert!(!parser.in_command());
        // Larger than what is left of the file: a short file, nothing sized by it.
        let mut parser = CommandParser::new();
        assert_eq!(
            parser.parse_next(header, false, file_len - 1),
            Step::Error(ReadError::Truncated)
        );
        assert!(!parser.in_command());
    }

    #[test]
    fn upstream_leniencies_are_kept() {
        // atoi/strtol stop at the first non-digit; the two bytes after a payload are not
        // checked; leading blanks and a '+' are accepted.
        let (commands, ending, _) = parse_all(b"*2abc\r\n$ +3xyz\r\nGETxx$1\r\nk!!");
        assert_eq!(ending, Ok(()));
        assert_eq!(commands, vec![vec![b"GET".to_vec(), b"k".to_vec()]]);
        // A '*' line at the very end of the file is a short read.
        assert_eq!(parse_all(b"*").1, Err(ReadError::Truncated));
        // A count that wraps when cast to int, as glibc's atoi does.
        assert_eq!(c_atoi(b"4294967297"), 1);
    }

    #[test]
    fn long_lines_are_read_in_fgets_sized_pieces() {
        // An annotation longer than a line buffer: its tail is read as the next line,
        // which is not a command.
        let mut file = b"#".to_vec();
        file.extend(std::iter::repeat_n(b'x', LINE_MAX + 10));
        file.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&file).1, Err(ReadError::BadFormat));
        // One that fits is skipped.
        let mut file = b"#".to_vec();
        file.extend(std::iter::repeat_n(b'x', LINE_MAX - 2));
        file.push(b'\n');
        file.extend(cmd(&[b"PING"]));
        assert_eq!(parse_all(&file).0.len(), 1);
    }

    #[test]
    fn strtol_matches_c() {
        assert_eq!(c_strtol(b"  -42xyz"), -42);
        assert_eq!(c_strtol(b"99999999999999999999"), i64::MAX);
        assert_eq!(c_strtol(b"-99999999999999999999"), i64::MIN);
        assert_eq!(c_strtol(b"1\x002"), 1);
        assert_eq!(c_strtol(b""), 0);
    }

    #[test]
    fn the_argument_vector_is_reused_between_commands() {
        let file = cmd(&[b"SET", b"a", b"b"]);
        let mut parser = CommandParser::new();
        let _ = parser.parse_next(&file, true, file.len() as u64);
        let capacity = parser.spans.capacity();
        let _ = parser.parse_next(&file, true, file.len() as u64);
        assert_eq!(parser.spans.capacity(), capacity);
    }

    /// Every line the fast path accepts is read to the same count and end by the general
    /// (fgets + atoi/strtol) path; the lines it declines are the general path's alone.
    #[test]
    fn the_plain_line_fast_path_agrees_with_the_general_path() {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for body in [
            "0",
            "3",
            "17",
            "007",
            "2147483648",
            "4294967299",
            "999999999999999999",
            "9999999999999999999",
            "-1",
            "+5",
            " 5",
            "5 ",
            "5x",
            "",
            "5\0",
            "12\n",
        ] {
            for ending in ["\r\n", "\n", "\r", "", "\r\r\n", "\rx\n"] {
                lines.push(format!("{body}{ending}").into_bytes());
            }
        }
        for line in &lines {
            for (prefix, other) in [(b'*', b'$'), (b'$', b'*')] {
                let mut window = vec![prefix];
                window.extend_from_slice(line);
                let mut wrong = window.clone();
                wrong[0] = other;
                assert_eq!(plain_count_line(&wrong, 0, prefix), None);
                // With bytes after the line and at the end of the file.
                for tail in [&b""[..], b"$3\r\nfoo\r\n"] {
                    let mut w = window.clone();
                    w.extend_from_slice(tail);
                    let Some((count, end)) = plain_count_line(&w, 0, prefix) else {
                        continue;
                    };
                    assert_eq!(end, window.len(), "{:?}", String::from_utf8_lossy(&w));
                    for at_eof in [true, false] {
                        if prefix == b'*' {
                            assert_eq!(read_header(&w, at_eof), Ok((count as i32, end)));
                        } else {
                            assert_eq!(read_length_line(&w, 0, at_eof), Ok((count, end)));
                        }
                    }
                }
            }
        }
        // What it must decline: anything not digits then CRLF.
        for declined in [
            &b"*-1\r\n"[..],
            b"* 1\r\n",
            b"*1\n",
            b"*1",
            b"*\r\n",
            b"*1\r",
        ] {
            assert_eq!(plain_count_line(declined, 0, b'*'), None);
        }
        assert_eq!(plain_count_line(b"x$12\r\n", 1, b'$'), Some((12, 6)));
    }

    /// Looking ahead finds the same command end and key as the real parse, for every
    /// command of a stream; it declines what is not plain or not whole.
    #[test]
    fn peeking_ahead_agrees_with_parsing() {
        let mut file = Vec::new();
        for args in [
            &[&b"SET"[..], b"key:1", b"value"][..],
            &[b"MULTI"],
            &[b"INCR", b""],
            &[b"HSET", b"h", b"f\r\n", b"binary\0value"],
            &[b"EXEC"],
        ] {
            file.extend_from_slice(&cmd(args));
        }
        let mut parser = CommandParser::new();
        let mut pos = 0;
        while pos < file.len() {
            let upcoming = peek_upcoming(&file, pos).expect("a plain, whole command");
            let left = (file.len() - pos) as u64;
            let Step::Command { consumed, args } = parser.parse_next(&file[pos..], true, left)
            else {
                panic!("a command at {pos}");
            };
            assert_eq!(upcoming.end, pos + consumed);
            let key = args.get(1).map(|span| span.start + pos..span.end + pos);
            assert_eq!(upcoming.key, key);
            pos += consumed;
        }
        let set = cmd(&[b"SET", b"k", b"v"]);
        for cut in 0..set.len() {
            assert_eq!(peek_upcoming(&set[..cut], 0), None, "cut at {cut}");
        }
        assert_eq!(peek_upcoming(b"#TS:1\r\n", 0), None);
        assert_eq!(peek_upcoming(b"*1\r\n$-1\r\n", 0), None);
        assert_eq!(
            peek_upcoming(b"*3\r\n$3\r\nSET\r\n$99999999999999999\r\n", 0),
            None
        );
    }
}

//! The multi-part AOF manifest: its grammar, its file-name rules, and its validation.
//!
//! A manifest is a text file in `appenddirname`, one line per AOF file:
//! ```text
//! file appendonly.aof.1.base.rdb seq 1 type b
//! file appendonly.aof.1.incr.aof seq 1 type i startoffset 0 endoffset 1
//! ```
//! - lines starting with `#` are comments; a line may hold at most [`MANIFEST_MAX_LINE`]
//!   bytes, its newline included;
//! - a line is split like upstream's `sdssplitargs` (quotes, `\xHH` escapes) into
//!   key/value pairs, keys case-insensitive, unknown keys ignored, at least three pairs;
//! - `file` is a bare name (no `/` or `\`), `seq` a non-zero integer, `type` one of
//!   `b` (BASE, at most one), `h` (HISTORY), `i` (INCR, strictly increasing `seq`);
//! - a name that needs it is written quoted like upstream's `sdscatrepr`.
//!
//! Order on disk: BASE, then HISTORY, then INCR. Everything here is byte-for-byte what
//! upstream writes and accepts; rejections carry upstream's exact messages.

/// Upstream reads manifest lines into a buffer of this many bytes plus the terminator.
pub const MANIFEST_MAX_LINE: usize = 1024;

pub const BASE_FILE_SUFFIX: &[u8] = b".base";
pub const INCR_FILE_SUFFIX: &[u8] = b".incr";
pub const RDB_FORMAT_SUFFIX: &[u8] = b".rdb";
pub const AOF_FORMAT_SUFFIX: &[u8] = b".aof";
pub const MANIFEST_NAME_SUFFIX: &[u8] = b".manifest";
pub const TEMP_FILE_NAME_PREFIX: &[u8] = b"temp-";

pub const TYPE_BASE: u8 = b'b';
pub const TYPE_HISTORY: u8 = b'h';
pub const TYPE_INCR: u8 = b'i';

/// One line of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub file_name: Vec<u8>,
    pub file_seq: i64,
    /// `b`, `h` or `i`.
    pub file_type: u8,
    /// Replication offset where the file starts, -1 when unknown.
    pub start_offset: i64,
    /// Replication offset where it ends, -1 when unknown (only kept with a start).
    pub end_offset: i64,
}

impl Entry {
    pub fn new(file_name: Vec<u8>, file_seq: i64, file_type: u8) -> Entry {
        Entry {
            file_name,
            file_seq,
            file_type,
            start_offset: -1,
            end_offset: -1,
        }
    }

    /// The entry's manifest line (upstream's `aofInfoFormat`), newline included.
    ///
    /// One deliberate difference: upstream writes a name containing `'` unquoted, and its
    /// own reader then takes the quote for the start of a quoted word and refuses the
    /// whole manifest, so a server with such an `appendfilename` cannot restart. Such a
    /// name is quoted here (as `"it's"`), which both readers accept.
    pub fn format_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"file ");
        if needs_repr(&self.file_name) || self.file_name.contains(&b'\'') {
            repr_into(&self.file_name, out);
        } else {
            out.extend_from_slice(&self.file_name);
        }
        out.extend_from_slice(b" seq ");
        out.extend_from_slice(itoa::Buffer::new().format(self.file_seq).as_bytes());
        out.extend_from_slice(b" type ");
        out.push(self.file_type);
        if self.start_offset != -1 {
            out.extend_from_slice(b" startoffset ");
            out.extend_from_slice(itoa::Buffer::new().format(self.start_offset).as_bytes());
            if self.end_offset != -1 {
                out.extend_from_slice(b" endoffset ");
                out.extend_from_slice(itoa::Buffer::new().format(self.end_offset).as_bytes());
            }
        }
        out.push(b'\n');
    }
}

/// A manifest as read from disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Entry>,
    pub history: Vec<Entry>,
    pub incr: Vec<Entry>,
    pub curr_base_file_seq: i64,
    pub curr_incr_file_seq: i64,
}

impl Manifest {
    /// The manifest file's contents (upstream's `getAofManifestAsString`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in self.base.iter().chain(&self.history).chain(&self.incr) {
            entry.format_into(&mut out);
        }
        out
    }
}

/// Why a manifest was refused; [`ManifestError::message`] is upstream's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestErrorKind {
    Empty,
    LineTooLong,
    InvalidFormat,
    PathNotBaseName,
    DuplicateBase,
    NonMonotonicSeq,
    UnknownType,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub kind: ManifestErrorKind,
    /// 1-based line number and the offending line (trimmed as upstream trims it), when
    /// the error belongs to a line upstream shows.
    pub line: Option<(usize, Vec<u8>)>,
}

impl ManifestError {
    pub fn message(&self) -> &'static str {
        match self.kind {
            ManifestErrorKind::Empty => "Found an empty AOF manifest",
            ManifestErrorKind::LineTooLong => "The AOF manifest file contains too long line",
            ManifestErrorKind::InvalidFormat => "Invalid AOF manifest file format",
            ManifestErrorKind::PathNotBaseName => "File can't be a path, just a filename",
            ManifestErrorKind::DuplicateBase => "Found duplicate base file information",
            ManifestErrorKind::NonMonotonicSeq => "Found a non-monotonic sequence number",
            ManifestErrorKind::UnknownType => "Unknown AOF file type",
        }
    }
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// C's `isprint` in the C locale (bytes above 0x7f are not printable).
fn is_print(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

/// Upstream's `sdsneedsrepr`: whether a name must be written quoted.
pub fn needs_repr(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| matches!(b, b'\\' | b'"') || !is_print(b) || is_space(b))
}

/// Upstream's `sdscatrepr`: a quoted, escaped form that [`split_args`] reads back.
pub fn repr_into(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\x07' => out.extend_from_slice(b"\\a"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            _ if is_print(b) => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Upstream's `sdssplitargs`: None for unbalanced quotes or a closing quote followed by
/// something other than a space. The line ends at its first NUL, as a C string does.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = &line[..memchr::memchr(0, line).unwrap_or(line.len())];
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(hi), Some(lo)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        current.push(hi * 16 + lo);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => b'\x08',
                        b'a' => b'\x07',
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
            }
            p += 1;
        }
        args.push(current);
    }
}

/// C's `atoll`.
fn atoll(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
        i += 1;
    }
    if negative {
        v.wrapping_neg()
    } else {
        v
    }
}

/// Upstream's `pathIsBaseName`.
pub fn is_base_name(name: &[u8]) -> bool {
    !name.iter().any(|&b| b == b'/' || b == b'\\')
}

fn trim(line: &[u8]) -> &[u8] {
    let is_trimmed = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = line
        .iter()
        .position(|b| !is_trimmed(b))
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !is_trimmed(b))
        .map_or(start, |e| e + 1);
    &line[start..end]
}

/// One entry from a trimmed line, or the reason it is invalid.
fn parse_entry(line: &[u8]) -> Result<Entry, ManifestErrorKind> {
    let args = split_args(line).ok_or(ManifestErrorKind::InvalidFormat)?;
    // Forward compatibility: extra pairs are allowed, fewer than three are not.
    if args.len() < 6 || args.len() % 2 != 0 {
        return Err(ManifestErrorKind::InvalidFormat);
    }
    let mut entry = Entry::new(Vec::new(), 0, 0);
    let mut has_name = false;
    for pair in args.chunks(2) {
        let (key, value) = (&pair[0], &pair[1]);
        if key.eq_ignore_ascii_case(b"file") {
            // Upstream copies the value as a C string: it ends at a NUL.
            entry.file_name = value[..memchr::memchr(0, value).unwrap_or(value.len())].to_vec();
            has_name = true;
            if !is_base_name(&entry.file_name) {
                return Err(ManifestErrorKind::PathNotBaseName);
            }
        } else if key.eq_ignore_ascii_case(b"seq") {
            entry.file_seq = atoll(value);
        } else if key.eq_ignore_ascii_case(b"type") {
            entry.file_type = value.first().copied().unwrap_or(0);
        } else if key.eq_ignore_ascii_case(b"startoffset") {
            entry.start_offset = atoll(value);
        } else if key.eq_ignore_ascii_case(b"endoffset") {
            entry.end_offset = atoll(value);
        }
    }
    if !has_name || entry.file_seq == 0 || entry.file_type == 0 {
        return Err(ManifestErrorKind::InvalidFormat);
    }
    Ok(entry)
}

/// Upstream's `aofLoadManifestFromFile`, on the file's bytes.
pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
    let mut manifest = Manifest::default();
    let mut max_incr_seq = 0;
    let mut line_number = 0;
    let mut rest = text;
    while !rest.is_empty() {
        // fgets into MANIFEST_MAX_LINE+1 bytes: a piece ends after a newline or after
        // MANIFEST_MAX_LINE bytes.
        let limit = rest.len().min(MANIFEST_MAX_LINE);
        let piece_len = memchr::memchr(b'\n', &rest[..limit]).map_or(limit, |nl| nl + 1);
        let piece = &rest[..piece_len];
        rest = &rest[piece_len..];
        line_number += 1;

        // Comments are skipped before the length check, whatever follows.
        if piece.first() == Some(&b'#') {
            continue;
        }
        // As a C string the piece ends at a NUL; without a newline it was too long (or
        // the file's last line lacks one, which upstream refuses the same way).
        let c_piece = &piece[..memchr::memchr(0, piece).unwrap_or(piece.len())];
        let fail = |kind, line: &[u8]| ManifestError {
            kind,
            line: Some((line_number, line.to_vec())),
        };
        if memchr::memchr(b'\n', c_piece).is_none() {
            return Err(ManifestError {
                kind: ManifestErrorKind::LineTooLong,
                line: None,
            });
        }
        let line = trim(c_piece);
        if line.is_empty() {
            return Err(fail(ManifestErrorKind::InvalidFormat, line));
        }
        let entry = parse_entry(line).map_err(|kind| fail(kind, line))?;
        match entry.file_type {
            TYPE_BASE => {
                if manifest.base.is_some() {
                    return Err(fail(ManifestErrorKind::DuplicateBase, line));
                }
                manifest.curr_base_file_seq = entry.file_seq;
                manifest.base = Some(entry);
            }
            TYPE_HISTORY => manifest.history.push(entry),
            TYPE_INCR => {
                if entry.file_seq <= max_incr_seq {
                    return Err(fail(ManifestErrorKind::NonMonotonicSeq, line));
                }
                max_incr_seq = entry.file_seq;
                manifest.curr_incr_file_seq = entry.file_seq;
                manifest.incr.push(entry);
            }
            _ => return Err(fail(ManifestErrorKind::UnknownType, line)),
        }
    }
    if line_number == 0 {
        return Err(ManifestError {
            kind: ManifestErrorKind::Empty,
            line: None,
        });
    }
    Ok(manifest)
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `<prefix>.<seq>.base.rdb` or `.base.aof`.
pub fn base_file_name(prefix: &[u8], seq: i64, rdb_preamble: bool) -> Vec<u8> {
    let format = if rdb_preamble {
        RDB_FORMAT_SUFFIX
    } else {
        AOF_FORMAT_SUFFIX
    };
    concat(&[
        prefix,
        b".",
        itoa::Buffer::new().format(seq).as_bytes(),
        BASE_FILE_SUFFIX,
        format,
    ])
}

/// `<prefix>.<seq>.incr.aof`.
pub fn incr_file_name(prefix: &[u8], seq: i64) -> Vec<u8> {
    concat(&[
        prefix,
        b".",
        itoa::Buffer::new().format(seq).as_bytes(),
        INCR_FILE_SUFFIX,
        AOF_FORMAT_SUFFIX,
    ])
}

/// `temp-<prefix>.incr`: where writes go while AOF waits for its first rewrite.
pub fn temp_incr_file_name(prefix: &[u8]) -> Vec<u8> {
    concat(&[TEMP_FILE_NAME_PREFIX, prefix, INCR_FILE_SUFFIX])
}

/// `<prefix>.manifest`.
pub fn manifest_file_name(prefix: &[u8]) -> Vec<u8> {
    concat(&[prefix, MANIFEST_NAME_SUFFIX])
}

/// `temp-<prefix>.manifest`: written first, then renamed over the manifest.
pub fn temp_manifest_file_name(prefix: &[u8]) -> Vec<u8> {
    concat(&[TEMP_FILE_NAME_PREFIX, prefix, MANIFEST_NAME_SUFFIX])
}

/// `temp-rewriteaof-<pid>.aof`: the rewrite child (pid `pid`) writes the new BASE under
/// this name and renames it to its target only once it is complete and fsynced.
pub fn temp_rewrite_file_name(pid: i64) -> String {
    format!("temp-rewriteaof-{pid}.aof")
}

/// `temp-rewriteaof-bg-<pid>.aof`: the target a background rewrite's child (pid `pid`)
/// renames its finished BASE to; the parent renames it into `appenddirname`. Both names
/// are removed after the child ends, whatever its outcome.
pub fn temp_bg_rewrite_file_name(pid: i64) -> String {
    format!("temp-rewriteaof-bg-{pid}.aof")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &[u8], seq: i64, t: u8) -> Entry {
        Entry::new(name.to_vec(), seq, t)
    }

    #[test]
    fn lines_are_formatted_as_upstream_writes_them() {
        let mut e = entry(b"appendonly.aof.1.incr.aof", 1, TYPE_INCR);
        let mut out = Vec::new();
        e.format_into(&mut out);
        assert_eq!(out, b"file appendonly.aof.1.incr.aof seq 1 type i\n");
        e.start_offset = 0;
        e.end_offset = 42;
        out.clear();
        e.format_into(&mut out);
        assert_eq!(
            out,
            b"file appendonly.aof.1.incr.aof seq 1 type i startoffset 0 endoffset 42\n"
        );
        // An end offset is only written after a start offset.
        e.start_offset = -1;
        out.clear();
        e.format_into(&mut out);
        assert_eq!(out, b"file appendonly.aof.1.incr.aof seq 1 type i\n");
    }

    #[test]
    fn odd_names_are_quoted_and_read_back() {
        for name in [
            &b"with space"[..],
            b"quote\"inside",
            b"new\nline\r\t\x07\x08",
            b"\xc3\xa9t\xc3\xa9",
            b"\x01\x7f",
            b"it's",
        ] {
            let m = Manifest {
                base: Some(entry(name, 1, TYPE_BASE)),
                curr_base_file_seq: 1,
                ..Default::default()
            };
            let text = m.to_bytes();
            assert!(text.starts_with(b"file \""), "{text:?}");
            assert_eq!(
                parse(&text).unwrap(),
                m,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
        let mut out = Vec::new();
        repr_into(b"a\"b\\c\n\xff", &mut out);
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\xff\"");
    }

    #[test]
    fn a_name_with_a_single_quote_is_quoted_so_it_reads_back_unlike_upstream() {
        let m = Manifest {
            base: Some(entry(b"it's.aof", 1, TYPE_BASE)),
            curr_base_file_seq: 1,
            ..Default::default()
        };
        let text = m.to_bytes();
        assert_eq!(text, b"file \"it's.aof\" seq 1 type b\n");
        assert_eq!(parse(&text).unwrap(), m);
        // What upstream writes for the same entry, which upstream itself cannot read.
        assert_eq!(
            error_of(b"file it's.aof seq 1 type b\n"),
            ManifestErrorKind::InvalidFormat
        );
    }

    #[test]
    fn a_full_manifest_round_trips_in_upstream_order() {
        let mut incr = entry(b"appendonly.aof.3.incr.aof", 3, TYPE_INCR);
        incr.start_offset = 100;
        let m = Manifest {
            base: Some(entry(b"appendonly.aof.2.base.rdb", 2, TYPE_BASE)),
            history: vec![entry(b"appendonly.aof.1.base.rdb", 1, TYPE_HISTORY)],
            incr: vec![entry(b"appendonly.aof.2.incr.aof", 2, TYPE_INCR), incr],
            curr_base_file_seq: 2,
            curr_incr_file_seq: 3,
        };
        let text = m.to_bytes();
        assert_eq!(
            text,
            b"file appendonly.aof.2.base.rdb seq 2 type b\n\
              file appendonly.aof.1.base.rdb seq 1 type h\n\
              file appendonly.aof.2.incr.aof seq 2 type i\n\
              file appendonly.aof.3.incr.aof seq 3 type i startoffset 100\n"
                .to_vec()
        );
        assert_eq!(parse(&text).unwrap(), m);
    }

    #[test]
    fn keys_are_case_insensitive_unknown_keys_ignored_comments_skipped() {
        let text = b"# comment\nFILE a SEQ 5 Type i future x\n";
        let m = parse(text).unwrap();
        assert_eq!(m.incr, vec![entry(b"a", 5, TYPE_INCR)]);
        assert_eq!(m.curr_incr_file_seq, 5);
    }

    fn error_of(text: &[u8]) -> ManifestErrorKind {
        parse(text).unwrap_err().kind
    }

    #[test]
    fn every_rejection_has_upstreams_message() {
        use ManifestErrorKind::*;
        assert_eq!(error_of(b""), Empty);
        assert_eq!(
            error_of(b"file a seq 1 type b"),
            LineTooLong,
            "no newline at the end"
        );
        let mut long = b"file ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MANIFEST_MAX_LINE));
        long.extend_from_slice(b" seq 1 type b\n");
        assert_eq!(error_of(&long), LineTooLong);
        assert_eq!(error_of(b"\n"), InvalidFormat);
        assert_eq!(error_of(b"file a seq 1\n"), InvalidFormat);
        assert_eq!(error_of(b"file a seq 1 type\n"), InvalidFormat);
        assert_eq!(error_of(b"file a seq 0 type b\n"), InvalidFormat);
        assert_eq!(error_of(b"file a seq x type b\n"), InvalidFormat);
        assert_eq!(error_of(b"name a seq 1 type b\n"), InvalidFormat);
        assert_eq!(error_of(b"file \"a seq 1 type b\n"), InvalidFormat);
        assert_eq!(error_of(b"file dir/a seq 1 type b\n"), PathNotBaseName);
        assert_eq!(
            error_of(b"file a seq 1 type b\nfile b seq 2 type b\n"),
            DuplicateBase
        );
        assert_eq!(
            error_of(b"file a seq 2 type i\nfile b seq 2 type i\n"),
            NonMonotonicSeq
        );
        assert_eq!(error_of(b"file a seq 1 type x\n"), UnknownType);
        let err = parse(b"file a seq 1 type b\n  file b seq 1 type z  \n").unwrap_err();
        assert_eq!(err.message(), "Unknown AOF file type");
        assert_eq!(err.line, Some((2, b"file b seq 1 type z".to_vec())));
    }

    #[test]
    fn a_comment_line_may_be_longer_than_the_limit_only_in_pieces() {
        // A long comment's tail is read as the next "line", which is then too long or
        // invalid, as upstream's fgets would see it.
        let mut text = b"#".to_vec();
        text.extend(std::iter::repeat_n(b'x', MANIFEST_MAX_LINE + 5));
        text.push(b'\n');
        assert_eq!(error_of(&text), ManifestErrorKind::InvalidFormat);
    }

    #[test]
    fn split_args_follows_sdssplitargs() {
        let v = |s: &[u8]| split_args(s).unwrap();
        assert_eq!(
            v(b"  a  b\tc "),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(v(b"\"a b\" 'c d'"), vec![b"a b".to_vec(), b"c d".to_vec()]);
        // A backslash before something that is not an escape is dropped.
        assert_eq!(v(b"\"\\x41\\x4g\""), vec![b"Ax4g".to_vec()]);
        assert_eq!(v(b"'it\\'s'"), vec![b"it's".to_vec()]);
        assert_eq!(v(b"\"\""), vec![b"".to_vec()]);
        assert_eq!(split_args(b"\"unterminated"), None);
        assert_eq!(split_args(b"\"a\"b"), None);
        assert_eq!(v(b"a\0 b"), vec![b"a".to_vec()]);
    }

    #[test]
    fn file_names_follow_upstreams_scheme() {
        assert_eq!(
            base_file_name(b"appendonly.aof", 3, true),
            b"appendonly.aof.3.base.rdb"
        );
        assert_eq!(
            base_file_name(b"appendonly.aof", 3, false),
            b"appendonly.aof.3.base.aof"
        );
        assert_eq!(incr_file_name(b"x", 12), b"x.12.incr.aof");
        assert_eq!(temp_incr_file_name(b"x"), b"temp-x.incr");
        assert_eq!(manifest_file_name(b"x"), b"x.manifest");
        assert_eq!(temp_manifest_file_name(b"x"), b"temp-x.manifest");
    }

    #[test]
    fn temp_rewrite_names_follow_upstreams_scheme() {
        assert_eq!(temp_rewrite_file_name(4242), "temp-rewriteaof-4242.aof");
        assert_eq!(
            temp_bg_rewrite_file_name(4242),
            "temp-rewriteaof-bg-4242.aof"
        );
        // server.child_pid is -1 with no child; upstream's "%d" prints it as is.
        assert_eq!(temp_bg_rewrite_file_name(-1), "temp-rewriteaof-bg--1.aof");
        assert_eq!(
            temp_rewrite_file_name(i64::from(u32::MAX)),
            "temp-rewriteaof-4294967295.aof"
        );
    }

    use crate::xorshift::Xorshift as Rng;

    /// A name of any bytes a file name may hold, ending in `last`.
    fn random_name(rng: &mut Rng, last: u8) -> Vec<u8> {
        let len = 1 + rng.next_u64() % 12;
        let mut n: Vec<u8> = (0..len)
            .map(|_| (rng.next_u64() % 256) as u8)
            .filter(|&b| b != b'/' && b != b'\\' && b != 0)
            .collect();
        n.push(last);
        n
    }

    #[test]
    fn generated_manifests_round_trip() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..500 {
            let mut m = Manifest::default();
            if rng.next_u64().is_multiple_of(2) {
                let seq = 1 + (rng.next_u64() % 100) as i64;
                m.base = Some(entry(&random_name(&mut rng, b'b'), seq, TYPE_BASE));
                m.curr_base_file_seq = seq;
            }
            for _ in 0..rng.next_u64() % 3 {
                let seq = 1 + (rng.next_u64() % 100) as i64;
                m.history
                    .push(entry(&random_name(&mut rng, b'h'), seq, TYPE_HISTORY));
            }
            let mut seq = 0;
            for _ in 0..1 + rng.next_u64() % 3 {
                seq += 1 + (rng.next_u64() % 5) as i64;
                let mut e = entry(&random_name(&mut rng, b'i'), seq, TYPE_INCR);
                if rng.next_u64().is_multiple_of(2) {
                    e.start_offset = (rng.next_u64() % 1000) as i64;
                    if rng.next_u64().is_multiple_of(2) {
                        e.end_offset = e.start_offset + (rng.next_u64() % 1000) as i64;
                    }
                }
                m.incr.push(e);
                m.curr_incr_file_seq = seq;
            }
            let text = m.to_bytes();
            assert_eq!(
                parse(&text).unwrap(),
                m,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }
}

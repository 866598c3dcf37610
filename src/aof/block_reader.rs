//! The file a replay reads: large blocks, a window of unconsumed bytes, and arguments too
//! large for the window read straight into their own strings (see
//! [`crate::aof::load_file`]).

use aof_core::framer::{PayloadError, ReadWindow};
use aof_glue::sys::Errno;
use aof_glue::unwritten::UnwrittenBytes;
use std::fs::File;
use std::io::Read;

/// The read buffer. It holds at most a line plus one argument shorter than
/// [`aof_core::command_reader::DIRECT_READ_MIN`], which is less than this.
pub const READ_BLOCK: usize = 1 << 20;
const _: () = assert!(
    aof_core::command_reader::DIRECT_READ_MIN + aof_core::command_reader::LINE_MAX + 2 < READ_BLOCK
);

/// How far ahead a refill reads while large arguments come: the bytes of a large argument
/// that a refill reads into the window are copied once more into the argument's string,
/// where one read straight into the string copies them once (upstream's loader reads them
/// so through stdio's 4 KiB buffer). Read in 1 MiB blocks, a file of 64 KiB values would
/// have nearly every value whole in the window, each one copied twice. With refills this
/// short, an argument of at least [`aof_core::command_reader::DIRECT_READ_MIN`] rarely
/// fits in the window and is read straight into its string; small commands cost one
/// `read` per 4 KiB meanwhile. The part of the next large argument that a refill brings
/// in with its header is still copied from the window: 4 KiB refills, the size of stdio's
/// buffer, keep that copy as small as upstream's (figures: `bench/MEASUREMENTS.md`,
/// "64 KiB values: a second copy" and "64 KiB values: the profile of what is left").
pub const SHORT_READ: usize = 4 << 10;
/// Refills that stay short after an argument was read straight into its string: while
/// such arguments keep coming, every one of them renews this; after a run of small
/// commands, refills read whole blocks again.
const SHORT_READS_AFTER_DIRECT: u32 = 64;
// The in-memory reader the framer is tested and fuzzed with reads in these shapes.
const _: () = assert!(
    aof_core::framer::mem::PRODUCTION_BLOCK == READ_BLOCK
        && aof_core::framer::mem::PRODUCTION_SHORT_READ == SHORT_READ
        && aof_core::framer::mem::PRODUCTION_SHORT_READS_AFTER_DIRECT == SHORT_READS_AFTER_DIRECT
);

/// A file read in large blocks; the unconsumed bytes are `buf[start..filled]`.
pub struct BlockReader {
    file: File,
    file_len: u64,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    at_eof: bool,
    /// Refills left that read [`SHORT_READ`] ahead instead of [`READ_BLOCK`].
    short_reads_left: u32,
}

impl BlockReader {
    pub fn new(file: File, file_len: u64, start_offset: u64) -> BlockReader {
        BlockReader {
            file,
            file_len,
            buf: vec![0; READ_BLOCK],
            start: 0,
            filled: 0,
            offset: start_offset,
            at_eof: false,
            short_reads_left: 0,
        }
    }

    /// Reads more so the window holds at least `min_window` bytes (the parser's "need
    /// more"), reading a block ahead ([`READ_BLOCK`], or [`SHORT_READ`] while large
    /// arguments come), or the rest of the file.
    fn refill_ahead(&mut self, min_window: usize) -> Result<(), Errno> {
        let ahead = if self.short_reads_left > 0 {
            self.short_reads_left -= 1;
            SHORT_READ
        } else {
            READ_BLOCK
        };
        self.fill_window(min_window, ahead)
    }

    /// Reads more so the window holds at least `min_window` bytes (or the rest of the
    /// file), and at most `ahead` bytes or `min_window` if larger (the buffer's size
    /// bounds it too); the unconsumed tail moves to the front once per refill. The parser
    /// asks for more than the buffer holds only when told "at least this much" for the
    /// next block: a line and an argument below the direct-read size always fit (see
    /// [`READ_BLOCK`]), so the buffer grows only if that ever stops holding.
    fn fill_window(&mut self, min_window: usize, ahead: usize) -> Result<(), Errno> {
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        if min_window > self.buf.len() {
            self.buf.resize(min_window, 0);
        }
        let read_up_to = min_window.max(ahead).min(self.buf.len());
        while self.filled < min_window && !self.at_eof {
            match self.file.read(&mut self.buf[self.filled..read_up_to]) {
                Ok(0) => self.at_eof = true,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Errno::from_io_or_eio(&e)),
            }
        }
        Ok(())
    }

    /// Fills `dest` with the next bytes of the file: first what the window holds, then
    /// straight from the file. `Ok(false)`: the file ended first.
    fn read_into(&mut self, dest: &mut UnwrittenBytes) -> Result<bool, Errno> {
        let from_window = dest.left().min(self.filled - self.start);
        dest.put(&self.buf[self.start..self.start + from_window]);
        self.consume(from_window);
        while dest.left() > 0 {
            match dest.read_from(&self.file) {
                Ok(0) => {
                    self.at_eof = true;
                    return Ok(false);
                }
                Ok(n) => self.offset += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Errno::from_io_or_eio(&e)),
            }
        }
        Ok(true)
    }

    /// Skips the two bytes after a payload (unchecked, as upstream skips them).
    /// `Ok(false)`: the file ended first.
    fn skip_payload_end(&mut self) -> Result<bool, Errno> {
        if self.filled - self.start < 2 {
            self.refill_ahead(2)?;
        }
        if self.filled - self.start < 2 {
            return Ok(false);
        }
        self.consume(2);
        Ok(true)
    }
}

/// The framer reads the file through this window; a large argument's payload goes
/// straight into its new string's bytes.
impl ReadWindow for BlockReader {
    type Error = Errno;
    type Payload<'p> = UnwrittenBytes<'p>;

    #[inline]
    fn window(&self) -> &[u8] {
        &self.buf[self.start..self.filled]
    }

    #[inline]
    fn at_eof(&self) -> bool {
        self.at_eof
    }

    /// The file's bytes from the window's start on.
    #[inline]
    fn left_in_file(&self) -> u64 {
        self.file_len.saturating_sub(self.offset)
    }

    /// The parser's "need more": [`refill_ahead`](BlockReader::refill_ahead).
    #[inline]
    fn refill(&mut self, min_bytes: usize) -> Result<(), Errno> {
        self.refill_ahead(min_bytes)
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Fills `dest` with a payload of the file and skips the two bytes after it
    /// (unchecked, as upstream skips them): [`read_into`](BlockReader::read_into) then
    /// [`skip_payload_end`](BlockReader::skip_payload_end).
    fn read_payload(&mut self, dest: &mut UnwrittenBytes<'_>) -> Result<(), PayloadError<Errno>> {
        self.short_reads_left = SHORT_READS_AFTER_DIRECT;
        match self.read_into(dest) {
            Ok(true) => {}
            Ok(false) => return Err(PayloadError::Short),
            Err(errno) => return Err(PayloadError::Failed(errno)),
        }
        match self.skip_payload_end() {
            Ok(true) => Ok(()),
            Ok(false) => Err(PayloadError::Short),
            Err(errno) => Err(PayloadError::Failed(errno)),
        }
    }
}

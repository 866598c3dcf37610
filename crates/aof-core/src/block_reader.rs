//! The window a replay reads its file through: large blocks, a window of unconsumed
//! bytes, and arguments too large for the window read straight into their own storage.
//! Generic over where the bytes come from ([`Source`]): the loader's file
//! (`src/aof/block_reader.rs`), or a file in memory for the tests and the fuzz targets
//! ([`framer::mem`](crate::framer::mem)), so both run this code.

use crate::checksum::Digest;
use crate::framer::{PayloadError, ReadWindow};

/// The read buffer. It holds at most a line plus one argument shorter than
/// [`DIRECT_READ_MIN`](crate::command_reader::DIRECT_READ_MIN), which is less than this.
pub const READ_BLOCK: usize = 1 << 20;
const _: () = assert!(
    crate::command_reader::DIRECT_READ_MIN + crate::command_reader::LINE_MAX + 2 < READ_BLOCK
);

/// How far ahead a refill reads while large arguments come: the bytes of a large argument
/// that a refill reads into the window are copied once more into the argument's string,
/// where one read straight into the string copies them once (upstream's loader reads them
/// so through stdio's 4 KiB buffer). Read in 1 MiB blocks, a file of 64 KiB values would
/// have nearly every value whole in the window, each one copied twice. With refills this
/// short, an argument of at least [`DIRECT_READ_MIN`](crate::command_reader::DIRECT_READ_MIN)
/// rarely fits in the window and is read straight into its string; small commands cost one
/// `read` per 4 KiB meanwhile. The part of the next large argument that a refill brings
/// in with its header is still copied from the window: 4 KiB refills, the size of stdio's
/// buffer, keep that copy as small as upstream's (figures: `bench/MEASUREMENTS.md`,
/// "64 KiB values: a second copy" and "64 KiB values: the profile of what is left").
pub const SHORT_READ: usize = 4 << 10;
/// Refills that stay short after an argument was read straight into its string: while
/// such arguments keep coming, every one of them renews this; after a run of small
/// commands, refills read whole blocks again.
pub const SHORT_READS_AFTER_DIRECT: u32 = 64;

/// Where the bytes come from: one `read(2)` at a time, interrupted calls retried.
pub trait Source {
    type Error;
    /// A large argument's storage, written front to back.
    type Payload<'p>: ?Sized;

    /// Reads into `buf`: the bytes read, 0 at the end of the file.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
    /// Reads into the bytes of `dest` not written yet: the bytes read, 0 at the end of
    /// the file.
    fn read_into(&mut self, dest: &mut Self::Payload<'_>) -> Result<usize, Self::Error>;
    /// The bytes of `dest` not written yet.
    fn left(dest: &Self::Payload<'_>) -> usize;
    /// Writes `bytes` after those of `dest` written so far (at most [`left`](Self::left)).
    fn put(dest: &mut Self::Payload<'_>, bytes: &[u8]);
    /// The bytes of `dest` written so far (a checksummed range digests a payload read
    /// straight into its storage from here).
    fn filled<'d>(dest: &'d Self::Payload<'_>) -> &'d [u8];
}

/// How far a reader reads: production's [`READ_BLOCK`], [`SHORT_READ`] and
/// [`SHORT_READS_AFTER_DIRECT`], or others for the tests and fuzzing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// The buffer's size, and how far a refill reads ahead.
    pub block: usize,
    /// How far a refill reads ahead after a direct read.
    pub short_read: usize,
    /// Refills that read `short_read` ahead after each direct read.
    pub short_reads_after_direct: u32,
}

impl Sizes {
    pub const PRODUCTION: Sizes = Sizes {
        block: READ_BLOCK,
        short_read: SHORT_READ,
        short_reads_after_direct: SHORT_READS_AFTER_DIRECT,
    };
}

/// A file read in large blocks; the unconsumed bytes are `buf[start..filled]`.
pub struct BlockReader<S> {
    source: S,
    file_len: u64,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    at_eof: bool,
    /// Refills left that read `sizes.short_read` ahead instead of `sizes.block`.
    short_reads_left: u32,
    sizes: Sizes,
    /// The open checksummed range's digest of the bytes consumed since it began.
    digest: Option<Digest>,
}

impl<S: Source> BlockReader<S> {
    /// Reads `source`, a file of `file_len` bytes, from `start_offset` on (where the
    /// source stands).
    pub fn new(source: S, file_len: u64, start_offset: u64) -> BlockReader<S> {
        BlockReader::with_sizes(source, file_len, start_offset, Sizes::PRODUCTION)
    }

    pub fn with_sizes(source: S, file_len: u64, start_offset: u64, sizes: Sizes) -> BlockReader<S> {
        BlockReader {
            source,
            file_len,
            buf: vec![0; sizes.block.max(1)],
            start: 0,
            filled: 0,
            offset: start_offset,
            at_eof: false,
            short_reads_left: 0,
            sizes,
            digest: None,
        }
    }

    /// File offset of the window's start: every byte before it was consumed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads more so the window holds at least `min_window` bytes (the parser's "need
    /// more"), reading a block ahead (`sizes.block`, or `sizes.short_read` while large
    /// arguments come), or the rest of the file.
    fn refill_ahead(&mut self, min_window: usize) -> Result<(), S::Error> {
        let ahead = if self.short_reads_left > 0 {
            self.short_reads_left -= 1;
            self.sizes.short_read
        } else {
            self.sizes.block
        };
        self.fill_window(min_window, ahead)
    }

    /// Reads more so the window holds at least `min_window` bytes (or the rest of the
    /// file), and at most `ahead` bytes or `min_window` if larger (the buffer's size
    /// bounds it too); the unconsumed tail moves to the front once per refill. The parser
    /// asks for more than the buffer holds only when told "at least this much" for the
    /// next block: a line and an argument below the direct-read size always fit (see
    /// [`READ_BLOCK`]), so the buffer grows only if that ever stops holding.
    fn fill_window(&mut self, min_window: usize, ahead: usize) -> Result<(), S::Error> {
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        if min_window > self.buf.len() {
            self.buf.resize(min_window, 0);
        }
        // Nothing past `file_len` is read: a torn file's replay ends at its last verified
        // boundary (issue #31), whatever follows it on disk.
        let cap = usize::try_from(self.file_len.saturating_sub(self.offset)).unwrap_or(usize::MAX);
        let read_up_to = min_window.max(ahead).min(self.buf.len()).min(cap);
        while self.filled < min_window && !self.at_eof {
            if self.filled >= read_up_to {
                self.at_eof = true;
                break;
            }
            match self.source.read(&mut self.buf[self.filled..read_up_to])? {
                0 => self.at_eof = true,
                n => self.filled += n,
            }
        }
        Ok(())
    }

    /// Fills `dest` with the next bytes of the file: first what the window holds, then
    /// straight from the file. `Ok(false)`: the file ended first.
    fn read_into(&mut self, dest: &mut S::Payload<'_>) -> Result<bool, S::Error> {
        let from_window = S::left(dest).min(self.filled - self.start);
        S::put(dest, &self.buf[self.start..self.start + from_window]);
        self.consume(from_window);
        while S::left(dest) > 0 {
            match self.source.read_into(dest)? {
                0 => {
                    self.at_eof = true;
                    return Ok(false);
                }
                n => self.offset += n as u64,
            }
        }
        // The window's part was digested as it was consumed; the rest came from the file.
        if let Some(digest) = &mut self.digest {
            digest.update(&S::filled(dest)[from_window..]);
        }
        Ok(true)
    }

    /// Skips the two bytes after a payload (unchecked, as upstream skips them).
    /// `Ok(false)`: the file ended first.
    fn skip_payload_end(&mut self) -> Result<bool, S::Error> {
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
/// straight into its storage.
impl<S: Source> ReadWindow for BlockReader<S> {
    type Error = S::Error;
    type Payload<'p> = S::Payload<'p>;

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
    fn refill(&mut self, min_bytes: usize) -> Result<(), S::Error> {
        self.refill_ahead(min_bytes)
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        if let Some(digest) = &mut self.digest {
            digest.update(&self.buf[self.start..self.start + n]);
        }
        self.start += n;
        self.offset += n as u64;
    }

    #[inline]
    fn digest_begin(&mut self) {
        self.digest = Some(Digest::default());
    }

    #[inline]
    fn digest_take(&mut self) -> Option<Digest> {
        self.digest.take()
    }

    /// Fills `dest` with a payload of the file and skips the two bytes after it
    /// (unchecked, as upstream skips them): [`read_into`](BlockReader::read_into) then
    /// [`skip_payload_end`](BlockReader::skip_payload_end).
    fn read_payload(&mut self, dest: &mut S::Payload<'_>) -> Result<(), PayloadError<S::Error>> {
        self.short_reads_left = self.sizes.short_reads_after_direct;
        match self.read_into(dest) {
            Ok(true) => {}
            Ok(false) => return Err(PayloadError::Short),
            Err(error) => return Err(PayloadError::Failed(error)),
        }
        match self.skip_payload_end() {
            Ok(true) => Ok(()),
            Ok(false) => Err(PayloadError::Short),
            Err(error) => Err(PayloadError::Failed(error)),
        }
    }
}

//! The framer over an in-memory file, in the shapes production runs it: the window of the
//! loader's block reader (a buffer refilled by `read`s that may return less than asked,
//! reading a block ahead, or a short way ahead while large arguments come, payloads read
//! from the window first and then straight from the file) and the two argument stores (the
//! AOF client's vector, emptied after each command, and the reading thread's batches, one
//! pool of arguments for many commands, closed between items). What the tests, the fuzz
//! targets, [`read_all`](crate::command_reader::read_all) and
//! [`replay`](crate::load_machine::replay) run; every knob of a [`Shape`] changes how the
//! file arrives, never what it holds, so every shape must frame the same commands.
//!
//! The run checks the framer's promises as it goes (a panic names the one broken): the
//! parser never asks for more at the end of the file nor for less than the window holds,
//! nothing is sized past the file's end, the bytes a command or annotation is said to take
//! are exactly the bytes the window moved over, and a large argument's announced size
//! ([`ArgStore::before_payload`]) is the command's bytes up to its payload's end.

use super::{ArgStore, Frame, Framer, PayloadError, ReadWindow};
use crate::command_reader::{CommandParser, DIRECT_READ_MIN};
use crate::load_machine::Stop;

/// The loader's block size (`src/aof/block_reader.rs`, `READ_BLOCK`).
pub const PRODUCTION_BLOCK: usize = 1 << 20;
/// How far ahead it reads while large arguments come (`SHORT_READ`).
pub const PRODUCTION_SHORT_READ: usize = 4 << 10;
/// Refills that stay short after a direct read (`SHORT_READS_AFTER_DIRECT`).
pub const PRODUCTION_SHORT_READS_AFTER_DIRECT: u32 = 64;

/// How the file is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileShape {
    /// The buffer's size and how far a refill reads ahead.
    pub block: usize,
    /// How far a refill reads ahead after a large argument was read directly.
    pub short_read: usize,
    /// Refills that read [`short_read`](Self::short_read) ahead after each direct read.
    pub short_reads_after_direct: u32,
    /// The most each `read` returns, in turn (cycled; 0 or none: as much as asked).
    pub read_sizes: Vec<usize>,
    /// Bytes the file's size counts beyond those it holds (a file cut while it loads):
    /// its reads end early.
    pub missing_tail: u64,
    /// The read (counted from 0) that fails, if any.
    pub failing_read: Option<u64>,
    /// The framer's refills read only until the window has grown, even short of what the
    /// parser asked for (it asks again). Not how the loader reads, whose refills give at
    /// least what was asked; but with small `block` and `read_sizes` it makes the windows
    /// of a small file end at any byte, as the loader's 1 MiB blocks end anywhere in a
    /// large file.
    pub trickle: bool,
}

impl FileShape {
    /// The loader's own reader.
    pub fn production() -> FileShape {
        FileShape {
            block: PRODUCTION_BLOCK,
            short_read: PRODUCTION_SHORT_READ,
            short_reads_after_direct: PRODUCTION_SHORT_READS_AFTER_DIRECT,
            read_sizes: Vec::new(),
            missing_tail: 0,
            failing_read: None,
            trickle: false,
        }
    }

    /// Blocks of `block` bytes, whole reads.
    pub fn blocks(block: usize) -> FileShape {
        FileShape {
            block: block.max(1),
            short_read: block.max(1),
            ..FileShape::production()
        }
    }
}

/// Where the arguments go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreShape {
    /// The AOF client's argument vector (the one-thread replay): emptied after each
    /// command.
    Vector,
    /// The reading thread's batches: one pool for the arguments of many commands; a batch
    /// closes after an item once it holds `commands` commands or `bytes` bytes of the
    /// file; the store declines the large argument numbered `decline_at` (from 0), as the
    /// reading thread stops when the main thread does.
    Batches {
        commands: usize,
        bytes: u64,
        decline_at: Option<u64>,
    },
}

/// How a file is framed: the reader, the direct-read threshold and the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub file: FileShape,
    pub direct_read_min: usize,
    pub store: StoreShape,
}

impl Shape {
    /// Production's reader, threshold and the one-thread replay's store.
    pub fn production() -> Shape {
        Shape {
            file: FileShape::production(),
            direct_read_min: DIRECT_READ_MIN,
            store: StoreShape::Vector,
        }
    }
}

/// A failed read ([`FileShape::failing_read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadFailed;

/// The block reader's window over an in-memory file.
pub struct MemFile<'f> {
    data: &'f [u8],
    /// The file's size as taken at the start ([`FileShape::missing_tail`] included).
    file_len: u64,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    /// File offset of the next byte a read returns.
    read_at: usize,
    at_eof: bool,
    short_reads_left: u32,
    reads: u64,
    shape: FileShape,
}

impl<'f> MemFile<'f> {
    pub fn new(data: &'f [u8], shape: FileShape) -> MemFile<'f> {
        MemFile {
            data,
            file_len: data.len() as u64 + shape.missing_tail,
            buf: vec![0; shape.block.max(1)],
            start: 0,
            filled: 0,
            offset: 0,
            read_at: 0,
            at_eof: false,
            short_reads_left: 0,
            reads: 0,
            shape,
        }
    }

    /// File offset of the window's start: every byte before it was consumed.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// One `read(2)` of at most `max` bytes into `dest` (0: the end of the file).
    fn read(&mut self, dest: &mut [u8]) -> Result<usize, ReadFailed> {
        let read = self.reads;
        self.reads += 1;
        if self.shape.failing_read == Some(read) {
            return Err(ReadFailed);
        }
        let sizes = &self.shape.read_sizes;
        let limit = match sizes.get((read % sizes.len().max(1) as u64) as usize) {
            Some(&size) if size > 0 => size,
            _ => usize::MAX,
        };
        let n = dest.len().min(limit).min(self.data.len() - self.read_at);
        dest[..n].copy_from_slice(&self.data[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }

    /// The block reader's `refill_ahead`.
    fn refill_ahead(&mut self, min_window: usize) -> Result<(), ReadFailed> {
        let ahead = if self.short_reads_left > 0 {
            self.short_reads_left -= 1;
            self.shape.short_read
        } else {
            self.shape.block
        };
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        if min_window > self.buf.len() {
            self.buf.resize(min_window, 0);
        }
        let read_up_to = min_window.max(ahead).min(self.buf.len());
        while self.filled < min_window && !self.at_eof {
            let mut buf = std::mem::take(&mut self.buf);
            let read = self.read(&mut buf[self.filled..read_up_to]);
            self.buf = buf;
            match read? {
                0 => self.at_eof = true,
                n => self.filled += n,
            }
        }
        Ok(())
    }
}

impl ReadWindow for MemFile<'_> {
    type Error = ReadFailed;
    type Payload<'p> = [u8];

    fn window(&self) -> &[u8] {
        &self.buf[self.start..self.filled]
    }

    fn at_eof(&self) -> bool {
        self.at_eof
    }

    fn left_in_file(&self) -> u64 {
        self.file_len.saturating_sub(self.offset)
    }

    fn refill(&mut self, min_bytes: usize) -> Result<(), ReadFailed> {
        assert!(!self.at_eof, "asked for more at the end of the file");
        assert!(
            min_bytes > self.filled - self.start,
            "asked for no more than the window holds"
        );
        if self.shape.trickle {
            let grown = self.filled - self.start + 1;
            return self.refill_ahead(grown);
        }
        self.refill_ahead(min_bytes)
    }

    fn consume(&mut self, n: usize) {
        assert!(n <= self.filled - self.start, "consumed past the window");
        self.start += n;
        self.offset += n as u64;
    }

    fn read_payload(&mut self, dest: &mut [u8]) -> Result<(), PayloadError<ReadFailed>> {
        assert!(
            dest.len() as u64 + 2 <= self.left_in_file(),
            "sized past the file"
        );
        self.short_reads_left = self.shape.short_reads_after_direct;
        let from_window = dest.len().min(self.filled - self.start);
        dest[..from_window].copy_from_slice(&self.buf[self.start..self.start + from_window]);
        self.consume(from_window);
        let mut written = from_window;
        while written < dest.len() {
            match self
                .read(&mut dest[written..])
                .map_err(PayloadError::Failed)?
            {
                0 => {
                    self.at_eof = true;
                    return Err(PayloadError::Short);
                }
                n => {
                    written += n;
                    self.offset += n as u64;
                }
            }
        }
        if self.filled - self.start < 2 {
            self.refill_ahead(2).map_err(PayloadError::Failed)?;
        }
        if self.filled - self.start < 2 {
            return Err(PayloadError::Short);
        }
        self.consume(2);
        Ok(())
    }
}

/// Either production store, over owned arguments.
pub struct MemStore {
    /// The arguments of the current command (a vector) or of the current batch (a pool).
    pub args: Vec<Vec<u8>>,
    /// No argument is longer than this (the file's size): checked before anything is
    /// allocated.
    file_len: u64,
    /// Large arguments announced so far ([`StoreShape::Batches`]'s `decline_at`).
    payloads: u64,
    decline_at: Option<u64>,
    /// The size the last large argument announced, and whether it was the last argument
    /// pushed.
    last_payload: Option<(u64, bool)>,
    /// A payload's fill came short.
    short_payload: bool,
}

impl MemStore {
    fn new(file_len: u64, decline_at: Option<u64>) -> MemStore {
        MemStore {
            args: Vec::new(),
            file_len,
            payloads: 0,
            decline_at,
            last_payload: None,
            short_payload: false,
        }
    }
}

/// The store declined a large argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declined;

impl<'f> ArgStore<MemFile<'f>> for MemStore {
    type Declined = Declined;

    fn push(&mut self, arg: &[u8]) {
        self.args.push(arg.to_vec());
        if let Some((_, last)) = &mut self.last_payload {
            *last = false;
        }
    }

    fn push_payload<E>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        assert!(len as u64 <= self.file_len, "sized past the file");
        let mut payload = vec![0; len];
        let filled = fill(&mut payload);
        self.short_payload = filled.is_err();
        self.args.push(payload);
        filled
    }

    fn before_payload(&mut self, command_bytes: u64) -> Result<(), Declined> {
        let n = self.payloads;
        self.payloads += 1;
        if self.decline_at == Some(n) {
            return Err(Declined);
        }
        self.last_payload = Some((command_bytes, true));
        Ok(())
    }
}

/// One item as [`frames`] yields it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemFrame {
    Command { args: Vec<Vec<u8>>, consumed: usize },
    Annotation { consumed: usize },
    Stop { stop: Stop, consumed: usize },
    ReadFailed,
    Declined,
}

/// Frames a whole in-memory file in `shape` (`parser` sets the direct-read threshold;
/// `shape.direct_read_min` is applied to it), checking the framer's promises as it goes.
/// Returns every item, the last one ending the reading, and how often the framer called
/// its between-items hook.
pub fn frames(data: &[u8], shape: &Shape) -> (Vec<MemFrame>, u64) {
    let mut parser = CommandParser::new();
    parser.set_direct_read_min(shape.direct_read_min);
    frames_with(Framer::with_parser(parser), data, shape)
}

/// [`frames`] with a framer of the caller's.
pub fn frames_with(mut framer: Framer, data: &[u8], shape: &Shape) -> (Vec<MemFrame>, u64) {
    let mut file = MemFile::new(data, shape.file.clone());
    let (batch_commands, batch_bytes, decline_at) = match shape.store {
        StoreShape::Vector => (None, None, None),
        StoreShape::Batches {
            commands,
            bytes,
            decline_at,
        } => (Some(commands.max(1)), Some(bytes), decline_at),
    };
    let mut store = MemStore::new(file.file_len, decline_at);
    let mut out = Vec::new();
    let mut hooks = 0u64;
    // File bytes of every item yielded so far.
    let mut position = 0u64;
    // Where the current command's arguments start in the store (a pool keeps those of
    // earlier commands until its batch closes).
    let mut args_start = 0usize;
    let mut in_batch = (0usize, 0u64);
    loop {
        store.last_payload = None;
        store.short_payload = false;
        let frame = framer.next(&mut file, &mut store, || hooks += 1);
        let item = match frame {
            Frame::Command { consumed } => {
                position += consumed as u64;
                assert_eq!(file.position(), position, "a command's bytes");
                if let Some((announced, last_arg)) = store.last_payload {
                    assert!(
                        announced + 2 <= consumed as u64,
                        "announced past the command"
                    );
                    if last_arg {
                        assert_eq!(announced + 2, consumed as u64, "a large last argument");
                    }
                }
                let args = if batch_commands.is_some() {
                    store.args[args_start..].to_vec()
                } else {
                    std::mem::take(&mut store.args)
                };
                assert!(!args.is_empty(), "a command without arguments");
                in_batch.0 += 1;
                in_batch.1 += consumed as u64;
                MemFrame::Command { args, consumed }
            }
            Frame::Annotation { consumed } => {
                position += consumed as u64;
                assert_eq!(file.position(), position, "an annotation's bytes");
                in_batch.1 += consumed as u64;
                MemFrame::Annotation { consumed }
            }
            Frame::Stop { stop, consumed } => {
                let read_to = position + consumed as u64;
                if stop == Stop::Truncated && store.short_payload {
                    assert!(file.position() > read_to, "a short payload's bytes");
                } else {
                    assert_eq!(file.position(), read_to, "an unfinished command's bytes");
                }
                if stop == Stop::End {
                    assert_eq!(consumed, 0, "an end inside a command");
                }
                MemFrame::Stop { stop, consumed }
            }
            Frame::ReadFailed(ReadFailed) => MemFrame::ReadFailed,
            Frame::Declined(Declined) => MemFrame::Declined,
        };
        let last = !matches!(item, MemFrame::Command { .. } | MemFrame::Annotation { .. });
        out.push(item);
        if last {
            return (out, hooks);
        }
        args_start = store.args.len();
        // A batch closes between items.
        if let (Some(commands), Some(bytes)) = (batch_commands, batch_bytes) {
            if in_batch.0 >= commands || in_batch.1 >= bytes {
                store.args.clear();
                args_start = 0;
                in_batch = (0, 0);
            }
        }
    }
}

/// The bytes of a fuzz input that say how its file arrives, and the file: a shape from
/// the first bytes (block sizes, read sizes, direct-read threshold, store, batch bounds,
/// a missing tail, a failing read), the rest the file. `None` for an input too short.
pub fn shape_from_bytes(data: &[u8]) -> Option<(Shape, &[u8])> {
    const HEADER: usize = 12;
    let (h, file) = (data.get(..HEADER)?, &data[HEADER..]);
    let pick = |byte: u8, sizes: &[usize]| sizes[byte as usize % sizes.len()];
    let block = pick(h[0], &[1, 2, 3, 7, 16, 64, 1024, PRODUCTION_BLOCK]);
    let short_read = pick(h[1], &[1, 5, 64, PRODUCTION_SHORT_READ, PRODUCTION_BLOCK]);
    let direct_read_min = pick(h[2], &[1, 2, 4, 9, 33, 300, DIRECT_READ_MIN, usize::MAX]);
    let read_sizes = h[3..6]
        .iter()
        .map(|&b| if b >= 128 { 0 } else { usize::from(b) })
        .collect();
    let store = if h[6] & 1 == 0 {
        StoreShape::Vector
    } else {
        StoreShape::Batches {
            commands: usize::from(h[7] % 8) + 1,
            bytes: u64::from(h[8]) * 4 + 1,
            decline_at: (h[6] & 2 != 0).then_some(u64::from(h[9] % 4)),
        }
    };
    let missing_tail = if h[10] & 0xc0 == 0xc0 {
        u64::from(h[10] & 0x3f)
    } else {
        0
    };
    let failing_read = (h[11] >= 0xf0).then_some(u64::from(h[11] & 0x0f));
    let shape = Shape {
        file: FileShape {
            block,
            short_read,
            short_reads_after_direct: u32::from(h[1] >> 4),
            read_sizes,
            missing_tail,
            failing_read,
            trickle: h[6] & 4 != 0,
        },
        direct_read_min,
        store,
    };
    Some((shape, file))
}

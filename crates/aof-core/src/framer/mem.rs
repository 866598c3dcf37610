//! The framer over an in-memory file, in the shapes production runs it: the loader's own
//! block reader ([`crate::block_reader`]: a buffer refilled by `read`s that may return
//! less than asked, reading a block ahead, or a short way ahead while large arguments
//! come, payloads read from the window first and then straight from the file) over the
//! file in memory, in any block and read sizes, and the two argument stores (the
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
use crate::block_reader::{
    BlockReader, Sizes, Source, READ_BLOCK, SHORT_READ, SHORT_READS_AFTER_DIRECT,
};
use crate::command_reader::{CommandParser, DIRECT_READ_MIN};
use crate::load_machine::Stop;

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
            block: READ_BLOCK,
            short_read: SHORT_READ,
            short_reads_after_direct: SHORT_READS_AFTER_DIRECT,
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

/// Bytes in memory as the block reader's source, each `read` as long as
/// [`FileShape::read_sizes`] lets it be, one of them failing if
/// [`FileShape::failing_read`] says so.
pub struct MemSource<'f> {
    data: &'f [u8],
    /// Offset in `data` of the next byte a read returns.
    read_at: usize,
    reads: u64,
    read_sizes: Vec<usize>,
    failing_read: Option<u64>,
}

impl MemSource<'_> {
    /// How much the next read may return; fails it when it is the failing one.
    fn next_read(&mut self) -> Result<usize, ReadFailed> {
        let read = self.reads;
        self.reads += 1;
        if self.failing_read == Some(read) {
            return Err(ReadFailed);
        }
        let sizes = &self.read_sizes;
        Ok(
            match sizes.get((read % sizes.len().max(1) as u64) as usize) {
                Some(&size) if size > 0 => size,
                _ => usize::MAX,
            }
            .min(self.data.len() - self.read_at),
        )
    }
}

/// A large argument's storage in memory, written front to back.
pub struct MemPayload<'p> {
    bytes: &'p mut [u8],
    written: usize,
}

impl<'p> MemPayload<'p> {
    pub fn new(bytes: &'p mut [u8]) -> MemPayload<'p> {
        MemPayload { bytes, written: 0 }
    }
}

impl Source for MemSource<'_> {
    type Error = ReadFailed;
    type Payload<'p> = MemPayload<'p>;

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ReadFailed> {
        let n = self.next_read()?.min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }

    fn read_into(&mut self, dest: &mut MemPayload<'_>) -> Result<usize, ReadFailed> {
        let n = self.next_read()?.min(Self::left(dest));
        Self::put(dest, &self.data[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }

    fn left(dest: &MemPayload<'_>) -> usize {
        dest.bytes.len() - dest.written
    }

    fn put(dest: &mut MemPayload<'_>, bytes: &[u8]) {
        let end = dest.written + bytes.len();
        dest.bytes[dest.written..end].copy_from_slice(bytes);
        dest.written = end;
    }

    fn filled<'d>(dest: &'d MemPayload<'_>) -> &'d [u8] {
        &dest.bytes[..dest.written]
    }
}

/// The loader's block reader over a file in memory, checking the framer's and the
/// parser's promises on every call.
pub struct MemFile<'f> {
    reader: BlockReader<MemSource<'f>>,
    /// The file's size as taken at the start ([`FileShape::missing_tail`] included).
    file_len: u64,
    trickle: bool,
}

impl<'f> MemFile<'f> {
    pub fn new(data: &'f [u8], shape: FileShape) -> MemFile<'f> {
        let file_len = data.len() as u64 + shape.missing_tail;
        let source = MemSource {
            data,
            read_at: 0,
            reads: 0,
            read_sizes: shape.read_sizes,
            failing_read: shape.failing_read,
        };
        let sizes = Sizes {
            block: shape.block.max(1),
            short_read: shape.short_read,
            short_reads_after_direct: shape.short_reads_after_direct,
        };
        MemFile {
            reader: BlockReader::with_sizes(source, file_len, 0, sizes),
            file_len,
            trickle: shape.trickle,
        }
    }

    /// File offset of the window's start: every byte before it was consumed.
    pub fn position(&self) -> u64 {
        self.reader.offset()
    }
}

impl ReadWindow for MemFile<'_> {
    type Error = ReadFailed;
    type Payload<'p> = MemPayload<'p>;

    fn window(&self) -> &[u8] {
        self.reader.window()
    }

    fn at_eof(&self) -> bool {
        self.reader.at_eof()
    }

    fn left_in_file(&self) -> u64 {
        self.reader.left_in_file()
    }

    fn refill(&mut self, min_bytes: usize) -> Result<(), ReadFailed> {
        assert!(!self.at_eof(), "asked for more at the end of the file");
        let window = self.window().len();
        assert!(
            min_bytes > window,
            "asked for no more than the window holds"
        );
        if self.trickle {
            return self.reader.refill(window + 1);
        }
        self.reader.refill(min_bytes)
    }

    fn consume(&mut self, n: usize) {
        assert!(n <= self.window().len(), "consumed past the window");
        self.reader.consume(n);
    }

    fn read_payload(&mut self, dest: &mut MemPayload<'_>) -> Result<(), PayloadError<ReadFailed>> {
        assert!(
            dest.bytes.len() as u64 + 2 <= self.left_in_file(),
            "sized past the file"
        );
        self.reader.read_payload(dest)
    }

    fn digest_begin(&mut self) {
        self.reader.digest_begin();
    }

    fn digest_take(&mut self) -> Option<crate::checksum::Digest> {
        self.reader.digest_take()
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
        fill: impl FnOnce(&mut MemPayload<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        assert!(len as u64 <= self.file_len, "sized past the file");
        let mut payload = vec![0; len];
        let filled = fill(&mut MemPayload::new(&mut payload));
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

/// Frames a whole in-memory file in `shape`, checking the framer's promises as it goes.
/// Returns every item, the last one ending the reading, and how often the framer called
/// its between-items hook.
pub fn frames(data: &[u8], shape: &Shape) -> (Vec<MemFrame>, u64) {
    let mut parser = CommandParser::new();
    parser.set_direct_read_min(shape.direct_read_min);
    frames_with(Framer::with_parser(parser), data, shape)
}

/// [`frames`] with a framer of the caller's (whose parser has its own direct-read
/// threshold: `shape.direct_read_min` is not used).
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
    let block = pick(h[0], &[1, 2, 3, 7, 16, 64, 1024, READ_BLOCK]);
    let short_read = pick(h[1], &[1, 5, 64, SHORT_READ, READ_BLOCK]);
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

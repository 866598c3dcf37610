//! The framer: whole commands out of a file read in windows, the one way every replay
//! of an AOF's commands drives the [`CommandParser`].
//!
//! The parser works on one window of bytes at a time and answers in [`Step`]s: a command
//! may come in pieces, a large argument is left to the caller to read straight into its
//! own storage, and an incomplete item asks for more. The framer owns that protocol: it
//! refills the window, hands each argument to an [`ArgStore`] (from the window, or read
//! directly into the store's own storage for a large one), and yields [`Frame`]s, one per
//! item of the file: a whole command (its arguments in the store) with the bytes it took,
//! an annotation, the end of the reading (a clean end, a short file, bad framing; with the
//! bytes of an unfinished command consumed before it) or a failed read.
//!
//! Both of its sides are traits, so the same code runs in production (the file read in
//! blocks; the AOF client's argument vector, or the reading thread's batches) and over an
//! in-memory file in the tests and the fuzz targets ([`mem`]); the loops are generic and
//! monomorphised, nothing is boxed and nothing is allocated per command.
//!
//! Accounting, as the load machine wants it: a command's bytes are counted once, when it
//! is whole ([`Frame::Command`]); the pieces of a command the reading stopped inside are
//! counted at the stop ([`Frame::Stop`]), except the line of a large argument whose payload
//! came short (it was never read whole). Counting each piece as it comes would add up to
//! the same positions wherever the machine is read (between items, and at the stop), and
//! cost a machine step per piece.

use crate::checksum::{Digest, TailPlan, Verifier};
use crate::command_reader::{CommandParser, Step};
use crate::load_machine::Stop;
use std::ops::Range;

/// Why a large argument's payload was not read whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError<E> {
    /// The file ended first: a short file.
    Short,
    /// Reading failed.
    Failed(E),
}

/// The bytes of the file not consumed yet, in a window the framer parses in place.
pub trait ReadWindow {
    /// A failed read.
    type Error;
    /// Where a large argument's payload is read into (the store's own storage).
    type Payload<'p>: ?Sized;

    /// The unconsumed bytes read so far.
    fn window(&self) -> &[u8];
    /// Nothing follows the window in the file.
    fn at_eof(&self) -> bool;
    /// The file's bytes from the window's start on (its size as taken at the start).
    fn left_in_file(&self) -> u64;
    /// Reads more, so the window holds at least `min_bytes` (or the rest of the file).
    fn refill(&mut self, min_bytes: usize) -> Result<(), Self::Error>;
    /// The first `n` bytes of the window are done with.
    fn consume(&mut self, n: usize);
    /// Fills `dest` with the next bytes of the file (what the window holds first, then
    /// straight from the file) and skips the two bytes after them, unchecked.
    fn read_payload(
        &mut self,
        dest: &mut Self::Payload<'_>,
    ) -> Result<(), PayloadError<Self::Error>>;

    /// A checksummed range begins: every byte consumed (or read as a payload) from now on
    /// is digested, until [`digest_take`](Self::digest_take). A window that cannot digest
    /// ignores it, and the ranges it meets fail to verify.
    #[inline]
    fn digest_begin(&mut self) {}

    /// Stops digesting: the digest of the bytes since [`digest_begin`](Self::digest_begin)
    /// (`None` when none began).
    #[inline]
    fn digest_take(&mut self) -> Option<Digest> {
        None
    }
}

/// Where a command's arguments go, in order, as the framer reads them: the argument
/// vector a command runs from, or a batch of many commands' arguments.
pub trait ArgStore<W: ReadWindow + ?Sized> {
    /// What makes the store take no more ([`ArgStore::before_payload`]);
    /// [`std::convert::Infallible`] for a store that always takes more.
    type Declined;

    /// An argument from the window.
    fn push(&mut self, arg: &[u8]);

    /// Arguments from the window, `spans` of `window`, in order: one [`push`](Self::push)
    /// each unless the store does better with all of them at once.
    #[inline]
    fn push_spans(&mut self, window: &[u8], spans: &[Range<usize>]) {
        for span in spans {
            self.push(&window[span.clone()]);
        }
    }

    /// An argument of `len` bytes read straight into its own storage by `fill`; the
    /// argument is in the store whether `fill` succeeds or not. Returns what `fill` returns.
    fn push_payload<E>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut W::Payload<'_>) -> Result<(), E>,
    ) -> Result<(), E>;

    /// Before a large argument's payload is read: the command will then hold
    /// `command_bytes` bytes of the file (every earlier piece, the lines and the payload,
    /// not the two bytes after it). `Err`: the store takes no more, the framer yields
    /// [`Frame::Declined`].
    #[inline]
    fn before_payload(&mut self, command_bytes: u64) -> Result<(), Self::Declined> {
        let _ = command_bytes;
        Ok(())
    }
}

/// One item of the file, as the framer yields it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<E, D> {
    /// A whole command, its arguments pushed into the store, `consumed` bytes of the file
    /// (all its pieces).
    Command { consumed: usize },
    /// An annotation (`#...`) of `consumed` bytes, skipped.
    Annotation { consumed: usize },
    /// The reading ended: `consumed` bytes of an unfinished command (its pieces pushed
    /// into the store) were consumed before it. The last frame.
    Stop { stop: Stop, consumed: usize },
    /// Reading the file failed. The last frame.
    ReadFailed(E),
    /// The store declined a large argument ([`ArgStore::before_payload`]). The last frame.
    Declined(D),
}

/// Commands out of a file read in windows (see the module's documentation).
#[derive(Debug)]
pub struct Framer {
    parser: CommandParser,
    /// Bytes of the current command's pieces consumed so far.
    pending: usize,
    /// The file's checksum annotations, followed through the reading (issue #31).
    verifier: Verifier,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    pub fn new() -> Framer {
        Framer::with_parser(CommandParser::new())
    }

    pub fn with_parser(parser: CommandParser) -> Framer {
        Framer {
            parser,
            pending: 0,
            verifier: Verifier::new(0),
        }
    }

    /// The reading starts at file offset `start` (after any RDB part); `plan` is the
    /// loader's decision about the file's end ([`crate::checksum::plan_tail`]). With a
    /// plan, a stop short of its boundary is a checksum failure, and a torn file's
    /// reading (its window ending at the boundary) ends with [`Stop::TornTail`].
    pub fn start_at(&mut self, start: u64, plan: Option<TailPlan>) {
        self.verifier = Verifier::new(start);
        self.verifier.set_plan(plan);
    }

    /// The checksum verifier's state (where the reading stands, the last boundary).
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Whether the reading is inside a command (some of its pieces are in the store).
    #[inline]
    pub fn in_command(&self) -> bool {
        self.parser.in_command()
    }

    /// Reads up to the end of the next item. `between_items` is called before every
    /// attempt to parse that starts outside a command: once per item, and again after
    /// each refill the item's first line needed (the one-thread replay serves clients
    /// there).
    #[inline]
    pub fn next<W, S>(
        &mut self,
        window: &mut W,
        store: &mut S,
        mut between_items: impl FnMut(),
    ) -> Frame<W::Error, S::Declined>
    where
        W: ReadWindow + ?Sized,
        S: ArgStore<W> + ?Sized,
    {
        loop {
            if !self.parser.in_command() {
                between_items();
            }
            let left_in_file = window.left_in_file();
            let at_eof = window.at_eof();
            match self
                .parser
                .parse_next(window.window(), at_eof, left_in_file)
            {
                Step::NeedMore { min_bytes } => {
                    if let Err(error) = window.refill(min_bytes) {
                        return Frame::ReadFailed(error);
                    }
                }
                Step::End => return self.stop(Stop::End),
                Step::Error(error) => return self.stop(Stop::from(error)),
                Step::Annotation { consumed } => {
                    let mark = Verifier::recognise(&window.window()[..consumed]);
                    let Some(mark) = mark else {
                        // Any other annotation (`#TS:`) is data of the range it sits in.
                        window.consume(consumed);
                        self.verifier.advance(consumed);
                        return Frame::Annotation { consumed };
                    };
                    // The checksum line itself is in no range.
                    let digest = window.digest_take();
                    window.consume(consumed);
                    match self.verifier.mark(mark, consumed, digest) {
                        Ok(true) => window.digest_begin(),
                        Ok(false) => {}
                        Err(failure) => {
                            // The stop counts the line, as a piece consumed before it.
                            self.pending += consumed;
                            return self.stop(Stop::Checksum(failure));
                        }
                    }
                    return Frame::Annotation { consumed };
                }
                Step::Partial { consumed, args } => {
                    store.push_spans(window.window(), args);
                    window.consume(consumed);
                    self.verifier.advance(consumed);
                    self.pending += consumed;
                }
                Step::LargeArgument {
                    consumed,
                    args,
                    len,
                } => {
                    store.push_spans(window.window(), args);
                    window.consume(consumed);
                    if let Err(declined) =
                        store.before_payload((self.pending + consumed + len) as u64)
                    {
                        return Frame::Declined(declined);
                    }
                    match store.push_payload(len, |dest| window.read_payload(dest)) {
                        Ok(()) => {}
                        // The file ended inside the payload: a short file; this piece was
                        // never read whole, so it is not counted.
                        Err(PayloadError::Short) => return self.stop(Stop::Truncated),
                        Err(PayloadError::Failed(error)) => return Frame::ReadFailed(error),
                    }
                    self.verifier.advance(consumed + len + 2);
                    self.pending += consumed + len + 2;
                    if !self.parser.in_command() {
                        return Frame::Command {
                            consumed: std::mem::take(&mut self.pending),
                        };
                    }
                }
                Step::Command { consumed, args } => {
                    store.push_spans(window.window(), args);
                    window.consume(consumed);
                    self.verifier.advance(consumed);
                    return Frame::Command {
                        consumed: std::mem::take(&mut self.pending) + consumed,
                    };
                }
            }
        }
    }

    /// The last frame. A file with a checksum plan turns a stop short of its last
    /// verified boundary into a checksum failure (damage that verified data follows), and
    /// a torn file's clean end at its boundary into [`Stop::TornTail`].
    #[inline]
    fn stop<E, D>(&mut self, stop: Stop) -> Frame<E, D> {
        let stop = match stop {
            Stop::Checksum(_) => stop,
            Stop::End | Stop::TornTail => match self.verifier.at_stop(true, self.pending) {
                Err(failure) => Stop::Checksum(failure),
                Ok(()) if self.verifier.plan().is_some_and(|plan| plan.torn) => Stop::TornTail,
                Ok(()) => Stop::End,
            },
            Stop::Truncated | Stop::BadFormat => match self.verifier.at_stop(false, self.pending) {
                Err(failure) => Stop::Checksum(failure),
                Ok(()) => stop,
            },
        };
        Frame::Stop {
            stop,
            consumed: std::mem::take(&mut self.pending),
        }
    }
}

pub mod mem;

#[cfg(test)]
mod tests {
    use super::mem::{
        frames, FileShape, MemFile, MemFrame, MemPayload, ReadFailed, Shape, StoreShape,
    };
    use super::*;
    use crate::block_reader::Source;
    use crate::command_reader::DIRECT_READ_MIN;
    use crate::framer::mem;

    use crate::resp::encode_bytes_command as cmd;

    fn sample_file() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(cmd(&[b"SELECT", b"0"]));
        f.extend_from_slice(b"#TS:1700000000\r\n");
        f.extend(cmd(&[b"SET", b"key", b"va\r\nlue"]));
        f.extend(cmd(&[b"MULTI"]));
        f.extend(cmd(&[
            b"RPUSH",
            b"l",
            &[b'x'; 40],
            b"",
            &[0u8, 255, 10, 13],
        ]));
        f.extend(cmd(&[b"EXEC"]));
        f
    }

    /// A window that grows by `step` bytes per refill whatever the parser asked for (it
    /// asks again), so a window ends at every byte boundary of the file in turn.
    struct Trickle<'f> {
        file: &'f [u8],
        start: usize,
        end: usize,
        step: usize,
    }

    impl ReadWindow for Trickle<'_> {
        type Error = ReadFailed;
        type Payload<'p> = MemPayload<'p>;
        fn window(&self) -> &[u8] {
            &self.file[self.start..self.end]
        }
        fn at_eof(&self) -> bool {
            self.end == self.file.len()
        }
        fn left_in_file(&self) -> u64 {
            (self.file.len() - self.start) as u64
        }
        fn refill(&mut self, min_bytes: usize) -> Result<(), ReadFailed> {
            assert!(!self.at_eof() && min_bytes > self.end - self.start);
            self.end = (self.end + self.step).min(self.file.len());
            Ok(())
        }
        fn consume(&mut self, n: usize) {
            assert!(self.start + n <= self.end);
            self.start += n;
        }
        fn read_payload(
            &mut self,
            dest: &mut MemPayload<'_>,
        ) -> Result<(), PayloadError<ReadFailed>> {
            let at = self.start;
            let len = mem::MemSource::left(dest);
            if at + len + 2 > self.file.len() {
                return Err(PayloadError::Short);
            }
            mem::MemSource::put(dest, &self.file[at..at + len]);
            self.start = at + len + 2;
            self.end = self.end.max(self.start);
            Ok(())
        }
    }

    /// Arguments in a vector, with the sizes of those read directly and what each large
    /// argument announced.
    #[derive(Default)]
    struct Counting {
        args: Vec<Vec<u8>>,
        direct: Vec<usize>,
        announced: Vec<u64>,
    }

    impl<W: for<'p> ReadWindow<Payload<'p> = MemPayload<'p>>> ArgStore<W> for Counting {
        type Declined = Infallible;
        fn push(&mut self, arg: &[u8]) {
            self.args.push(arg.to_vec());
        }
        fn push_payload<E>(
            &mut self,
            len: usize,
            fill: impl FnOnce(&mut MemPayload<'_>) -> Result<(), E>,
        ) -> Result<(), E> {
            self.direct.push(len);
            let mut payload = vec![0; len];
            let filled = fill(&mut MemPayload::new(&mut payload));
            self.args.push(payload);
            filled
        }
        fn before_payload(&mut self, command_bytes: u64) -> Result<(), Infallible> {
            self.announced.push(command_bytes);
            Ok(())
        }
    }

    use std::convert::Infallible;

    #[derive(Debug, PartialEq, Eq)]
    enum Item {
        Command(Vec<Vec<u8>>, usize),
        Annotation(usize),
        Stop(Stop, usize),
    }

    /// Every frame of `window`, and how often the hook ran inside a command (never).
    fn run<W>(framer: &mut Framer, window: &mut W, store: &mut Counting) -> Vec<Item>
    where
        W: for<'p> ReadWindow<Payload<'p> = MemPayload<'p>, Error = ReadFailed>,
    {
        let mut out = Vec::new();
        loop {
            let mut hooked_inside = false;
            let inside = framer.in_command();
            let frame = framer.next(window, store, || hooked_inside |= inside);
            assert!(!hooked_inside);
            match frame {
                Frame::Command { consumed } => {
                    out.push(Item::Command(std::mem::take(&mut store.args), consumed))
                }
                Frame::Annotation { consumed } => out.push(Item::Annotation(consumed)),
                Frame::Stop { stop, consumed } => {
                    out.push(Item::Stop(stop, consumed));
                    return out;
                }
                Frame::ReadFailed(ReadFailed) => panic!("no read fails"),
                Frame::Declined(never) => match never {},
            }
        }
    }

    fn whole(file: &[u8]) -> Vec<MemFrame> {
        frames(file, &Shape::production()).0
    }

    fn trickled(file: &[u8], step: usize, direct_read_min: usize) -> (Vec<Item>, Counting) {
        let mut parser = CommandParser::new();
        parser.set_direct_read_min(direct_read_min);
        let mut framer = Framer::with_parser(parser);
        let mut window = Trickle {
            file,
            start: 0,
            end: 0,
            step,
        };
        let mut store = Counting::default();
        let items = run(&mut framer, &mut window, &mut store);
        (items, store)
    }

    fn as_items(frames: Vec<MemFrame>) -> Vec<Item> {
        frames
            .into_iter()
            .map(|f| match f {
                MemFrame::Command { args, consumed } => Item::Command(args, consumed),
                MemFrame::Annotation { consumed } => Item::Annotation(consumed),
                MemFrame::Stop { stop, consumed } => Item::Stop(stop, consumed),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_file_frames_to_its_commands_with_their_bytes() {
        let file = sample_file();
        let items = as_items(whole(&file));
        let select = cmd(&[b"SELECT", b"0"]).len();
        assert_eq!(
            items[0],
            Item::Command(vec![b"SELECT".to_vec(), b"0".to_vec()], select)
        );
        assert_eq!(items[1], Item::Annotation(b"#TS:1700000000\r\n".len()));
        assert_eq!(items.len(), 7);
        assert_eq!(items[6], Item::Stop(Stop::End, 0));
        let total: usize = items
            .iter()
            .map(|i| match i {
                Item::Command(_, n) | Item::Annotation(n) => *n,
                Item::Stop(..) => 0,
            })
            .sum();
        assert_eq!(total, file.len());
    }

    /// Windows ending at every byte boundary (pieces of every command split everywhere),
    /// with and without direct reads, frame the same items as the whole file.
    #[test]
    fn pieces_split_at_every_byte_boundary_frame_the_same_items() {
        let file = sample_file();
        let expected = as_items(whole(&file));
        for step in 1..=file.len() {
            for direct_read_min in [1, 2, 7, 40, 41, usize::MAX] {
                let (items, store) = trickled(&file, step, direct_read_min);
                assert_eq!(items, expected, "step {step}, direct {direct_read_min}");
                if step == 1 && direct_read_min == 1 {
                    assert!(!store.direct.is_empty(), "arguments read directly");
                }
            }
        }
        // The block reader's window in every block and read size.
        for block in 1..=file.len() + 1 {
            for read_size in [0, 1, 3, 17] {
                for (direct_read_min, trickle) in
                    [(1, true), (5, false), (40, true), (usize::MAX, false)]
                {
                    for store in [
                        StoreShape::Vector,
                        StoreShape::Batches {
                            commands: 2,
                            bytes: 30,
                            decline_at: None,
                        },
                    ] {
                        let shape = Shape {
                            file: FileShape {
                                read_sizes: vec![read_size],
                                trickle,
                                ..FileShape::blocks(block)
                            },
                            direct_read_min,
                            store,
                        };
                        assert_eq!(as_items(frames(&file, &shape).0), expected, "{shape:?}");
                    }
                }
            }
        }
    }

    /// Arguments one below, at and one above the threshold, at production's threshold and
    /// a small one: those at or above it that the window does not hold are read directly,
    /// each announcing the command's bytes up to its payload's end.
    #[test]
    fn large_arguments_at_and_around_the_threshold() {
        for threshold in [8, DIRECT_READ_MIN] {
            let values: Vec<Vec<u8>> = [threshold - 1, threshold, threshold + 1]
                .iter()
                .map(|&n| (0..n).map(|i| (i % 251) as u8).collect())
                .collect();
            let mut file = Vec::new();
            for value in &values {
                file.extend(cmd(&[b"SET", b"k", value]));
            }
            file.extend(cmd(&[b"RPUSH", b"l", &values[1], b"x", &values[2]]));
            let expected = as_items(whole(&file));
            // A window of one byte more than asked: nothing large is ever whole in it.
            let (items, store) = trickled(&file, 1, threshold);
            assert_eq!(items, expected);
            assert_eq!(
                store.direct,
                [threshold, threshold + 1, threshold, threshold + 1],
                "threshold {threshold}"
            );
            let set = |n: usize| cmd(&[b"SET", b"k", &vec![0; n]]).len() as u64;
            assert_eq!(store.announced[0] + 2, set(threshold));
            assert_eq!(store.announced[1] + 2, set(threshold + 1));
            let rpush_start = set(threshold - 1) + set(threshold) + set(threshold + 1);
            assert_eq!(store.announced[3] + 2, file.len() as u64 - rpush_start);
            // Production's reader and threshold, reads of 4 KiB.
            let shape = Shape {
                file: FileShape {
                    read_sizes: vec![4096],
                    ..FileShape::production()
                },
                direct_read_min: threshold,
                store: StoreShape::Vector,
            };
            assert_eq!(as_items(frames(&file, &shape).0), expected);
        }
    }

    /// A cut inside every part of a command (its header, a length line, a payload, the two
    /// bytes after it, a large argument read directly) is a short file that has consumed
    /// exactly the command's pieces before the cut; a cut between items is a clean end.
    #[test]
    fn truncation_inside_every_part_of_a_command() {
        let file = sample_file();
        let mut boundaries = vec![0];
        for item in as_items(whole(&file)) {
            if let Item::Command(_, n) | Item::Annotation(n) = item {
                boundaries.push(boundaries.last().unwrap() + n);
            }
        }
        let annotation = boundaries[1]..boundaries[2];
        for cut in 0..file.len() {
            let cut_file = &file[..cut];
            let expected = as_items(whole(cut_file));
            let last_boundary = *boundaries.iter().rfind(|&&b| b <= cut).unwrap();
            match expected.last().unwrap() {
                Item::Stop(Stop::End, 0) => {
                    assert!(
                        boundaries.contains(&cut) || annotation.contains(&cut),
                        "{cut}"
                    )
                }
                Item::Stop(Stop::Truncated, consumed) => {
                    assert!(!boundaries.contains(&cut));
                    assert!(last_boundary + consumed <= cut, "cut {cut}");
                }
                other => panic!("cut {cut}: {other:?}"),
            }
            for step in [1, 2, 5, 64] {
                for direct_read_min in [1, 3, usize::MAX] {
                    let (items, _) = trickled(cut_file, step, direct_read_min);
                    // The commands and the stop agree; the pieces consumed before the stop
                    // depend on the windows.
                    assert_eq!(items.len(), expected.len(), "cut {cut}");
                    assert_eq!(items[..items.len() - 1], expected[..expected.len() - 1]);
                    let (Item::Stop(stop, consumed), Item::Stop(expected_stop, _)) =
                        (items.last().unwrap(), expected.last().unwrap())
                    else {
                        panic!("cut {cut}");
                    };
                    assert_eq!(stop, expected_stop, "cut {cut}");
                    assert!(last_boundary + consumed <= cut);
                }
            }
        }
    }

    /// Bad framing after pieces of a command were consumed: the stop counts them.
    #[test]
    fn errors_stop_with_the_pieces_consumed() {
        let mut file = cmd(&[b"SET", b"k", b"v"]);
        let first = file.len();
        file.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\nGARBAGE\r\n");
        let pieces = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n".len();
        assert_eq!(
            as_items(whole(&file))[1],
            Item::Stop(Stop::BadFormat, 0),
            "one window: no pieces"
        );
        // Windows that cut after the second argument.
        let (items, _) = trickled(&file, first + pieces, usize::MAX);
        assert_eq!(items[1], Item::Stop(Stop::BadFormat, pieces));
        for bad in [&b"*0\r\n"[..], b"*-1\r\n", b"x\r\n"] {
            let (items, _) = trickled(bad, 1, 1);
            assert_eq!(items, [Item::Stop(Stop::BadFormat, 0)], "{bad:?}");
        }
        // The header came as a piece of its own.
        let (items, _) = trickled(b"*1\r\n$-1\r\n", 1, 1);
        assert_eq!(items, [Item::Stop(Stop::BadFormat, 4)]);
    }

    /// A failed read at any point is the last frame; so is a declined argument.
    #[test]
    fn failed_reads_and_declined_arguments_end_the_reading() {
        let file = sample_file();
        let expected = whole(&file);
        for failing in 0..200 {
            let shape = Shape {
                file: FileShape {
                    read_sizes: vec![3],
                    failing_read: Some(failing),
                    ..FileShape::blocks(8)
                },
                direct_read_min: 8,
                store: StoreShape::Vector,
            };
            let (got, _) = frames(&file, &shape);
            let (last, before) = got.split_last().unwrap();
            assert!(matches!(last, MemFrame::ReadFailed | MemFrame::Stop { .. }));
            assert_eq!(before, &expected[..before.len()], "read {failing}");
        }
        for decline_at in 0..3 {
            let shape = Shape {
                file: FileShape {
                    trickle: true,
                    ..FileShape::blocks(4)
                },
                direct_read_min: 3,
                store: StoreShape::Batches {
                    commands: 1,
                    bytes: 1,
                    decline_at: Some(decline_at),
                },
            };
            let (got, _) = frames(&file, &shape);
            assert_eq!(got.last(), Some(&MemFrame::Declined));
            assert_eq!(got[..got.len() - 1], expected[..got.len() - 1]);
        }
    }

    /// A file whose size counts bytes it no longer holds: a short file, whether a length
    /// or a payload reaches into the missing bytes.
    #[test]
    fn a_file_shorter_than_its_size_is_short() {
        let mut file = cmd(&[b"SET", b"k", b"v"]);
        file.extend(cmd(&[b"SET", b"k", &[b'w'; 100]]));
        let cut = &file[..file.len() - 10];
        for direct_read_min in [1, 50, usize::MAX] {
            let shape = Shape {
                file: FileShape {
                    missing_tail: 10,
                    ..FileShape::blocks(16)
                },
                direct_read_min,
                store: StoreShape::Vector,
            };
            let (got, _) = frames(cut, &shape);
            assert!(matches!(
                got.last(),
                Some(MemFrame::Stop {
                    stop: Stop::Truncated,
                    ..
                })
            ));
            assert_eq!(got.len(), 2);
        }
    }

    /// The hook runs once per item when nothing needs a refill, and never inside a
    /// command.
    #[test]
    fn the_between_items_hook_runs_between_items_only() {
        let file = sample_file();
        let mut framer = Framer::new();
        let mut window = MemFile::new(&file, FileShape::production());
        // The first item's first parse finds the window empty: the hook runs again after
        // its refill.
        let mut hooks = 0;
        let mut items = 0;
        loop {
            let frame = framer.next(&mut window, &mut Counting::default(), || hooks += 1);
            items += 1;
            if matches!(frame, Frame::Stop { .. }) {
                break;
            }
        }
        assert_eq!(hooks, items + 1);
        let (_, pieces) = trickled(&file, 1, usize::MAX);
        assert!(!pieces.args.is_empty() || pieces.direct.is_empty());
    }
}

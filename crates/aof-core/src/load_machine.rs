//! The bookkeeping of one AOF file's replay: upstream's `loadSingleAppendOnlyFile` without
//! anything that touches the server. It knows where the reading is, where the last
//! command that ran ended (the offset a short file is cut back to), whether a MULTI is
//! open and where the file stood before it, and decides how the replay ended and what
//! `aof-load-truncated` makes of that.
//!
//! The loader (`src/aof/load_file.rs`) drives it with the [`framer`](crate::framer)'s
//! frames: the bytes of every command and annotation (and of an unfinished command's
//! pieces at the stop) go through [`LoadMachine::consumed`], every command that ran (or
//! was queued inside MULTI) through [`LoadMachine::executed`] with what it was
//! ([`CommandKind`]), and the stop that ends the reading through [`LoadMachine::finish`].
//! A command the loader refuses (unknown, wrong number of arguments) or a read error ends
//! the file on the loader's side and never reaches the machine. [`replay`] is the same drive over an in-memory file, in the
//! production shapes of [`framer::mem`](crate::framer::mem), shared by the unit tests and
//! the fuzz targets.
//!
//! The rules, all upstream's:
//! - annotations move the position only; the cut-back offset moves when a command has
//!   run, to the offset it ended at; it starts at 0 whatever came before the commands (an
//!   RDB preamble included, as upstream's `valid_up_to` does);
//! - a MULTI (any, even one queued inside an open MULTI) remembers the cut-back offset
//!   before it; EXEC closes the MULTI;
//! - the file ending cleanly inside an open MULTI is a short file cut back to before that
//!   MULTI (upstream's "Revert incomplete MULTI/EXEC transaction"); a file ending inside a
//!   command is cut back to the last command that ran, open MULTI or not;
//! - a short file: with `aof-load-truncated no` loading fails and the file is left as it
//!   is; with `yes` the file is cut back (or, for a file that is not the last one,
//!   [`ShortFile::Keep`], left as it is, its caller failing the load anyway).

use crate::checksum;
use crate::command_reader::{CommandParser, ReadError, DIRECT_READ_MIN};
use crate::framer::mem::{frames, frames_with, FileShape, MemFrame, Shape, StoreShape};
use crate::framer::Framer;

/// What a command that ran was, as far as the replay's bookkeeping cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandKind {
    Multi,
    Exec,
    Other,
}

impl CommandKind {
    /// By the name in the file, case-insensitively, as the command table finds commands.
    /// The loader itself asks the command it looked up (a renamed MULTI is still MULTI);
    /// this is for callers without a command table ([`replay`], tests, fuzzing).
    pub fn of_name(name: &[u8]) -> CommandKind {
        if name.eq_ignore_ascii_case(b"multi") {
            CommandKind::Multi
        } else if name.eq_ignore_ascii_case(b"exec") {
            CommandKind::Exec
        } else {
            CommandKind::Other
        }
    }
}

/// What ended the reading of the file's commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The file ended between items ([`Step::End`](crate::command_reader::Step::End)).
    End,
    /// The file ended inside a command ([`ReadError::Truncated`], or a payload the caller
    /// read directly came short).
    Truncated,
    /// Bytes that are not an AOF command ([`ReadError::BadFormat`]).
    BadFormat,
    /// A checksummed range failed to verify, and verified data follows it (or the file is
    /// not the last one): corruption, never repaired ([`crate::checksum`]).
    Checksum(crate::checksum::Failure),
    /// The reading reached the last verified boundary of a file whose bytes after it are
    /// a torn append ([`crate::checksum::TailPlan::torn`]): a short file cut back there.
    TornTail,
}

impl From<ReadError> for Stop {
    #[inline]
    fn from(error: ReadError) -> Stop {
        match error {
            ReadError::Truncated => Stop::Truncated,
            ReadError::BadFormat => Stop::BadFormat,
        }
    }
}

/// How a file's replay ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The file ended between commands, outside any MULTI.
    Clean,
    /// A short file: data after `cut_to` is lost. `reverted_multi`: the file ended
    /// cleanly but inside a MULTI, and `cut_to` is where the file stood before it (the
    /// loader logs upstream's "Revert incomplete MULTI/EXEC transaction" line).
    Short { cut_to: u64, reverted_multi: bool },
    /// Bad framing: loading fails and the file is left as it is, unless 8.4's
    /// `aof-load-corrupt-tail-max-size` forgives a short enough tail. `valid_up_to` is the
    /// end of the last command that ran (queued ones included), which upstream names and
    /// judges the tail from; `cut_to` is where the file is cut back to: the same, or,
    /// inside an open MULTI, where the file stood before it (upstream cuts after the
    /// queued commands and leaves the MULTI open in the file, so commands appended later
    /// would join it and be reverted with it at the next start).
    BadFormat { valid_up_to: u64, cut_to: u64 },
    /// A checksummed range failed with verified data after it: loading fails, the file is
    /// left as it is, whatever `aof-load-truncated` and the corrupt-tail limit say.
    Corrupt(crate::checksum::Failure),
}

/// 8.4's `aof-load-corrupt-tail-max-size`, as a file's end is judged by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptTail {
    /// The setting; 0 (the default, and every release before 8.4) forgives nothing.
    pub max_size: u64,
    /// The file's size when it was opened (upstream's `sb.st_size`).
    pub file_len: u64,
}

impl CorruptTail {
    /// No corrupt tail is forgiven (8.0, or the setting at 0).
    pub const OFF: CorruptTail = CorruptTail {
        max_size: 0,
        file_len: 0,
    };
}

/// Whether a short file may be cut back (`aof-load-truncated` permitting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShortFile {
    /// Upstream's rule for any file: cut it, `AOF_TRUNCATED`.
    MayCut,
    /// A file other than the last one: its truncation is refused by the caller anyway
    /// (upstream cuts it first, losing its tail on a load that fails); it is left as it
    /// is and `AOF_TRUNCATED` returned without cutting.
    Keep,
}

/// What the loader does at the end of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `AOF_OK`.
    Loaded,
    /// `AOF_FAILED` with upstream's bad-format line, the file untouched.
    BadFormat,
    /// A short file `aof-load-truncated no` does not forgive: `AOF_FAILED` with upstream's
    /// "Unexpected end of file" line, the file untouched.
    ShortRefused,
    /// A short file forgiven: cut it back to `to`, then `AOF_TRUNCATED` (or, if the cut
    /// fails, `AOF_FAILED` as for [`Verdict::ShortRefused`]).
    CutBack { to: u64 },
    /// A short file forgiven but not the last one ([`ShortFile::Keep`]): `AOF_TRUNCATED`,
    /// the file left as it is.
    ShortKept,
    /// A corrupt tail of `remaining` bytes (fewer than `aof-load-corrupt-tail-max-size`)
    /// forgiven: cut the file back to `to`, then `AOF_BROKEN_RECOVERED` (or, if the cut
    /// fails, `AOF_FAILED` with the bad-format line).
    ///
    /// Unlike a short file, a corrupt tail is cut in any file, the last one or not, as
    /// upstream cuts it: the operator's limit says such a tail may go, and what is cut is
    /// bytes no reader can parse (`redis-check-aof --fix` would cut at the same offset);
    /// the caller then fails the load for a file that is not the last one.
    CutCorruptTail { to: u64, remaining: u64 },
    /// A checksum failure ([`Ending::Corrupt`]): `AOF_FAILED`, the file untouched.
    Corrupt(crate::checksum::Failure),
}

impl Ending {
    /// The verdict under `aof-load-truncated` (`load_truncated`, read once, when the end
    /// is reported) for a file that may or may not be cut.
    pub fn verdict(self, load_truncated: bool, short_file: ShortFile) -> Verdict {
        self.verdict_with(load_truncated, CorruptTail::OFF, short_file)
    }

    /// The verdict under `aof-load-truncated` and 8.4's `aof-load-corrupt-tail-max-size`:
    /// bad framing whose tail (the file's size less the cut-back offset) is shorter than
    /// a non-zero limit is forgiven, as upstream's `fmterr` path forgives it.
    pub fn verdict_with(
        self,
        load_truncated: bool,
        corrupt_tail: CorruptTail,
        short_file: ShortFile,
    ) -> Verdict {
        match self {
            Ending::Clean => Verdict::Loaded,
            Ending::Corrupt(failure) => Verdict::Corrupt(failure),
            Ending::BadFormat {
                valid_up_to,
                cut_to,
            } => {
                // Upstream's rule, on upstream's offset: the same files are forgiven.
                let tail = corrupt_tail.file_len.saturating_sub(valid_up_to);
                if corrupt_tail.max_size == 0 || tail >= corrupt_tail.max_size {
                    Verdict::BadFormat
                } else {
                    Verdict::CutCorruptTail {
                        to: cut_to,
                        remaining: corrupt_tail.file_len.saturating_sub(cut_to),
                    }
                }
            }
            Ending::Short { cut_to, .. } => match (load_truncated, short_file) {
                (false, _) => Verdict::ShortRefused,
                (true, ShortFile::Keep) => Verdict::ShortKept,
                (true, ShortFile::MayCut) => Verdict::CutBack { to: cut_to },
            },
        }
    }
}

/// The state of one file's replay. The per-step methods are `#[inline]`: they sit on the
/// loader's per-command path, in another crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadMachine {
    /// File offset just after the last item consumed.
    position: u64,
    /// End of the last command that ran; where a short file is cut back to. Tracked
    /// whatever `aof-load-truncated` says, which is read once, when a short end is
    /// reported: upstream tracks only while the setting is on and reads it again at the
    /// end, so a CONFIG SET while loading could cut the file back to an offset never
    /// tracked (0, losing the whole file at the next restart).
    valid_up_to: u64,
    /// `valid_up_to` before the last MULTI.
    valid_before_multi: u64,
    /// A MULTI ran and no EXEC after it.
    in_multi: bool,
}

impl LoadMachine {
    /// A replay whose commands start at file offset `start` (after any RDB part).
    pub fn new(start: u64) -> LoadMachine {
        LoadMachine {
            position: start,
            valid_up_to: 0,
            valid_before_multi: 0,
            in_multi: false,
        }
    }

    /// File offset just after the last item (or piece of one) consumed. Between items it
    /// is where the file stands; a reading that stops inside a command stands wherever the
    /// windows cut it (only progress reporting reads it then).
    #[inline]
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Where a short file would be cut back to now.
    #[inline]
    pub fn valid_up_to(&self) -> u64 {
        self.valid_up_to
    }

    /// Whether a MULTI ran with no EXEC after it.
    #[inline]
    pub fn in_multi(&self) -> bool {
        self.in_multi
    }

    /// `bytes` of the file consumed: an annotation, a piece of a command, a whole command,
    /// or a directly read argument with its line and the two bytes after its payload.
    #[inline]
    pub fn consumed(&mut self, bytes: usize) {
        self.position += bytes as u64;
    }

    /// The command that ends at [`LoadMachine::position`] ran (or was queued inside the
    /// open MULTI); `kind` says what it was.
    #[inline]
    pub fn executed(&mut self, kind: CommandKind) {
        match kind {
            CommandKind::Other => {}
            CommandKind::Multi => {
                self.valid_before_multi = self.valid_up_to;
                self.in_multi = true;
            }
            CommandKind::Exec => self.in_multi = false,
        }
        self.valid_up_to = self.position;
    }

    /// The reading stopped: how the replay ended. A clean end inside a MULTI reverts it.
    pub fn finish(&mut self, stop: Stop) -> Ending {
        match stop {
            Stop::End if self.in_multi => {
                self.valid_up_to = self.valid_before_multi;
                Ending::Short {
                    cut_to: self.valid_up_to,
                    reverted_multi: true,
                }
            }
            Stop::End => Ending::Clean,
            // A torn tail is cut at the boundary the reading ended on (after its checksum
            // line), or, inside an open MULTI, before that MULTI.
            Stop::TornTail => {
                if self.in_multi {
                    self.valid_up_to = self.valid_before_multi;
                } else {
                    self.valid_up_to = self.position;
                }
                Ending::Short {
                    cut_to: self.valid_up_to,
                    reverted_multi: self.in_multi,
                }
            }
            Stop::Checksum(failure) => Ending::Corrupt(failure),
            Stop::Truncated => Ending::Short {
                cut_to: self.valid_up_to,
                reverted_multi: false,
            },
            Stop::BadFormat => Ending::BadFormat {
                valid_up_to: self.valid_up_to,
                cut_to: if self.in_multi {
                    self.valid_before_multi
                } else {
                    self.valid_up_to
                },
            },
        }
    }
}

/// A command [`replay`] ran: its arguments, what it was, and the file offset it ended at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RanCommand {
    pub args: Vec<Vec<u8>>,
    pub kind: CommandKind,
    pub end: u64,
}

/// What [`replay`] did with a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// Every command run, in order (those of a reverted MULTI included: they ran).
    pub commands: Vec<RanCommand>,
    pub ending: Ending,
    /// The machine when the reading stopped.
    pub machine: LoadMachine,
}

impl Replayed {
    /// What must not depend on how the file arrives (block sizes, short reads, direct
    /// reads): everything but the position when the reading stopped inside a command, as
    /// the pieces of it consumed by then depend on the windows. The fuzz targets compare
    /// it across shapes.
    pub fn outcome_independent_of_windows(&self) -> impl PartialEq + std::fmt::Debug + '_ {
        let stopped_between_items = matches!(
            self.ending,
            Ending::Clean
                | Ending::Short {
                    reverted_multi: true,
                    ..
                }
        );
        (
            &self.commands,
            self.ending,
            self.machine.valid_up_to(),
            self.machine.in_multi(),
            stopped_between_items.then(|| self.machine.position()),
        )
    }
}

/// Replays a whole in-memory file of commands the way the loader drives the machine:
/// through the [`framer`](crate::framer) over the block reader's window
/// ([`FileShape::blocks`] of `block` bytes), each command's kind told by its name. Every
/// command runs (the loader's refusals end the file on its side, outside the machine).
pub fn replay(parser: CommandParser, file: &[u8], block: usize) -> Replayed {
    let shape = Shape {
        file: FileShape::blocks(block),
        direct_read_min: DIRECT_READ_MIN,
        store: StoreShape::Vector,
    };
    replay_frames(frames_with(Framer::with_parser(parser), file, &shape).0)
        .expect("a file in memory reads")
}

/// [`replay`] in any [`Shape`]; `None` when the shape made the reading fail (a failed
/// read, a declined argument: the loader's ending, outside the machine).
pub fn replay_in(file: &[u8], shape: &Shape) -> Option<Replayed> {
    replay_frames(frames(file, shape).0)
}

/// [`replay_in`] as the loader replays a file that may carry checksum annotations
/// (issue #31): the torn-tail decision first ([`checksum::plan_tail`] over the whole
/// file), then the framer, told the plan, over the file (up to the boundary when its
/// tail is torn).
pub fn replay_verified_in(file: &[u8], shape: &Shape) -> Option<Replayed> {
    let plan =
        checksum::plan_tail::<std::convert::Infallible>(file, 0, 0, file.len() as u64, |_, _| {
            unreachable!("the whole file is the tail")
        })
        .unwrap_or_else(|never| match never {});
    let end = match plan {
        Some(plan) if plan.torn => plan.boundary as usize,
        _ => file.len(),
    };
    let mut parser = CommandParser::new();
    parser.set_direct_read_min(shape.direct_read_min);
    let mut framer = Framer::with_parser(parser);
    framer.start_at(0, plan);
    replay_frames(frames_with(framer, &file[..end], shape).0)
}

/// The loader's machine steps for each frame.
fn replay_frames(frames: Vec<MemFrame>) -> Option<Replayed> {
    let mut machine = LoadMachine::new(0);
    let mut commands = Vec::new();
    let mut frames = frames.into_iter();
    let stop = loop {
        match frames.next().expect("the last frame ends the reading") {
            MemFrame::Annotation { consumed } => machine.consumed(consumed),
            MemFrame::Command { args, consumed } => {
                machine.consumed(consumed);
                run(&mut machine, &mut commands, args);
            }
            MemFrame::Stop { stop, consumed } => {
                machine.consumed(consumed);
                break stop;
            }
            MemFrame::ReadFailed | MemFrame::Declined => return None,
        }
    };
    let ending = machine.finish(stop);
    Some(Replayed {
        commands,
        ending,
        machine,
    })
}

fn run(machine: &mut LoadMachine, commands: &mut Vec<RanCommand>, args: Vec<Vec<u8>>) {
    let kind = CommandKind::of_name(&args[0]);
    machine.executed(kind);
    commands.push(RanCommand {
        args,
        kind,
        end: machine.position(),
    });
}

#[cfg(test)]
mod checksum_tests {
    //! Checksummed files through the framer and the machine, as the loader replays them.
    use super::*;
    use crate::checksum::{close_line, Digest, BEGIN};
    use crate::resp::encode_text_command as cmd;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random checksummed file: `begin`, then ranges of random commands (MULTI/EXEC
    /// among them, a transaction sometimes across a range boundary, `#TS:` lines inside
    /// ranges), each closed. Returns the file and the end of every range's closing line.
    fn random_file(rng: &mut Rng, ranges: usize) -> (Vec<u8>, Vec<u64>) {
        let mut file = BEGIN.to_vec();
        let mut boundaries = vec![file.len() as u64];
        let mut open = false;
        for index in 0..ranges {
            let mut range = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let key = format!("k{}", rng.below(5));
                let value: String = (0..rng.below(40))
                    .map(|_| (b'a' + rng.below(26) as u8) as char)
                    .collect();
                match rng.below(8) {
                    0 if !open => {
                        open = true;
                        range.extend(cmd(&["MULTI"]))
                    }
                    1 if open => {
                        open = false;
                        range.extend(cmd(&["EXEC"]))
                    }
                    2 => {
                        range.extend_from_slice(format!("#TS:{}\r\n", rng.next() % 1000).as_bytes())
                    }
                    3 => range.extend(cmd(&["INCR", &key])),
                    _ => range.extend(cmd(&["SET", &key, &value])),
                }
            }
            if open && index + 1 == ranges {
                range.extend(cmd(&["EXEC"]));
            }
            let mut digest = Digest::default();
            digest.update(&range);
            file.extend(range);
            file.extend(close_line(digest, false));
            boundaries.push(file.len() as u64);
        }
        (file, boundaries)
    }

    fn shapes() -> Vec<Shape> {
        vec![
            Shape::production(),
            Shape {
                file: FileShape {
                    read_sizes: vec![3, 1, 7],
                    ..FileShape::blocks(11)
                },
                direct_read_min: 5,
                store: StoreShape::Batches {
                    commands: 2,
                    bytes: 40,
                    decline_at: None,
                },
            },
        ]
    }

    /// Every byte of random checksummed files flipped (three ways), in two shapes: a flip
    /// before the last range is refused as corruption naming a range that starts at or
    /// before it; a flip in the last range or its line is a torn tail cut back to a
    /// boundary before it (the commands kept are the file's own), or, in the line alone,
    /// loads the file's own commands. No flip ever loads other commands.
    #[test]
    fn every_flipped_byte_is_refused_or_cut_never_loaded() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut outcomes = [0usize; 3];
        for _ in 0..12 {
            let ranges = 1 + rng.below(4) as usize;
            let (file, boundaries) = random_file(&mut rng, ranges);
            let clean = replay_verified_in(&file, &Shape::production()).unwrap();
            assert_eq!(clean.ending, Ending::Clean, "the intact file loads");
            let last_range_start = boundaries[boundaries.len() - 2];
            for p in 0..file.len() {
                for x in [0x01u8, 0x80, 1 + rng.below(255) as u8] {
                    let mut bad = file.clone();
                    bad[p] ^= x;
                    for shape in shapes() {
                        let r = replay_verified_in(&bad, &shape).unwrap();
                        match r.ending {
                            Ending::Corrupt(f) => {
                                outcomes[0] += 1;
                                assert!(f.range_start <= p as u64, "{f:?} flip at {p}");
                            }
                            Ending::Short { cut_to, .. } | Ending::BadFormat { cut_to, .. } => {
                                outcomes[1] += 1;
                                assert!(
                                    p as u64 >= last_range_start,
                                    "flip at {p} before the last range cut, not refused: {:?}",
                                    r.ending
                                );
                                assert!(cut_to <= p as u64);
                                let kept: Vec<_> =
                                    r.commands.iter().filter(|c| c.end <= cut_to).collect();
                                assert!(kept.iter().zip(&clean.commands).all(|(a, b)| *a == b));
                            }
                            Ending::Clean => {
                                outcomes[2] += 1;
                                assert_eq!(r.commands, clean.commands, "flip at {p} loaded");
                            }
                        }
                    }
                }
            }
        }
        assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
    }

    /// A zero-filled or garbage tail after the last verified range: a torn tail, cut back
    /// to the boundary with every command of the verified ranges kept; under `no` the same
    /// file is refused (a short file), and with `aof-load-truncated yes` the corrupt-tail
    /// limit does not matter.
    #[test]
    fn a_zero_or_garbage_tail_is_cut_at_the_last_boundary() {
        let mut rng = Rng(42);
        for round in 0..20 {
            let (file, _) = random_file(&mut rng, 3);
            let clean = replay_verified_in(&file, &Shape::production()).unwrap();
            let mut torn = file.clone();
            let n = 1 + rng.below(3000) as usize;
            if round % 2 == 0 {
                torn.extend(std::iter::repeat_n(0u8, n));
            } else {
                torn.extend((0..n).map(|_| rng.next() as u8));
            }
            for shape in shapes() {
                let r = replay_verified_in(&torn, &shape).unwrap();
                let cut_to = match r.ending {
                    Ending::Short { cut_to, .. } => cut_to,
                    other => panic!("round {round}: {other:?}"),
                };
                if !clean.machine.in_multi() {
                    assert_eq!(cut_to, file.len() as u64);
                }
                assert_eq!(r.commands, clean.commands);
                for max_size in [0, 1, u64::MAX] {
                    let tail = CorruptTail {
                        max_size,
                        file_len: torn.len() as u64,
                    };
                    assert_eq!(
                        r.ending.verdict_with(true, tail, ShortFile::MayCut),
                        Verdict::CutBack { to: cut_to }
                    );
                    assert_eq!(
                        r.ending.verdict_with(false, tail, ShortFile::MayCut),
                        Verdict::ShortRefused
                    );
                }
            }
        }
    }

    /// A MULTI opened in one range and closed in the next: intact, it loads; with the
    /// second range torn, the cut goes back before the MULTI (no transaction left open in
    /// the file).
    #[test]
    fn a_transaction_across_a_boundary() {
        let ranges = [
            [
                cmd(&["SET", "a", "1"]),
                cmd(&["MULTI"]),
                cmd(&["SET", "b", "2"]),
            ]
            .concat(),
            [cmd(&["SET", "c", "3"]), cmd(&["EXEC"])].concat(),
        ];
        let mut file = BEGIN.to_vec();
        let mut before_multi = 0;
        for range in &ranges {
            let mut d = Digest::default();
            d.update(range);
            if before_multi == 0 {
                before_multi = (file.len() + cmd(&["SET", "a", "1"]).len()) as u64;
            }
            file.extend_from_slice(range);
            file.extend(close_line(d, false));
        }
        let r = replay_verified_in(&file, &Shape::production()).unwrap();
        assert_eq!(r.ending, Ending::Clean);
        let mut torn = file.clone();
        let at = torn.len() - 40;
        torn[at] ^= 0x20;
        let r = replay_verified_in(&torn, &Shape::production()).unwrap();
        assert_eq!(
            r.ending,
            Ending::Short {
                cut_to: before_multi,
                reverted_multi: true
            }
        );
        // A damaged first range, verified data after it: refused.
        let mut bad = file.clone();
        bad[BEGIN.len() + 20] ^= 0x20;
        let r = replay_verified_in(&bad, &Shape::production()).unwrap();
        assert!(matches!(r.ending, Ending::Corrupt(f) if f.range_start == BEGIN.len() as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::resp::encode_text_command as cmd;

    fn file(items: &[Vec<u8>]) -> Vec<u8> {
        items.concat()
    }

    fn replay_all(file: &[u8]) -> Replayed {
        let whole = replay(CommandParser::new(), file, file.len().max(1));
        for block in [1, 2, 5, 64] {
            let mut parser = CommandParser::new();
            parser.set_direct_read_min(3);
            assert_eq!(replay(parser, file, block), whole, "block {block}");
            assert_eq!(replay(CommandParser::new(), file, block), whole);
        }
        whole
    }

    fn names(replayed: &Replayed) -> Vec<String> {
        replayed
            .commands
            .iter()
            .map(|c| String::from_utf8_lossy(&c.args[0]).into_owned())
            .collect()
    }

    #[test]
    fn a_clean_file_ends_clean_at_its_end() {
        let f = file(&[
            cmd(&["SELECT", "0"]),
            b"#TS:1\r\n".to_vec(),
            cmd(&["multi"]),
            cmd(&["SET", "k", "v"]),
            cmd(&["Exec"]),
        ]);
        let r = replay_all(&f);
        assert_eq!(r.ending, Ending::Clean);
        assert_eq!(r.machine.position(), f.len() as u64);
        assert_eq!(r.machine.valid_up_to(), f.len() as u64);
        assert!(!r.machine.in_multi());
        assert_eq!(names(&r), ["SELECT", "multi", "SET", "Exec"]);
        let kinds: Vec<_> = r.commands.iter().map(|c| c.kind).collect();
        use CommandKind::*;
        assert_eq!(kinds, [Other, Multi, Other, Exec]);
    }

    #[test]
    fn annotations_move_the_position_but_not_the_cut_back_offset() {
        let first = cmd(&["SET", "a", "1"]);
        let mut f = file(&[first.clone(), b"#TS:2\r\n".to_vec()]);
        let r = replay_all(&f);
        assert_eq!(r.ending, Ending::Clean);
        assert_eq!(r.machine.position(), f.len() as u64);
        assert_eq!(r.machine.valid_up_to(), first.len() as u64);
        f.extend_from_slice(b"*2\r\n$3\r\nGET");
        let r = replay_all(&f);
        assert_eq!(
            r.ending,
            Ending::Short {
                cut_to: first.len() as u64,
                reverted_multi: false
            }
        );
    }

    #[test]
    fn a_short_file_before_any_command_is_cut_to_zero() {
        let r = replay_all(b"#note\r\n*1\r\n$4\r\nPI");
        assert_eq!(
            r.ending,
            Ending::Short {
                cut_to: 0,
                reverted_multi: false
            }
        );
        assert!(r.commands.is_empty());
    }

    #[test]
    fn the_cut_back_offset_starts_at_zero_even_after_an_rdb_part() {
        // Upstream's valid_up_to starts at 0 whatever the RDB part read.
        let mut machine = LoadMachine::new(100);
        assert_eq!(machine.position(), 100);
        assert_eq!(
            machine.finish(Stop::Truncated),
            Ending::Short {
                cut_to: 0,
                reverted_multi: false
            }
        );
        let mut machine = LoadMachine::new(100);
        machine.consumed(20);
        machine.executed(CommandKind::Other);
        assert_eq!(machine.valid_up_to(), 120);
    }

    #[test]
    fn an_unfinished_multi_is_reverted_at_a_clean_end() {
        let before = file(&[cmd(&["SET", "a", "1"]), b"#TS:3\r\n".to_vec()]);
        let f = file(&[before.clone(), cmd(&["MULTI"]), cmd(&["INCR", "n"])]);
        let r = replay_all(&f);
        assert_eq!(
            r.ending,
            Ending::Short {
                // Before the MULTI's own command boundary: the annotation goes too.
                cut_to: cmd(&["SET", "a", "1"]).len() as u64,
                reverted_multi: true
            }
        );
        assert_eq!(names(&r), ["SET", "MULTI", "INCR"]);
    }

    #[test]
    fn a_file_cut_inside_a_multi_is_cut_after_the_last_queued_command() {
        // Upstream reverts a MULTI only at a clean end: a short read inside one cuts
        // after the last command queued (the next load reverts the MULTI).
        let upto = file(&[cmd(&["MULTI"]), cmd(&["INCR", "n"])]);
        let mut f = upto.clone();
        f.extend_from_slice(b"*1\r\n$4\r\nEX");
        let r = replay_all(&f);
        assert_eq!(
            r.ending,
            Ending::Short {
                cut_to: upto.len() as u64,
                reverted_multi: false
            }
        );
        let again = replay_all(&upto);
        assert_eq!(
            again.ending,
            Ending::Short {
                cut_to: 0,
                reverted_multi: true
            }
        );
    }

    #[test]
    fn a_nested_multi_remembers_the_offset_before_the_inner_one() {
        // Upstream sets valid_before_multi at every MULTI, one queued inside an open
        // MULTI included.
        let outer = file(&[cmd(&["MULTI"]), cmd(&["SET", "a", "1"])]);
        let f = file(&[outer.clone(), cmd(&["multi"]), cmd(&["SET", "b", "2"])]);
        let r = replay_all(&f);
        assert_eq!(
            r.ending,
            Ending::Short {
                cut_to: outer.len() as u64,
                reverted_multi: true
            }
        );
    }

    #[test]
    fn exec_closes_the_multi_and_exec_alone_changes_nothing() {
        let f = file(&[
            cmd(&["EXEC"]),
            cmd(&["MULTI"]),
            cmd(&["EXEC"]),
            cmd(&["EXEC"]),
        ]);
        let r = replay_all(&f);
        assert_eq!(r.ending, Ending::Clean);
        assert!(!r.machine.in_multi());
    }

    #[test]
    fn bad_format_ends_at_the_last_command_that_ran() {
        let set = cmd(&["SET", "a", "1"]);
        let f = file(&[set.clone(), b"GARBAGE\r\n".to_vec()]);
        let r = replay_all(&f);
        assert_eq!(
            r.ending,
            Ending::BadFormat {
                valid_up_to: set.len() as u64,
                cut_to: set.len() as u64
            }
        );
        assert_eq!(names(&r), ["SET"]);
    }

    #[test]
    fn bad_format_inside_a_multi_is_cut_before_it() {
        let set = cmd(&["SET", "a", "1"]);
        let queued = file(&[set.clone(), cmd(&["MULTI"]), cmd(&["SET", "b", "2"])]);
        let f = file(&[queued.clone(), b"*2\r\n$3\r\nGET\r\nx".to_vec()]);
        let r = replay_all(&f);
        assert_eq!(
            r.ending,
            Ending::BadFormat {
                valid_up_to: queued.len() as u64,
                cut_to: set.len() as u64
            }
        );
        // Forgiven as upstream forgives it (the tail after the queued command), cut
        // before the MULTI.
        let tail = CorruptTail {
            max_size: (f.len() - queued.len()) as u64 + 1,
            file_len: f.len() as u64,
        };
        assert_eq!(
            r.ending.verdict_with(false, tail, ShortFile::MayCut),
            Verdict::CutCorruptTail {
                to: set.len() as u64,
                remaining: (f.len() - set.len()) as u64
            }
        );
    }

    #[test]
    fn a_corrupt_tail_is_forgiven_only_under_a_nonzero_limit_it_is_shorter_than() {
        let bad = Ending::BadFormat {
            valid_up_to: 100,
            cut_to: 100,
        };
        let tail = |max_size| CorruptTail {
            max_size,
            file_len: 130,
        };
        for on in [false, true] {
            // 0 is off; a tail of 30 bytes is not under a limit of 30 (upstream's `<`).
            for max_size in [0, 1, 29, 30] {
                assert_eq!(
                    bad.verdict_with(on, tail(max_size), ShortFile::MayCut),
                    Verdict::BadFormat,
                    "max {max_size}"
                );
            }
            assert_eq!(
                bad.verdict_with(on, tail(31), ShortFile::MayCut),
                Verdict::CutCorruptTail {
                    to: 100,
                    remaining: 30
                }
            );
            assert_eq!(
                bad.verdict_with(on, tail(u64::MAX), ShortFile::Keep),
                Verdict::CutCorruptTail {
                    to: 100,
                    remaining: 30
                }
            );
        }
        // The limit judges bad framing only: a short file keeps aof-load-truncated's rule.
        let short = Ending::Short {
            cut_to: 7,
            reverted_multi: false,
        };
        assert_eq!(
            short.verdict_with(false, tail(u64::MAX), ShortFile::MayCut),
            Verdict::ShortRefused
        );
        assert_eq!(
            Ending::Clean.verdict_with(false, tail(u64::MAX), ShortFile::MayCut),
            Verdict::Loaded
        );
    }

    #[test]
    fn large_arguments_read_directly_end_their_command() {
        let f = file(&[
            cmd(&["SET", "big", "0123456789abcdef"]),
            cmd(&["MULTI"]),
            cmd(&["APPEND", "big", "0123456789abcdef", "x"]),
        ]);
        let mut parser = CommandParser::new();
        parser.set_direct_read_min(4);
        let r = replay(parser, &f, 6);
        assert_eq!(r, replay_all(&f));
        assert_eq!(
            r.commands[0].end,
            cmd(&["SET", "big", "0123456789abcdef"]).len() as u64
        );
        assert_eq!(
            r.ending,
            Ending::Short {
                cut_to: r.commands[0].end,
                reverted_multi: true
            }
        );
    }

    #[test]
    fn verdicts_follow_aof_load_truncated_and_the_short_file_rule() {
        let short = Ending::Short {
            cut_to: 7,
            reverted_multi: false,
        };
        for short_file in [ShortFile::MayCut, ShortFile::Keep] {
            for on in [false, true] {
                assert_eq!(Ending::Clean.verdict(on, short_file), Verdict::Loaded);
                assert_eq!(
                    Ending::BadFormat {
                        valid_up_to: 3,
                        cut_to: 3
                    }
                    .verdict(on, short_file),
                    Verdict::BadFormat
                );
                assert_eq!(short.verdict(false, short_file), Verdict::ShortRefused);
            }
        }
        assert_eq!(
            short.verdict(true, ShortFile::MayCut),
            Verdict::CutBack { to: 7 }
        );
        assert_eq!(short.verdict(true, ShortFile::Keep), Verdict::ShortKept);
    }

    #[test]
    fn command_kinds_are_recognised_case_insensitively() {
        assert_eq!(CommandKind::of_name(b"MuLtI"), CommandKind::Multi);
        assert_eq!(CommandKind::of_name(b"exec"), CommandKind::Exec);
        assert_eq!(CommandKind::of_name(b"EXECUTE"), CommandKind::Other);
        assert_eq!(CommandKind::of_name(b"multi\0"), CommandKind::Other);
        assert_eq!(CommandKind::of_name(b""), CommandKind::Other);
    }

    /// Every cut of a file with a transaction: the cut-back offset is the end of a
    /// command that ran (or 0), never beyond the cut, and replaying the file cut there
    /// runs the same commands up to it and ends clean (after reverting any MULTI left
    /// open, which a second cut removes).
    #[test]
    fn every_cut_gives_a_cut_back_offset_at_a_command_boundary() {
        let f = file(&[
            cmd(&["SET", "a", "1"]),
            b"#TS:4\r\n".to_vec(),
            cmd(&["MULTI"]),
            cmd(&["INCR", "n"]),
            cmd(&["EXEC"]),
            cmd(&["MULTI"]),
            cmd(&["DEL", "a"]),
        ]);
        for cut in 0..=f.len() {
            let r = replay_all(&f[..cut]);
            let Ending::Short { cut_to, .. } = r.ending else {
                assert_eq!(r.ending, Ending::Clean, "cut {cut}");
                continue;
            };
            assert!(cut_to <= cut as u64);
            assert!(cut_to == 0 || r.commands.iter().any(|c| c.end == cut_to));
            let mut again = replay_all(&f[..cut_to as usize]);
            if let Ending::Short {
                cut_to: second,
                reverted_multi: true,
            } = again.ending
            {
                again = replay_all(&f[..second as usize]);
            }
            assert_eq!(again.ending, Ending::Clean, "cut {cut}");
            assert!(r.commands.starts_with(&again.commands));
        }
    }
}

//! When upstream's RDB loader, reading from the reading thread's blocks, needs its CRC64
//! kept up to date, and when it may lag.
//!
//! Upstream computes the CRC64 of every read while `rdbchecksum` is on (its progress
//! callback), and reads the running value once: right after the EOF opcode, a read of
//! one byte 0xFF, as the value the trailer must match. The reading thread computes the
//! CRC of its blocks anyway, so the main thread need not: it lets the value lag and sets
//! it exactly after any one-byte read of 0xFF (the EOF opcode's is one of them; others,
//! an 8-bit integer -1 say, cost a CRC of the bytes since the last one, never more than
//! upstream's own). If `rdbchecksum` is ever off at a read (a CONFIG SET while the load
//! serves clients, or off from the start), the bytes read while it is off must be left
//! out, as upstream leaves them out: the value is brought up to the read's start, and
//! from then on every read while it is on extends it, as upstream's callback does.

/// The EOF opcode (`RDB_OPCODE_EOF`).
const OPCODE_EOF: u8 = 255;

/// What the loader does to the rio's checksum after a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumStep {
    /// Nothing: the value may lag.
    Lag,
    /// Set it to the CRC64 of the stream's bytes before this offset.
    SetThrough(u64),
    /// Extend it with this read's bytes (upstream's own step).
    Extend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `rdbchecksum` has been on at every read so far: the value may lag.
    Deferred,
    /// It was off at some read: every read while it is on extends the value.
    Eager,
}

/// The choice, read by read.
#[derive(Default)]
pub struct RdbChecksum {
    mode: Option<Mode>,
}

impl RdbChecksum {
    pub fn new() -> RdbChecksum {
        RdbChecksum::default()
    }

    /// Before a read from offset `position`, with `rdbchecksum` as it is now
    /// (`checksum_on`; nothing can change it between a read and upstream's callback after
    /// it, which is where upstream looks): the first time it is off, the value must be
    /// brought up to `position` (every byte before it was read with it on), and it is
    /// kept read by read from then on.
    pub fn before_read(&mut self, position: u64, checksum_on: bool) -> ChecksumStep {
        let mode = *self.mode.get_or_insert(if checksum_on {
            Mode::Deferred
        } else {
            Mode::Eager
        });
        if mode == Mode::Deferred && !checksum_on {
            self.mode = Some(Mode::Eager);
            return ChecksumStep::SetThrough(position);
        }
        ChecksumStep::Lag
    }

    /// Whether the loader may step over bytes it does not read (a value built ahead) with
    /// `rdbchecksum` as it is now: only while the value may lag (it has been on at every
    /// read), as the stream's CRC64 covers every byte.
    pub fn may_skip(&self, checksum_on: bool) -> bool {
        checksum_on && self.mode != Some(Mode::Eager)
    }

    /// Whether a read's bytes may have to extend the value (it is kept read by read).
    pub fn keeps_read_by_read(&self) -> bool {
        self.mode == Some(Mode::Eager)
    }

    /// After that read (`len` bytes from `position`, the first of them `first`), with
    /// `rdbchecksum` as it was before it.
    pub fn after_read(
        &mut self,
        position: u64,
        len: usize,
        first: u8,
        checksum_on: bool,
    ) -> ChecksumStep {
        match (self.mode, checksum_on) {
            (Some(Mode::Deferred), _) if len == 1 && first == OPCODE_EOF => {
                ChecksumStep::SetThrough(position + 1)
            }
            (Some(Mode::Eager), true) => ChecksumStep::Extend,
            _ => ChecksumStep::Lag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xorshift::Xorshift as Rng;

    /// A stand-in CRC (any function of the included bytes' offsets in order will do):
    /// the value after each read, kept as upstream keeps it and as the machine keeps it,
    /// must agree at every one-byte read of 0xFF.
    fn fold(acc: u64, offsets: std::ops::Range<u64>) -> u64 {
        offsets.fold(acc, |a, o| a.wrapping_mul(31).wrapping_add(o + 1))
    }

    #[test]
    fn the_value_is_upstreams_wherever_upstream_reads_it() {
        let mut rng = Rng(99);
        for round in 0..500 {
            let mut machine = RdbChecksum::new();
            let (mut upstream, mut ours) = (0u64, 0u64);
            // Upstream's value over the included bytes, by offset: what SetThrough needs
            // (the reading thread's CRC of everything before an offset, in Deferred mode,
            // where every byte so far was included).
            let mut position = 0u64;
            let toggles = round % 3 != 0;
            let mut on = !toggles || rng.below(2) == 0;
            for _ in 0..200 {
                if toggles && rng.below(20) == 0 {
                    on = !on;
                }
                let len = if rng.below(4) == 0 {
                    1
                } else {
                    1 + rng.below(50) as usize
                };
                let first = if rng.below(3) == 0 {
                    OPCODE_EOF
                } else {
                    rng.below(255) as u8
                };
                let range = position..position + len as u64;
                if on {
                    upstream = fold(upstream, range.clone());
                }
                let before = machine.before_read(position, on);
                let after = machine.after_read(position, len, first, on);
                for step in [before, after] {
                    match step {
                        ChecksumStep::Lag => {}
                        ChecksumStep::Extend => ours = fold(ours, range.clone()),
                        ChecksumStep::SetThrough(end) => {
                            // Asked only at this read's start or just past its one byte,
                            // and only while every byte before `end` was included.
                            assert!(end == position || end == position + 1);
                            ours = fold(0, 0..end);
                        }
                    }
                }
                if len == 1 && first == OPCODE_EOF {
                    assert_eq!(ours, upstream, "round {round} at {position}");
                }
                position = range.end;
            }
        }
    }

    #[test]
    fn off_from_the_start_extends_like_upstream() {
        let mut m = RdbChecksum::new();
        assert_eq!(m.before_read(0, false), ChecksumStep::Lag);
        assert_eq!(m.after_read(0, 9, b'R', false), ChecksumStep::Lag);
        assert_eq!(m.after_read(9, 1, OPCODE_EOF, false), ChecksumStep::Lag);
        assert_eq!(m.after_read(10, 4, 0, true), ChecksumStep::Extend);
        let mut m = RdbChecksum::new();
        assert_eq!(m.before_read(0, true), ChecksumStep::Lag);
        assert_eq!(m.after_read(0, 9, b'R', true), ChecksumStep::Lag);
        assert_eq!(
            m.after_read(9, 1, OPCODE_EOF, true),
            ChecksumStep::SetThrough(10)
        );
        assert_eq!(m.before_read(10, false), ChecksumStep::SetThrough(10));
        assert_eq!(m.after_read(10, 8, 0, false), ChecksumStep::Lag);
        assert_eq!(m.before_read(18, true), ChecksumStep::Lag);
        assert_eq!(m.after_read(18, 1, OPCODE_EOF, true), ChecksumStep::Extend);
    }
}

//! Any bytes as the command part of an AOF file: the loader's state machine
//! (`aof_core::load_machine`), driven as the loader drives it (`load_machine::replay`),
//! with `aof-load-truncated` on and off and both short-file rules. Asserted:
//! - the same replay whether the file arrives whole or in small blocks, with commands in
//!   pieces and arguments read directly (the position where the reading stopped inside a
//!   command aside: how much of it was consumed depends on the windows);
//! - the commands run are exactly the reader's (`command_reader::read_all`), and the
//!   ending matches the reader's (a clean end is clean unless a MULTI is left open);
//! - the bookkeeping, recomputed here from the commands alone (MULTI and EXEC recognised
//!   case-insensitively, as the command table finds them): the open MULTI, the cut-back
//!   offset (the end of the last command run, or, for a reverted MULTI, of the command
//!   before the last MULTI; 0 when there is none), a command boundary never beyond the
//!   bytes read; a clean end has read the whole file;
//! - the verdicts: a clean end is never cut and always loads, bad format always fails
//!   untouched, a short file fails untouched with `aof-load-truncated no`, is kept whole
//!   with `ShortFile::Keep`, and is cut back to the machine's offset otherwise;
//! - loading the cut file again (as the next start-up does) runs the same commands up to
//!   the cut and ends clean, or reverts a MULTI left open and, cut again, ends clean: the
//!   commands of the first replay minus the reverted MULTI; repeated loads converge (up
//!   to 8 start-ups are checked; nested MULTIs take one each).
//! - checksummed ranges (issue #31), through the loader's own drive
//!   (`load_machine::replay_verified_in`: the torn-tail plan, then the framer told it): the
//!   reader's commands of the input, re-encoded and grouped into closed ranges by the
//!   input's bytes, load clean in every shape; one byte of that file changed (where and how
//!   the input says) is refused as corruption naming a range that starts at or before it,
//!   or, at or after the last range, cut back no further than it with the file's own
//!   commands, or loads the file's own commands; the input's bytes appended as a tail are
//!   cut at the last boundary or kept only when they are whole commands. The input as it is
//!   replays the same way in every shape.
#![no_main]

use aof_core::checksum::{close_line, long_close_line, Digest, BEGIN};
use aof_core::command_reader::{read_all, CommandParser, ReadError};
use aof_core::framer::mem::{shape_from_bytes, FileShape, Shape, StoreShape};
use aof_core::load_machine::{
    replay, replay_in, replay_verified_in, CommandKind, CorruptTail, Ending, Replayed, ShortFile,
    Verdict,
};
use aof_core::resp::encode_bytes_command;
use libfuzzer_sys::fuzz_target;

fn run(file: &[u8], block: usize, direct_read_min: usize) -> Replayed {
    let mut parser = CommandParser::new();
    parser.set_direct_read_min(direct_read_min);
    replay(parser, file, block)
}

fn whole(file: &[u8]) -> Replayed {
    run(file, file.len().max(1), usize::MAX)
}

/// MULTI/EXEC by name, independently of `CommandKind::of_name`.
fn kind_of(name: &[u8]) -> CommandKind {
    match name.to_ascii_uppercase().as_slice() {
        b"MULTI" => CommandKind::Multi,
        b"EXEC" => CommandKind::Exec,
        _ => CommandKind::Other,
    }
}

/// Checks one replay against the bookkeeping recomputed from its commands.
fn check(file: &[u8], r: &Replayed) {
    let position = r.machine.position();
    assert!(position <= file.len() as u64);
    let mut previous_end = 0;
    let mut open_multi = false;
    let mut before_last_multi = 0;
    for c in &r.commands {
        assert_eq!(c.kind, kind_of(&c.args[0]));
        assert!(
            c.end > previous_end && c.end <= position,
            "command ends in order"
        );
        match c.kind {
            CommandKind::Multi => {
                open_multi = true;
                before_last_multi = previous_end;
            }
            CommandKind::Exec => open_multi = false,
            CommandKind::Other => {}
        }
        previous_end = c.end;
    }
    let last_end = previous_end;
    assert_eq!(r.machine.in_multi(), open_multi);
    match r.ending {
        // A checksum line of the input that fails (no range begun, a wrong checksum).
        Ending::Corrupt(failure) => assert!(failure.range_start <= position),
        Ending::Clean => {
            assert!(!open_multi);
            assert_eq!(
                position,
                file.len() as u64,
                "a clean end read the whole file"
            );
            assert_eq!(r.machine.valid_up_to(), last_end);
        }
        Ending::BadFormat {
            valid_up_to,
            cut_to,
        } => {
            assert_eq!(r.machine.valid_up_to(), last_end);
            assert_eq!(valid_up_to, last_end);
            assert!(
                cut_to <= last_end,
                "a corrupt tail is cut at or before the last command"
            );
            if !r.machine.in_multi() {
                assert_eq!(cut_to, last_end);
            }
        }
        Ending::Short {
            cut_to,
            reverted_multi,
        } => {
            assert_eq!(cut_to, r.machine.valid_up_to());
            assert!(cut_to <= position, "cut back beyond the bytes read");
            assert!(
                cut_to == 0 || r.commands.iter().any(|c| c.end == cut_to),
                "cut back to {cut_to}, not a command boundary"
            );
            if reverted_multi {
                assert!(open_multi);
                assert_eq!(position, file.len() as u64);
                assert_eq!(cut_to, before_last_multi);
            } else {
                assert_eq!(cut_to, last_end);
            }
        }
    }
    for short_file in [ShortFile::MayCut, ShortFile::Keep] {
        for load_truncated in [false, true] {
            let verdict = r.ending.verdict(load_truncated, short_file);
            match r.ending {
                Ending::Clean => assert_eq!(verdict, Verdict::Loaded),
                Ending::Corrupt(failure) => assert_eq!(verdict, Verdict::Corrupt(failure)),
                Ending::BadFormat { .. } => assert_eq!(verdict, Verdict::BadFormat),
                Ending::Short { cut_to, .. } => assert_eq!(
                    verdict,
                    match (load_truncated, short_file) {
                        (false, _) => Verdict::ShortRefused,
                        (true, ShortFile::Keep) => Verdict::ShortKept,
                        (true, ShortFile::MayCut) => Verdict::CutBack { to: cut_to },
                    }
                ),
            }
        }
    }
}

/// The shapes the checksummed replays run in: production's, and small windows with pieces,
/// direct reads and batches.
fn checksum_shapes() -> [Shape; 2] {
    [
        Shape::production(),
        Shape {
            file: FileShape {
                read_sizes: vec![3, 1, 7],
                ..FileShape::blocks(13)
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

fn verified(file: &[u8]) -> Replayed {
    let [production, small] = checksum_shapes();
    let r = replay_verified_in(file, &production).expect("no read fails");
    let s = replay_verified_in(file, &small).expect("no read fails");
    assert_eq!(
        r.outcome_independent_of_windows(),
        s.outcome_independent_of_windows()
    );
    r
}

/// The checksummed-range properties (see the module's documentation).
fn check_checksums(data: &[u8]) {
    // The raw input, checksum lines and all: the same in every shape.
    verified(data);
    let (commands, read, _) = read_all(CommandParser::new(), data, data.len().max(1));
    if commands.is_empty() || read.is_err() {
        return;
    }
    let mut file = BEGIN.to_vec();
    let mut range = Vec::new();
    let mut boundaries = vec![file.len() as u64];
    for (i, args) in commands.iter().enumerate() {
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        range.extend(encode_bytes_command(&args));
        let close_here = i + 1 == commands.len() || data[i % data.len()] & 3 == 0;
        if close_here {
            let mut digest = Digest::default();
            digest.update(&range);
            file.append(&mut range);
            // The short form the writer writes, or the long one older builds wrote.
            file.extend(if data[(i + 1) % data.len()] & 4 == 0 {
                close_line(digest, false)
            } else {
                long_close_line(digest, false)
            });
            boundaries.push(file.len() as u64);
        }
    }
    let clean = verified(&file);
    if clean.ending != Ending::Clean {
        // A MULTI left open by the input's commands: a short file, checksums or not.
        assert!(matches!(
            clean.ending,
            Ending::Short {
                reverted_multi: true,
                ..
            }
        ));
        return;
    }
    let last_range_start = boundaries[boundaries.len() - 2];
    // One byte changed, where and how the input's first bytes say.
    let at = (u32::from_le_bytes([data[0], data[1 % data.len()], data[2 % data.len()], 0])
        as usize)
        % file.len();
    let x = data[3 % data.len()].max(1);
    let mut bad = file.clone();
    bad[at] ^= x;
    let r = verified(&bad);
    match r.ending {
        Ending::Corrupt(failure) => assert!(failure.range_start <= at as u64, "{failure:?}"),
        Ending::Short { cut_to, .. } | Ending::BadFormat { cut_to, .. } => {
            assert!(at as u64 >= last_range_start, "a flip at {at} not refused");
            assert!(cut_to <= at as u64);
            let kept = r.commands.iter().filter(|c| c.end <= cut_to);
            assert!(kept.zip(&clean.commands).all(|(a, b)| a == b));
        }
        Ending::Clean => assert_eq!(r.commands, clean.commands, "a flip at {at} loaded"),
    }
    // The input appended as a tail.
    let mut torn = file.clone();
    torn.extend_from_slice(data);
    let r = verified(&torn);
    assert!(r.commands.iter().zip(&clean.commands).all(|(a, b)| a == b));
    if let Ending::Short { cut_to, .. } = r.ending {
        assert!(cut_to >= file.len() as u64 || r.machine.in_multi());
    }
}

fuzz_target!(|data: &[u8]| {
    check_checksums(data);
    let first = whole(data);
    for block in [1, 7] {
        assert_eq!(
            run(data, block, usize::MAX).outcome_independent_of_windows(),
            first.outcome_independent_of_windows()
        );
        assert_eq!(
            run(data, block, 4).outcome_independent_of_windows(),
            first.outcome_independent_of_windows()
        );
    }
    if let Some((shape, file)) = shape_from_bytes(data) {
        if let Some(shaped) = replay_in(file, &shape) {
            let whole = whole(file);
            // A last line `*` NUL: a short file or bad format, as the windows fall (see
            // the command_reader target).
            if shaped.ending != whole.ending
                && file[read_all(CommandParser::new(), file, file.len().max(1)).2..]
                    .starts_with(b"*\0")
            {
                assert_eq!(shaped.commands, whole.commands);
            } else {
                assert_eq!(
                    shaped.outcome_independent_of_windows(),
                    whole.outcome_independent_of_windows()
                );
            }
        }
    }
    let (commands, read, _) = read_all(CommandParser::new(), data, data.len().max(1));
    assert!(first.commands.iter().map(|c| &c.args).eq(commands.iter()));
    match (read, first.ending) {
        (Ok(()), Ending::Clean)
        | (
            Ok(()),
            Ending::Short {
                reverted_multi: true,
                ..
            },
        )
        | (
            Err(ReadError::Truncated),
            Ending::Short {
                reverted_multi: false,
                ..
            },
        )
        | (Err(ReadError::BadFormat), Ending::BadFormat { .. })
        | (Err(ReadError::BadFormat), Ending::Corrupt(_)) => {}
        (read, ending) => panic!("reader {read:?}, machine {ending:?}"),
    }
    check(data, &first);

    // Start-ups with aof-load-truncated yes, each loading what the previous one left
    // (nested MULTIs are reverted one per start-up); every cut shortens the file. Each
    // start-up replays the whole file again, so an input of many nested MULTIs would cost
    // a replay per MULTI: the first STARTUPS are checked, which covers every kind of step
    // (a cut inside a command, then reverts, nested or not).
    const STARTUPS: usize = 8;
    let mut file = data;
    let mut replayed = first.clone();
    let mut cuts = 0;
    while cuts < STARTUPS {
        // With no limit on a corrupt tail (8.4's aof-load-corrupt-tail-max-size), bad
        // framing is cut back too, and what is left loads.
        let corrupt_tail = CorruptTail {
            max_size: u64::MAX,
            file_len: file.len() as u64,
        };
        match replayed
            .ending
            .verdict_with(true, corrupt_tail, ShortFile::MayCut)
        {
            Verdict::CutBack { to } | Verdict::CutCorruptTail { to, .. } => {
                let to = to as usize;
                assert!(to < file.len(), "a cut shortens the file");
                file = &file[..to];
                cuts += 1;
                let again = whole(file);
                check(file, &again);
                let kept = first.commands.iter().take_while(|c| c.end <= to as u64);
                assert!(
                    again.commands.iter().eq(kept),
                    "same commands up to the cut"
                );
                replayed = again;
            }
            Verdict::Loaded | Verdict::Corrupt(_) => break,
            other => panic!("unexpected verdict {other:?} after {cuts} cuts"),
        }
    }
    if cuts < STARTUPS && replayed.ending == Ending::Clean {
        assert!(!replayed.machine.in_multi());
        // Clean ends are never cut: loading again changes nothing.
        assert_eq!(whole(file), replayed);
    }
});

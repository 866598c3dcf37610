//! Any bytes: the first twelve say how the file arrives (`framer::mem::shape_from_bytes`:
//! the block size and the short-read size after a direct read, the most each `read`
//! returns, the direct-read threshold, production's 32 KiB among them, the store (the AOF
//! client's vector, or the reading thread's batches closing after 1-8 commands or 1-1021
//! bytes), a store that declines a large argument, a file shorter than its size, a failing
//! read, windows that grow a read at a time); the rest is the file. The framer, run in
//! that shape with the production window and stores, checks its own accounting as it goes
//! (a command's or annotation's bytes are exactly the bytes the window moved over, a large
//! argument announces the command's bytes up to its payload, nothing is sized past the
//! file, no refill is asked at its end), and must frame the same items as production's
//! shape reading the file whole: the same commands with the same bytes, the same
//! annotations, the same ending (the pieces of an unfinished command consumed before it
//! aside, which depend on the windows); a failed read or a declined argument ends it
//! early, after the same items. The load machine's replay in that shape ends as the whole
//! replay does. One outcome depends on the windows in the parser itself (a last line
//! `*` NUL, see `star_nul_last`) and is allowed to.
#![no_main]

use aof_core::framer::mem::{frames, shape_from_bytes, MemFrame, Shape};
use aof_core::load_machine::replay_in;
use libfuzzer_sys::fuzz_target;

/// The parser's one outcome that depends on the windows, not the framer's: a last line
/// `*` NUL (upstream's read error) is a short file when the reader has seen the end of
/// the file, bad format when the window ends there before a read has returned 0 (the
/// parser cannot tell).
fn star_nul_last(rest: &[u8]) -> bool {
    rest.starts_with(b"*\0")
}

/// The bytes of the commands and annotations among `frames`.
fn items_bytes(frames: &[MemFrame]) -> usize {
    frames
        .iter()
        .map(|f| match f {
            MemFrame::Command { consumed, .. } | MemFrame::Annotation { consumed } => *consumed,
            _ => 0,
        })
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Some((shape, file)) = shape_from_bytes(data) else {
        return;
    };
    let (expected, _) = frames(file, &Shape::production());
    let (got, _) = frames(file, &shape);
    let (last, before) = got.split_last().expect("a last frame");
    let (expected_last, expected_before) = expected.split_last().expect("a last frame");
    match last {
        MemFrame::ReadFailed | MemFrame::Declined => {
            assert!(before.len() <= expected_before.len());
            assert_eq!(before, &expected_before[..before.len()]);
        }
        MemFrame::Stop { stop, consumed } => {
            assert_eq!(before, expected_before);
            let MemFrame::Stop {
                stop: expected_stop,
                ..
            } = expected_last
            else {
                panic!("the whole file ends {expected_last:?}");
            };
            let read = items_bytes(before);
            assert!(read + consumed <= file.len());
            if stop != expected_stop {
                assert!(
                    star_nul_last(&file[read..]),
                    "{stop:?}, the whole file {expected_stop:?}"
                );
                return;
            }
        }
        other => panic!("last frame {other:?}"),
    }
    if let Some(replayed) = replay_in(file, &shape) {
        let whole = replay_in(file, &Shape::production()).expect("the whole file reads");
        if replayed.commands.len() == whole.commands.len()
            && replayed.ending != whole.ending
            && star_nul_last(&file[items_bytes(expected_before)..])
        {
            assert_eq!(replayed.commands, whole.commands);
        } else {
            assert_eq!(
                replayed.outcome_independent_of_windows(),
                whole.outcome_independent_of_windows()
            );
        }
    }
});

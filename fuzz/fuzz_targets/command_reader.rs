//! Any bytes: the AOF command reader never panics, never asks for more than the file
//! holds, never sizes anything past the file's end, and reaches the same outcome whether
//! the file arrives whole or in small blocks, with commands in pieces and arguments read
//! directly by the caller.
#![no_main]

use libfuzzer_sys::fuzz_target;
use aof_core::command_reader::{CommandParser, ReadError, Step};

#[derive(Debug, PartialEq)]
enum Outcome {
    End,
    Error(ReadError),
}

/// The commands read, how the file ended and where the last complete item ended.
fn run(file: &[u8], block: usize, direct_read_min: usize) -> (Vec<Vec<Vec<u8>>>, Outcome, usize) {
    let mut parser = CommandParser::new();
    parser.set_direct_read_min(direct_read_min);
    let mut commands = Vec::new();
    let mut current: Vec<Vec<u8>> = Vec::new();
    let mut complete_up_to = 0;
    let (mut start, mut end) = (0, 0);
    loop {
        let at_eof = end == file.len();
        let window = &file[start..end];
        match parser.parse_next(window, at_eof, (file.len() - start) as u64) {
            Step::Command { consumed, args } => {
                assert!(consumed <= window.len());
                current.extend(args.iter().map(|r| window[r.clone()].to_vec()));
                commands.push(std::mem::take(&mut current));
                start += consumed;
                complete_up_to = start;
            }
            Step::Partial { consumed, args } => {
                assert!(consumed > 0 && consumed <= window.len());
                current.extend(args.iter().map(|r| window[r.clone()].to_vec()));
                start += consumed;
            }
            Step::LargeArgument { consumed, args, len } => {
                assert!(consumed <= window.len());
                assert!(start + consumed + len + 2 <= file.len(), "sized past the file");
                current.extend(args.iter().map(|r| window[r.clone()].to_vec()));
                let payload = start + consumed;
                current.push(file[payload..payload + len].to_vec());
                start = payload + len + 2;
                end = end.max(start);
                if !parser.in_command() {
                    commands.push(std::mem::take(&mut current));
                    complete_up_to = start;
                }
            }
            Step::Annotation { consumed } => {
                assert!(consumed > 0 && consumed <= window.len());
                start += consumed;
                complete_up_to = start;
            }
            Step::End => return (commands, Outcome::End, complete_up_to),
            Step::Error(e) => return (commands, Outcome::Error(e), complete_up_to),
            Step::NeedMore { min_bytes } => {
                assert!(!at_eof, "asked for more at the end of the file");
                assert!(min_bytes > window.len());
                end = (end + block).max(start + min_bytes).min(file.len());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = run(data, data.len().max(1), usize::MAX);
    for block in [1, 3, 64] {
        assert_eq!(run(data, block, usize::MAX), whole);
        assert_eq!(run(data, block, 4), whole);
    }
});

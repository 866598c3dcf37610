//! Any bytes: the AOF command reader never panics, never asks for more than the file
//! holds, and reaches the same outcome whether the file arrives whole or in small blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_aof::core::command_reader::{CommandParser, Step};

#[derive(Debug, PartialEq)]
enum Outcome {
    End,
    Error(redis_aof::core::command_reader::ReadError),
}

fn run(file: &[u8], block: usize) -> (Vec<Vec<Vec<u8>>>, Outcome, usize) {
    let mut parser = CommandParser::new();
    parser.set_max_bulk_len(1 << 20);
    let mut commands = Vec::new();
    let (mut start, mut end) = (0, 0);
    loop {
        let at_eof = end == file.len();
        let window = &file[start..end];
        match parser.parse_next(window, at_eof, (file.len() - start) as u64) {
            Step::Command { consumed, args } => {
                assert!(consumed <= window.len());
                commands.push(args.iter().map(|r| window[r.clone()].to_vec()).collect());
                start += consumed;
            }
            Step::Annotation { consumed } => {
                assert!(consumed > 0 && consumed <= window.len());
                start += consumed;
            }
            Step::End => return (commands, Outcome::End, start),
            Step::Error(e) => return (commands, Outcome::Error(e), start),
            Step::NeedMore { min_bytes } => {
                assert!(!at_eof, "asked for more at the end of the file");
                assert!(min_bytes > window.len());
                end = (end + block).max(start + min_bytes).min(file.len());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = run(data, data.len().max(1));
    for block in [1, 3, 64] {
        assert_eq!(run(data, block), whole);
    }
});

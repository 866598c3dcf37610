//! Any bytes: the AOF command reader never panics, never asks for more than the file
//! holds, never sizes anything past the file's end (`read_all` asserts both), and reaches
//! the same outcome whether the file arrives whole or in small blocks, with commands in
//! pieces and arguments read directly by the caller.
#![no_main]

use aof_core::command_reader::{read_all, CommandParser};
use libfuzzer_sys::fuzz_target;

fn run(file: &[u8], block: usize, direct_read_min: usize) -> aof_core::command_reader::ReadAll {
    let mut parser = CommandParser::new();
    parser.set_direct_read_min(direct_read_min);
    read_all(parser, file, block)
}

fuzz_target!(|data: &[u8]| {
    let whole = run(data, data.len().max(1), usize::MAX);
    for block in [1, 3, 64] {
        assert_eq!(run(data, block, usize::MAX), whole);
        assert_eq!(run(data, block, 4), whole);
    }
});

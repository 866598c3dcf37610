//! Any bytes: the AOF command reader never panics, never asks for more than the file
//! holds, never sizes anything past the file's end (`read_all` asserts both), and reaches
//! the same outcome whether the file arrives whole or in small blocks, with commands in
//! pieces and arguments read directly by the caller; and in the shape the input's first
//! bytes give (`framer::mem::shape_from_bytes`: block and read sizes, the direct-read
//! threshold, the vector or the batches), the rest of the input read the same as whole.
#![no_main]

use aof_core::command_reader::{read_all, read_all_in, CommandParser};
use aof_core::framer::mem::shape_from_bytes;
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
    if let Some((shape, file)) = shape_from_bytes(data) {
        if let Some(shaped) = read_all_in(file, &shape) {
            let whole = run(file, file.len().max(1), usize::MAX);
            // A last line `*` NUL is a short file once the reader has seen the end of
            // the file, bad format when a window ends there before it has (the parser
            // cannot tell): the one outcome that depends on the windows.
            if shaped.1 != whole.1 && file[whole.2..].starts_with(b"*\0") {
                assert_eq!((shaped.0, shaped.2), (whole.0, whole.2));
            } else {
                assert_eq!(shaped, whole);
            }
        }
    }
});

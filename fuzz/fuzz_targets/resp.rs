//! Any argument list encodes to exactly the size `command_len` predicted, the encoding
//! frames every argument with its length, and the server's path (an exactly sized region,
//! framing copied in whole chunks) writes the same bytes as the plain vector encoder.
#![no_main]

use aof_core::resp::{command_len, encode_command, Arg, RecordWriter, Region};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<Vec<u8>>, Vec<i64>)| {
    let (byte_args, int_args) = input;
    let mut args: Vec<Arg> = byte_args.iter().map(|b| Arg::Bytes(b)).collect();
    args.extend(int_args.iter().map(|&n| Arg::Int(n)));
    if args.is_empty() {
        return;
    }
    let encoded = encode_command(&args);
    assert_eq!(encoded.len(), command_len(args.iter().copied()));
    let header = format!("*{}\r\n", args.len());
    assert!(encoded.starts_with(header.as_bytes()));
    assert!(encoded.ends_with(b"\r\n"));

    let mut region = vec![0u8; encoded.len()];
    let mut w = RecordWriter::new(Region::new(&mut region[..]));
    w.command(args.len(), args.iter().copied());
    assert_eq!(w.finish(), encoded.len());
    assert_eq!(region, encoded);
});

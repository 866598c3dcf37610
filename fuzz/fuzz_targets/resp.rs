//! Any argument list encodes to exactly the size `command_len` predicted, and the
//! encoding frames every argument with its length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_aof::core::resp::{command_len, encode_command, Arg};

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
});

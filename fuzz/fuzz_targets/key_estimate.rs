//! Any bytes, as a sample of a file of any size: the estimate never panics, never names
//! more keys than the file could create, and on the whole file never more TTLs than keys
//! or more keys than it has commands.
#![no_main]

use aof_core::key_estimate::{estimate_keys, MIN_KEY_RECORD_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, u32)| {
    let (sample, extra) = input;
    let file_len = sample.len() as u64 + u64::from(extra);
    for e in estimate_keys(&sample, file_len) {
        assert!(e.keys <= file_len / MIN_KEY_RECORD_BYTES);
        assert!(e.expires <= e.keys.max(file_len / MIN_KEY_RECORD_BYTES));
    }
    let whole = estimate_keys(&sample, sample.len() as u64);
    let stars = sample.iter().filter(|&&b| b == b'*').count() as u64;
    for e in whole {
        assert!(e.expires <= e.keys);
        assert!(e.keys <= stars);
    }
});

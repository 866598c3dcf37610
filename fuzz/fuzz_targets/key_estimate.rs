//! Any bytes, as a sample of a file of any size: the estimate never panics, never names
//! more keys than the file could create, and on the whole file never more TTLs than keys
//! or more keys than it has commands; keys a database held before the file only ever lower
//! the estimate, per database.
#![no_main]

use aof_core::key_estimate::{estimate_keys, estimate_keys_over, MIN_KEY_RECORD_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, u32)| {
    let (sample, extra) = input;
    let file_len = sample.len() as u64 + u64::from(extra);
    let fresh = estimate_keys(&sample, file_len);
    for e in &fresh {
        assert!(e.keys <= file_len / MIN_KEY_RECORD_BYTES);
        assert!(e.expires <= e.keys.max(file_len / MIN_KEY_RECORD_BYTES));
    }
    // Some keys held already (those of odd length in odd databases, the input decides
    // which): the same databases in the same order, none estimated higher.
    let over = estimate_keys_over(&sample, file_len, |db, key| {
        db % 2 == 1 || key.len() % 2 == 1
    });
    assert_eq!(over.len(), fresh.len());
    for (o, f) in over.iter().zip(&fresh) {
        assert_eq!(o.db, f.db);
        assert!(o.keys <= f.keys && o.expires <= f.expires);
    }
    let whole = estimate_keys(&sample, sample.len() as u64);
    let stars = sample.iter().filter(|&&b| b == b'*').count() as u64;
    for e in whole {
        assert!(e.expires <= e.keys);
        assert!(e.keys <= stars);
    }
});

//! Any bytes after an RDB header, read in blocks of the sizes the input picks (the shape
//! the loader's reading thread reads in, 256 KiB in production, and any other): the scan
//! never panics, hands every byte back once and in order, and finds the same records
//! (starts inside the stream, in file order) whatever the block sizes.
#![no_main]

use aof_core::rdb_scan::scan_all;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u16>, Vec<u8>)| {
    let (sizes, body) = input;
    let mut rdb = b"REDIS0012".to_vec();
    rdb.extend_from_slice(&body);
    let sizes: Vec<usize> = sizes.iter().map(|&s| 1 + s as usize).take(64).collect();
    // scan_all asserts that the blocks handed back are the stream, once, in order.
    let whole = scan_all(&rdb, vec![rdb.len()]);
    let production = scan_all(&rdb, vec![256 << 10]);
    assert_eq!(whole, production);
    if !sizes.is_empty() {
        assert_eq!(scan_all(&rdb, sizes), whole);
    }
    let mut last = None;
    for (start, _, _) in &whole.0 {
        assert!((*start as usize) < rdb.len());
        assert!(last < Some(*start));
        last = Some(*start);
    }
});

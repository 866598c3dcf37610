//! Any bytes after an RDB header, read in blocks of the sizes the input picks (the shape
//! the loader's reading thread reads in, 256 KiB in production, and any other): the scan
//! never panics, hands every byte back once and in order, and finds the same records
//! (starts inside the stream, in file order) whatever the block sizes. The reading
//! thread's walk (`RdbScan::walk`, taking the values the input's choices and size limit
//! pick, as production takes strings and blobs up to 512 KiB) finds those same records,
//! and every value it takes is whole: its bytes are the stream's from where it says they
//! start, upstream's reads of them cover them exactly, and the blob checks on its payload
//! never panic.
#![no_main]

use aof_core::rdb_blob;
use aof_core::rdb_scan::{mem::MemBlocks, scan_all, BlockInput, RdbScan, ScanInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u16>, u8, u16, Vec<u8>)| {
    let (sizes, take_mask, max, body) = input;
    let mut rdb = b"REDIS0012".to_vec();
    rdb.extend_from_slice(&body);
    let sizes: Vec<usize> = sizes.iter().map(|&s| 1 + s as usize).take(64).collect();
    // scan_all asserts that the blocks handed back are the stream, once, in order.
    let whole = scan_all(&rdb, vec![rdb.len()]);
    let production = scan_all(&rdb, vec![256 << 10]);
    assert_eq!(whole, production);
    if !sizes.is_empty() {
        assert_eq!(scan_all(&rdb, sizes.clone()), whole);
    }
    let mut last = None;
    for (start, _, _) in &whole.0 {
        assert!((*start as usize) < rdb.len());
        assert!(last < Some(*start));
        last = Some(*start);
    }

    let sizes = if sizes.is_empty() { vec![256 << 10] } else { sizes };
    let mut input = BlockInput::new(MemBlocks::new(&rdb, sizes));
    let mut found = Vec::new();
    let mut key_number = 0u32;
    let end = RdbScan::new().walk(
        &mut input,
        max as u64,
        |_, start, db, key, _| {
            found.push((start, db, key.to_vec()));
            key_number += 1;
            take_mask & (1 << (key_number % 8)) != 0
        },
        |input, taken| {
            let start = taken.start as usize;
            assert_eq!(input.position() as usize, start + taken.stored.len());
            assert_eq!(&rdb[start..start + taken.stored.len()], taken.stored);
            assert_eq!(taken.reads.lens().iter().sum::<u64>(), taken.stored.len() as u64);
            if let (Some(kind), Some(payload)) = (rdb_blob::kind_of(taken.value_type), taken.payload) {
                let _ = rdb_blob::entries(kind, payload);
            }
        },
    );
    // Taking a value reads it by the grammar stepping over it does: the same records, the
    // same end.
    assert_eq!((found, end), whole);
});

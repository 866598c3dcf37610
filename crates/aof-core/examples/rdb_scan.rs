//! Scans an RDB file as the loader's reading thread does and prints what it found:
//! `keys N end END` (the key records, and how the scan ended). tests/rdb_base_load.py
//! runs it on a BASE upstream wrote, to prove the scan steps over every record of it.
//!
//!     cargo run --release -p redis-aof-core --example rdb_scan -- FILE

use aof_core::rdb_scan::{scan_all, ScanEnd};

fn main() {
    let path = std::env::args().nth(1).expect("usage: rdb_scan FILE");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (keys, end) = scan_all(&bytes, vec![256 << 10]);
    let end = match end {
        ScanEnd::Eof => "eof".to_string(),
        ScanEnd::Short => "short".to_string(),
        ScanEnd::Malformed => "malformed".to_string(),
        ScanEnd::Unsupported(t) => format!("unsupported-{t}"),
    };
    println!("keys {} end {end}", keys.len());
}

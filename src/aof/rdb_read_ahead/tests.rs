//! The hand-over between the reading thread and the main thread, on real files and real
//! threads, with a record of the hints' calls in place of the cache hints.

use super::*;
use aof_core::xorshift::Xorshift as Rng;

/// Hints that record each call: (db, record number, the next record's hash if known).
#[derive(Default)]
struct Recorder {
    calls: Vec<(u64, u64, Option<u64>)>,
}

fn fnv(key: &[u8]) -> u64 {
    fnv_from(0xcbf29ce484222325, key)
}

/// FNV continued from `h`: a stand-in for crc64 with its streaming property
/// (f(f(c, a), b) = f(c, a b)).
fn fnv_from(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

impl KeyHints for Recorder {
    type Hash = u64;
    fn hash(key: &[u8]) -> u64 {
        fnv(key)
    }
    fn crc64(crc: u64, bytes: &[u8]) -> u64 {
        fnv_from(crc, bytes)
    }
    fn record_begins(&mut self, db: u64, number: u64, upcoming: &dyn Fn(u64) -> Option<u64>) {
        // The record itself is known; the next one may not have arrived yet.
        assert!(upcoming(number).is_some());
        self.calls.push((db, number, upcoming(number + 1)));
    }
}

/// An RDB of string records (rdbSave's encodings): its bytes and each record's (start,
/// db, key). Some values are larger than a block.
/// A record of a test file: where it starts, its db, its key.
type Record = (u64, u64, Vec<u8>);

fn rdb(rng: &mut Rng, records: usize) -> (Vec<u8>, Vec<Record>) {
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < 64 {
            out.push(n as u8);
        } else if n < 16384 {
            out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
        } else {
            out.push(0x80);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    let mut out = b"REDIS0012\xfe\x00".to_vec();
    let mut expected = Vec::new();
    let mut db = 0;
    for i in 0..records {
        if rng.below(500) == 0 {
            db = rng.below(16);
            out.push(0xfe);
            len(&mut out, db as usize);
        }
        expected.push((out.len() as u64, db, format!("key:{i}").into_bytes()));
        out.push(0);
        let key = format!("key:{i}");
        len(&mut out, key.len());
        out.extend_from_slice(key.as_bytes());
        let size = if rng.below(2000) == 0 {
            600 << 10
        } else {
            rng.below(3000) as usize
        };
        len(&mut out, size);
        out.extend((0..size).map(|j| (i + j) as u8));
    }
    out.push(0xff);
    out.extend_from_slice(&[0; 8]);
    (out, expected)
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("rdb-read-ahead-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn the_main_thread_reads_the_file_whole_and_in_order_with_each_record_hinted_once() {
    let mut rng = Rng(0x5eed);
    let (bytes, expected) = rdb(&mut rng, 6000);
    assert!(
        bytes.len() > 4 * BLOCKS_QUEUED * BLOCK,
        "more than the queue holds"
    );
    let path = temp_file("whole", &bytes);
    for round in 0..3 {
        let file = File::open(&path).unwrap();
        // Reads as upstream's loader makes them: none spans the start of a record (the
        // type byte is a read of its own), otherwise pieces of random sizes.
        let mut ends: Vec<usize> = expected.iter().map(|r| r.0 as usize).collect();
        let mut at = 0;
        while at < bytes.len() {
            at += 1 + rng.below(if round == 0 { 16 } else { 8192 }) as usize;
            ends.push(at.min(bytes.len()));
        }
        ends.push(bytes.len() + 1);
        ends.sort_unstable();
        ends.dedup();
        let (read, calls) = with_reading_thread(file, Recorder::default(), |feed| {
            let mut read = Vec::with_capacity(bytes.len());
            // The checksum of what has been read, kept as the bytes come.
            let mut prefix = 0;
            for &end in &ends {
                let mut chunk = vec![0u8; end - read.len()];
                let position = read.len() as u64;
                if !feed.read_exact(&mut chunk, position) {
                    break;
                }
                read.extend_from_slice(&chunk);
                prefix = fnv_from(prefix, &chunk);
                // The checksum where rdb_stream asks for it: where the next read starts,
                // or just past a read of one byte.
                if rng.below(50) == 0 || chunk.len() == 1 {
                    assert_eq!(feed.checksum_through(read.len() as u64), prefix);
                }
            }
            assert_eq!(feed.checksum_through(read.len() as u64), fnv_from(0, &read));
            (read, std::mem::take(&mut feed.hints.calls))
        })
        .unwrap();
        // Every byte, in order; the last read asked for one more than there was.
        assert_eq!(read, bytes, "round {round}");
        // Each record's beginning seen once, in order, with its db; the next record's
        // hash, when the main thread had it, is that record's.
        let numbers: Vec<u64> = calls.iter().map(|c| c.1).collect();
        assert_eq!(numbers, (0..expected.len() as u64).collect::<Vec<_>>());
        for (call, record) in calls.iter().zip(&expected) {
            assert_eq!(call.0, record.1);
        }
        for (n, call) in calls.iter().enumerate() {
            if let Some(next) = call.2 {
                assert_eq!(next, fnv(&expected[n + 1].2), "record {n}");
            }
        }
        assert!(calls.iter().filter(|c| c.2.is_some()).count() > expected.len() / 2);
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_load_that_stops_early_ends_the_thread_while_it_waits_for_room() {
    let mut rng = Rng(7);
    let (bytes, _) = rdb(&mut rng, 6000);
    let path = temp_file("early", &bytes);
    let file = File::open(&path).unwrap();
    let started = std::time::Instant::now();
    let first = with_reading_thread(file, Recorder::default(), |feed| {
        // Let the thread fill the queue and wait for room.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut buf = [0u8; 9];
        assert!(feed.read_exact(&mut buf, 0));
        buf
    })
    .unwrap();
    assert_eq!(&first, b"REDIS0012");
    // with_reading_thread returns once the thread is joined: it did not wait for room.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_file_that_is_not_an_rdb_is_read_whole_without_hints() {
    let bytes: Vec<u8> = (0..3 * BLOCK + 17).map(|i| (i * 7) as u8).collect();
    let path = temp_file("garbage", &bytes);
    let file = File::open(&path).unwrap();
    let (read, calls) = with_reading_thread(file, Recorder::default(), |feed| {
        let mut read = vec![0u8; bytes.len()];
        assert!(feed.read_exact(&mut read, 0));
        assert!(!feed.read_exact(&mut [0u8; 1], bytes.len() as u64));
        (read, feed.hints.calls.len())
    })
    .unwrap();
    assert_eq!(read, bytes);
    assert_eq!(calls, 0);
    std::fs::remove_file(&path).unwrap();
}

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

/// Held by each test that runs a reading thread: the statics below are the process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The settings values are built under, as the tests set them.
static SETTINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Set while a value is being built: the gate's test looks at it.
static BUILDING_NOW: AtomicBool = AtomicBool::new(false);

impl UpstreamCalls for Recorder {
    type Hash = u64;
    /// A value built: the bytes it was built from, and the settings then.
    type Value = (Vec<u8>, u64);
    type Settings = u64;
    fn hash(key: &[u8]) -> u64 {
        fnv(key)
    }
    fn crc64(crc: u64, bytes: &[u8]) -> u64 {
        fnv_from(crc, bytes)
    }
    fn build_value(taken: &Taken<'_>) -> Option<(Vec<u8>, u64)> {
        let (stored, payload) = (taken.stored, taken.payload);
        assert_eq!(taken.value_type, TYPE_STRING, "the test files hold strings");
        assert_eq!(payload, Some(&stored[stored.len() - payload?.len()..]));
        BUILDING_NOW.store(true, Ordering::SeqCst);
        let value = (stored.to_vec(), SETTINGS.load(Ordering::SeqCst));
        BUILDING_NOW.store(false, Ordering::SeqCst);
        Some(value)
    }
    fn settings() -> u64 {
        SETTINGS.load(Ordering::SeqCst)
    }
    fn value_soon(value: &(Vec<u8>, u64)) {
        assert!(!value.0.is_empty(), "a value hinted is one built");
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
    let _serial = one_at_a_time();
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
    let _serial = one_at_a_time();
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
    let _serial = one_at_a_time();
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

/// Walks the records of `bytes` (the layout `rdb` writes) as upstream's loader reads
/// them, asking for a value built ahead at each value's start and stepping over it when
/// there is one: (values taken, values read), checking each taken value's bytes and end.
fn load_like_upstream(
    feed: &mut Feed<'_, Recorder>,
    bytes: &[u8],
    records: &[Record],
) -> (usize, usize) {
    let (mut taken, mut read) = (0, 0);
    let mut at = 0u64;
    let mut buf = vec![0u8; 12];
    let read_to = |feed: &mut Feed<'_, Recorder>, at: &mut u64, end: u64| {
        let mut chunk = vec![0u8; (end - *at) as usize];
        assert!(feed.read_exact(&mut chunk, *at));
        assert_eq!(chunk, bytes[*at as usize..end as usize]);
        *at = end;
    };
    for (start, _, key) in records {
        read_to(feed, &mut at, *start);
        // The type byte, the key's length and the key.
        let value_start = start + 2 + key.len() as u64;
        read_to(feed, &mut at, value_start);
        let (len, header) = match bytes[at as usize] {
            b if b < 64 => (b as u64, 1),
            b if b < 128 => (
                (((b & 0x3f) as u64) << 8) | bytes[at as usize + 1] as u64,
                2,
            ),
            _ => (
                u32::from_be_bytes(bytes[at as usize + 1..at as usize + 5].try_into().unwrap())
                    as u64,
                5,
            ),
        };
        let value_end = value_start + header + len;
        match feed.built_value(at) {
            Some(((stored, _), reads)) => {
                let end = at + reads.lens().iter().sum::<u64>();
                assert_eq!(
                    end, value_end,
                    "the value of {key:?} ends where its bytes do"
                );
                assert_eq!(stored, &bytes[value_start as usize..value_end as usize]);
                let mut stepped = Vec::new();
                assert!(
                    feed.skip_exact(end - at, at, &mut |piece| stepped.extend_from_slice(piece))
                );
                assert_eq!(stepped, stored);
                at = end;
                taken += 1;
            }
            None => {
                read_to(feed, &mut at, value_end);
                read += 1;
            }
        }
    }
    let rest = bytes.len() as u64 - at;
    buf.resize(rest as usize, 0);
    assert!(feed.read_exact(&mut buf, at));
    (taken, read)
}

#[test]
fn values_built_ahead_are_taken_at_their_start_with_their_bytes_and_end() {
    let _serial = one_at_a_time();
    let mut rng = Rng(0xb1d);
    let (bytes, expected) = rdb(&mut rng, 6000);
    let path = temp_file("values", &bytes);
    let big = expected
        .iter()
        .zip(
            expected
                .iter()
                .skip(1)
                .map(|r| r.0)
                .chain([bytes.len() as u64 - 9]),
        )
        .filter(|((start, _, key), end)| end - start - 2 - key.len() as u64 > BUILD_MAX)
        .count();
    assert!(big > 0, "some values are too long to build");
    for round in 0..3 {
        let file = File::open(&path).unwrap();
        let (taken, read) = with_reading_thread(file, Recorder::default(), |feed| {
            if round == 1 {
                // The thread runs well ahead: every value it built has arrived in time.
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            load_like_upstream(feed, &bytes, &expected)
        })
        .unwrap();
        assert_eq!(taken + read, expected.len());
        assert!(
            read >= big,
            "round {round}: a value longer than BUILD_MAX is never built"
        );
        // Most values are built in time (the main thread here does next to nothing, so
        // it may catch up with the thread now and then).
        assert!(taken > expected.len() / 2, "round {round}: {taken} taken");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn no_value_is_built_while_clients_are_served_and_none_taken_once_settings_change() {
    let _serial = one_at_a_time();
    let mut rng = Rng(0x9a7e);
    let (bytes, expected) = rdb(&mut rng, 6000);
    let path = temp_file("gate", &bytes);
    let file = File::open(&path).unwrap();
    SETTINGS.store(1, Ordering::SeqCst);
    let (taken, read) = with_reading_thread(file, Recorder::default(), |feed| {
        // Serving clients: the thread, which builds continuously otherwise, is never
        // seen building.
        for _ in 0..200 {
            feed.serving_clients(true);
            for _ in 0..50 {
                assert!(
                    !BUILDING_NOW.load(Ordering::SeqCst),
                    "a value built while serving"
                );
            }
            feed.serving_clients(false);
        }
        // The first half of the records loaded; then a client changes the settings.
        let half = expected.len() / 2;
        let end_of_half = expected[half].0 as usize;
        let (taken, _) = load_like_upstream(feed, &bytes[..end_of_half], &expected[..half]);
        assert!(taken > 0);
        feed.serving_clients(true);
        SETTINGS.store(2, Ordering::SeqCst);
        feed.serving_clients(false);
        let mut at = end_of_half as u64;
        let mut read = 0;
        for (start, _, key) in &expected[half..] {
            let value_start = start + 2 + key.len() as u64;
            let mut chunk = vec![0u8; (value_start - at) as usize];
            assert!(feed.read_exact(&mut chunk, at));
            at = value_start;
            assert!(
                feed.built_value(at).is_none(),
                "a value built under other settings"
            );
            read += 1;
        }
        (taken, read)
    })
    .unwrap();
    SETTINGS.store(0, Ordering::SeqCst);
    assert_eq!(read, expected.len() - expected.len() / 2);
    assert!(taken > 0);
    std::fs::remove_file(&path).unwrap();
}

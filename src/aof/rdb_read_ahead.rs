//! An RDB BASE (or old-style RDB preamble) loaded with a reading thread: the thread reads
//! the file in blocks ahead of upstream's RDB loader and scans it for key records
//! ([`aof_core::rdb_scan`]); the main thread runs upstream's `rdbLoadRio` over those
//! blocks ([`aof_glue::rdb_stream`]) and, as each key's record begins, hints the buckets
//! of the next few keys to the cache ([`UpcomingPrefetch`], the RESP replay's schedule).
//!
//! What it saves the main thread: inserting a key into a keyspace far larger than the
//! cache waits on the bucket and on the entries already in it (about half of a stock
//! load of small keys, `bench/MEASUREMENTS.md`), and stdio's `fread` per field. What
//! it leaves alone: every object is still built by upstream's loader on the main thread,
//! in file order, with upstream's checks, CRC64, log lines and exits; the thread only
//! reads bytes and computes hashes, and a scan that stops (a module value, a stream,
//! anything it does not know) only stops the hints.
//!
//! Memory in flight: at most [`BLOCKS_QUEUED`] blocks of [`BLOCK`] bytes wait for the
//! main thread, as many again that it took early for their key records (at one record's
//! start, while it knows fewer records than the hints need), the one it reads and the one
//! the thread fills: 4.5 MiB at most. The buffers are pages
//! of their own ([`MappedBuffer`]), reused, and returned to the kernel when the load
//! ends, so the RSS after loading does not keep them.
//!
//! The thread is joined on every path: when the load returns (whatever its outcome), and
//! when upstream's loader ends the process with `exit(1)` on a damaged file (an
//! `atexit` handler stops and joins every reading thread then). Cold cache: the thread's
//! reads run ahead of the loader, with `POSIX_FADV_SEQUENTIAL` asking the kernel to read
//! further ahead still, so the disk works while the main thread decodes.

use crate::aof::replay_prefetch::{UpcomingPrefetch, DEPTH};
use aof_core::rdb_scan::{BlockInput, Blocks, RdbScan, Scanned};
use aof_glue::db::Db;
use aof_glue::prefetch::KeyHash;
use aof_glue::rdb_stream::{self, crc64, RdbStream};
use aof_glue::sys::{self, Errno, MappedBuffer};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;

/// The size of the blocks the thread reads.
pub const BLOCK: usize = 256 << 10;
/// Blocks read and scanned that may wait for the main thread.
pub const BLOCKS_QUEUED: usize = 8;

/// What the pipeline calls outside itself: on the reading thread a key's hash and the
/// file's CRC64, on the main thread the cache hints as each record begins. Production's
/// are upstream's functions and the keyspace's hints ([`CacheHints`]); the tests' record
/// the calls.
pub trait KeyHints {
    /// What the reading thread computes of a key for the main thread.
    type Hash: Copy + Send + 'static;
    /// On the reading thread.
    fn hash(key: &[u8]) -> Self::Hash;
    /// Upstream's `crc64(crc, bytes)` (on either thread).
    fn crc64(crc: u64, bytes: &[u8]) -> u64;
    /// On the main thread, as record `number` (into db `db`) begins: `upcoming(n)` is
    /// record `n`'s hash, for the records after it the main thread has been handed.
    fn record_begins(&mut self, db: u64, number: u64, upcoming: &dyn Fn(u64) -> Option<Self::Hash>);
}

/// The hints of the RESP replay ([`UpcomingPrefetch`]): bucket, entry and key of the next
/// few records' keys, one step per record.
pub struct CacheHints(UpcomingPrefetch);

impl KeyHints for CacheHints {
    type Hash = KeyHash;

    fn hash(key: &[u8]) -> KeyHash {
        KeyHash::of(key)
    }

    fn crc64(crc: u64, bytes: &[u8]) -> u64 {
        crc64(crc, bytes)
    }

    fn record_begins(&mut self, db: u64, number: u64, upcoming: &dyn Fn(u64) -> Option<KeyHash>) {
        let db = i32::try_from(db).ok().and_then(Db::of_index);
        self.0
            .before_running_item(db, number, |n| upcoming(n).map(Some));
    }
}

/// A key record the scan found: where it starts, its db, its key's hash.
#[derive(Clone, Copy)]
struct UpcomingKey<H> {
    start: u64,
    db: u64,
    hash: H,
}

/// A block of the file, where it starts, the CRC64 of the file's bytes before it, and
/// the key records the scan found while reading it.
struct Block<H> {
    bytes: MappedBuffer,
    start: u64,
    crc_before: u64,
    keys: Vec<UpcomingKey<H>>,
}

struct State<H> {
    ready: VecDeque<Block<H>>,
    /// Buffers the main thread has read, for the thread to fill again.
    spare: Vec<MappedBuffer>,
    /// The thread has handed over its last block.
    finished: bool,
    /// The main thread is done (or the process exits): the thread stops.
    stop: bool,
}

/// What the two threads share: the blocks between them, under one lock.
struct Shared<H> {
    state: Mutex<State<H>>,
    changed: Condvar,
}

impl<H> Shared<H> {
    fn new() -> Shared<H> {
        Shared {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                spare: Vec::new(),
                finished: false,
                stop: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<H>> {
        // Neither side panics holding the lock (panic = abort), so it is never poisoned.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'g>(&self, guard: MutexGuard<'g, State<H>>) -> MutexGuard<'g, State<H>> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

/// A reading thread's stop switch, whatever it hands over.
trait Stop: Send + Sync {
    fn stop(&self);
}

impl<H: Send> Stop for Shared<H> {
    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }
}

/// A reading thread that may still run: its number, its stop switch, its handle.
type RunningThread = (u64, Arc<dyn Stop>, JoinHandle<()>);

/// Reading threads that may still run, for the exit handler.
static RUNNING: Mutex<Vec<RunningThread>> = Mutex::new(Vec::new());

fn lock_running() -> MutexGuard<'static, Vec<RunningThread>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// At `exit()`: stops and joins every reading thread.
extern "C" fn stop_reading_threads_at_exit() {
    let running = std::mem::take(&mut *lock_running());
    for (_, shared, thread) in running {
        shared.stop();
        let _ = thread.join();
    }
}

/// Loads the RDB at `path` with a reading thread: Ok(Some(end)) where the RDB ended,
/// Ok(None) when upstream's loader refused it, Err(errno) when the file does not open.
/// None when no thread could be started (the caller loads it without one).
pub fn load(path: &[u8]) -> Option<Result<Option<u64>, Errno>> {
    let file = match File::open(sys::os_path(path)) {
        Ok(file) => file,
        Err(e) => return Some(Err(Errno::from_io_or_zero(&e))),
    };
    sys::advise_sequential(&file);
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        aof_glue::process::at_exit(stop_reading_threads_at_exit);
    });
    let hints = CacheHints(UpcomingPrefetch::new());
    with_reading_thread(file, hints, |feed| rdb_stream::load_rdb_stream(feed)).map(Ok)
}

/// Runs `read` on the main thread over the blocks of `file` a reading thread reads and
/// scans ahead; returns what `read` returned once the thread has ended (None when it
/// could not be started).
fn with_reading_thread<H: KeyHints, R>(
    file: File,
    hints: H,
    read: impl FnOnce(&mut Feed<'_, H>) -> R,
) -> Option<R> {
    let shared = Arc::new(Shared::<H::Hash>::new());
    let for_thread = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("aof-rdb-read".into())
        .spawn(move || read_ahead::<H>(file, &for_thread))
        .ok()?;
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    lock_running().push((id, Arc::clone(&shared) as Arc<dyn Stop>, thread));

    let mut feed = Feed::new(&shared, hints);
    let outcome = read(&mut feed);
    drop(feed);

    shared.stop();
    let thread = {
        let mut running = lock_running();
        let at = running.iter().position(|(i, _, _)| *i == id);
        at.map(|at| running.swap_remove(at).2)
    };
    if let Some(thread) = thread {
        let _ = thread.join();
    }
    Some(outcome)
}

/// The reading thread: scans the file as it reads it, then reads the rest unscanned once
/// the scan has ended (the EOF opcode, or a record it does not step over).
fn read_ahead<H: KeyHints>(file: File, shared: &Shared<H::Hash>) {
    let mut input = BlockInput::new(FileBlocks::<H> {
        file,
        shared,
        found: Vec::new(),
        ended: false,
        read: 0,
        crc: 0,
    });
    let mut scan = RdbScan::new();
    while let Scanned::Key { start, db, key } = scan.next(&mut input) {
        let hash = H::hash(key);
        input.blocks().found.push(UpcomingKey { start, db, hash });
    }
    input.run_to_end();
    shared.lock().finished = true;
    shared.changed.notify_all();
}

/// The file as the scan's blocks: each block the scan is done with goes to the main
/// thread with the records found in it.
struct FileBlocks<'s, H: KeyHints> {
    file: File,
    shared: &'s Shared<H::Hash>,
    found: Vec<UpcomingKey<H::Hash>>,
    ended: bool,
    /// The bytes read so far, and their CRC64.
    read: u64,
    crc: u64,
}

impl<H: KeyHints> FileBlocks<'_, H> {
    /// Waits for room and hands `block` over: false when the main thread has stopped.
    fn hand_over(&mut self, block: Block<H::Hash>) -> bool {
        let mut state = self.shared.lock();
        while state.ready.len() >= BLOCKS_QUEUED && !state.stop {
            state = self.shared.wait(state);
        }
        if state.stop {
            return false;
        }
        state.ready.push_back(block);
        drop(state);
        self.shared.changed.notify_all();
        true
    }

    /// Fills `buf` from the file: the bytes read (fewer only at the end of the file; a
    /// read error ends the stream there, as `fread` returning short does).
    fn fill(&mut self, buf: &mut [u8]) -> usize {
        let mut filled = 0;
        while filled < buf.len() {
            match self.file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        filled
    }
}

impl<H: KeyHints> Blocks for FileBlocks<'_, H> {
    type Block = MappedBuffer;

    fn next_block(&mut self, done: Option<MappedBuffer>) -> Option<MappedBuffer> {
        if let Some(bytes) = done {
            let keys = std::mem::take(&mut self.found);
            let len = bytes.as_ref().len() as u64;
            let block = Block {
                start: self.read,
                crc_before: self.crc,
                keys,
                bytes,
            };
            self.crc = H::crc64(self.crc, block.bytes.as_ref());
            self.read += len;
            if !self.hand_over(block) {
                self.ended = true;
            }
        }
        if self.ended {
            return None;
        }
        let spare = self.shared.lock().spare.pop();
        // No pages to read into ends the stream: upstream's loader sees a short read.
        let Some(mut buf) = spare.or_else(|| MappedBuffer::new(BLOCK)) else {
            self.ended = true;
            return None;
        };
        let n = self.fill(buf.whole());
        buf.set_len(n);
        if n < BLOCK {
            self.ended = true;
        }
        (n > 0).then_some(buf)
    }
}

/// The main thread's side: upstream's loader reads the blocks in order through it.
struct Feed<'s, H: KeyHints> {
    shared: &'s Shared<H::Hash>,
    /// The block being read.
    current: Option<HeldBlock>,
    cursor: usize,
    /// The latest checksum computed here: of the bytes before this offset.
    synced: (u64, u64),
    /// Blocks taken from the queue before their turn, for their records.
    ahead: VecDeque<Block<H::Hash>>,
    /// Records from the one the loader is in on, in file order, with their numbers.
    keys: VecDeque<(u64, UpcomingKey<H::Hash>)>,
    next_key_number: u64,
    /// The record the loader is in (its number), when it is in one.
    in_record: Option<u64>,
    hints: H,
}

impl<'s, H: KeyHints> Feed<'s, H> {
    fn new(shared: &'s Shared<H::Hash>, hints: H) -> Feed<'s, H> {
        Feed {
            shared,
            current: None,
            cursor: 0,
            synced: (0, 0),
            ahead: VecDeque::new(),
            keys: VecDeque::new(),
            next_key_number: 0,
            in_record: None,
            hints,
        }
    }

    fn take_keys(&mut self, block: &mut Block<H::Hash>) {
        for key in block.keys.drain(..) {
            self.keys.push_back((self.next_key_number, key));
            self.next_key_number += 1;
        }
    }

    /// Moves to the next block (waiting for it): false at the end of the stream.
    fn next_block(&mut self) -> bool {
        let block = match self.ahead.pop_front() {
            Some(block) => Some(block),
            None => {
                let mut state = self.shared.lock();
                while state.ready.is_empty() && !state.finished {
                    state = self.shared.wait(state);
                }
                state.ready.pop_front()
            }
        };
        let Some(mut block) = block else {
            return false;
        };
        self.take_keys(&mut block);
        let held = HeldBlock {
            bytes: block.bytes,
            start: block.start,
            crc_before: block.crc_before,
        };
        let spent = self.current.replace(held);
        self.cursor = 0;
        if let Some(spent) = spent {
            self.shared.lock().spare.push(spent.bytes);
            self.shared.changed.notify_all();
        }
        true
    }

    /// Takes the records of blocks already queued (without waiting) while fewer than the
    /// hints need are known.
    fn look_ahead(&mut self) {
        while self.keys.len() <= DEPTH {
            let Some(mut block) = self.shared.lock().ready.pop_front() else {
                return;
            };
            self.take_keys(&mut block);
            self.ahead.push_back(block);
        }
    }

    /// Before the loader reads from `position`: when a new record has begun, the hints
    /// for the records after it move one step.
    fn hint(&mut self, position: u64) {
        while self.keys.get(1).is_some_and(|(_, k)| k.start <= position) {
            self.keys.pop_front();
        }
        let Some(&(number, key)) = self.keys.front() else {
            return;
        };
        if key.start > position || self.in_record == Some(number) {
            return;
        }
        self.in_record = Some(number);
        self.look_ahead();
        let keys = &self.keys;
        let upcoming = |n: u64| {
            let (first, _) = keys.front()?;
            keys.get(n.checked_sub(*first)? as usize)
                .map(|(_, k)| k.hash)
        };
        self.hints.record_begins(key.db, number, &upcoming);
    }
}

impl<H: KeyHints> RdbStream for Feed<'_, H> {
    fn read_exact(&mut self, buf: &mut [u8], position: u64) -> bool {
        self.hint(position);
        let mut filled = 0;
        while filled < buf.len() {
            let current = self.current.as_ref().map_or(&[][..], |b| b.bytes.as_ref());
            if self.cursor == current.len() {
                if !self.next_block() {
                    return false;
                }
                continue;
            }
            let n = (buf.len() - filled).min(current.len() - self.cursor);
            buf[filled..filled + n].copy_from_slice(&current[self.cursor..self.cursor + n]);
            self.cursor += n;
            filled += n;
        }
        true
    }

    /// `end` is where the next read starts or just past the last read's one byte
    /// (rdb_stream's contract), so inside the block being read: from the thread's CRC of
    /// everything before that block, or from the last value computed here when that is
    /// further on, the CRC of the block's bytes up to `end`.
    fn checksum_through(&mut self, end: u64) -> u64 {
        let (mut at, mut crc) = self.synced;
        if let Some(block) = &self.current {
            if at < block.start && block.start <= end {
                (at, crc) = (block.start, block.crc_before);
            }
            let bytes = block.bytes.as_ref();
            if block.start <= at && end <= block.start + bytes.len() as u64 && at < end {
                let range = (at - block.start) as usize..(end - block.start) as usize;
                crc = H::crc64(crc, &bytes[range]);
                at = end;
            }
        }
        debug_assert_eq!(at, end, "a checksum inside the block being read");
        self.synced = (at, crc);
        crc
    }
}

/// A block the main thread holds: its bytes, where it starts, the CRC64 before it.
struct HeldBlock {
    bytes: MappedBuffer,
    start: u64,
    crc_before: u64,
}

#[cfg(test)]
mod tests;

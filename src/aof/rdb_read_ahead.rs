//! An RDB BASE (or old-style RDB preamble) loaded with a reading thread: the thread reads
//! the file in blocks ahead of upstream's RDB loader and scans it for key records
//! ([`aof_core::rdb_scan`]); the main thread runs upstream's `rdbLoadRio` over those
//! blocks ([`aof_glue::rdb_stream`]) and, as each key's record begins, hints the buckets
//! of the next few keys to the cache ([`UpcomingPrefetch`], the RESP replay's schedule).
//!
//! What it saves the main thread: inserting a key into a keyspace far larger than the
//! cache waits on the bucket and on the entries already in it (about half of a stock
//! load of small keys, `bench/MEASUREMENTS.md`), stdio's `fread` per field, the CRC64,
//! and building the values the thread builds ahead: strings, and intsets and set, zset
//! and hash listpacks that upstream keeps as they are (at most [`BUILD_MAX`] bytes each),
//! by upstream's own `rdbLoadObject` ([`aof_glue::rdb_value`]), never while the main
//! thread serves clients, and none taken once the settings they were built under changed.
//! On 8.6 the thread also makes each of them the object the insert would make of it (the
//! key embedded beside the value: `BuiltValue::into_kvobj`), which the patched
//! `dbAddRDBLoad` keeps as it is ([`aof_glue::rdb_stream::insert_value`]).
//! Everything else stays upstream's loader's on the main thread, in file order: the
//! other values, the insert itself, checks, log lines and exits; a scan that stops (a module
//! value, key metadata, anything it does not know) only stops the hints and the values.
//!
//! Memory in flight: at most [`BLOCKS_QUEUED`] blocks of [`BLOCK`] bytes wait for the
//! main thread, as many again that it took early for their key records (at one record's
//! start, while it knows fewer records than the hints need), the one it reads and the one
//! the thread fills: 4.5 MiB at most, plus the values built from them (each at most
//! [`BUILD_MAX`] as stored). The buffers are pages
//! of their own ([`MappedBuffer`]), reused, and returned to the kernel when the load
//! ends, so the RSS after loading does not keep them.
//!
//! The thread is joined on every path: when the load returns (whatever its outcome), and
//! when upstream's loader ends the process with `exit(1)` on a damaged file (an
//! `atexit` handler stops and joins every reading thread then). Cold cache: the thread's
//! reads run ahead of the loader, with `POSIX_FADV_SEQUENTIAL` asking the kernel to read
//! further ahead still, so the disk works while the main thread decodes.

use crate::aof::replay_prefetch::{UpcomingPrefetch, DEPTH};
use aof_core::rdb_blob;
use aof_core::rdb_scan::{BlockInput, Blocks, RdbScan, StringReads, Taken, TYPE_STRING};
use aof_glue::arena::Arena;
use aof_glue::db::Db;
use aof_glue::prefetch::KeyHash;
use aof_glue::rdb_stream::{self, crc64, RdbStream};
use aof_glue::rdb_value::{self, BuiltValue, Settings};
use aof_glue::sys::{self, Errno, MappedBuffer};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;

/// The size of the blocks the thread reads.
pub const BLOCK: usize = 256 << 10;
/// Blocks read and scanned that may wait for the main thread.
pub const BLOCKS_QUEUED: usize = 8;
/// How many values ahead of the one it takes the main thread hints a value to the cache.
pub const VALUE_HINT_DISTANCE: usize = 4;
/// The longest string value (as stored) the thread builds; longer ones are upstream's
/// loader's to read, so the objects in flight stay within the blocks in flight plus one.
pub const BUILD_MAX: u64 = 512 << 10;

/// What the pipeline calls outside itself: on the reading thread a key's hash, the
/// file's CRC64 and the building of string values, on the main thread the cache hints as
/// each record begins and the settings values are built under. Production's are
/// upstream's functions and the keyspace's hints ([`CacheHints`]); the tests' record the
/// calls.
pub trait UpstreamCalls {
    /// What the reading thread computes of a key for the main thread.
    type Hash: Copy + Send + 'static;
    /// A string value the reading thread built.
    type Value: Send + 'static;
    /// What values are built under; a value built under other settings is not taken.
    type Settings: PartialEq;
    /// On the reading thread.
    fn hash(key: &[u8]) -> Self::Hash;
    /// Upstream's `crc64(crc, bytes)` (on either thread).
    fn crc64(crc: u64, bytes: &[u8]) -> u64;
    /// On the reading thread, while the main thread serves no clients: the value `taken`
    /// (its type, key, db, bytes as stored and plain payload), built as upstream's loader
    /// builds it; None when it is not one built off the main thread.
    fn build_value(taken: &Taken<'_>) -> Option<Self::Value>;
    /// On the main thread: the settings now.
    fn settings() -> Self::Settings;
    /// On the main thread: `value` will be taken soon (a hint to the cache).
    fn value_soon(value: &Self::Value);
    /// On the main thread, as record `number` (into db `db`) begins: `upcoming(n)` is
    /// record `n`'s hash, for the records after it the main thread has been handed.
    fn record_begins(&mut self, db: u64, number: u64, upcoming: &dyn Fn(u64) -> Option<Self::Hash>);
}

/// The hints of the RESP replay ([`UpcomingPrefetch`]): bucket, entry and key of the next
/// few records' keys, one step per record.
pub struct CacheHints(UpcomingPrefetch);

impl UpstreamCalls for CacheHints {
    type Hash = KeyHash;
    type Value = BuiltValue;
    type Settings = Settings;

    fn hash(key: &[u8]) -> KeyHash {
        KeyHash::of(key)
    }

    fn crc64(crc: u64, bytes: &[u8]) -> u64 {
        crc64(crc, bytes)
    }

    fn build_value(taken: &Taken<'_>) -> Option<BuiltValue> {
        rdb_value::build_value(
            taken.value_type,
            taken.stored,
            taken.payload,
            i32::try_from(taken.db).ok()?,
            taken.key,
            taken.expires,
        )
    }

    fn settings() -> Settings {
        Settings::now()
    }

    fn value_soon(value: &BuiltValue) {
        value.hint();
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

/// A value the reading thread built, where its bytes start in the file, and the reads
/// upstream's loader makes of them.
struct BuiltAt<V> {
    start: u64,
    reads: StringReads,
    value: V,
}

/// A block of the file, where it starts, the CRC64 of the file's bytes before it, and
/// the key records the scan found and the values the thread built while reading it.
struct Block<P: UpstreamCalls> {
    bytes: MappedBuffer,
    start: u64,
    crc_before: u64,
    keys: Vec<UpcomingKey<P::Hash>>,
    values: Vec<BuiltAt<P::Value>>,
}

struct State<P: UpstreamCalls> {
    ready: VecDeque<Block<P>>,
    /// Buffers the main thread has read, for the thread to fill again.
    spare: Vec<MappedBuffer>,
    /// The thread has handed over its last block.
    finished: bool,
    /// The main thread is done (or the process exits): the thread stops.
    stop: bool,
}

/// What the two threads share: the blocks between them, under one lock, and the gate
/// that keeps the thread from building values while the main thread serves clients.
struct Shared<P: UpstreamCalls> {
    state: Mutex<State<P>>,
    changed: Condvar,
    /// The main thread serves clients (or is about to): no value may be built.
    serving: AtomicBool,
    /// The thread is building a value.
    building: AtomicBool,
    /// Values are still wanted (false once the settings they were built under changed).
    build: AtomicBool,
}

impl<P: UpstreamCalls> Shared<P> {
    fn new() -> Shared<P> {
        Shared {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                spare: Vec::new(),
                finished: false,
                stop: false,
            }),
            changed: Condvar::new(),
            serving: AtomicBool::new(false),
            building: AtomicBool::new(false),
            build: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<P>> {
        // Neither side panics holding the lock (panic = abort), so it is never poisoned.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'g>(&self, guard: MutexGuard<'g, State<P>>) -> MutexGuard<'g, State<P>> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// On the reading thread: runs `build` unless the main thread serves clients (then
    /// waits until it is done) or values are no longer wanted or the thread is to stop
    /// (then None). The two flags are a Dekker pair (SeqCst): either the thread sees
    /// `serving` after raising `building` and backs off, or the main thread sees
    /// `building` and waits for it to fall.
    fn build_value<T>(&self, build: impl FnOnce() -> Option<T>) -> Option<T> {
        loop {
            if !self.build.load(Ordering::Relaxed) {
                return None;
            }
            self.building.store(true, Ordering::SeqCst);
            if !self.serving.load(Ordering::SeqCst) {
                let value = build();
                self.building.store(false, Ordering::SeqCst);
                return value;
            }
            self.building.store(false, Ordering::SeqCst);
            let mut state = self.lock();
            while self.serving.load(Ordering::SeqCst) && !state.stop {
                state = self.wait(state);
            }
            if state.stop {
                return None;
            }
        }
    }

    /// On the main thread, before it serves clients: no value is being built once this
    /// returns, and none will be until [`Shared::clients_served`].
    fn serve_clients(&self) {
        self.serving.store(true, Ordering::SeqCst);
        while self.building.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    }

    fn clients_served(&self) {
        self.serving.store(false, Ordering::SeqCst);
        // Under the lock, so a thread that saw `serving` set is already waiting.
        drop(self.lock());
        self.changed.notify_all();
    }
}

/// A reading thread's stop switch, whatever it hands over.
trait Stop: Send + Sync {
    fn stop(&self);
}

impl<P: UpstreamCalls> Stop for Shared<P>
where
    Shared<P>: Send + Sync,
{
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
fn with_reading_thread<P: UpstreamCalls + 'static, R>(
    file: File,
    hints: P,
    read: impl FnOnce(&mut Feed<'_, P>) -> R,
) -> Option<R>
where
    Shared<P>: Send + Sync,
{
    let shared = Arc::new(Shared::<P>::new());
    let for_thread = Arc::clone(&shared);
    // The values the thread builds go into the dataset: from the main thread's arena, as
    // upstream's loader allocates them (see aof_glue::arena).
    let arena = Arena::of_this_thread();
    let thread = std::thread::Builder::new()
        .name("aof-rdb-read".into())
        .spawn(move || {
            if let Some(arena) = arena {
                arena.bind_this_thread();
            }
            read_ahead::<P>(file, &for_thread)
        })
        .ok()?;
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
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
    // Values still queued are released here, on the main thread, the thread joined.
    drop(shared);
    Some(outcome)
}

/// The reading thread: scans the file as it reads it, building the values it can
/// (at most [`BUILD_MAX`] bytes each), then reads the rest unscanned once the scan has
/// ended (the EOF opcode, or a record it does not step over).
fn read_ahead<P: UpstreamCalls>(file: File, shared: &Shared<P>) {
    let mut input = BlockInput::new(FileBlocks::<P> {
        file,
        shared,
        found: Vec::new(),
        built: Vec::new(),
        ended: false,
        read: 0,
        crc: 0,
    });
    RdbScan::new().walk(
        &mut input,
        BUILD_MAX,
        |input, start, db, key, value_type| {
            let hash = P::hash(key);
            input.blocks().found.push(UpcomingKey { start, db, hash });
            built_off_main(value_type) && shared.build.load(Ordering::Relaxed)
        },
        |input, taken| {
            let build = || P::build_value(&taken);
            if let Some(value) = shared.build_value(build) {
                let (start, reads) = (taken.start, taken.reads);
                input.blocks().built.push(BuiltAt {
                    start,
                    reads,
                    value,
                });
            }
        },
    );
    input.run_to_end();
    shared.lock().finished = true;
    shared.changed.notify_all();
}

/// The value types the thread builds: strings, and the blobs `rdb_blob` checks.
fn built_off_main(value_type: u8) -> bool {
    value_type == TYPE_STRING || rdb_blob::kind_of(value_type).is_some()
}

/// The file as the scan's blocks: each block the scan is done with goes to the main
/// thread with the records found and the values built in it.
struct FileBlocks<'s, P: UpstreamCalls> {
    file: File,
    shared: &'s Shared<P>,
    found: Vec<UpcomingKey<P::Hash>>,
    built: Vec<BuiltAt<P::Value>>,
    ended: bool,
    /// The bytes read so far, and their CRC64.
    read: u64,
    crc: u64,
}

impl<P: UpstreamCalls> FileBlocks<'_, P> {
    /// Waits for room and hands `block` over: false when the main thread has stopped.
    fn hand_over(&mut self, block: Block<P>) -> bool {
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

impl<P: UpstreamCalls> Blocks for FileBlocks<'_, P> {
    type Block = MappedBuffer;

    fn next_block(&mut self, done: Option<MappedBuffer>) -> Option<MappedBuffer> {
        if let Some(bytes) = done {
            let len = bytes.as_ref().len() as u64;
            let block = Block {
                start: self.read,
                crc_before: self.crc,
                keys: std::mem::take(&mut self.found),
                values: std::mem::take(&mut self.built),
                bytes,
            };
            self.crc = P::crc64(self.crc, block.bytes.as_ref());
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
struct Feed<'s, P: UpstreamCalls> {
    shared: &'s Shared<P>,
    /// The block being read.
    current: Option<HeldBlock>,
    cursor: usize,
    /// The latest checksum computed here: of the bytes before this offset.
    synced: (u64, u64),
    /// Blocks taken from the queue before their turn, for their records or values.
    ahead: VecDeque<Block<P>>,
    /// Records from the one the loader is in on, in file order, with their numbers.
    keys: VecDeque<(u64, UpcomingKey<P::Hash>)>,
    next_key_number: u64,
    /// The record the loader is in (its number), when it is in one.
    in_record: Option<u64>,
    /// Values built ahead, in file order, from the loader's position on.
    values: VecDeque<BuiltAt<P::Value>>,
    /// The settings when the load began; values built ahead are taken while they hold.
    settings: P::Settings,
    taking_values: bool,
    hints: P,
}

impl<'s, P: UpstreamCalls> Feed<'s, P> {
    fn new(shared: &'s Shared<P>, hints: P) -> Feed<'s, P> {
        Feed {
            shared,
            current: None,
            cursor: 0,
            synced: (0, 0),
            ahead: VecDeque::new(),
            keys: VecDeque::new(),
            next_key_number: 0,
            in_record: None,
            values: VecDeque::new(),
            settings: P::settings(),
            taking_values: true,
            hints,
        }
    }

    /// Takes the records and values of a block the main thread has just taken.
    fn take_found(&mut self, block: &mut Block<P>) {
        for key in block.keys.drain(..) {
            self.keys.push_back((self.next_key_number, key));
            self.next_key_number += 1;
        }
        if self.taking_values {
            self.values.extend(block.values.drain(..));
        } else {
            block.values.clear();
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
        self.take_found(&mut block);
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

    /// Takes one block already queued (without waiting) before its turn, for what was
    /// found in it: false when none is queued.
    fn take_one_ahead(&mut self) -> bool {
        let Some(mut block) = self.shared.lock().ready.pop_front() else {
            return false;
        };
        self.take_found(&mut block);
        self.ahead.push_back(block);
        true
    }

    /// Takes the records of blocks already queued (without waiting) while fewer than the
    /// hints need are known.
    fn look_ahead(&mut self) {
        while self.keys.len() <= DEPTH && self.take_one_ahead() {}
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

impl<P: UpstreamCalls> RdbStream for Feed<'_, P> {
    type Value = P::Value;

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

    fn skip_exact(&mut self, n: u64, position: u64, each: &mut dyn FnMut(&[u8])) -> bool {
        self.hint(position);
        let mut left = n;
        while left > 0 {
            let current = self.current.as_ref().map_or(&[][..], |b| b.bytes.as_ref());
            if self.cursor == current.len() {
                if !self.next_block() {
                    return false;
                }
                continue;
            }
            let k = left.min((current.len() - self.cursor) as u64) as usize;
            each(&current[self.cursor..self.cursor + k]);
            self.cursor += k;
            left -= k as u64;
        }
        true
    }

    /// The values of the blocks taken so far come first; when none is at or past
    /// `position`, blocks already queued are taken ahead (never waiting: a value that has
    /// not arrived is read by upstream's loader instead, and released when it arrives).
    fn built_value(&mut self, position: u64) -> Option<(P::Value, StringReads)> {
        if !self.taking_values {
            return None;
        }
        loop {
            while self.values.front().is_some_and(|v| v.start < position) {
                self.values.pop_front();
            }
            if let Some(front) = self.values.front() {
                if front.start != position {
                    return None;
                }
                let built = self.values.pop_front()?;
                if let Some(soon) = self.values.get(VALUE_HINT_DISTANCE - 1) {
                    P::value_soon(&soon.value);
                }
                return Some((built.value, built.reads));
            }
            if self.ahead.len() >= BLOCKS_QUEUED || !self.take_one_ahead() {
                return None;
            }
        }
    }

    fn serving_clients(&mut self, begins: bool) {
        if begins {
            self.shared.serve_clients();
            return;
        }
        // A client may have changed what values are built under: those built ahead are
        // released, and the thread builds no more (upstream's loader reads the rest).
        if self.taking_values && P::settings() != self.settings {
            self.taking_values = false;
            self.shared.build.store(false, Ordering::Relaxed);
            self.values.clear();
            for block in &mut self.ahead {
                block.values.clear();
            }
        }
        self.shared.clients_served();
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
                crc = P::crc64(crc, &bytes[range]);
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

//! Upstream's RDB loader (`rdbLoadRio`) over a stream of bytes Rust serves, instead of a
//! stdio file: the loader reads an RDB BASE from the reading thread's blocks this way
//! (see the staticlib's `src/aof/rdb_read_ahead.rs`).
//!
//! Only the bytes change hands, and the CRC64 is computed elsewhere. `rdbLoadRio` installs
//! its checksum-and-progress callback (`rdbLoadProgressCallback`: the CRC64 of each read
//! while `rdbchecksum` is on, then serving clients every
//! `loading-process-events-interval-bytes`) before its first read; at that first read
//! the callback is swapped for the same progress without the CRC
//! (`redis_aof_shim_rdb_load_progress`), and the rio's running CRC64 is kept as
//! [`aof_core::rdb_checksum`] decides: set from the stream's own checksum
//! ([`RdbStream::checksum_through`], which the reading thread computes) wherever upstream
//! reads it, extended read by read as upstream does once `rdbchecksum` was off. Every
//! check, log line and exit stays upstream's, the checksum's included.

use super::bindings::{self, rio, robj, sds};
use super::rdb_value::BuiltValue;
use super::server;
use aof_core::rdb_checksum::{ChecksumStep, RdbChecksum};
use aof_core::rdb_scan::StringReads;
use std::ffi::{c_int, c_void};
#[cfg(keys_in_values)]
use std::sync::atomic::AtomicU32;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Bytes in file order, as `rioRead` asks for them.
pub trait RdbStream {
    /// What a value built ahead is (production: [`BuiltValue`]).
    type Value;
    /// Fills all of `buf` with the next bytes of the stream, whose first byte is at
    /// offset `position`; false when the stream ends (or fails) first, which upstream's
    /// loader takes as a short read, as a stdio `fread` returning 0.
    fn read_exact(&mut self, buf: &mut [u8], position: u64) -> bool;
    /// The CRC64 (upstream's `crc64`, from 0) of the stream's bytes before offset `end`:
    /// where the next read starts, or just past the one byte of the last read.
    fn checksum_through(&mut self, end: u64) -> u64;
    /// Steps over the next `n` bytes (from offset `position`) as [`RdbStream::read_exact`]
    /// would read them, showing `each` every piece in order; false when the stream ends
    /// first.
    fn skip_exact(&mut self, n: u64, position: u64, each: &mut dyn FnMut(&[u8])) -> bool;
    /// The value stored from offset `position`, built ahead, and the reads upstream's
    /// loader makes of its bytes; None when there is none (upstream's loader reads it).
    fn built_value(&mut self, position: u64) -> Option<(Self::Value, StringReads)>;
    /// Upstream's loader is about to serve clients (`begins`) or has served them: while
    /// it does, nothing may build values (clients may change the settings they read).
    fn serving_clients(&mut self, begins: bool);
}

/// Upstream's `crc64(crc, bytes)`: the CRC64 Jones of `bytes`, continued from `crc`,
/// computed by [`aof_core::checksum::crc64`] (any thread). That it is the value upstream's
/// loader computes is what `tests/rdb_base_load.py` shows on every run: a BASE with a
/// wrong checksum makes upstream log the CRC it expected, which must be stock's.
pub use aof_core::checksum::crc64;

/// A rio whose reads go to `stream`: the rio comes first, so the pointer upstream hands
/// the callbacks is also a pointer to this whole struct.
#[repr(C)]
struct StreamRio<'s> {
    rio: rio,
    stream: &'s mut dyn RdbStream<Value = BuiltValue>,
    checksum: RdbChecksum,
}

/// The [`StreamRio`] of the load in progress (null when none): how [`load_value`] knows
/// the rio upstream's loader hands it. Only the main thread sets and reads it.
static ACTIVE: AtomicPtr<rio> = AtomicPtr::new(std::ptr::null_mut());

/// Where a read's bytes go: into upstream's buffer, or nowhere (a value built ahead).
enum Dest<'b> {
    Buffer(&'b mut [u8]),
    Over(u64),
}

impl StreamRio<'_> {
    /// One `rio.read` call's worth: the bytes from the rio's position on, into `dest`,
    /// with the CRC64 kept as [`RdbChecksum`] says; false when the stream ends first.
    fn transfer(&mut self, dest: Dest<'_>) -> bool {
        let position = self.rio.processed_bytes as u64;
        let checksum_on = server::rdb_checksum() != 0;
        if let ChecksumStep::SetThrough(end) = self.checksum.before_read(position, checksum_on) {
            self.rio.cksum = self.stream.checksum_through(end);
        }
        let (len, first, crc) = match dest {
            Dest::Buffer(buf) => {
                if !self.stream.read_exact(buf, position) {
                    return false;
                }
                let crc = self
                    .checksum
                    .keeps_read_by_read()
                    .then(|| crc64(self.rio.cksum, buf));
                (buf.len(), buf.first().copied(), crc)
            }
            Dest::Over(n) => {
                let (mut first, mut crc) = (None, self.rio.cksum);
                let extend = self.checksum.keeps_read_by_read();
                let each = &mut |piece: &[u8]| {
                    first = first.or(piece.first().copied());
                    if extend {
                        crc = crc64(crc, piece);
                    }
                };
                if !self.stream.skip_exact(n, position, each) {
                    return false;
                }
                (n as usize, first, extend.then_some(crc))
            }
        };
        // rdbLoadRioWithLoadingCtx installed its callback before this (its first) read and
        // never installs it again; rioRead calls whatever is installed after each read.
        self.rio.update_cksum = Some(stream_progress);
        match self
            .checksum
            .after_read(position, len, first.unwrap_or(0), checksum_on)
        {
            ChecksumStep::Lag => {}
            ChecksumStep::SetThrough(end) => self.rio.cksum = self.stream.checksum_through(end),
            ChecksumStep::Extend => self.rio.cksum = crc.unwrap_or(self.rio.cksum),
        }
        true
    }

    /// Steps over `len` bytes as `rioRead` reads them: in chunks of at most
    /// `max_processing_chunk`, each followed by the progress callback, which may serve
    /// clients; false (the rio's read error set, as rioRead sets it) when the stream ends
    /// first.
    fn skip(&mut self, mut len: u64) -> bool {
        while len > 0 {
            let limit = self.rio.max_processing_chunk as u64;
            let chunk = if limit != 0 && limit < len {
                limit
            } else {
                len
            };
            if !self.transfer(Dest::Over(chunk)) {
                self.rio.flags |= bindings::RIO_FLAG_READ_ERROR as u64;
                return false;
            }
            if let Some(update) = self.rio.update_cksum {
                // SAFETY: the callback transfer installed (stream_progress), called as
                // rioRead calls it after a read; it reads no byte of `buf` (the shim's
                // body casts it to void; upstream_facts pins the shim to rdb.c's own).
                unsafe {
                    update(
                        self as *mut Self as *mut rio,
                        std::ptr::null(),
                        chunk as usize,
                    )
                };
            }
            self.rio.processed_bytes += chunk as usize;
            len -= chunk;
        }
        true
    }
}

/// `rio.read` of a [`StreamRio`].
unsafe extern "C" fn stream_read(r: *mut rio, buf: *mut c_void, len: usize) -> usize {
    // SAFETY: this function is installed only by load_rdb_stream, on the `rio` field of a
    // StreamRio (repr(C), field first) that outlives the rdbLoadRio call; rio.h's rioRead
    // calls it with that pointer and a buffer of `len` writable bytes, and nothing else
    // reaches the StreamRio while it runs (module rdb_load callbacks read through rioRead,
    // which lands here again only after this call returned).
    let (s, buf) = unsafe {
        (
            &mut *(r as *mut StreamRio<'_>),
            std::slice::from_raw_parts_mut(buf as *mut u8, len),
        )
    };
    s.transfer(Dest::Buffer(buf)) as usize
}

/// `rio.update_cksum` of a [`StreamRio`]: the shim's progress (upstream's
/// `rdbLoadProgressCallback` without the CRC), with the stream told around the times it
/// serves clients.
unsafe extern "C" fn stream_progress(r: *mut rio, buf: *const c_void, len: usize) {
    // The shim's own test for serving clients (every loading-process-events-interval-bytes).
    let interval = server::loading_process_events_interval_bytes() as u64;
    // SAFETY: as in stream_read (rioRead calls this right after a read of that rio); a
    // plain field read.
    let processed = unsafe { (*r).processed_bytes } as u64;
    let serves = interval != 0 && (processed + len as u64) / interval > processed / interval;
    if serves {
        // SAFETY: as in stream_read; the borrow ends before the shim runs.
        unsafe { (*(r as *mut StreamRio<'_>)).stream.serving_clients(true) };
    }
    // SAFETY: rioRead's own call, forwarded: the same rio, buffer and length.
    unsafe { bindings::redis_aof_shim_rdb_load_progress(r, buf, len) };
    if serves {
        // SAFETY: as above; the shim has returned and holds nothing of the StreamRio.
        unsafe { (*(r as *mut StreamRio<'_>)).stream.serving_clients(false) };
    }
}

/// `rdbLoadObject` as the patched RDB loader calls it for each key's value
/// (`redis_aof_rdb_load_value`, redis-patch/0003): on the stream of the load in
/// progress, a value built ahead for this offset, its bytes stepped over read by read as
/// upstream's `rioRead` calls would read them; otherwise upstream's own `rdbLoadObject`.
///
/// # Safety
/// The arguments of upstream's call of `rdbLoadObject` in `rdbLoadRioWithLoadingCtx`,
/// on the main thread.
pub unsafe fn load_value(
    rdbtype: c_int,
    rdb: *mut rio,
    key: sds,
    dbid: c_int,
    error: *mut c_int,
) -> *mut robj {
    #[cfg(keys_in_values)]
    HANDED.store(std::ptr::null_mut(), Ordering::Relaxed);
    let ours = !rdb.is_null() && rdb == ACTIVE.load(Ordering::Relaxed);
    if ours {
        // SAFETY: `rdb` is the rio of the StreamRio load_rdb_stream is running (ACTIVE);
        // upstream's loader is between two reads of it and holds nothing else of it.
        let s = unsafe { &mut *(rdb as *mut StreamRio<'_>) };
        let position = s.rio.processed_bytes as u64;
        let checksum_on = server::rdb_checksum() != 0;
        if let Some((value, reads)) = s.stream.built_value(position) {
            if value.rdb_type() as c_int == rdbtype && s.checksum.may_skip(checksum_on) {
                // Read by read as rdbGenericLoadStringObject reads them, so the progress
                // (and the clients served, and INFO's loaded bytes) is upstream's.
                if !reads.lens().iter().all(|&len| s.skip(len)) {
                    // SAFETY: `error` is the loader's local (rdbLoadObject's contract).
                    unsafe { *error = bindings::RDB_LOAD_ERR_OTHER as c_int };
                    return std::ptr::null_mut();
                }
                // SAFETY: as above.
                unsafe { *error = 0 };
                #[cfg(keys_in_values)]
                HANDED_META_BITS.store(value.meta_bits(), Ordering::Relaxed);
                let object = value.into_raw();
                #[cfg(keys_in_values)]
                HANDED.store(object, Ordering::Relaxed);
                return object;
            }
        }
    }
    // SAFETY: upstream's call, forwarded unchanged.
    unsafe { bindings::rdbLoadObject(rdbtype, rdb, key, dbid, error) }
}

/// The object [`load_value`] returned last when it was one built ahead (null when its
/// last call returned anything else), and the key metadata bits it was made a kvobj
/// with: the one value [`insert_value`] keeps as it is. Main thread only.
#[cfg(keys_in_values)]
static HANDED: AtomicPtr<robj> = AtomicPtr::new(std::ptr::null_mut());
#[cfg(keys_in_values)]
static HANDED_META_BITS: AtomicU32 = AtomicU32::new(0);

/// `kvobjSet(key, val, meta_bits)` as the patched `dbAddRDBLoad` calls it to make the
/// object it inserts (`redis_aof_rdb_kvobj_set`, redis-patch/8.6/0004): the value
/// [`load_value`] just returned, when the reading thread already made it that object
/// (the same key and bits: [`BuiltValue`]'s `into_kvobj`), as it is; any other value
/// goes to upstream's `kvobjSet`, which accepts a kvobj too (it copies or moves its
/// payload into a new one).
///
/// # Safety
/// The arguments of upstream's call in `dbAddRDBLoad`, on the main thread: `key` a live
/// sds, `val` the one reference to a live object, which this consumes.
#[cfg(keys_in_values)]
pub unsafe fn insert_value(key: sds, val: *mut robj, meta_bits: u32) -> *mut robj {
    let handed = HANDED.swap(std::ptr::null_mut(), Ordering::Relaxed);
    // SAFETY: `val` is live (`# Safety`); HANDED names an object load_value returned in
    // its last call, which no one freed yet if it is `val` (the loader frees a value only
    // after its insert, or instead of it, and load_value runs before each insert).
    let made = !val.is_null()
        && val == handed
        && meta_bits == HANDED_META_BITS.load(Ordering::Relaxed)
        && unsafe {
            (*val).iskvobj() == 1
                && super::sds::bytes(bindings::kvobjGetKey(val)) == super::sds::bytes(key)
        };
    if made {
        return val;
    }
    // SAFETY: upstream's call, forwarded unchanged.
    unsafe { bindings::kvobjSet(key, val, meta_bits) }
}

/// `rio.write`: the loader never writes; a write fails as on a file opened read-only.
unsafe extern "C" fn stream_write(_: *mut rio, _: *const c_void, _: usize) -> usize {
    0
}

/// `rio.tell`: the bytes read so far, where `ftello` on the stdio file would stand.
unsafe extern "C" fn stream_tell(r: *mut rio) -> bindings::off_t {
    // SAFETY: as in stream_read: `r` is a live rio; a plain field read.
    unsafe { (*r).processed_bytes as bindings::off_t }
}

unsafe extern "C" fn stream_flush(_: *mut rio) -> c_int {
    1
}

/// Loads an RDB (BASE or old-style preamble) from `stream` through upstream's
/// `rdbLoadRio(rdb, RDBFLAGS_AOF_PREAMBLE, NULL)`: the offset where the RDB ended (what
/// `ftello` gives after the stdio load: the bytes the loader read), or None if upstream's
/// loader refused it (having logged why).
pub fn load_rdb_stream(stream: &mut dyn RdbStream<Value = BuiltValue>) -> Option<u64> {
    // SAFETY: an all-zero rio is rio.c's own starting point for every backend (cksum,
    // flags, counters 0, no update_cksum); the four backend functions are set below.
    let rio: rio = unsafe { std::mem::zeroed() };
    let mut r = StreamRio {
        rio,
        stream,
        checksum: RdbChecksum::new(),
    };
    r.rio.read = Some(stream_read);
    r.rio.write = Some(stream_write);
    r.rio.tell = Some(stream_tell);
    r.rio.flush = Some(stream_flush);
    // A load started while serving clients (DEBUG LOADAOF) nests inside another one.
    // A pointer to the whole StreamRio (its rio first): the callbacks cast it back.
    let whole = &mut r as *mut StreamRio<'_> as *mut rio;
    let outer = ACTIVE.swap(whole, Ordering::Relaxed);
    // SAFETY: `r` lives on this frame for the whole call and rdbLoadRio keeps no pointer
    // to it afterwards (the module IO structs that hold it live inside the call, and
    // ACTIVE is reset below); RDBFLAGS_AOF_PREAMBLE and a NULL rdbSaveInfo are what
    // aof.c passes.
    let ok = unsafe {
        bindings::rdbLoadRio(
            whole,
            bindings::RDBFLAGS_AOF_PREAMBLE as i32,
            std::ptr::null_mut(),
        )
    } == bindings::C_OK as i32;
    ACTIVE.store(outer, Ordering::Relaxed);
    ok.then_some(r.rio.processed_bytes as u64)
}

#[cfg(test)]
mod upstream_facts {
    //! The facts about rdb.c the stream rests on, read off the tree being built against.

    use crate::upstream_text::{between, source};

    fn rdb_c() -> String {
        source("rdb.c")
    }

    /// The body of the function defined as `signature` (up to the first `}` in column 0),
    /// with whitespace collapsed.
    fn body(source: &str, signature: &str) -> String {
        between(source, signature, "\n}")
    }

    #[test]
    fn the_progress_callback_is_the_crc_then_the_shims_progress() {
        let callback = body(
            &rdb_c(),
            "void rdbLoadProgressCallback(rio *r, const void *buf, size_t len) {",
        );
        let shim_c = include_str!("shim.c");
        let shim = body(
            shim_c,
            "void redis_aof_shim_rdb_load_progress(rio *r, const void *buf, size_t len) {",
        );
        let crc = "if (server.rdb_checksum) rioGenericUpdateChecksum(r, buf, len);";
        let expected = shim
            .replace(
                "redis_aof_shim_rdb_load_progress",
                "rdbLoadProgressCallback",
            )
            .replace("(void)buf;", crc);
        assert_eq!(callback, expected);
    }

    #[test]
    fn the_loader_installs_the_callback_before_its_first_read_and_reads_the_crc_once() {
        let load = body(
            &rdb_c(),
            "int rdbLoadRioWithLoadingCtx(rio *rdb, int rdbflags,",
        );
        let install = load
            .find("rdb->update_cksum = rdbLoadProgressCallback;")
            .unwrap();
        assert_eq!(load.matches("update_cksum").count(), 1);
        assert!(install < load.find("rioRead(").unwrap());
        // The running CRC is read once, as the value the trailer after the EOF opcode
        // must match.
        assert_eq!(load.matches("->cksum").count(), 1);
        let read = load.find("expected = rdb->cksum;").unwrap();
        assert!(load[..read].contains("if (type == RDB_OPCODE_EOF)"));
    }
}

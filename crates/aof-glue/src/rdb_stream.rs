//! Upstream's RDB loader (`rdbLoadRio`) over a stream of bytes Rust serves, instead of a
//! stdio file: the loader reads an RDB BASE from the reading thread's blocks this way
//! (see the staticlib's `src/aof/rdb_read_ahead.rs`).
//!
//! Only the bytes change hands. `rdbLoadRio` installs its own checksum-and-progress
//! callback (`rdbLoadProgressCallback`, which computes the CRC64 and serves clients every
//! `loading-process-events-interval-bytes`) and reads in chunks of at most that size,
//! exactly as over a file, so every check, log line and exit is upstream's.

use super::bindings::{self, rio};
use std::ffi::{c_int, c_void};

/// Bytes in file order, as `rioRead` asks for them.
pub trait RdbStream {
    /// Fills all of `buf` with the next bytes of the stream, whose first byte is at
    /// offset `position`; false when the stream ends (or fails) first, which upstream's
    /// loader takes as a short read, as a stdio `fread` returning 0.
    fn read_exact(&mut self, buf: &mut [u8], position: u64) -> bool;
}

/// A rio whose reads go to `stream`: the rio comes first, so the pointer upstream hands
/// the callbacks is also a pointer to this whole struct.
#[repr(C)]
struct StreamRio<'s> {
    rio: rio,
    stream: &'s mut dyn RdbStream,
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
    let position = s.rio.processed_bytes as u64;
    usize::from(s.stream.read_exact(buf, position))
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
pub fn load_rdb_stream(stream: &mut dyn RdbStream) -> Option<u64> {
    // SAFETY: an all-zero rio is rio.c's own starting point for every backend (cksum,
    // flags, counters 0, no update_cksum); the four backend functions are set below.
    let rio: rio = unsafe { std::mem::zeroed() };
    let mut r = StreamRio { rio, stream };
    r.rio.read = Some(stream_read);
    r.rio.write = Some(stream_write);
    r.rio.tell = Some(stream_tell);
    r.rio.flush = Some(stream_flush);
    // SAFETY: `r` lives on this frame for the whole call and rdbLoadRio keeps no pointer
    // to it afterwards (the module IO structs that hold it live inside the call);
    // RDBFLAGS_AOF_PREAMBLE and a NULL rdbSaveInfo are what aof.c passes.
    let ok = unsafe {
        bindings::rdbLoadRio(
            &mut r.rio,
            bindings::RDBFLAGS_AOF_PREAMBLE as i32,
            std::ptr::null_mut(),
        )
    } == bindings::C_OK as i32;
    ok.then_some(r.rio.processed_bytes as u64)
}

//! `server.aof_buf`, the sds where commands wait between [`feed`](crate::aof::write::feed)
//! and the flush. Its invariant (always a valid sds owned by the server) is what makes
//! these functions safe.

use super::bindings;
use super::{sds, server};
use std::mem::MaybeUninit;

fn buf() -> bindings::sds {
    server::with(|s| s.aof_buf)
}

pub fn len() -> usize {
    // SAFETY: aof_buf is always a valid sds.
    unsafe { super::sds::len(buf()) }
}

/// Runs `f` over the buffered bytes (nothing modifies the buffer meanwhile).
pub fn with_bytes<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    // SAFETY: aof_buf is a valid sds and `f` cannot reach the server struct's buffer
    // through Rust (server::with refuses nested loans that could replace it).
    f(unsafe { sds::bytes(buf()) })
}

/// Appends `len` bytes produced in place by `fill` (see [`sds::append_in_place`]).
pub fn append_in_place(len: usize, fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> usize) {
    let mut s = buf();
    // SAFETY: aof_buf is the server's own sds; the possibly moved pointer is stored back.
    unsafe { sds::append_in_place(&mut s, len, fill) };
    server::with(|srv| srv.aof_buf = s);
}

/// Drops the first `n` bytes (already on disk after a partial write).
pub fn drop_front(n: usize) {
    // SAFETY: aof_buf is a valid sds; sdsrange trims it in place.
    unsafe { bindings::sdsrange(buf(), n as isize, -1) };
}

/// Empties the buffer after a flush: a small allocation is kept for reuse, one of at
/// least `reuse_limit` bytes is freed so a burst does not pin memory.
pub fn recycle(reuse_limit: usize) {
    let s = buf();
    // SAFETY: aof_buf is a valid sds; when freed it is replaced before anyone reads it.
    unsafe {
        if sds::allocated(s) < reuse_limit {
            bindings::sdsclear(s);
        } else {
            bindings::sdsfree(s);
            let fresh = bindings::sdsempty();
            server::with(|srv| srv.aof_buf = fresh);
        }
    }
}

/// Frees the buffer and starts an empty one (AOF switched off).
pub fn reset() {
    let old = buf();
    // SAFETY: the old sds is freed only after the server points at a fresh one.
    unsafe {
        let fresh = bindings::sdsempty();
        server::with(|srv| srv.aof_buf = fresh);
        bindings::sdsfree(old);
    }
}

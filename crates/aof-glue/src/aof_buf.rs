//! `server.aof_buf`, the sds where commands wait between `feedAppendOnlyFile` and the
//! flush. Its invariant (always a valid sds owned by the server, written only under the
//! module GIL and only through this module) is what makes these functions safe;
//! while [`with_bytes`] lends the bytes, every function that could move or free them
//! aborts instead.

use super::bindings;
use super::{process, sds, server};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether [`with_bytes`] is lending the buffer's bytes. Process-wide, not per thread: a
/// module thread holding the module GIL may call in too (see the contract in
/// `src/exports/mod.rs`); the GIL orders its accesses with the main thread's.
static LENT: AtomicBool = AtomicBool::new(false);

fn buf() -> bindings::sds {
    // SAFETY: read under the module GIL (the crate's contract); C writes the field only at
    // start-up (initServer) and through aof.c's functions, which are these.
    unsafe { server::aof_buf_field().read() }
}

/// Points the server at `s` (callers have checked [`not_lent`]).
fn set_buf(s: bindings::sds) {
    // SAFETY: as for `buf`.
    unsafe { server::aof_buf_field().write(s) }
}

fn not_lent() {
    process::assert(
        !LENT.load(Ordering::Relaxed),
        c"aof_buf is not modified while its bytes are lent",
    );
}

pub fn len() -> usize {
    // SAFETY: aof_buf is always a valid sds.
    unsafe { super::sds::len(buf()) }
}

/// Runs `f` over the buffered bytes. Anything `f` does that would modify the buffer
/// (append, trim, recycle, reset) aborts the process rather than free the bytes under it.
pub fn with_bytes<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    // A nested loan leaves the outer one in force when it ends.
    let already_lent = LENT.swap(true, Ordering::Relaxed);
    // SAFETY: aof_buf is a valid sds, and nothing can modify or free it until `f`
    // returns: every mutator checks LENT first.
    let result = f(unsafe { sds::bytes(buf()) });
    LENT.store(already_lent, Ordering::Relaxed);
    result
}

/// Appends `len` bytes produced in place by `fill` (see [`sds::append_in_place`]).
pub fn append_in_place(len: usize, fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> usize) {
    not_lent();
    let mut s = buf();
    // SAFETY: aof_buf is the server's own sds; the possibly moved pointer is stored back.
    unsafe { sds::append_in_place(&mut s, len, fill) };
    set_buf(s);
}

/// Drops the first `n` bytes (already on disk after a partial write).
pub fn drop_front(n: usize) {
    not_lent();
    // SAFETY: aof_buf is a valid sds; sdsrange trims it in place.
    unsafe { bindings::sdsrange(buf(), n as isize, -1) };
}

/// Empties the buffer after a flush: a small allocation is kept for reuse, one of at
/// least `reuse_limit` bytes is freed so a burst does not pin memory.
pub fn recycle(reuse_limit: usize) {
    not_lent();
    let s = buf();
    // SAFETY: aof_buf is a valid sds; when freed it is replaced before anyone reads it.
    unsafe {
        if sds::allocated(s) < reuse_limit {
            bindings::sdsclear(s);
        } else {
            bindings::sdsfree(s);
            set_buf(bindings::sdsempty());
        }
    }
}

/// Frees the buffer and starts an empty one (AOF switched off).
pub fn reset() {
    not_lent();
    let old = buf();
    // SAFETY: the old sds is freed only after the server points at a fresh one.
    unsafe {
        set_buf(bindings::sdsempty());
        bindings::sdsfree(old);
    }
}

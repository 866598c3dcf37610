//! Upstream's dynamic strings. Memory that C may free must come from Redis's allocator, so
//! every sds handed to C is built by upstream's own `sdsnewlen`/`sdscatlen`.

use super::bindings;
use std::ffi::c_void;

/// The bytes of a C sds, borrowed.
///
/// # Safety
/// `s` must be a valid sds that stays alive and unmodified while the slice is used.
pub unsafe fn bytes<'a>(s: bindings::sds) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    // SAFETY: per the caller's contract, `s` points at `sdslen(s)` initialised bytes.
    unsafe { std::slice::from_raw_parts(s as *const u8, bindings::redis_aof_shim_sdslen(s)) }
}

/// A new sds (Redis allocator) holding `data`; ownership goes to the caller.
pub fn new(data: &[u8]) -> bindings::sds {
    // SAFETY: sdsnewlen copies `data.len()` bytes from a valid slice.
    unsafe { bindings::sdsnewlen(data.as_ptr() as *const c_void, data.len()) }
}

/// Appends `data` to `s`, returning the (possibly moved) sds, as upstream's `sdscatlen`.
///
/// # Safety
/// `s` must be a valid sds owned by the caller; the old pointer is invalid afterwards.
pub unsafe fn cat(s: bindings::sds, data: &[u8]) -> bindings::sds {
    // SAFETY: caller owns `s`; `data` is a valid slice.
    unsafe { bindings::sdscatlen(s, data.as_ptr() as *const c_void, data.len()) }
}

/// Appends exactly `len` bytes to the sds at `*s`, produced in place by `fill`: the buffer
/// grows once (upstream's greedy `sdsMakeRoomFor`, as `sdscatlen` would grow it) and the
/// bytes are written straight into it, no temporary string. `fill` must initialise the
/// whole slice it is given and return its length, which is checked.
///
/// # Safety
/// `*s` must be a valid sds owned by the caller; it may be moved by the growth.
pub unsafe fn append_in_place(
    s: &mut bindings::sds,
    len: usize,
    fill: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> usize,
) {
    // SAFETY: `*s` is a valid sds; sdsMakeRoomFor returns one with at least `len` spare
    // bytes after the current length (plus room for the terminator).
    unsafe {
        *s = bindings::sdsMakeRoomFor(*s, len);
        let current = bindings::redis_aof_shim_sdslen(*s);
        let spare = std::slice::from_raw_parts_mut(
            (*s as *mut std::mem::MaybeUninit<u8>).add(current),
            len,
        );
        let written = fill(spare);
        assert_eq!(written, len, "in-place sds append wrote a different length");
        // sdsIncrLen also writes the terminating NUL.
        bindings::sdsIncrLen(*s, len as isize);
    }
}

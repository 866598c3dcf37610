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

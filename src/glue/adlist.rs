//! Upstream's doubly linked `list` (adlist.h), whose accessors are macros.

use super::bindings::list;
use std::ffi::c_void;

/// `listLength(l)`.
///
/// # Safety
/// `l` must be a valid list.
pub unsafe fn len(l: *const list) -> usize {
    // SAFETY: per the caller's contract.
    unsafe { (*l).len as usize }
}

/// `listNodeValue(listLast(l))`, or None for an empty list.
///
/// # Safety
/// `l` must be a valid list.
pub unsafe fn last_value(l: *const list) -> Option<*mut c_void> {
    // SAFETY: per the caller's contract; a non-null tail is a valid node.
    unsafe { (*l).tail.as_ref().map(|node| node.value) }
}

//! Upstream's doubly linked `list` (adlist.h), whose accessors are macros.

use super::bindings::list;
use std::ffi::c_void;

/// `listLength(l)`.
///
/// # Safety
/// `l` must point to a live adlist `list` (made by listCreate or listDup, not released).
pub unsafe fn len(l: *const list) -> usize {
    // SAFETY: `l` is a live list (the caller's `# Safety`); `len` is a plain field of it.
    unsafe { (*l).len as usize }
}

/// `listNodeValue(listLast(l))`, or None for an empty list.
///
/// # Safety
/// `l` must point to a live adlist `list` (made by listCreate or listDup, not released).
pub unsafe fn last_value(l: *const list) -> Option<*mut c_void> {
    // SAFETY: `l` is a live list (the caller's `# Safety`), so its `tail` is NULL or a node
    // adlist.c allocated and keeps until it is unlinked.
    unsafe { (*l).tail.as_ref().map(|node| node.value) }
}

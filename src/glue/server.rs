//! Access to upstream's global `struct redisServer server`.
//!
//! Only the main thread calls into this module (no Rust thread touches Redis state), and
//! upstream's own code reads and writes the same fields from that thread, so accesses are
//! short and never held across a call back into C.

use super::bindings;
use std::ffi::CStr;

/// The global server struct.
pub fn ptr() -> *mut bindings::redisServer {
    // SAFETY: taking the address of a static creates no reference.
    std::ptr::addr_of_mut!(bindings::server)
}

/// `server.aof_filename`, the configured base name of every AOF file.
pub fn aof_filename() -> &'static [u8] {
    // SAFETY: config sets aof_filename at start-up to a NUL-terminated string it owns; it
    // is never changed at runtime (appendfilename is immutable).
    unsafe { CStr::from_ptr((*ptr()).aof_filename).to_bytes() }
}

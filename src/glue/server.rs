//! Access to upstream's global `struct redisServer server`.
//!
//! Only the main thread (or a fork child, which has only that thread) calls into this
//! module; no Rust thread touches Redis state. [`with`] lends the struct to a closure and
//! refuses nested loans, so Rust never holds two `&mut` to it. Closures must stay short and
//! must not call back into Redis code that could reach Rust again. Fields that the bio
//! thread also writes are reached only through the atomic accessors below.

use super::bindings::{self, redisServer};
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};

static LENT: AtomicBool = AtomicBool::new(false);

fn ptr() -> *mut redisServer {
    std::ptr::addr_of_mut!(bindings::server)
}

/// Runs `f` with the server struct. Panics (aborting the process) on a nested call.
pub fn with<R>(f: impl FnOnce(&mut redisServer) -> R) -> R {
    let already_lent = LENT.swap(true, Ordering::Relaxed);
    assert!(!already_lent, "nested access to the server struct");
    // SAFETY: `server` is a static that lives for the whole process; the flag above
    // guarantees this is the only Rust reference to it, and only the main thread runs here.
    let result = f(unsafe { &mut *ptr() });
    LENT.store(false, Ordering::Relaxed);
    result
}

/// `server.aof_filename`, the configured base name of every AOF file.
pub fn aof_filename() -> &'static [u8] {
    // SAFETY: config sets aof_filename at start-up to a NUL-terminated string it owns; it
    // is never changed at runtime (appendfilename is immutable).
    unsafe { CStr::from_ptr((*ptr()).aof_filename).to_bytes() }
}

/// `atomicSet(server.fsynced_reploff_pending, offset)`: the bio thread writes it too.
pub fn set_fsynced_reploff_pending(offset: i64) {
    // SAFETY: the field is a properly aligned `_Atomic long long` in a static.
    let field =
        unsafe { AtomicI64::from_ptr(std::ptr::addr_of_mut!((*ptr()).fsynced_reploff_pending)) };
    field.store(offset, Ordering::SeqCst);
}

/// `atomicGet(server.aof_bio_fsync_status)`: the bio thread records fsync failures here.
pub fn aof_bio_fsync_status() -> i32 {
    // SAFETY: the field is a properly aligned `_Atomic int` in a static.
    let field =
        unsafe { AtomicI32::from_ptr(std::ptr::addr_of_mut!((*ptr()).aof_bio_fsync_status)) };
    field.load(Ordering::SeqCst)
}

pub fn set_aof_bio_fsync_status(status: i32) {
    // SAFETY: as for aof_bio_fsync_status.
    let field =
        unsafe { AtomicI32::from_ptr(std::ptr::addr_of_mut!((*ptr()).aof_bio_fsync_status)) };
    field.store(status, Ordering::SeqCst);
}

/// `server.aof_dirname`, the folder (relative to `dir`) holding every AOF file.
pub fn aof_dirname() -> &'static [u8] {
    // SAFETY: config owns this NUL-terminated string; appenddirname is immutable at runtime.
    unsafe { CStr::from_ptr((*ptr()).aof_dirname).to_bytes() }
}

/// `server.aof_manifest`.
pub fn aof_manifest() -> *mut bindings::aofManifest {
    with(|s| s.aof_manifest)
}

/// `atomicGet(server.fsynced_reploff_pending)`.
pub fn fsynced_reploff_pending() -> i64 {
    // SAFETY: the field is a properly aligned `_Atomic long long` in a static.
    let field =
        unsafe { AtomicI64::from_ptr(std::ptr::addr_of_mut!((*ptr()).fsynced_reploff_pending)) };
    field.load(Ordering::SeqCst)
}

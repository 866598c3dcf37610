//! Functions upstream `aof.c` still defines while the port is incomplete, declared here so
//! Rust can call them. Each declaration leaves when its function moves to Rust (then the
//! call goes straight to the Rust definition). cbindgen copies these declarations into
//! include/redis_aof.h as `extern` prototypes, so tests/check-signatures.sh proves them
//! identical to aof.c's definitions too.

use super::bindings::{aofInfo, aofManifest, sds};
use std::ffi::c_int;

extern "C" {
    fn rewriteAppendOnlyFileBackground() -> c_int;
    fn aofRemoveTempFile(childpid: libc::pid_t);
    fn persistAofManifest(am: *mut aofManifest) -> c_int;
    fn getAppendOnlyFileSize(filename: sds, status: *mut c_int) -> libc::off_t;
}

/// Forks the rewrite child; `C_OK` or `C_ERR`.
pub fn rewrite_background() -> c_int {
    // SAFETY: upstream entry point of the main thread; no arguments.
    unsafe { rewriteAppendOnlyFileBackground() }
}

/// Removes the rewrite child's temporary file.
pub fn remove_temp_file(childpid: libc::pid_t) {
    // SAFETY: builds a file name from the pid and unlinks it.
    unsafe { aofRemoveTempFile(childpid) }
}

/// Writes `server.aof_manifest` to disk if it is dirty; `AOF_OK` or an error code.
pub fn persist_server_manifest() -> c_int {
    let am = super::server::with(|s| s.aof_manifest);
    // SAFETY: the server's manifest is valid whenever AOF is on (callers check).
    unsafe { persistAofManifest(am) }
}

/// The size of the AOF file a manifest entry names (0 when it cannot be stat'ed).
pub fn file_size(info: &aofInfo) -> i64 {
    // SAFETY: a manifest entry always owns a valid sds file name; a NULL status is allowed.
    unsafe { getAppendOnlyFileSize(info.file_name, std::ptr::null_mut()) }
}

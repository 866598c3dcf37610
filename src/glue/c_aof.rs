//! Functions upstream `aof.c` still defines while the port is incomplete, declared here so
//! Rust can call them. Each declaration leaves when its function moves to Rust (then the
//! call goes straight to the Rust definition). cbindgen copies these declarations into
//! include/redis_aof.h as `extern` prototypes, so tests/check-signatures.sh proves them
//! identical to aof.c's definitions too.

use std::ffi::c_int;

extern "C" {
    fn rewriteAppendOnlyFile(filename: *mut std::ffi::c_char) -> c_int;
}

/// Writes a whole new BASE (RDB or commands, per `aof-use-rdb-preamble`) to `path`.
pub fn rewrite_to_file(path: &[u8]) -> c_int {
    let Ok(path) = std::ffi::CString::new(path) else {
        return super::bindings::C_ERR;
    };
    // SAFETY: a valid NUL-terminated path for the call; upstream does not keep it.
    unsafe { rewriteAppendOnlyFile(path.as_ptr() as *mut _) }
}

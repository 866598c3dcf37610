//! Functions upstream `aof.c` still defines while the port is incomplete, declared here so
//! Rust can call them. Each declaration leaves when its function moves to Rust (then the
//! call goes straight to the Rust definition). cbindgen copies these declarations into
//! include/redis_aof.h as `extern` prototypes, so tests/check-signatures.sh proves them
//! identical to aof.c's definitions too.

use super::bindings::aofManifest;
use std::ffi::c_int;

extern "C" {
    fn rewriteAppendOnlyFileBackground() -> c_int;
    fn persistAofManifest(am: *mut aofManifest) -> c_int;
}

/// Forks the rewrite child; `C_OK` or `C_ERR`.
pub fn rewrite_background() -> c_int {
    // SAFETY: upstream entry point of the main thread; no arguments.
    unsafe { rewriteAppendOnlyFileBackground() }
}

/// Writes `server.aof_manifest` to disk if it is dirty; `AOF_OK` or an error code.
pub fn persist_server_manifest() -> c_int {
    let am = super::server::with(|s| s.aof_manifest);
    // SAFETY: the server's manifest is valid whenever AOF is on (callers check).
    unsafe { persistAofManifest(am) }
}

extern "C" {
    fn aofUpgradePrepare(am: *mut aofManifest);
}

/// Converts a pre-7.0 single-file AOF set-up into a manifest-driven one.
pub fn upgrade_prepare(am: &super::manifest::ManifestHandle) {
    // SAFETY: the handle holds a valid manifest.
    unsafe { aofUpgradePrepare(am.as_ptr()) }
}

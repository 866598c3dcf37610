//! `server.aof_manifest`, upstream's C representation of the manifest (`aofManifest` with
//! lists of `aofInfo`), shared with redis-check-aof, debug.c and server.c.

use super::bindings::aofInfo;
use super::{adlist, server};

/// Runs `f` on the last INCR entry of the server's manifest, marking the manifest dirty
/// when `f` returns true. Returns None when there is no INCR entry. Panics (as upstream
/// asserts) when the server has no manifest.
pub fn update_last_incr(f: impl FnOnce(&mut aofInfo) -> bool) -> Option<()> {
    let am = server::with(|s| s.aof_manifest);
    super::process::assert(!am.is_null(), c"server.aof_manifest != NULL");
    // SAFETY: the server's manifest and its lists are valid while AOF is on; its entries
    // are aofInfo structs; nothing else touches them during `f` (main thread).
    unsafe {
        if adlist::len((*am).incr_aof_list) == 0 {
            return None;
        }
        let info = adlist::last_value((*am).incr_aof_list)? as *mut aofInfo;
        if f(&mut *info) {
            (*am).dirty = 1;
        }
    }
    Some(())
}

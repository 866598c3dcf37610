use crate::aof::manifest;
use aof_glue::bindings::{aofInfo, aofManifest, sds};
use aof_glue::manifest_c::{self, ManifestMut, OwnedManifest};
use aof_glue::{process, sds as glue_sds};
use std::ffi::{c_int, c_longlong, c_void};

#[no_mangle]
pub extern "C" fn aofInfoCreate() -> *mut aofInfo {
    manifest_c::info_create()
}

/// # Safety
/// `ai` must be a live aofInfo (made by aofInfoCreate or aofInfoDup, not freed) that no
/// list holds and nothing uses afterwards. No upstream C outside aof.c calls this.
#[no_mangle]
pub unsafe extern "C" fn aofInfoFree(ai: *mut aofInfo) {
    process::assert(!ai.is_null(), c"ai != NULL");
    // SAFETY: `ai` is a live aofInfo that the caller gives up (`# Safety`), as info_free
    // requires.
    unsafe { manifest_c::info_free(ai) }
}

/// # Safety
/// `orig` must be a live aofInfo that nothing modifies during the call. No upstream C
/// outside aof.c calls this.
#[no_mangle]
pub unsafe extern "C" fn aofInfoDup(orig: *mut aofInfo) -> *mut aofInfo {
    process::assert(!orig.is_null(), c"orig != NULL");
    // SAFETY: `orig` is a live aofInfo, unmodified during this call (`# Safety`), as
    // info_dup requires.
    unsafe { manifest_c::info_dup(orig) }
}

/// # Safety
/// `buf` must be a live sds the caller owns, which this call may reallocate: the caller
/// uses only the returned sds afterwards. `ai` must be a live aofInfo that nothing modifies
/// during the call. No upstream C outside aof.c calls this (redis-check-aof.c names it in
/// a comment only); aof.c's getAofManifestAsString passed its buffer and each entry.
#[no_mangle]
pub unsafe extern "C" fn aofInfoFormat(buf: sds, ai: *mut aofInfo) -> sds {
    let mut line = Vec::new();
    // SAFETY: `ai` is a live aofInfo, unmodified during this call (`# Safety`); entry_of
    // copies its fields.
    unsafe { manifest_c::entry_of(ai) }.format_into(&mut line);
    // SAFETY: `buf` is the caller's sds; the possibly moved pointer is returned.
    unsafe { glue_sds::cat(buf, &line) }
}

/// # Safety
/// `buf` must be a live sds the caller owns, which this call may reallocate: the caller
/// uses only the returned sds afterwards. `aof_list` must be a live list of live aofInfo
/// values that nothing modifies during the call. No upstream C outside aof.c calls this
/// (8.6 made it global); aof.c's getAofManifestAsString passed a manifest's history and
/// INCR lists.
#[cfg(exports_append_aof_info_from_list)]
#[no_mangle]
pub unsafe extern "C" fn appendAofInfoFromList(
    buf: sds,
    aof_list: *mut aof_glue::bindings::list,
) -> sds {
    let mut lines = Vec::new();
    // SAFETY: `aof_list` is a live list of live aofInfo values, unmodified during this
    // call (`# Safety`); list_entries copies them.
    for entry in unsafe { manifest_c::list_entries(aof_list) } {
        entry.format_into(&mut lines);
    }
    // SAFETY: `buf` is the caller's sds; the possibly moved pointer is returned.
    unsafe { glue_sds::cat(buf, &lines) }
}

/// Upstream's `free` method of the manifest lists. This crate's lists use
/// `list_free_entry` instead, and no upstream C outside aof.c names this.
///
/// # Safety
/// `item` must be a live `aofInfo` that no list holds any more and nothing uses afterwards.
#[no_mangle]
pub unsafe extern "C" fn aofListFree(item: *mut c_void) {
    // SAFETY: `item` is a live aofInfo that the caller gives up (`# Safety`), as info_free
    // requires.
    unsafe { manifest_c::info_free(item as *mut aofInfo) }
}

/// Upstream's `dup` method of the manifest lists. This crate's lists use `list_dup_entry`
/// instead, and no upstream C outside aof.c names this.
///
/// # Safety
/// `item` must be a live `aofInfo` that nothing modifies during the call.
#[no_mangle]
pub unsafe extern "C" fn aofListDup(item: *mut c_void) -> *mut c_void {
    // SAFETY: `item` is a live aofInfo, unmodified during this call (`# Safety`), as
    // info_dup requires.
    unsafe { manifest_c::info_dup(item as *const aofInfo) as *mut c_void }
}

#[no_mangle]
pub extern "C" fn aofManifestCreate() -> *mut aofManifest {
    manifest_c::manifest_create()
}

/// # Safety
/// `am` must be a live manifest that nothing uses afterwards. Upstream's callers: debug.c
/// (DEBUG LOADAOF) and server.c (finishShutdown) pass `server.aof_manifest` after checking
/// it is non-NULL, then install a new one through aofLoadManifestFromDisk, or exit;
/// redis-check-aof.c passes the manifest aofLoadManifestFromFile returned, once done.
#[no_mangle]
pub unsafe extern "C" fn aofManifestFree(am: *mut aofManifest) {
    // SAFETY: `am` is a live manifest, made by this crate like every manifest, that the
    // caller gives up (`# Safety`), as manifest_free requires.
    unsafe { manifest_c::manifest_free(am) }
}

/// # Safety
/// `orig` must be a live manifest that nothing modifies during the call. No upstream C
/// outside aof.c calls this; aof.c passed `server.aof_manifest`.
#[no_mangle]
pub unsafe extern "C" fn aofManifestDup(orig: *mut aofManifest) -> *mut aofManifest {
    process::assert(!orig.is_null(), c"orig != NULL");
    // SAFETY: `orig` is a live manifest, unmodified during this call (`# Safety`), as
    // manifest_dup requires.
    unsafe { manifest_c::manifest_dup(orig) }
}

/// # Safety
/// `am` must be a live manifest that the caller gives away: it becomes the server's and
/// the caller neither uses nor frees it afterwards. Upstream calls it only from aof.c
/// (aofLoadManifestFromDisk with a manifest just loaded from the file, the rewrite's
/// start and done-handler with an `aofManifestDup` copy), all of which are Rust here; no
/// other upstream file calls it.
#[no_mangle]
pub unsafe extern "C" fn aofManifestFreeAndUpdate(am: *mut aofManifest) {
    // SAFETY: ownership of a live manifest passes to Rust (see above).
    unsafe { OwnedManifest::from_raw(am) }.install_as_server()
}

/// # Safety
/// `am` must be a live manifest that nothing modifies during the call. No upstream C
/// outside aof.c calls this; aof.c's persistAofManifest passed its manifest.
#[no_mangle]
pub unsafe extern "C" fn getAofManifestAsString(am: *mut aofManifest) -> sds {
    process::assert(!am.is_null(), c"am != NULL");
    // SAFETY: `am` is a live manifest, unmodified during this call (`# Safety`); model_of
    // copies it.
    glue_sds::new(&unsafe { manifest_c::model_of(am) }.to_bytes())
}

#[no_mangle]
pub extern "C" fn aofLoadManifestFromDisk() {
    manifest::load_from_disk()
}

/// # Safety
/// `am_filepath` must be a NUL-terminated path, unmodified during the call. It is typed
/// `sds` but upstream only reads it as a C string: redis-check-aof.c's checkMultiPartAof
/// passes the path from its `argv` (a plain `char *`, live for the process), and aof.c's
/// aofLoadManifestFromDisk passed an sds from makePath.
#[no_mangle]
pub unsafe extern "C" fn aofLoadManifestFromFile(am_filepath: sds) -> *mut aofManifest {
    // SAFETY: `am_filepath` is NUL-terminated and live for this call (`# Safety`); the
    // borrow ends with load_from_file.
    manifest::load_from_file(unsafe { std::ffi::CStr::from_ptr(am_filepath) }.to_bytes()).into_raw()
}

/// # Safety
/// `am` must be a live manifest that nothing else reads or edits during the call (so not
/// `server.aof_manifest` while a Rust call lends it). No upstream C outside aof.c calls
/// this; aof.c passed `server.aof_manifest` or its own aofManifestDup copy of it.
#[no_mangle]
pub unsafe extern "C" fn getNewBaseFileNameAndMarkPreAsHistory(am: *mut aofManifest) -> sds {
    // SAFETY: `am` is a live manifest that only this call uses meanwhile (`# Safety`), as
    // ManifestMut::from_raw requires; the handle ends with the call.
    let mut am = unsafe { ManifestMut::from_raw(am) };
    manifest::new_base_name(&mut am);
    am.base_name_raw().unwrap_or(std::ptr::null_mut())
}

/// # Safety
/// `am` must be a live manifest that nothing else reads or edits during the call (so not
/// `server.aof_manifest` while a Rust call lends it). No upstream C outside aof.c calls
/// this; aof.c passed `server.aof_manifest` or its own aofManifestDup copy of it.
#[no_mangle]
pub unsafe extern "C" fn getNewIncrAofName(am: *mut aofManifest, start_reploff: c_longlong) -> sds {
    // SAFETY: `am` is a live manifest that only this call uses meanwhile (`# Safety`), as
    // ManifestMut::from_raw requires; the handle ends with the call.
    let mut am = unsafe { ManifestMut::from_raw(am) };
    manifest::new_incr_name(&mut am, start_reploff);
    am.last_incr_name_raw().unwrap_or(std::ptr::null_mut())
}

#[no_mangle]
pub extern "C" fn getTempIncrAofName() -> sds {
    glue_sds::new(&manifest::temp_incr_name())
}

/// # Safety
/// `am` must be a live manifest that nothing else reads or edits during the call (so not
/// `server.aof_manifest` while a Rust call lends it). No upstream C outside aof.c calls
/// this; aof.c passed `server.aof_manifest`.
#[no_mangle]
pub unsafe extern "C" fn getLastIncrAofName(am: *mut aofManifest) -> sds {
    // SAFETY: `am` is a live manifest that only this call uses meanwhile (`# Safety`), as
    // ManifestMut::from_raw requires; the handle ends with the call.
    let mut am = unsafe { ManifestMut::from_raw(am) };
    manifest::last_incr_name(&mut am);
    am.last_incr_name_raw().unwrap_or(std::ptr::null_mut())
}

/// # Safety
/// `am` must be a live manifest that nothing else reads or edits during the call (so not
/// `server.aof_manifest` while a Rust call lends it). No upstream C outside aof.c calls
/// this; aof.c's backgroundRewriteDoneHandler passed its aofManifestDup copy of
/// `server.aof_manifest`.
#[no_mangle]
pub unsafe extern "C" fn markRewrittenIncrAofAsHistory(am: *mut aofManifest) {
    // SAFETY: `am` is a live manifest that only this call uses meanwhile (`# Safety`), as
    // ManifestMut::from_raw requires; the handle ends with the call.
    manifest::mark_rewritten_incr_as_history(&mut unsafe { ManifestMut::from_raw(am) })
}

/// # Safety
/// `buf` must be NULL or a live sds that nothing modifies during the call. No upstream C
/// outside aof.c calls this; aof.c's persistAofManifest passed getAofManifestAsString's
/// result.
#[no_mangle]
pub unsafe extern "C" fn writeAofManifestFile(buf: sds) -> c_int {
    // SAFETY: `buf` is NULL or a live sds, unmodified during this call (`# Safety`); the
    // bytes are borrowed until write_manifest_file returns.
    super::c_status(manifest::write_manifest_file(unsafe {
        glue_sds::bytes(buf)
    }))
}

/// # Safety
/// `am` must be a live manifest that nothing else reads or edits during the call (so not
/// `server.aof_manifest` while a Rust call lends it). No upstream C outside aof.c calls
/// this; aof.c passed `server.aof_manifest` or its own aofManifestDup copy of it.
#[no_mangle]
pub unsafe extern "C" fn persistAofManifest(am: *mut aofManifest) -> c_int {
    // SAFETY: `am` is a live manifest that only this call uses meanwhile (`# Safety`), as
    // ManifestMut::from_raw requires; the handle ends with the call.
    super::c_status(manifest::persist(&mut unsafe { ManifestMut::from_raw(am) }))
}

/// # Safety
/// `am` must be a live manifest that nothing else reads or edits during the call (so not
/// `server.aof_manifest` while a Rust call lends it). No upstream C outside aof.c calls
/// this; aof.c's loadAppendOnlyFiles passed its manifest (`server.aof_manifest`).
#[no_mangle]
pub unsafe extern "C" fn aofUpgradePrepare(am: *mut aofManifest) {
    // SAFETY: `am` is a live manifest that only this call uses meanwhile (`# Safety`), as
    // ManifestMut::from_raw requires; the handle ends with the call.
    manifest::upgrade_prepare(&mut unsafe { ManifestMut::from_raw(am) })
}

#[no_mangle]
pub extern "C" fn aofDelHistoryFiles() -> c_int {
    super::c_status(manifest::delete_history_files())
}

#[no_mangle]
pub extern "C" fn aofDelTempIncrAofFile() {
    manifest::delete_temp_incr_file()
}

#[no_mangle]
pub extern "C" fn aofOpenIfNeededOnServerStart() {
    manifest::open_on_server_start()
}

use crate::aof::manifest;
use crate::glue::bindings::{aofInfo, aofManifest, sds};
use crate::glue::manifest_c::{self, ManifestMut, OwnedManifest};
use crate::glue::{process, sds as glue_sds};
use std::ffi::{c_int, c_longlong, c_void};

#[no_mangle]
pub extern "C" fn aofInfoCreate() -> *mut aofInfo {
    manifest_c::info_create()
}

/// # Safety
/// `ai` must be a live entry, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn aofInfoFree(ai: *mut aofInfo) {
    process::assert(!ai.is_null(), c"ai != NULL");
    // SAFETY: per the C caller's contract.
    unsafe { manifest_c::info_free(ai) }
}

/// # Safety
/// `orig` must be a live entry.
#[no_mangle]
pub unsafe extern "C" fn aofInfoDup(orig: *mut aofInfo) -> *mut aofInfo {
    process::assert(!orig.is_null(), c"orig != NULL");
    // SAFETY: per the C caller's contract.
    unsafe { manifest_c::info_dup(orig) }
}

/// # Safety
/// `buf` must be a valid sds owned by the caller, `ai` a live entry.
#[no_mangle]
pub unsafe extern "C" fn aofInfoFormat(buf: sds, ai: *mut aofInfo) -> sds {
    let mut line = Vec::new();
    // SAFETY: per the C caller's contract.
    unsafe { manifest_c::entry_of(ai) }.format_into(&mut line);
    // SAFETY: `buf` is the caller's sds; the possibly moved pointer is returned.
    unsafe { glue_sds::cat(buf, &line) }
}

/// # Safety
/// `item` must be a live `aofInfo`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn aofListFree(item: *mut c_void) {
    // SAFETY: per the C caller's contract (list free method).
    unsafe { manifest_c::info_free(item as *mut aofInfo) }
}

/// # Safety
/// `item` must be a live `aofInfo`.
#[no_mangle]
pub unsafe extern "C" fn aofListDup(item: *mut c_void) -> *mut c_void {
    // SAFETY: per the C caller's contract (list dup method).
    unsafe { manifest_c::info_dup(item as *const aofInfo) as *mut c_void }
}

#[no_mangle]
pub extern "C" fn aofManifestCreate() -> *mut aofManifest {
    manifest_c::manifest_create()
}

/// # Safety
/// `am` must be a live manifest, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn aofManifestFree(am: *mut aofManifest) {
    // SAFETY: per the C caller's contract.
    unsafe { manifest_c::manifest_free(am) }
}

/// # Safety
/// `orig` must be a live manifest.
#[no_mangle]
pub unsafe extern "C" fn aofManifestDup(orig: *mut aofManifest) -> *mut aofManifest {
    process::assert(!orig.is_null(), c"orig != NULL");
    // SAFETY: per the C caller's contract.
    unsafe { manifest_c::manifest_dup(orig) }
}

/// # Safety
/// `am` must be a live manifest that the caller gives away: it becomes the server's and
/// the caller neither uses nor frees it afterwards (upstream's callers, the rewrite
/// done-handler and DEBUG LOADAOF's paths, pass a fresh `aofManifestDup` copy).
#[no_mangle]
pub unsafe extern "C" fn aofManifestFreeAndUpdate(am: *mut aofManifest) {
    // SAFETY: ownership of a live manifest passes to Rust (see above).
    unsafe { OwnedManifest::from_raw(am) }.install_as_server()
}

/// # Safety
/// `am` must be a live manifest.
#[no_mangle]
pub unsafe extern "C" fn getAofManifestAsString(am: *mut aofManifest) -> sds {
    process::assert(!am.is_null(), c"am != NULL");
    // SAFETY: per the C caller's contract.
    glue_sds::new(&unsafe { manifest_c::model_of(am) }.to_bytes())
}

#[no_mangle]
pub extern "C" fn aofLoadManifestFromDisk() {
    manifest::load_from_disk()
}

/// # Safety
/// `am_filepath` must be a NUL-terminated path. It is typed `sds` but upstream only
/// reads it as a C string, and redis-check-aof passes a plain `char *`.
#[no_mangle]
pub unsafe extern "C" fn aofLoadManifestFromFile(am_filepath: sds) -> *mut aofManifest {
    // SAFETY: per the C caller's contract.
    manifest::load_from_file(unsafe { std::ffi::CStr::from_ptr(am_filepath) }.to_bytes()).into_raw()
}

/// # Safety
/// `am` must be a live manifest that nothing else edits during the call.
#[no_mangle]
pub unsafe extern "C" fn getNewBaseFileNameAndMarkPreAsHistory(am: *mut aofManifest) -> sds {
    // SAFETY: per the C caller's contract.
    manifest::new_base_name(&mut unsafe { ManifestMut::from_raw(am) })
}

/// # Safety
/// `am` must be a live manifest that nothing else edits during the call.
#[no_mangle]
pub unsafe extern "C" fn getNewIncrAofName(am: *mut aofManifest, start_reploff: c_longlong) -> sds {
    // SAFETY: per the C caller's contract.
    manifest::new_incr_name(&mut unsafe { ManifestMut::from_raw(am) }, start_reploff)
}

#[no_mangle]
pub extern "C" fn getTempIncrAofName() -> sds {
    glue_sds::new(&manifest::temp_incr_name())
}

/// # Safety
/// `am` must be a live manifest that nothing else edits during the call.
#[no_mangle]
pub unsafe extern "C" fn getLastIncrAofName(am: *mut aofManifest) -> sds {
    // SAFETY: per the C caller's contract.
    manifest::last_incr_name(&mut unsafe { ManifestMut::from_raw(am) })
}

/// # Safety
/// `am` must be a live manifest that nothing else edits during the call.
#[no_mangle]
pub unsafe extern "C" fn markRewrittenIncrAofAsHistory(am: *mut aofManifest) {
    // SAFETY: per the C caller's contract.
    manifest::mark_rewritten_incr_as_history(&mut unsafe { ManifestMut::from_raw(am) })
}

/// # Safety
/// `buf` must be a valid sds.
#[no_mangle]
pub unsafe extern "C" fn writeAofManifestFile(buf: sds) -> c_int {
    // SAFETY: per the C caller's contract.
    manifest::write_manifest_file(unsafe { glue_sds::bytes(buf) })
}

/// # Safety
/// `am` must be a live manifest that nothing else edits during the call.
#[no_mangle]
pub unsafe extern "C" fn persistAofManifest(am: *mut aofManifest) -> c_int {
    // SAFETY: per the C caller's contract.
    manifest::persist(&mut unsafe { ManifestMut::from_raw(am) })
}

/// # Safety
/// `am` must be a live manifest that nothing else edits during the call.
#[no_mangle]
pub unsafe extern "C" fn aofUpgradePrepare(am: *mut aofManifest) {
    // SAFETY: per the C caller's contract.
    manifest::upgrade_prepare(&mut unsafe { ManifestMut::from_raw(am) })
}

#[no_mangle]
pub extern "C" fn aofDelHistoryFiles() -> c_int {
    manifest::delete_history_files()
}

#[no_mangle]
pub extern "C" fn aofDelTempIncrAofFile() {
    manifest::delete_temp_incr_file()
}

#[no_mangle]
pub extern "C" fn aofOpenIfNeededOnServerStart() {
    manifest::open_on_server_start()
}

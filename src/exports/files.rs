use super::load::status_code;
use crate::aof::files;
use crate::aof::status::{LoadStatus, SizeUnknown};
use aof_glue::bindings::{aofManifest, sds};
use aof_glue::manifest::ManifestRef;
use aof_glue::sds as glue_sds;
use libc::off_t;
use std::ffi::{c_char, c_int, CStr};

#[no_mangle]
pub extern "C" fn getAofManifestFileName() -> sds {
    glue_sds::new(&crate::aof::manifest::manifest_name())
}

#[no_mangle]
pub extern "C" fn getTempAofManifestFileName() -> sds {
    glue_sds::new(&crate::aof::manifest::temp_manifest_name())
}

#[no_mangle]
pub extern "C" fn updateCurIncrAofEndOffset() {
    crate::aof::manifest::record_incr_end_offset()
}

#[no_mangle]
pub extern "C" fn updateReplOffsetAndResetEndOffset() {
    crate::aof::manifest::restore_repl_offset_from_last_incr()
}

/// # Safety
/// `filename` must be a NUL-terminated string that stays allocated and unmodified for the
/// call. No upstream C outside aof.c calls this; aof.c passed `server.aof_filename`.
#[no_mangle]
pub unsafe extern "C" fn aofFileExist(filename: *mut c_char) -> c_int {
    // SAFETY: `filename` is NUL-terminated and live for this call (`# Safety`); the borrow
    // ends when file_exists returns.
    let name = unsafe { CStr::from_ptr(filename) }.to_bytes();
    files::file_exists(name) as c_int
}

/// Upstream's pair for a size: the size and `AOF_OK`, or 0 and the error status.
fn sized(size: Result<i64, SizeUnknown>) -> (off_t, c_int) {
    match size {
        Ok(size) => (size as off_t, status_code(LoadStatus::Ok)),
        Err(unknown) => (0, status_code(unknown.into())),
    }
}

/// # Safety
/// `filename` must be NUL-terminated (typed `sds`, read as a C string as upstream does) and
/// stay allocated and unmodified for the call; `status` NULL or a writable `int`. No
/// upstream C outside aof.c calls this; aof.c passed an entry's `file_name` (an sds owned
/// by the manifest) or the name returned by getLastIncrAofName, with `status` NULL.
#[no_mangle]
pub unsafe extern "C" fn getAppendOnlyFileSize(filename: sds, status: *mut c_int) -> off_t {
    // SAFETY: `filename` is NUL-terminated and live for this call (`# Safety`); the borrow
    // ends when file_size returns.
    let (size, file_status) = sized(files::file_size(
        unsafe { CStr::from_ptr(filename) }.to_bytes(),
    ));
    if !status.is_null() {
        // SAFETY: checked non-null; a non-null `status` is a writable int (`# Safety`).
        unsafe { *status = file_status };
    }
    size
}

/// # Safety
/// `am` must be a live manifest that nothing modifies during the call; `status` a
/// non-null, writable `int` (upstream's version writes it too). No upstream C outside
/// aof.c calls this; aof.c's loadAppendOnlyFiles passed its manifest and `&status`.
#[no_mangle]
pub unsafe extern "C" fn getBaseAndIncrAppendOnlyFilesSize(
    am: *mut aofManifest,
    status: *mut c_int,
) -> off_t {
    // SAFETY: `am` is a live manifest that nothing modifies during this call (`# Safety`);
    // the view ends with base_and_incr_size.
    let (size, files_status) = sized(files::base_and_incr_size(unsafe {
        ManifestRef::from_raw(am)
    }));
    // SAFETY: `status` is non-null and writable (`# Safety`).
    unsafe { *status = files_status };
    size
}

/// # Safety
/// `am` must be a live manifest that nothing modifies during the call. No upstream C
/// outside aof.c calls this; aof.c's loadAppendOnlyFiles passed its manifest.
#[no_mangle]
pub unsafe extern "C" fn getBaseAndIncrAppendOnlyFilesNum(am: *mut aofManifest) -> c_int {
    // SAFETY: `am` is a live manifest that nothing modifies during this call (`# Safety`);
    // the view ends with base_and_incr_count.
    files::base_and_incr_count(unsafe { ManifestRef::from_raw(am) }) as c_int
}

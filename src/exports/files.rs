use crate::aof::files;
use crate::glue::bindings::{aofManifest, sds};
use crate::glue::manifest::ManifestRef;
use libc::off_t;
use std::ffi::{c_char, c_int, CStr};

#[no_mangle]
pub extern "C" fn getAofManifestFileName() -> sds {
    files::manifest_file_name()
}

#[no_mangle]
pub extern "C" fn getTempAofManifestFileName() -> sds {
    files::temp_manifest_file_name()
}

#[no_mangle]
pub extern "C" fn updateCurIncrAofEndOffset() {
    files::record_incr_end_offset()
}

#[no_mangle]
pub extern "C" fn updateReplOffsetAndResetEndOffset() {
    files::restore_repl_offset_from_last_incr()
}

/// # Safety
/// `filename` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aofFileExist(filename: *mut c_char) -> c_int {
    // SAFETY: per the C caller's contract.
    let name = unsafe { CStr::from_ptr(filename) }.to_bytes();
    files::file_exists(name) as c_int
}

/// # Safety
/// `filename` must be NUL-terminated (typed `sds`, read as a C string as upstream does);
/// `status` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn getAppendOnlyFileSize(filename: sds, status: *mut c_int) -> off_t {
    // SAFETY: per the C caller's contract.
    let (size, file_status) = files::file_size(unsafe { CStr::from_ptr(filename) }.to_bytes());
    if !status.is_null() {
        // SAFETY: checked non-null; the caller provides a writable int.
        unsafe { *status = file_status };
    }
    size
}

/// # Safety
/// `am` must be a valid manifest; `status` writable.
#[no_mangle]
pub unsafe extern "C" fn getBaseAndIncrAppendOnlyFilesSize(
    am: *mut aofManifest,
    status: *mut c_int,
) -> off_t {
    // SAFETY: per the C caller's contract.
    let (size, files_status) = files::base_and_incr_size(unsafe { ManifestRef::from_raw(am) });
    // SAFETY: upstream callers always pass a status.
    unsafe { *status = files_status };
    size
}

/// # Safety
/// `am` must be a valid manifest.
#[no_mangle]
pub unsafe extern "C" fn getBaseAndIncrAppendOnlyFilesNum(am: *mut aofManifest) -> c_int {
    // SAFETY: per the C caller's contract.
    files::base_and_incr_count(unsafe { ManifestRef::from_raw(am) }) as c_int
}

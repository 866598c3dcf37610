use crate::aof::{load, load_file};
use crate::glue::aof_client;
use crate::glue::bindings::{aofManifest, client};
use crate::glue::manifest::ManifestHandle;
use std::ffi::{c_char, c_int, CStr};

#[no_mangle]
pub extern "C" fn createAOFClient() -> *mut client {
    aof_client::create_raw()
}

/// # Safety
/// `filename` must be a NUL-terminated file name within `appenddirname`.
#[no_mangle]
pub unsafe extern "C" fn loadSingleAppendOnlyFile(filename: *mut c_char) -> c_int {
    // SAFETY: per the C caller's contract.
    let name = unsafe { CStr::from_ptr(filename) }.to_bytes();
    load_file::load_single_file(name)
}

/// # Safety
/// `am` must be the valid manifest to load.
#[no_mangle]
pub unsafe extern "C" fn loadAppendOnlyFiles(am: *mut aofManifest) -> c_int {
    crate::glue::process::assert(!am.is_null(), c"am != NULL");
    // SAFETY: per the C caller's contract; only this call uses it meanwhile.
    let mut manifest = unsafe { ManifestHandle::from_raw(am) };
    load::load_all(&mut manifest)
}

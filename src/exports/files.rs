use crate::aof::files;
use crate::glue::bindings::sds;

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

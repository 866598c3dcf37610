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

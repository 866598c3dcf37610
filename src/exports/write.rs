use crate::aof::write;
use std::ffi::c_int;

#[no_mangle]
pub extern "C" fn aofFsyncInProgress() -> c_int {
    write::fsync_in_progress() as c_int
}

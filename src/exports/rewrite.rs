use crate::aof::rewrite;
use std::ffi::c_int;

#[no_mangle]
pub extern "C" fn aofRewriteLimited() -> c_int {
    rewrite::rewrite_limited() as c_int
}

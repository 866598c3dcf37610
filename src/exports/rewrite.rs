use crate::aof::rewrite;
use crate::glue::bindings::client;
use crate::glue::client::Client;
use std::ffi::c_int;

#[no_mangle]
pub extern "C" fn aofRewriteLimited() -> c_int {
    rewrite::rewrite_limited() as c_int
}

#[no_mangle]
pub extern "C" fn aofRemoveTempFile(childpid: libc::pid_t) {
    rewrite::remove_temp_files(childpid)
}

/// # Safety
/// `c` must be the live client running the command.
#[no_mangle]
pub unsafe extern "C" fn bgrewriteaofCommand(c: *mut client) {
    // SAFETY: per the command table's contract.
    let client = unsafe { Client::from_raw(c) };
    rewrite::bgrewriteaof_command(&client)
}

#[no_mangle]
pub extern "C" fn openNewIncrAofForAppend() -> c_int {
    rewrite::open_new_incr_for_append()
}

#[no_mangle]
pub extern "C" fn rewriteAppendOnlyFileBackground() -> c_int {
    rewrite::rewrite_background()
}

#[no_mangle]
pub extern "C" fn backgroundRewriteDoneHandler(exitcode: c_int, bysignal: c_int) {
    rewrite::rewrite_done(exitcode, bysignal)
}

use crate::aof::{start_stop, write};
use crate::glue::bindings::{robj, sds};
use crate::glue::object::Argv;
use crate::glue::sds as glue_sds;
use aof_core::resp;
use std::ffi::{c_char, c_int};

#[no_mangle]
pub extern "C" fn aofFsyncInProgress() -> c_int {
    write::fsync_in_progress() as c_int
}

#[no_mangle]
pub extern "C" fn aof_background_fsync(fd: c_int) {
    write::background_fsync(fd)
}

#[no_mangle]
pub extern "C" fn aof_background_fsync_and_close(fd: c_int) {
    write::background_fsync_and_close(fd)
}

/// # Safety
/// `buf` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn aofWrite(fd: c_int, buf: *const c_char, len: usize) -> libc::ssize_t {
    let bytes = if len == 0 {
        &[][..]
    } else {
        // SAFETY: per the C caller's contract.
        unsafe { std::slice::from_raw_parts(buf as *const u8, len) }
    };
    match write::write_all(fd, bytes) {
        Ok(n) => n as libc::ssize_t,
        Err(errno) => {
            errno.set_current();
            -1
        }
    }
}

#[no_mangle]
pub extern "C" fn flushAppendOnlyFile(force: c_int) {
    write::flush(force != 0)
}

/// # Safety
/// `argv` must hold `argc` live string objects.
#[no_mangle]
pub unsafe extern "C" fn feedAppendOnlyFile(dictid: c_int, argv: *mut *mut robj, argc: c_int) {
    // SAFETY: per the C caller's contract (call(), propagation, modules).
    let argv = unsafe { Argv::from_raw(argv, argc) };
    write::feed(dictid, &argv)
}

/// # Safety
/// `dst` must be a valid sds owned by the caller; `argv` must hold `argc` live string
/// objects. The returned sds replaces `dst`.
#[no_mangle]
pub unsafe extern "C" fn catAppendOnlyGenericCommand(
    mut dst: sds,
    argc: c_int,
    argv: *mut *mut robj,
) -> sds {
    // SAFETY: per the C caller's contract.
    let argv = unsafe { Argv::from_raw(argv, argc) };
    let len = write::command_record_len(&argv);
    // SAFETY: `dst` is the caller's sds; the possibly moved pointer is returned.
    unsafe {
        glue_sds::append_in_place(&mut dst, len, |region| {
            write::write_command_record(&argv, region)
        })
    };
    dst
}

#[no_mangle]
pub extern "C" fn genAofTimestampAnnotationIfNeeded(force: c_int) -> sds {
    match write::next_timestamp_annotation(force != 0) {
        Some(ts) => glue_sds::new(&resp::encode_timestamp_annotation(ts)),
        None => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn killAppendOnlyChild() {
    start_stop::kill_rewrite_child()
}

#[no_mangle]
pub extern "C" fn stopAppendOnly() {
    start_stop::stop()
}

#[no_mangle]
pub extern "C" fn startAppendOnly() -> c_int {
    start_stop::start()
}

#[no_mangle]
pub extern "C" fn startAppendOnlyWithRetry() {
    start_stop::start_with_retry()
}

#[no_mangle]
pub extern "C" fn applyAppendOnlyConfig() {
    start_stop::apply_config()
}

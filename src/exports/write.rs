use crate::aof::{start_stop, write};
use aof_core::resp;
use aof_glue::bindings::{robj, sds};
use aof_glue::object::Argv;
use aof_glue::sds as glue_sds;
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
/// Unless `len` is 0, `buf` must point to `len` readable bytes that nothing modifies
/// during the call. No upstream C outside aof.c calls this; aof.c's flushAppendOnlyFile
/// passed `server.aof_buf` and its sdslen.
#[no_mangle]
pub unsafe extern "C" fn aofWrite(fd: c_int, buf: *const c_char, len: usize) -> libc::ssize_t {
    let bytes = if len == 0 {
        &[][..]
    } else {
        // SAFETY: `len` > 0, so `buf` points to `len` readable bytes, unmodified during
        // this call (`# Safety`); the slice ends with it.
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
/// `argv` must point to `argc` pointers to live string objects (raw, embstr or
/// int-encoded), none modified during the call. The only upstream caller, server.c's
/// propagateNow, passes `&shared.multi` or `&shared.exec` with `argc` 1, or an op of
/// `server.also_propagate`: an argv array alsoPropagate copied, holding a reference to
/// each object until redisOpArrayFree after the loop. Its objects are command arguments
/// or string objects built for propagation (e.g. by RM_Replicate).
#[no_mangle]
pub unsafe extern "C" fn feedAppendOnlyFile(dictid: c_int, argv: *mut *mut robj, argc: c_int) {
    // SAFETY: `argv` holds `argc` live string objects, unmodified during this call
    // (`# Safety`), as Argv::from_raw requires; `argv` does not outlive the call.
    let argv = unsafe { Argv::from_raw(argv, argc) };
    write::feed(dictid, &argv)
}

/// # Safety
/// `dst` must be a live sds the caller owns, which this call may reallocate: the returned
/// sds replaces it. `argv` must point to `argc` pointers to live string objects, none
/// modified during the call. No upstream C outside aof.c calls this; aof.c's
/// feedAppendOnlyFile passed its buffer and the propagated argv.
#[no_mangle]
pub unsafe extern "C" fn catAppendOnlyGenericCommand(
    mut dst: sds,
    argc: c_int,
    argv: *mut *mut robj,
) -> sds {
    // SAFETY: `argv` holds `argc` live string objects, unmodified during this call
    // (`# Safety`), as Argv::from_raw requires; `argv` does not outlive the call.
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
    super::c_status(start_stop::start())
}

#[no_mangle]
pub extern "C" fn startAppendOnlyWithRetry() {
    start_stop::start_with_retry()
}

#[no_mangle]
pub extern "C" fn applyAppendOnlyConfig() {
    start_stop::apply_config()
}

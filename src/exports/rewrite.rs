use crate::aof::rewrite;
use crate::aof::rewrite_child::{self, RewriteOut};
use crate::glue::bindings::client;
use crate::glue::bindings::{rio, robj, streamConsumer, streamID, streamNACK};
use crate::glue::client::Client;
use crate::glue::dataset::{KeyObject, RioSink, Value};
use crate::glue::object::{self, StringValue};
use crate::glue::sds as glue_sds;
use crate::glue::stream::{self, StreamId};
use std::ffi::c_int;
use std::ffi::{c_char, CStr};

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

/// The key of a rewrite call as bytes (keys are strings; an integer-encoded one is
/// written in decimal, as upstream's bulk writer does).
///
/// # Safety
/// `key` must be a live string object.
unsafe fn key_bytes(key: *mut robj) -> Vec<u8> {
    // SAFETY: per the caller's contract.
    match unsafe { object::string_value(key) } {
        StringValue::Bytes(b) => b.to_vec(),
        StringValue::Int(n) => n.to_string().into_bytes(),
    }
}

/// Runs one per-type writer over the C rio and flushes it: 1 on success, 0 on error.
///
/// # Safety
/// `r` must be a live rio, `key` a live string object, `o` a live object of the type
/// `write` expects.
unsafe fn write_through(
    r: *mut rio,
    key: *mut robj,
    o: *mut robj,
    write: fn(&mut RewriteOut<'_>, &[u8], Value) -> bool,
) -> c_int {
    // SAFETY: per the caller's contract.
    let (sink, key, value) = unsafe { (RioSink::from_raw(r), key_bytes(key), Value::from_raw(o)) };
    let mut out = RewriteOut::new(&sink);
    (write(&mut out, &key, value) && out.flush()) as c_int
}

/// # Safety
/// `r` must be a live rio, `obj` a live string object.
#[no_mangle]
pub unsafe extern "C" fn rioWriteBulkObject(r: *mut rio, obj: *mut robj) -> c_int {
    // SAFETY: per the C caller's contract.
    let (sink, value) = unsafe { (RioSink::from_raw(r), object::string_value(obj)) };
    let mut out = RewriteOut::new(&sink);
    rewrite_child::write_string_object(&mut out, value);
    out.flush() as c_int
}

/// # Safety
/// See [`write_through`].
#[no_mangle]
pub unsafe extern "C" fn rewriteListObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int {
    // SAFETY: per the C caller's contract.
    unsafe { write_through(r, key, o, rewrite_child::write_list) }
}

/// # Safety
/// See [`write_through`].
#[no_mangle]
pub unsafe extern "C" fn rewriteSetObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int {
    // SAFETY: per the C caller's contract.
    unsafe { write_through(r, key, o, rewrite_child::write_set) }
}

/// # Safety
/// See [`write_through`].
#[no_mangle]
pub unsafe extern "C" fn rewriteSortedSetObject(
    r: *mut rio,
    key: *mut robj,
    o: *mut robj,
) -> c_int {
    // SAFETY: per the C caller's contract.
    unsafe { write_through(r, key, o, rewrite_child::write_sorted_set) }
}

/// # Safety
/// See [`write_through`].
#[no_mangle]
pub unsafe extern "C" fn rewriteHashObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int {
    // SAFETY: per the C caller's contract.
    unsafe { write_through(r, key, o, rewrite_child::write_hash) }
}

/// # Safety
/// `aof` must be a live rio.
#[no_mangle]
pub unsafe extern "C" fn rewriteAppendOnlyFileRio(aof: *mut rio) -> c_int {
    // SAFETY: per the C caller's contract.
    rewrite_child::rewrite_dataset(&unsafe { RioSink::from_raw(aof) })
}

/// # Safety
/// `filename` must be a NUL-terminated path.
#[no_mangle]
pub unsafe extern "C" fn rewriteAppendOnlyFile(filename: *mut c_char) -> c_int {
    // SAFETY: per the C caller's contract.
    rewrite_child::rewrite_to_file(unsafe { CStr::from_ptr(filename) }.to_bytes())
}

/// # Safety
/// See [`write_through`].
#[no_mangle]
pub unsafe extern "C" fn rewriteStreamObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int {
    // SAFETY: per the C caller's contract.
    unsafe { write_through(r, key, o, rewrite_child::write_stream) }
}

/// # Safety
/// `r` must be a live rio and `id` a valid stream ID.
#[no_mangle]
pub unsafe extern "C" fn rioWriteBulkStreamID(r: *mut rio, id: *mut streamID) -> c_int {
    // SAFETY: per the C caller's contract.
    let (sink, id) = unsafe { (RioSink::from_raw(r), StreamId::from(*id)) };
    let mut out = RewriteOut::new(&sink);
    rewrite_child::write_stream_id(&mut out, id);
    out.flush() as c_int
}

/// # Safety
/// `r` a live rio, `key` a live string object, `groupname` `groupname_len` readable
/// bytes, `consumer` a live consumer, `rawid` a 16-byte encoded ID, `nack` a live NACK.
#[no_mangle]
pub unsafe extern "C" fn rioWriteStreamPendingEntry(
    r: *mut rio,
    key: *mut robj,
    groupname: *const c_char,
    groupname_len: usize,
    consumer: *mut streamConsumer,
    rawid: *mut u8,
    nack: *mut streamNACK,
) -> c_int {
    // SAFETY: per the C caller's contract.
    unsafe {
        let sink = RioSink::from_raw(r);
        let key = key_bytes(key);
        let group = std::slice::from_raw_parts(groupname as *const u8, groupname_len);
        let consumer = glue_sds::bytes((*consumer).name);
        let pending = stream::decode_pending(rawid, &*nack);
        let mut out = RewriteOut::new(&sink);
        rewrite_child::write_pending_entry(&mut out, &key, group, consumer, &pending);
        out.flush() as c_int
    }
}

/// # Safety
/// `r` a live rio, `key` a live string object, `groupname` `groupname_len` readable
/// bytes, `consumer` a live consumer.
#[no_mangle]
pub unsafe extern "C" fn rioWriteStreamEmptyConsumer(
    r: *mut rio,
    key: *mut robj,
    groupname: *const c_char,
    groupname_len: usize,
    consumer: *mut streamConsumer,
) -> c_int {
    // SAFETY: per the C caller's contract.
    unsafe {
        let sink = RioSink::from_raw(r);
        let key = key_bytes(key);
        let group = std::slice::from_raw_parts(groupname as *const u8, groupname_len);
        let mut out = RewriteOut::new(&sink);
        rewrite_child::write_empty_consumer(
            &mut out,
            &key,
            group,
            glue_sds::bytes((*consumer).name),
        );
        out.flush() as c_int
    }
}

/// # Safety
/// `r` a live rio, `key` a live string object, `o` a live module-type object.
#[no_mangle]
pub unsafe extern "C" fn rewriteModuleObject(
    r: *mut rio,
    key: *mut robj,
    o: *mut robj,
    dbid: c_int,
) -> c_int {
    // SAFETY: per the C caller's contract.
    let (sink, key, value) = unsafe {
        (
            RioSink::from_raw(r),
            KeyObject::from_raw(key),
            Value::from_raw(o),
        )
    };
    crate::glue::dataset::rewrite_module_value(&sink, &key, value, dbid) as c_int
}

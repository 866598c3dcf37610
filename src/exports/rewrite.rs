use crate::aof::rewrite;
use crate::aof::rewrite_child::{self, RewriteOut};
use aof_glue::bindings::client;
use aof_glue::bindings::{rio, robj, streamConsumer, streamID, streamNACK};
use aof_glue::client::Client;
use aof_glue::module_value::KeyObject;
use aof_glue::object::{self, StringValue};
use aof_glue::rio_sink::RioSink;
use aof_glue::sds as glue_sds;
use aof_glue::stream::{self, StreamId};
use aof_glue::value::Value;
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
/// `c` must be the live client running the command. Upstream calls this only as the
/// `proc` of BGREWRITEAOF's command-table entry (commands.def): from call() with the
/// command's client, or, when a loaded AOF holds the command, with the AOF client.
#[no_mangle]
pub unsafe extern "C" fn bgrewriteaofCommand(c: *mut client) {
    // SAFETY: `c` is the live client running BGREWRITEAOF (`# Safety`), live for the call.
    let client = unsafe { Client::from_raw(c) };
    rewrite::bgrewriteaof_command(&client)
}

#[no_mangle]
pub extern "C" fn openNewIncrAofForAppend() -> c_int {
    super::c_status(rewrite::open_new_incr_for_append())
}

#[no_mangle]
pub extern "C" fn rewriteAppendOnlyFileBackground() -> c_int {
    super::c_status(rewrite::rewrite_background())
}

#[no_mangle]
pub extern "C" fn backgroundRewriteDoneHandler(exitcode: c_int, bysignal: c_int) {
    rewrite::rewrite_done(exitcode, bysignal)
}

/// The key of a rewrite call as bytes (keys are strings; an integer-encoded one is
/// written in decimal, as upstream's bulk writer does).
///
/// # Safety
/// `key` must point to a live string object (raw, embstr or int-encoded) that nothing
/// modifies during the call.
unsafe fn key_bytes(key: *mut robj) -> Vec<u8> {
    // SAFETY: `key` is a live string object, unmodified during this call (the caller's
    // `# Safety`); its bytes are copied before the call returns.
    match unsafe { object::string_value(key) } {
        StringValue::Bytes(b) => b.to_vec(),
        StringValue::Int(n) => n.to_string().into_bytes(),
    }
}

/// Runs one per-type writer over the C rio and flushes it: 1 on success, 0 on error.
///
/// # Safety
/// `r` must be a live rio that nothing else writes during the call; `key` a live string
/// object and `o` a live object, neither modified nor freed during the call. (`write`
/// asserts `o`'s type, aborting on a mismatch.)
unsafe fn write_through(
    r: *mut rio,
    key: *mut robj,
    o: *mut robj,
    write: fn(&mut RewriteOut<'_>, &[u8], Value) -> bool,
) -> c_int {
    // SAFETY: `r`, `key` and `o` are live for this call, `r` is written only through
    // `sink`, and `key` and `o` stay unmodified (the caller's `# Safety`); none of the
    // three borrows outlives the call.
    let (sink, key, value) = unsafe { (RioSink::from_raw(r), key_bytes(key), Value::from_raw(o)) };
    let mut out = RewriteOut::new(&sink);
    (write(&mut out, &key, value) && out.flush()) as c_int
}

/// # Safety
/// `r` must be a live rio that nothing else writes during the call; `obj` a live string
/// object (raw, embstr or int-encoded) that nothing modifies during it. The only upstream
/// caller outside aof.c is module.c's RM_EmitAOF, run by a module type's `aof_rewrite`
/// callback during a rewrite: `r` is `io->rio`, the rio rewrite_module_value lent the
/// callback, and `obj` a string object moduleCreateArgvFromUserFormat built, which
/// RM_EmitAOF releases only after this returns.
#[no_mangle]
pub unsafe extern "C" fn rioWriteBulkObject(r: *mut rio, obj: *mut robj) -> c_int {
    // SAFETY: `r` is a live rio written only through `sink` during this call and `obj` a
    // live string object, unmodified meanwhile (`# Safety`); both borrows end with it.
    let (sink, value) = unsafe { (RioSink::from_raw(r), object::string_value(obj)) };
    let mut out = RewriteOut::new(&sink);
    rewrite_child::write_string_object(&mut out, value);
    out.flush() as c_int
}

/// # Safety
/// As `write_through`: `r` a live rio that nothing else writes during the call; `key` a
/// live string object and `o` a live list object, neither modified nor freed during
/// the call. No upstream C outside aof.c calls this; aof.c's rewriteAppendOnlyFileRio
/// passed its rio, a stack key object and the db's value.
#[no_mangle]
pub unsafe extern "C" fn rewriteListObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int {
    // SAFETY: `r`, `key` and `o` meet write_through's `# Safety`, which is this function's.
    unsafe { write_through(r, key, o, rewrite_child::write_list) }
}

/// # Safety
/// As `write_through`: `r` a live rio that nothing else writes during the call; `key` a
/// live string object and `o` a live set object, neither modified nor freed during
/// the call. No upstream C outside aof.c calls this; aof.c's rewriteAppendOnlyFileRio
/// passed its rio, a stack key object and the db's value.
#[no_mangle]
pub unsafe extern "C" fn rewriteSetObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int {
    // SAFETY: `r`, `key` and `o` meet write_through's `# Safety`, which is this function's.
    unsafe { write_through(r, key, o, rewrite_child::write_set) }
}

/// # Safety
/// As `write_through`: `r` a live rio that nothing else writes during the call; `key` a
/// live string object and `o` a live sorted-set object, neither modified nor freed during
/// the call. No upstream C outside aof.c calls this; aof.c's rewriteAppendOnlyFileRio
/// passed its rio, a stack key object and the db's value.
#[no_mangle]
pub unsafe extern "C" fn rewriteSortedSetObject(
    r: *mut rio,
    key: *mut robj,
    o: *mut robj,
) -> c_int {
    // SAFETY: `r`, `key` and `o` meet write_through's `# Safety`, which is this function's.
    unsafe { write_through(r, key, o, rewrite_child::write_sorted_set) }
}

/// # Safety
/// As `write_through`: `r` a live rio that nothing else writes during the call; `key` a
/// live string object and `o` a live hash object, neither modified nor freed during
/// the call. No upstream C outside aof.c calls this; aof.c's rewriteAppendOnlyFileRio
/// passed its rio, a stack key object and the db's value.
#[no_mangle]
pub unsafe extern "C" fn rewriteHashObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int {
    // SAFETY: `r`, `key` and `o` meet write_through's `# Safety`, which is this function's.
    unsafe { write_through(r, key, o, rewrite_child::write_hash) }
}

/// # Safety
/// `aof` must be a live rio that nothing else writes during the call. No upstream C outside
/// aof.c calls this; aof.c's rewriteAppendOnlyFile passed a file rio over its temp file.
#[no_mangle]
pub unsafe extern "C" fn rewriteAppendOnlyFileRio(aof: *mut rio) -> c_int {
    // SAFETY: `aof` is a live rio written only through this sink during the call
    // (`# Safety`); the sink ends with it.
    super::c_status(rewrite_child::rewrite_dataset(&unsafe {
        RioSink::from_raw(aof)
    }))
}

/// # Safety
/// `filename` must be a NUL-terminated path, allocated and unmodified for the call. No
/// upstream C outside aof.c calls this; aof.c passed an sds from makePath, or in the
/// rewrite child a stack buffer.
#[no_mangle]
pub unsafe extern "C" fn rewriteAppendOnlyFile(filename: *mut c_char) -> c_int {
    // SAFETY: `filename` is NUL-terminated and live for this call (`# Safety`); the borrow
    // ends with rewrite_to_file.
    super::c_status(rewrite_child::rewrite_to_file(
        unsafe { CStr::from_ptr(filename) }.to_bytes(),
    ))
}

/// # Safety
/// As `write_through`: `r` a live rio that nothing else writes during the call; `key` a
/// live string object and `o` a live stream object, neither modified nor freed during
/// the call. No upstream C outside aof.c calls this; aof.c's rewriteAppendOnlyFileRio
/// passed its rio, a stack key object and the db's value.
#[no_mangle]
pub unsafe extern "C" fn rewriteStreamObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int {
    // SAFETY: `r`, `key` and `o` meet write_through's `# Safety`, which is this function's.
    unsafe { write_through(r, key, o, rewrite_child::write_stream) }
}

/// # Safety
/// `r` must be a live rio that nothing else writes during the call, `id` a readable
/// `streamID`. No upstream C outside aof.c calls this; aof.c's rewriteStreamObject passed
/// IDs of the stream it was writing.
#[no_mangle]
pub unsafe extern "C" fn rioWriteBulkStreamID(r: *mut rio, id: *mut streamID) -> c_int {
    // SAFETY: `r` is a live rio written only through `sink` during this call and `id` a
    // readable streamID (`# Safety`), copied here.
    let (sink, id) = unsafe { (RioSink::from_raw(r), StreamId::from(*id)) };
    let mut out = RewriteOut::new(&sink);
    rewrite_child::write_stream_id(&mut out, id);
    out.flush() as c_int
}

/// # Safety
/// For the call, and unmodified meanwhile: `r` a live rio that nothing else writes, `key`
/// a live string object, `groupname` `groupname_len` readable bytes, `consumer` a live
/// consumer (its `name` an sds), `rawid` 16 readable bytes (an encoded stream ID), `nack` a
/// readable NACK. No upstream C outside aof.c calls this; aof.c's rewriteStreamObject
/// passed a group's rax key, one of its consumers, and a PEL entry's rax key and data.
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
    // SAFETY: each pointer is live and unmodified for this call, and `r` written only
    // through `sink` (`# Safety`): what RioSink::from_raw, key_bytes, from_raw_parts,
    // sds::bytes and decode_pending require. No borrow outlives the call.
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
/// For the call, and unmodified meanwhile: `r` a live rio that nothing else writes, `key`
/// a live string object, `groupname` `groupname_len` readable bytes, `consumer` a live
/// consumer (its `name` an sds). No upstream C outside aof.c calls this; aof.c's
/// rewriteStreamObject passed a group's rax key and one of its consumers.
#[no_mangle]
pub unsafe extern "C" fn rioWriteStreamEmptyConsumer(
    r: *mut rio,
    key: *mut robj,
    groupname: *const c_char,
    groupname_len: usize,
    consumer: *mut streamConsumer,
) -> c_int {
    // SAFETY: each pointer is live and unmodified for this call, and `r` written only
    // through `sink` (`# Safety`): what RioSink::from_raw, key_bytes, from_raw_parts and
    // sds::bytes require. No borrow outlives the call.
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
/// For the call: `r` a live rio that nothing writes but this call (the type's callback
/// writes to it through rioWriteBulkObject); `key` a live string object and `o` a live
/// module-type object, neither modified nor freed. No upstream C outside aof.c calls this;
/// aof.c's rewriteAppendOnlyFileRio passed its rio, a stack key object and the db's value.
#[no_mangle]
pub unsafe extern "C" fn rewriteModuleObject(
    r: *mut rio,
    key: *mut robj,
    o: *mut robj,
    dbid: c_int,
) -> c_int {
    // SAFETY: `r`, `key` and `o` are live for this call, `r` is written only by it, and
    // `key` and `o` stay unmodified (`# Safety`); the three borrows end with it.
    let (sink, key, value) = unsafe {
        (
            RioSink::from_raw(r),
            KeyObject::from_raw(key),
            Value::from_raw(o),
        )
    };
    rewrite_child::write_module_value(&sink, &key, value, dbid) as c_int
}

/// # Safety
/// For the call: `r` a live rio that nothing else writes (any kind: a file, a connection,
/// a buffer), `key` a live string object and `o` a live value of the keyspace, neither
/// modified nor freed. Upstream's callers: aof.c's rewriteAppendOnlyFileRio (its rio, a
/// stack key object, the db's value) and, in 8.6, cluster_asm.c's slot snapshot child
/// (slotSnapshotSaveKeyValuePair: a connection or pipe rio, a stack key object over the
/// value's embedded key, the value, and its expiry from kvobjGetExpire).
#[cfg(exports_rewrite_object)]
#[no_mangle]
pub unsafe extern "C" fn rewriteObject(
    r: *mut rio,
    key: *mut robj,
    o: *mut robj,
    dbid: c_int,
    expiretime: std::ffi::c_longlong,
) -> c_int {
    // SAFETY: `r`, `key` and `o` are live for this call, `r` is written only through
    // `sink`, and `key` and `o` stay unmodified (`# Safety`); no borrow outlives the call.
    let (sink, key, value) = unsafe { (RioSink::from_raw(r), key_bytes(key), Value::from_raw(o)) };
    let mut out = RewriteOut::new(&sink);
    let written =
        rewrite_child::write_object(&mut out, dbid, &key, value, expiretime) && out.flush();
    super::c_status(if written { Ok(()) } else { Err(()) })
}

/// # Safety
/// For the call, and unmodified meanwhile: `r` a live rio that nothing else writes, `key`
/// a live string object, `pid` `pid_len` readable bytes, `entry` a live idmpEntry (its IID
/// inline, `iid_len` bytes). No upstream C outside aof.c calls this; aof.c's
/// rewriteStreamObject passed a producer's rax key and one of its entries.
#[cfg(stream_idmp)]
#[no_mangle]
pub unsafe extern "C" fn rioWriteStreamIdmpEntry(
    r: *mut rio,
    key: *mut robj,
    pid: *const c_char,
    pid_len: usize,
    entry: *mut aof_glue::bindings::idmpEntry,
) -> c_int {
    // SAFETY: each pointer is live and unmodified for this call, and `r` written only
    // through `sink` (`# Safety`): what RioSink::from_raw, key_bytes and from_raw_parts
    // require. No borrow outlives the call.
    unsafe {
        let sink = RioSink::from_raw(r);
        let key = key_bytes(key);
        let producer = std::slice::from_raw_parts(pid as *const u8, pid_len);
        let e = &*entry;
        let iid = std::slice::from_raw_parts(e.iid.as_ptr() as *const u8, e.iid_len);
        let mut out = RewriteOut::new(&sink);
        rewrite_child::write_idmp_entry(&mut out, &key, producer, iid, StreamId::from(e.id));
        out.flush() as c_int
    }
}

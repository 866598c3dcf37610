use crate::aof::status::LoadStatus;
use crate::aof::{load, load_file};
use aof_glue::bindings::{self, aofManifest, client};
use aof_glue::manifest::ManifestHandle;
use std::ffi::{c_char, c_int, CStr};

/// The one place a loading status becomes upstream's int (server.h's `AOF_OK` ...
/// `AOF_BROKEN_RECOVERED`), for C callers.
pub(crate) fn status_code(status: LoadStatus) -> c_int {
    (match status {
        LoadStatus::Ok => bindings::AOF_OK,
        LoadStatus::NotExist => bindings::AOF_NOT_EXIST,
        LoadStatus::Empty => bindings::AOF_EMPTY,
        LoadStatus::OpenErr => bindings::AOF_OPEN_ERR,
        LoadStatus::Failed => bindings::AOF_FAILED,
        LoadStatus::Truncated => bindings::AOF_TRUNCATED,
        #[cfg(corrupt_tail_recovery)]
        LoadStatus::BrokenRecovered => bindings::AOF_BROKEN_RECOVERED,
        // Only a release with aof-load-corrupt-tail-max-size recovers a corrupt tail.
        #[cfg(not(corrupt_tail_recovery))]
        LoadStatus::BrokenRecovered => {
            aof_glue::process::panic("AOF_BROKEN_RECOVERED on a release without it")
        }
    }) as c_int
}

#[no_mangle]
pub extern "C" fn createAOFClient() -> *mut client {
    load_file::aof_client().into_raw()
}

/// # Safety
/// `filename` must be a NUL-terminated file name within `appenddirname` that stays
/// allocated and unmodified for the whole call, while commands replay and
/// processEventsWhileBlocked serves clients. No upstream C outside aof.c calls this
/// (server.h only declares it); aof.c's loadAppendOnlyFiles passed each entry's
/// `file_name`, an sds of the manifest (this crate's loader uses copies).
#[no_mangle]
pub unsafe extern "C" fn loadSingleAppendOnlyFile(filename: *mut c_char) -> c_int {
    // SAFETY: `filename` is NUL-terminated and live until this call returns (`# Safety`);
    // the borrow ends with load_single_file.
    let name = unsafe { CStr::from_ptr(filename) }.to_bytes();
    status_code(load_file::load_single_file(name))
}

/// # Safety
/// `am` must be a live manifest that nothing else reads or edits until the first command
/// is replayed. Upstream's callers pass `server.aof_manifest`: server.c's loadDataFromDisk
/// at start-up, and debug.c's DEBUG LOADAOF right after aofLoadManifestFromDisk installed
/// it. Past that point upstream guarantees nothing: processEventsWhileBlocked runs
/// flushAppendOnlyFile and clients' commands allowed while loading (DEBUG LOADAOF frees
/// `am`, CONFIG SET aof-disable-auto-gc edits it through aofDelHistoryFiles), so `am` is
/// not used after load_all has copied the file names, which it does before any replay.
#[no_mangle]
pub unsafe extern "C" fn loadAppendOnlyFiles(am: *mut aofManifest) -> c_int {
    aof_glue::process::assert(!am.is_null(), c"am != NULL");
    // SAFETY: `am` is non-null (asserted above) and a live manifest that nothing else
    // touches until the first replayed command (`# Safety`); load_all reads and edits it
    // only before then.
    let manifest = unsafe { ManifestHandle::from_raw(am) };
    status_code(load::load_all(manifest))
}

/// The patched RDB loader's call for each key's value (redis-patch/0003, in place of
/// `rdbLoadObject` in `rdbLoadRioWithLoadingCtx`): on the stream of an RDB BASE being
/// loaded with its reading thread, the value the thread built ahead
/// (src/aof/rdb_read_ahead.rs); anywhere else, upstream's `rdbLoadObject` itself.
///
/// # Safety
/// The arguments of upstream's `rdbLoadObject` call there, on the main thread: `rdb`
/// the loader's live rio, `key` its key (an sds it frees itself), `error` its local.
#[no_mangle]
pub unsafe extern "C" fn redis_aof_rdb_load_value(
    rdbtype: c_int,
    rdb: *mut bindings::rio,
    key: bindings::sds,
    dbid: c_int,
    error: *mut c_int,
) -> *mut bindings::robj {
    // SAFETY: upstream's own arguments, forwarded (`# Safety`).
    unsafe { aof_glue::rdb_stream::load_value(rdbtype, rdb, key, dbid, error) }
}

/// The patched `dbAddRDBLoad`'s call to make the object it inserts (redis-patch/8.6/0004,
/// in place of `kvobjSet(key, val, keyMetaSpec->metabits)`; releases whose keys live in
/// their values): the value the reading thread already made that object, as it is;
/// any other through upstream's `kvobjSet`.
///
/// # Safety
/// The arguments of upstream's `kvobjSet` call there, on the main thread: `key` the
/// loader's sds, `val` the one reference to the value `redis_aof_rdb_load_value` returned.
#[cfg(keys_in_values)]
#[no_mangle]
pub unsafe extern "C" fn redis_aof_rdb_kvobj_set(
    key: bindings::sds,
    val: *mut bindings::robj,
    key_meta_bits: u32,
) -> *mut bindings::robj {
    // SAFETY: upstream's own arguments, forwarded (`# Safety`).
    unsafe { aof_glue::rdb_stream::insert_value(key, val, key_meta_bits) }
}

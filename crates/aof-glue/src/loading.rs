//! Upstream's loading machinery: the loading state and progress that INFO reports, serving
//! clients while a long load runs, and the RDB loader for RDB-format BASE files.

use super::bindings;
use std::ffi::CString;
use std::sync::Mutex;

/// `startLoading(total, RDBFLAGS_AOF_PREAMBLE, 0)`.
pub fn start(total_bytes: u64) {
    // SAFETY: startLoading (rdb.c) takes plain integers and only updates server.loading*
    // fields and fires the loading module event; called under the module GIL, as rdb.c's
    // own callers do.
    unsafe {
        bindings::startLoading(
            total_bytes as usize,
            bindings::RDBFLAGS_AOF_PREAMBLE as i32,
            0,
        )
    }
}

pub fn stop(success: bool) {
    // SAFETY: stopLoading (rdb.c) takes a plain flag and resets server.loading* fields
    // (including its pointer to the file name, which stays valid until after this call).
    unsafe { bindings::stopLoading(success as i32) }
    // stopLoading forgot the name; the string may go.
    *LOADING_FILE_NAME.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The name `updateLoadingFileName` points at. Upstream keeps the pointer, not a copy
/// (`rdbFileBeingLoaded`, which the RDB loader's error report opens), so the string must
/// live until the next name or `stopLoading`.
static LOADING_FILE_NAME: Mutex<Option<CString>> = Mutex::new(None);

/// The file INFO names as being loaded.
pub fn set_file_name(name: &[u8]) {
    let name = CString::new(name).unwrap_or_default();
    let mut kept = LOADING_FILE_NAME.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the pointer stays valid until it is replaced here or cleared by stop(),
    // after stopLoading has dropped upstream's copy of it.
    unsafe { bindings::updateLoadingFileName(name.as_ptr() as *mut _) }
    *kept = Some(name);
}

pub fn add_progress(bytes: i64) {
    // SAFETY: loadingIncrProgress (rdb.c) adds a plain integer to server.loading_loaded_bytes
    // and reads the clock.
    unsafe { bindings::loadingIncrProgress(bytes) }
}

pub fn set_absolute_progress(position: i64) {
    // SAFETY: loadingAbsProgress (rdb.c) stores a plain integer in server.loading_loaded_bytes.
    unsafe { bindings::loadingAbsProgress(position) }
}

/// Lets clients be served (with -LOADING) and modules see progress, as upstream does
/// every 1024 commands.
pub fn serve_clients() {
    // Other clients' commands may unload a module.
    super::command::command_table_may_change();
    // SAFETY: both take no arguments and are what upstream's loaders call between commands
    // (rdb.c, aof.c), under the module GIL. They run other code that may call back into
    // Rust (the contract in src/exports/mod.rs); the loader holds no view of C memory that
    // such code may free across this call (its manifest names are copies, its argv is
    // whole commands only).
    unsafe {
        bindings::processEventsWhileBlocked();
        bindings::processModuleLoadingProgressEvent(1);
    }
}

/// `debugDelay(usec)` (the `key-load-delay` test knob).
pub fn debug_delay(usec: i32) {
    // SAFETY: sleeps or busy-waits.
    unsafe { bindings::debugDelay(usec) }
}

/// Loads an RDB-format file (BASE or old RDB preamble) through upstream's `rdbLoadRio`
/// over a stdio file, as upstream reads it. Returns the offset where the RDB ended, or
/// Err(errno) if the file could not be opened, Err(0) if the RDB is invalid.
pub fn load_rdb_file(path: &[u8]) -> Result<u64, i32> {
    let cpath = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: fopen/rio/fclose on a FILE this function owns from open to close; the rio
    // lives on this stack frame for the whole load.
    unsafe {
        let fp = libc::fopen(cpath.as_ptr(), c"r".as_ptr());
        if fp.is_null() {
            return Err(super::sys::Errno::last().0);
        }
        let mut rdb = std::mem::MaybeUninit::<bindings::rio>::zeroed();
        bindings::rioInitWithFile(rdb.as_mut_ptr(), fp as *mut bindings::FILE);
        let ok = bindings::rdbLoadRio(
            rdb.as_mut_ptr(),
            bindings::RDBFLAGS_AOF_PREAMBLE as i32,
            std::ptr::null_mut(),
        ) == bindings::C_OK as i32;
        let end = libc::ftello(fp);
        libc::fclose(fp);
        if ok {
            Ok(end as u64)
        } else {
            Err(0)
        }
    }
}

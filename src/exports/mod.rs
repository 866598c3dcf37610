//! The C ABI: upstream `aof.c`'s global functions, same names, same prototypes. Each one
//! translates its arguments and calls [`crate::aof`]; cbindgen turns this floor into
//! `include/redis_aof.h`, which `make test` compiles together with upstream's server.h.
//!
//! # Safety contract of the C ABI
//!
//! What every caller of these functions guarantees, stated once and checked against
//! upstream 8.0.6's sources; each function's `# Safety` adds what it needs of its own
//! arguments.
//!
//! **Callers.** Only upstream Redis's own C code calls in. 20 of the 66 functions have
//! callers outside aof.c: server.c (start-up, serverCron, beforeSleep, propagateNow,
//! checkChildrenDone, shutdown), config.c (CONFIG SET of `appendonly` and
//! `aof-disable-auto-gc`), debug.c (DEBUG LOADAOF and RELOAD), replication.c (around a
//! full sync, and in replicationUnsetMaster), module.c (RM_ResetDataset, RM_RdbLoad, and
//! RM_EmitAOF's rioWriteBulkObject), the command table (commands.def: bgrewriteaofCommand
//! is BGREWRITEAOF's `proc`) and redis-check-aof.c (aofLoadManifestFromFile,
//! aofManifestFree). rdb.c, iothread.c and t_string.c name AOF functions in comments
//! only. The other 46 were called only from aof.c, which this crate replaces: no C code
//! calls them in this build, and their `# Safety` records what aof.c passed.
//!
//! **Threads.** Within a process, calls never overlap in time. They come from the main
//! thread, from a fork child (which has only the thread that forked: in the rewrite child,
//! a module type's `aof_rewrite` callback reaches rioWriteBulkObject), or from
//! redis-check-aof's single thread, with one exception: a module thread holding the module
//! GIL (RM_ThreadSafeContextLock) may call in. Its RM_Call runs commands that call in
//! (BGREWRITEAOF, CONFIG SET appendonly, DEBUG LOADAOF), RM_ResetDataset and RM_RdbLoad
//! call stopAppendOnly and startAppendOnlyWithRetry, and releasing the GIL propagates
//! what it queued through feedAppendOnlyFile (moduleGILBeforeUnlock, module.c). The main
//! thread holds the GIL whenever it runs server code (it lets go only around the poll,
//! from the end of beforeSleep to afterSleep, server.c), so such calls are serialized
//! with the main thread's and the mutex orders their memory accesses; but each thread has
//! its own thread-locals, so thread-local state means something only within one call.
//! Upstream breaks even this in one corner: RM_Yield on a module thread outside loading
//! may let go of the GIL for the main thread to take (module.c), so if module code that a
//! Rust call runs on that thread yields, the main thread's calls can overlap that call. IO
//! threads (iothread.c) and bio threads (bio.c) never call in.
//!
//! **Re-entry.** No call starts while another is on the stack, except where a Rust call
//! runs upstream code that calls back in:
//! - while loading (loadAppendOnlyFiles, including rdbLoadRio for a preamble): every
//!   replayed command's `proc`, which may be any command the file holds (BGREWRITEAOF,
//!   DEBUG LOADAOF, a module's command), and processEventsWhileBlocked, whose beforeSleep
//!   calls flushAppendOnlyFile (server.c) and which runs clients' commands allowed while
//!   loading: DEBUG where enable-debug-command allows it (LOADAOF frees and replaces the
//!   manifest being loaded and loads again) and CONFIG SET (`aof-disable-auto-gc` calls
//!   aofDelHistoryFiles; `appendonly` is only recorded until the load ends);
//! - in the rewrite child, a module type's `aof_rewrite` callback, whose RM_EmitAOF calls
//!   rioWriteBulkObject on the rio rewriteModuleObject's code lent it (module.c);
//! - module event callbacks fired by upstream functions this crate calls (startLoading,
//!   stopLoading, redisFork, resetChildState, startSaving, stopSaving), which may RM_Call
//!   commands that call in.
//!
//! Rust code that hands control to upstream at these points must hold no borrow of C
//! memory that such a call may free or edit (the loader copies the manifest's file names
//! before any replay; lending the server's manifest twice, or changing `aof_buf` while its
//! bytes are lent, aborts).
//!
//! **Memory.** Pointer arguments come from upstream's allocators (zmalloc, sds, adlist,
//! createObject), from an upstream caller's static or stack storage, or from this crate,
//! which allocates what C may free with upstream's allocators. They stay valid for the call
//! unless its docs say it takes ownership (aofManifestFreeAndUpdate; the `*Free`
//! functions free what they are given). Arguments typed `sds` that are only read as C
//! strings may be plain `char *` (redis-check-aof passes `argv` strings).
//!
//! **Terms** of the `# Safety` sections: a *live manifest* is an `aofManifest` this crate
//! allocated and has not freed (no upstream C outside aof.c creates one; redis-check-aof.c
//! declares aofManifestCreate but never calls it): its base entry is NULL or a live
//! aofInfo, and its two lists are non-NULL adlists of live aofInfo values whose `free` and
//! `dup` methods are this crate's. A *live aofInfo* is one this crate's info_create made
//! (zcalloc) and nothing has freed, its `file_name` NULL or an sds it owns.

pub mod files;
pub mod load;
pub mod manifest;
pub mod rewrite;
pub mod write;

/// Upstream's `C_OK`/`C_ERR` for an outcome: the error's details were logged where it
/// happened, as upstream's functions do before they return `C_ERR`.
fn c_status<E>(outcome: Result<(), E>) -> std::ffi::c_int {
    match outcome {
        Ok(()) => aof_glue::bindings::C_OK as std::ffi::c_int,
        Err(_) => aof_glue::bindings::C_ERR,
    }
}

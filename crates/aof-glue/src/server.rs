//! Access to upstream's global `struct redisServer server`, one field at a time.
//!
//! No Rust reference to the struct is ever formed. The bio thread writes
//! `aof_bio_fsync_status` and `fsynced_reploff_pending` (bio.c, after each background
//! fsync) while the main thread runs, and a `&` or `&mut redisServer` would assert that no
//! other thread writes any byte of it. Each accessor below reads or writes exactly its
//! field through a raw pointer: the plain fields are written only by code that runs
//! under the module GIL (the main thread's server code, a module thread
//! that holds the GIL, or a fork child, which has only the thread that forked), so calls
//! that reach these accessors never overlap and the GIL's mutex orders them (the contract
//! in `src/exports/mod.rs`); the two the bio thread writes go through atomics, as
//! upstream's `atomicGet`/`atomicSet` do.

use super::bindings::{self, redisServer};
use std::ffi::{c_char, c_int, c_longlong, c_ulong, CStr};
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

fn ptr() -> *mut redisServer {
    std::ptr::addr_of_mut!(bindings::server)
}

/// A getter `name()` per field.
macro_rules! getters {
    ($($name:ident : $ty:ty;)*) => {$(
        #[doc = concat!("`server.", stringify!($name), "`.")]
        #[inline]
        pub fn $name() -> $ty {
            // SAFETY: `server` is a static of the whole process; this field is written only
            // by code that holds the module GIL, as the caller does (see the module doc),
            // or not at all after start-up; only the field's bytes are read.
            unsafe { std::ptr::addr_of!((*ptr()).$name).read() }
        }
    )*};
}

/// A getter `name()` and a setter `set_name(value)` per field, for the plain data fields
/// the AOF code writes.
macro_rules! read_write {
    ($($name:ident / $set:ident : $ty:ty;)*) => {
        getters! { $($name: $ty;)* }
        $(
            #[doc = concat!("Sets `server.", stringify!($name), "`.")]
            #[inline]
            pub fn $set(value: $ty) {
                // SAFETY: as for the getter; only the field's bytes are written.
                unsafe { std::ptr::addr_of_mut!((*ptr()).$name).write(value) }
            }
        )*
    };
}

/// A getter and an `unsafe` `replace_name(value) -> previous` per field that holds a
/// pointer: C code dereferences whatever is stored there.
macro_rules! pointer_read_write {
    ($($name:ident / $replace:ident : $ty:ty;)*) => {
        getters! { $($name: $ty;)* }
        $(
            #[doc = concat!("Sets `server.", stringify!($name), "`; returns the previous value.")]
            ///
            /// # Safety
            /// `value` must be what upstream's C code expects to find there: a live object
            /// of the field's type (or NULL where upstream allows it), owned as upstream
            /// owns it.
            #[inline]
            pub unsafe fn $replace(value: $ty) -> $ty {
                // SAFETY: as for the getter; only the field's bytes are read and written.
                unsafe { std::ptr::addr_of_mut!((*ptr()).$name).replace(value) }
            }
        )*
    };
}

// Read only: configuration, and state other code owns. `dbnum` in particular is never
// written here, which is what lets `Db::of_index` trust it as the length of `server.db`.
getters! {
    aof_disable_auto_gc: c_int;
    aof_enabled: c_int;
    aof_flush_sleep: c_int;
    aof_load_truncated: c_int;
    aof_no_fsync_on_rewrite: c_int;
    aof_rewrite_cpulist: *mut c_char;
    aof_rewrite_incremental_fsync: c_int;
    aof_timestamp_enabled: c_int;
    aof_use_rdb_preamble: c_int;
    child_pid: bindings::pid_t;
    cluster_enabled: c_int;
    hash_max_listpack_entries: usize;
    db: *mut bindings::redisDb;
    dbnum: c_int;
    in_exec: c_int;
    in_fork_child: c_int;
    key_load_delay: c_int;
    latency_monitor_threshold: c_longlong;
    loading_process_events_interval_bytes: bindings::off_t;
    maxmemory: u64;
    maxmemory_policy: c_int;
    mstime: bindings::mstime_t;
    rdb_checksum: c_int;
    rdb_key_save_delay: c_int;
    sanitize_dump_payload: c_int;
    set_max_intset_entries: usize;
    set_max_listpack_entries: usize;
    unixtime: bindings::time_t;
    verbosity: c_int;
    zset_max_listpack_entries: usize;
}

// Configuration added by later releases.
#[cfg(corrupt_tail_recovery)]
getters! {
    aof_load_corrupt_tail_max_size: bindings::off_t;
}
#[cfg(memory_tracking)]
getters! {
    memory_tracking_enabled: c_int;
}
/// Whether the server tracks memory per key (8.6's `memory_tracking_enabled`; releases
/// before it never do).
pub fn tracks_memory_per_key() -> bool {
    #[cfg(memory_tracking)]
    let tracking = memory_tracking_enabled() != 0;
    #[cfg(not(memory_tracking))]
    let tracking = false;
    tracking
}
#[cfg(stream_idmp)]
getters! {
    stream_idmp_duration: c_longlong;
    stream_idmp_maxsize: c_longlong;
}

// The AOF's own bookkeeping.
read_write! {
    aof_cur_timestamp / set_aof_cur_timestamp: bindings::time_t;
    aof_current_size / set_aof_current_size: bindings::off_t;
    aof_delayed_fsync / set_aof_delayed_fsync: c_ulong;
    aof_fd / set_aof_fd: c_int;
    aof_flush_postponed_start / set_aof_flush_postponed_start: bindings::mstime_t;
    aof_last_fsync / set_aof_last_fsync: bindings::mstime_t;
    aof_last_incr_fsync_offset / set_aof_last_incr_fsync_offset: bindings::off_t;
    aof_last_incr_size / set_aof_last_incr_size: bindings::off_t;
    aof_last_write_errno / set_aof_last_write_errno: c_int;
    aof_rewrite_base_size / set_aof_rewrite_base_size: bindings::off_t;
    aof_rewrite_scheduled / set_aof_rewrite_scheduled: c_int;
    aof_rewrite_time_last / set_aof_rewrite_time_last: bindings::time_t;
    aof_rewrite_time_start / set_aof_rewrite_time_start: bindings::time_t;
    aof_selected_db / set_aof_selected_db: c_int;
    fsynced_reploff / set_fsynced_reploff: c_longlong;
    master_repl_offset / set_master_repl_offset: c_longlong;
    stat_aof_rewrites / set_stat_aof_rewrites: c_longlong;
    stat_aofrw_consecutive_failures / set_stat_aofrw_consecutive_failures: c_longlong;
}

/// A field that holds one of a few upstream constants, read and written as a Rust enum.
pub trait CEnum: Copy {
    /// The enum for upstream's value; a value upstream never stores there aborts (it
    /// would mean the layout or the headers are not what this build was made from).
    fn from_c(value: c_int) -> Self;
    fn to_c(self) -> c_int;
}

macro_rules! c_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $constant:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($variant,)* }

        impl CEnum for $name {
            // Inlined into the accessors: feed() reads aof_state and child_type per command.
            #[inline]
            fn from_c(value: c_int) -> Self {
                $(if value == $constant as c_int { return $name::$variant; })*
                crate::process::panic(concat!("unexpected value in a ", stringify!($name), " field"))
            }
            #[inline]
            fn to_c(self) -> c_int {
                match self { $($name::$variant => $constant as c_int,)* }
            }
        }
    };
}

c_enum! {
    /// `server.aof_state`.
    AofState { Off = bindings::AOF_OFF, On = bindings::AOF_ON, WaitRewrite = bindings::AOF_WAIT_REWRITE, }
}
c_enum! {
    /// `server.aof_fsync`, the `appendfsync` policy.
    FsyncPolicy { No = bindings::AOF_FSYNC_NO, Always = bindings::AOF_FSYNC_ALWAYS, Everysec = bindings::AOF_FSYNC_EVERYSEC, }
}
c_enum! {
    /// Upstream's `C_OK`/`C_ERR` as its status fields hold them (the last write, the last
    /// rewrite, the bio thread's last fsync).
    Status { Ok = bindings::C_OK, Err = bindings::C_ERR, }
}
c_enum! {
    /// `server.child_type`: which kind of fork child is running, if any.
    ChildType {
        None = bindings::CHILD_TYPE_NONE,
        Rdb = bindings::CHILD_TYPE_RDB,
        Aof = bindings::CHILD_TYPE_AOF,
        Ldb = bindings::CHILD_TYPE_LDB,
        Module = bindings::CHILD_TYPE_MODULE,
    }
}

/// A getter (and setter) per field that holds an enum's constants.
macro_rules! typed {
    ($($name:ident $(/ $set:ident)? : $ty:ty;)*) => {$(
        #[doc = concat!("`server.", stringify!($name), "`.")]
        #[inline]
        pub fn $name() -> $ty {
            // SAFETY: as for the getters above; the field is a C int.
            <$ty>::from_c(unsafe { std::ptr::addr_of!((*ptr()).$name).read() })
        }
        $(
            #[doc = concat!("Sets `server.", stringify!($name), "`.")]
            #[inline]
            pub fn $set(value: $ty) {
                // SAFETY: as for the setters above; only the field's bytes are written.
                unsafe { std::ptr::addr_of_mut!((*ptr()).$name).write(value.to_c()) }
            }
        )?
    )*};
}

typed! {
    aof_fsync: FsyncPolicy;
    child_type: ChildType;
    aof_state / set_aof_state: AofState;
    aof_last_write_status / set_aof_last_write_status: Status;
    aof_lastbgrewrite_status / set_aof_lastbgrewrite_status: Status;
}

pointer_read_write! {
    aof_manifest / replace_aof_manifest: *mut bindings::aofManifest;
    current_client / replace_current_client: *mut bindings::client;
    executing_client / replace_executing_client: *mut bindings::client;
}

/// `server.aof_buf`'s place: only [`super::aof_buf`] reads and writes it, so the borrow
/// of the bytes it lends cannot overlap a replacement of the buffer.
pub(super) fn aof_buf_field() -> *mut bindings::sds {
    // SAFETY: only the field's address is taken.
    unsafe { std::ptr::addr_of_mut!((*ptr()).aof_buf) }
}

/// `server.aof_filename`, the configured base name of every AOF file.
pub fn aof_filename() -> &'static [u8] {
    // SAFETY: config sets aof_filename at start-up to a NUL-terminated string it owns and
    // never changes or frees it (appendfilename is IMMUTABLE_CONFIG in config.c).
    unsafe { CStr::from_ptr(std::ptr::addr_of!((*ptr()).aof_filename).read()).to_bytes() }
}

/// `server.aof_dirname`, the folder (relative to `dir`) holding every AOF file.
pub fn aof_dirname() -> &'static [u8] {
    // SAFETY: as for aof_filename (appenddirname is IMMUTABLE_CONFIG in config.c).
    unsafe { CStr::from_ptr(std::ptr::addr_of!((*ptr()).aof_dirname).read()).to_bytes() }
}

fn fsynced_reploff_pending_field() -> &'static AtomicI64 {
    // SAFETY: the field is a properly aligned `redisAtomic long long` (C11 _Atomic, the
    // same size and alignment as AtomicI64) in a static; every access, here and in C, is
    // atomic.
    unsafe { AtomicI64::from_ptr(std::ptr::addr_of_mut!((*ptr()).fsynced_reploff_pending)) }
}

fn aof_bio_fsync_status_field() -> &'static AtomicI32 {
    // SAFETY: as for fsynced_reploff_pending: a `redisAtomic int` in a static.
    unsafe { AtomicI32::from_ptr(std::ptr::addr_of_mut!((*ptr()).aof_bio_fsync_status)) }
}

fn aof_bio_fsync_errno_field() -> &'static AtomicI32 {
    // SAFETY: as for fsynced_reploff_pending: a `redisAtomic int` in a static.
    unsafe { AtomicI32::from_ptr(std::ptr::addr_of_mut!((*ptr()).aof_bio_fsync_errno)) }
}

/// `atomicGet(server.aof_bio_fsync_errno)`: the bio thread stores a failed fsync's errno
/// here (and nothing on success); upstream reads it only while `aof_bio_fsync_status` is
/// `C_ERR`, for the -MISCONF reply.
pub fn aof_bio_fsync_errno() -> i32 {
    aof_bio_fsync_errno_field().load(Ordering::SeqCst)
}

/// `atomicSet(server.aof_bio_fsync_errno, errno)`.
pub fn set_aof_bio_fsync_errno(errno: i32) {
    aof_bio_fsync_errno_field().store(errno, Ordering::SeqCst);
}

/// `atomicGet(server.fsynced_reploff_pending)`: the bio thread writes it too.
pub fn fsynced_reploff_pending() -> i64 {
    fsynced_reploff_pending_field().load(Ordering::SeqCst)
}

/// `atomicSet(server.fsynced_reploff_pending, offset)`.
pub fn set_fsynced_reploff_pending(offset: i64) {
    fsynced_reploff_pending_field().store(offset, Ordering::SeqCst);
}

/// `atomicGet(server.aof_bio_fsync_status)`: the bio thread records fsync failures here.
pub fn aof_bio_fsync_status() -> Status {
    Status::from_c(aof_bio_fsync_status_field().load(Ordering::SeqCst))
}

/// `atomicSet(server.aof_bio_fsync_status, status)`.
pub fn set_aof_bio_fsync_status(status: Status) {
    aof_bio_fsync_status_field().store(status.to_c(), Ordering::SeqCst);
}

//! Forking the rewrite child and what the child reports back, through upstream's own
//! child-process machinery (so INFO, COW reports and the done-handler dispatch stay
//! upstream's).

use super::bindings;
use std::ffi::CString;

/// What `redisFork` returned.
pub enum Forked {
    Child,
    Parent(libc::pid_t),
    Failed(super::sys::Errno),
}

/// `redisFork(CHILD_TYPE_AOF)`.
pub fn fork_rewrite_child() -> Forked {
    // SAFETY: upstream's fork wrapper; in the child only the single calling thread runs.
    match unsafe { bindings::redisFork(bindings::CHILD_TYPE_AOF as i32) } {
        0 => Forked::Child,
        -1 => Forked::Failed(super::sys::Errno::last()),
        pid => Forked::Parent(pid),
    }
}

pub fn set_process_title(title: &std::ffi::CStr) {
    // SAFETY: upstream copies the title.
    unsafe { bindings::redisSetProcTitle(title.as_ptr() as *mut _) };
}

/// Pins the child to `aof-rewrite-cpulist` (a no-op when unset).
pub fn set_cpu_affinity_for_rewrite() {
    let list = super::server::aof_rewrite_cpulist();
    // SAFETY: a NUL-terminated config string or NULL, which upstream accepts.
    unsafe { bindings::redisSetCpuAffinity(list) }
}

/// Sends the child's copy-on-write size to the parent.
pub fn send_cow_info() {
    // SAFETY: child-side upstream function; the name is a literal.
    unsafe {
        bindings::sendChildCowInfo(
            bindings::CHILD_INFO_TYPE_AOF_COW_SIZE,
            c"AOF rewrite".as_ptr() as *mut _,
        )
    }
}

/// `exitFromChild(code)`: the child's only way out (no atexit handlers of the parent).
/// From 8.0.6 on it takes `from_signal` too (1 only from the child's SIGUSR1 handler, where
/// a coverage build must not call `exit()`); upstream's aof.c passes 0, and so does this.
pub fn exit_from_child(code: i32) -> ! {
    // SAFETY: ends the child process.
    #[cfg(exit_from_child_has_signal_flag)]
    unsafe {
        bindings::exitFromChild(code, 0)
    };
    // SAFETY: ends the child process.
    #[cfg(not(exit_from_child_has_signal_flag))]
    unsafe {
        bindings::exitFromChild(code)
    };
    unreachable!("exitFromChild returned")
}

/// Waits until the bio thread has no AOF fsync queued or running.
pub fn drain_bio_fsync() {
    // SAFETY: blocks on the bio queue.
    unsafe { bindings::bioDrainWorker(bindings::BIO_AOF_FSYNC as i32) }
}

/// `ustime()`.
pub fn ustime() -> i64 {
    // SAFETY: reads the clock.
    unsafe { bindings::ustime() }
}

/// A C string for a file name (temporary files are plain ASCII).
pub fn c_name(name: &str) -> CString {
    CString::new(name).unwrap_or_default()
}

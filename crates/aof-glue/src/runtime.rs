//! Upstream services the AOF relies on: the clock, the latency monitor, child processes,
//! and the background (bio) thread that runs fsync and close jobs.

use super::bindings;
use super::server;
use std::ffi::CStr;

/// Upstream's `mstime()`: wall-clock milliseconds.
pub fn mstime() -> i64 {
    // SAFETY: reads the clock; no state.
    unsafe { bindings::mstime() }
}

/// `latencyStartMonitor`: a start time, or 0 when the monitor is off.
pub fn latency_start() -> i64 {
    if server::latency_monitor_threshold() != 0 {
        mstime()
    } else {
        0
    }
}

/// `latencyEndMonitor`: the elapsed milliseconds (0 when the monitor is off).
pub fn latency_end(start: i64) -> i64 {
    if server::latency_monitor_threshold() != 0 {
        mstime() - start
    } else {
        0
    }
}

/// `latencyAddSampleIfNeeded`: records `event` when it took at least the threshold.
pub fn latency_add_sample_if_needed(event: &CStr, duration_ms: i64) {
    let threshold = server::latency_monitor_threshold();
    if threshold != 0 && duration_ms >= threshold {
        // SAFETY: `event` is a NUL-terminated string the latency monitor copies or keeps
        // (callers pass literals).
        unsafe { bindings::latencyAddSample(event.as_ptr(), duration_ms) };
    }
}

pub fn has_active_child_process() -> bool {
    // SAFETY: hasActiveChildProcess (server.c) takes no arguments and only reads
    // server.child_pid and server.child_type.
    unsafe { bindings::hasActiveChildProcess() != 0 }
}

/// Queues an fsync of `fd` on the bio thread; it records `offset` as fsynced when done.
pub fn bio_fsync(fd: i32, offset: i64) {
    // SAFETY: hands an integer descriptor to the bio queue.
    unsafe { bindings::bioCreateFsyncJob(fd, offset, 1) };
}

/// Queues an fsync then close of `fd` on the bio thread.
pub fn bio_fsync_and_close(fd: i32, offset: i64) {
    // SAFETY: hands an integer descriptor to the bio queue, which then owns it.
    unsafe { bindings::bioCreateCloseAofJob(fd, offset, 1) };
}

/// Hands `fd` to the bio thread, which drops the file's pages from the page cache, then
/// closes it (`bioCreateCloseJob(fd, 0, 1)`).
pub fn bio_reclaim_and_close(fd: std::os::fd::OwnedFd) {
    use std::os::fd::IntoRawFd;
    // SAFETY: hands an integer descriptor the caller owned to the bio queue, which then
    // owns it (into_raw_fd gives up Rust's ownership, so it is closed once, by bio).
    unsafe { bindings::bioCreateCloseJob(fd.into_raw_fd(), 0, 1) };
}

/// Whether the bio thread has an AOF fsync queued or running.
pub fn bio_fsync_pending() -> bool {
    // SAFETY: bioPendingJobsOfType only reads an atomic counter.
    unsafe { bindings::bioPendingJobsOfType(bindings::BIO_AOF_FSYNC as i32) != 0 }
}

/// Whether the bio thread has an fsync-then-close of an AOF file queued or running.
pub fn bio_close_pending() -> bool {
    // SAFETY: bioPendingJobsOfType only reads a counter under the bio mutex.
    unsafe { bindings::bioPendingJobsOfType(bindings::BIO_CLOSE_AOF as i32) != 0 }
}

/// `time(NULL)`.
pub fn unix_time_now() -> i64 {
    // SAFETY: time(NULL) only reads the clock.
    unsafe { libc::time(std::ptr::null_mut()) }
}

/// Upstream's `resetChildState`: forgets the child and its info pipe.
pub fn reset_child_state() {
    // SAFETY: resetChildState (server.c) takes no arguments; it resets server.child_* fields
    // and closes the child info pipe, as aof.c's killAppendOnlyChild does after waiting.
    unsafe { bindings::resetChildState() }
}

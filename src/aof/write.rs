//! The write path: feed, flush, fsync policies, start/stop.

use crate::glue::bindings;

/// Whether the background (bio) thread still has an AOF fsync queued or running. Closing
/// an old AOF (`aof_background_fsync_and_close`) is not counted: by then `aof_fd` already
/// names the new INCR file.
pub fn fsync_in_progress() -> bool {
    // SAFETY: bioPendingJobsOfType only reads an atomic counter.
    unsafe { bindings::bioPendingJobsOfType(bindings::BIO_AOF_FSYNC as i32) != 0 }
}

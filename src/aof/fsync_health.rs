//! What a failed fsync of the AOF means for durability, and how the AOF recovers from one.
//!
//! On Linux a failed `fsync` may already have dropped the dirty pages it could not write
//! (they are marked clean: PostgreSQL's "fsyncgate", 2018), so a later `fsync` that
//! succeeds proves nothing about the bytes written before the failure. Upstream resumes
//! as if nothing happened: the next successful background fsync moves
//! `fsynced_reploff_pending`, and so `WAITAOF`, past the range that may be lost. Here the
//! dataset in memory is the truth:
//! - a failure (the bio thread's `aof_bio_fsync_status`/`aof_bio_fsync_errno`, noticed
//!   before every flush and before any fsync is queued) *poisons* the AOF: once the bio
//!   thread's queue has drained (a job queued before the failure must not post its offset
//!   afterwards), the fsynced offset goes back to the last one known good and stays there,
//!   and a rewrite is scheduled (a new BASE from memory and a new INCR);
//! - writes are refused with `-MISCONF` while `aof_bio_fsync_status` says the failure, as
//!   upstream does: until a later fsync succeeds, or at the latest until that rewrite has
//!   switched to the new INCR, which consumes the failure (the rewrite covers the old files);
//! - the fsynced offset stays frozen until that rewrite has finished (its BASE and the
//!   manifest naming it are fsynced by then); a failure of the new INCR meanwhile, or a
//!   failed rewrite, poisons it again and another rewrite follows.
//!
//! One more rule holds even when nothing fails: while the old INCR's fsync-and-close
//! (queued when a rewrite switches files) has not finished, the fsynced offset does not
//! move past what it was. Upstream counts a later fsync of the new INCR, which the same bio
//! thread runs after the old file's, as covering everything, and the empty-buffer path of
//! its flush does the same while the old file's fsync still runs.
//!
//! `aof_bio_fsync_errno` serves as the sticky record of a failure: the bio thread sets it
//! on every failed fsync and never clears it, and upstream reads it only while the status
//! is `C_ERR`. It is cleared here when a recovery consumes the failure (once the bio queue
//! has drained) and when AOF is switched on or off (the files it concerned are closed).

use aof_glue::log::Level;
use aof_glue::server::Status;
use aof_glue::{child, runtime, server, server_log};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering::Relaxed};

// Calls into this crate never overlap (the contract in `src/exports/mod.rs`), so relaxed
// atomics are enough: they only make the statics shareable. `check` runs on every flush,
// hence plain loads on its common path.
const HEALTHY: u8 = 0;
/// An fsync failed; a rewrite is scheduled and has not started yet.
const POISONED: u8 = 1;
/// The recovery rewrite runs; the failure before it is consumed.
const RECOVERING: u8 = 2;

static HEALTH: AtomicU8 = AtomicU8::new(HEALTHY);
/// While not healthy: the fsynced offset that counts.
static FROZEN_OFFSET: AtomicI64 = AtomicI64::new(0);
/// `fsynced_reploff_pending` when no fsync was queued or running and none had failed:
/// everything up to it was fsynced by fsyncs that all succeeded.
static LAST_CLEAN_OFFSET: AtomicI64 = AtomicI64::new(0);

fn fsync_failed() -> bool {
    server::aof_bio_fsync_status() == Status::Err || server::aof_bio_fsync_errno() != 0
}

/// Looks for a failed background fsync: before each flush, and right before an fsync is
/// queued (when none is running, so a failure cannot hide behind a later success).
#[inline]
pub fn check() {
    let failed = fsync_failed();
    match HEALTH.load(Relaxed) {
        HEALTHY if failed => poison(),
        HEALTHY => {
            let pending = server::fsynced_reploff_pending();
            if pending != LAST_CLEAN_OFFSET.load(Relaxed) {
                note_clean_offset(pending);
            }
        }
        RECOVERING if failed => {
            // The new INCR failed too: the running rewrite is not enough.
            HEALTH.store(POISONED, Relaxed);
            server::set_aof_rewrite_scheduled(1);
        }
        _ => {
            // Nothing may have moved the frozen offset; put it back if anything did.
            let frozen = FROZEN_OFFSET.load(Relaxed);
            if server::fsynced_reploff_pending() != frozen {
                server::set_fsynced_reploff_pending(frozen);
            }
        }
    }
}

/// The fsynced offset moved: it is clean once no fsync is queued or running (the bio
/// thread records a failure before it counts a job as done).
#[cold]
fn note_clean_offset(pending: i64) {
    if !runtime::bio_fsync_pending() && !runtime::bio_close_pending() && !fsync_failed() {
        LAST_CLEAN_OFFSET.store(pending, Relaxed);
    }
}

fn poison() {
    HEALTH.store(POISONED, Relaxed);
    // A job queued before the failure (the new INCR's fsync behind the old one's close)
    // would post its offset when it succeeds: let every queued job end first.
    child::drain_bio_fsync();
    let frozen = LAST_CLEAN_OFFSET.load(Relaxed);
    FROZEN_OFFSET.store(frozen, Relaxed);
    server::set_fsynced_reploff_pending(frozen);
    server::set_aof_rewrite_scheduled(1);
    server_log!(
        Level::Warning,
        "AOF fsync failed: the kernel may have dropped data written since the last \
         successful fsync, so it no longer counts as fsynced (WAITAOF waits). Rewriting \
         the AOF from memory."
    );
}

/// Whether the fsynced offset may move to the current offset now: no failure stands, and
/// no earlier INCR's fsync-and-close is still to end.
#[inline]
pub fn offsets_count() -> bool {
    HEALTH.load(Relaxed) == HEALTHY && !runtime::bio_close_pending()
}

/// The offset an fsync of the current INCR queued now reports when it succeeds: the
/// current one, or, while [`offsets_count`] says no, the one that counts already.
pub fn offset_for_fsync_job() -> i64 {
    if offsets_count() {
        server::master_repl_offset()
    } else if HEALTH.load(Relaxed) == HEALTHY {
        server::fsynced_reploff_pending()
    } else {
        FROZEN_OFFSET.load(Relaxed)
    }
}

/// The offset the fsync-and-close of the INCR being replaced reports: its data up to the
/// current offset, unless a failure stands.
pub fn offset_for_close_job() -> i64 {
    if HEALTH.load(Relaxed) == HEALTHY {
        server::master_repl_offset()
    } else {
        FROZEN_OFFSET.load(Relaxed)
    }
}

/// A rewrite has switched writing to a new INCR file and is about to fork: if it is the
/// recovery, the failure it answers is consumed once the old files' fsyncs have ended.
pub fn rewrite_switched_files() {
    if HEALTH.load(Relaxed) != POISONED {
        return;
    }
    child::drain_bio_fsync();
    server::set_aof_bio_fsync_errno(0);
    server::set_aof_bio_fsync_status(Status::Ok);
    HEALTH.store(RECOVERING, Relaxed);
}

/// A rewrite ended (`adopted`: its BASE and manifest are in place and fsynced).
pub fn rewrite_ended(adopted: bool) {
    if HEALTH.load(Relaxed) != RECOVERING {
        return;
    }
    if adopted {
        HEALTH.store(HEALTHY, Relaxed);
        server_log!(
            Level::Notice,
            "AOF rewritten after an fsync failure: fsynced offsets count again."
        );
    } else {
        HEALTH.store(POISONED, Relaxed);
        server::set_aof_rewrite_scheduled(1);
    }
}

/// AOF switched on or off: the files the failure concerned are no longer written, and
/// upstream clears the fsync status itself when AOF is switched on.
pub fn reset() {
    HEALTH.store(HEALTHY, Relaxed);
    LAST_CLEAN_OFFSET.store(server::fsynced_reploff_pending(), Relaxed);
    server::set_aof_bio_fsync_errno(0);
}

//! What a failed fsync of the AOF means for durability, and how the AOF recovers from one:
//! the server's side of [`aof_core::fsync_health`], which makes every decision (the rules
//! are stated there). This module keeps the machine in atomics, reads the server for it
//! and does what it returns: drain the bio queue, move `fsynced_reploff_pending`, clear
//! the recorded failure, schedule a rewrite, log.
//!
//! The failure is the bio thread's `aof_bio_fsync_status`/`aof_bio_fsync_errno`. Writes
//! are refused with `-MISCONF` while the status says the failure, as upstream does: until a
//! later fsync succeeds, or at the latest until the recovery rewrite has switched to the
//! new INCR, which clears it. `aof_bio_fsync_errno` serves as the sticky record of a
//! failure: the bio thread sets it on every failed fsync and never clears it, and upstream
//! reads it only while the status is `C_ERR`. It is cleared here when a recovery consumes
//! the failure (once the bio queue has drained) and when AOF is switched on or off (the
//! files it concerned are closed).

use aof_core::fsync_health::{
    CheckAction, FsyncHealth, Health, Probe, RewriteEndAction, SwitchAction,
};
use aof_glue::log::Level;
use aof_glue::server::Status;
use aof_glue::{child, runtime, server, server_log};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering::Relaxed};

// Calls into this crate never overlap (the contract in `src/exports/mod.rs`), so relaxed
// atomics are enough: they only make the statics shareable, and each call loads the
// machine, runs it and stores it back. `check` runs on every flush, hence plain loads on
// its common path and a store only when the machine changed.
static HEALTH: AtomicU8 = AtomicU8::new(encode_health(Health::Healthy));
static LAST_CLEAN_OFFSET: AtomicI64 = AtomicI64::new(0);

const fn encode_health(health: Health) -> u8 {
    match health {
        Health::Healthy => 0,
        Health::Poisoned => 1,
        Health::Recovering => 2,
    }
}

fn decode_health(code: u8) -> Health {
    // Only `store` writes HEALTH, with one of the three codes.
    match code {
        0 => Health::Healthy,
        1 => Health::Poisoned,
        _ => Health::Recovering,
    }
}

#[inline]
fn load() -> FsyncHealth {
    FsyncHealth {
        health: decode_health(HEALTH.load(Relaxed)),
        last_clean_offset: LAST_CLEAN_OFFSET.load(Relaxed),
    }
}

fn store(machine: FsyncHealth) {
    HEALTH.store(encode_health(machine.health), Relaxed);
    LAST_CLEAN_OFFSET.store(machine.last_clean_offset, Relaxed);
}

/// Runs `step` on the stored machine and stores it back if it changed.
#[inline]
fn update<R>(step: impl FnOnce(&mut FsyncHealth) -> R) -> R {
    let before = load();
    let mut machine = before;
    let outcome = step(&mut machine);
    if machine != before {
        store(machine);
    }
    outcome
}

/// The server, as the machine reads it.
struct Server;

impl Probe for Server {
    fn fsync_failed(&mut self) -> bool {
        server::aof_bio_fsync_status() == Status::Err || server::aof_bio_fsync_errno() != 0
    }
    fn fsynced_offset(&mut self) -> i64 {
        server::fsynced_reploff_pending()
    }
    fn current_offset(&mut self) -> i64 {
        server::master_repl_offset()
    }
    fn fsync_job_pending(&mut self) -> bool {
        runtime::bio_fsync_pending()
    }
    fn close_job_pending(&mut self) -> bool {
        runtime::bio_close_pending()
    }
}

/// Looks for a failed background fsync: before each flush, and right before an fsync is
/// queued (when none is running, so a failure cannot hide behind a later success).
#[inline]
pub fn check() {
    match update(|machine| machine.check(&mut Server)) {
        CheckAction::Nothing => {}
        CheckAction::Poison { fsynced_offset } => poison(fsynced_offset),
        CheckAction::ScheduleRewrite => server::set_aof_rewrite_scheduled(1),
        CheckAction::RestoreFsyncedOffset(offset) => server::set_fsynced_reploff_pending(offset),
    }
}

#[cold]
fn poison(fsynced_offset: i64) {
    // A job queued before the failure (the new INCR's fsync behind the old one's close)
    // would post its offset when it succeeds: let every queued job end first.
    child::drain_bio_fsync();
    server::set_fsynced_reploff_pending(fsynced_offset);
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
    load().offsets_count(&mut Server)
}

/// The offset an fsync of the current INCR queued now reports when it succeeds.
pub fn offset_for_fsync_job() -> i64 {
    load().offset_for_fsync_job(&mut Server)
}

/// The offset the fsync-and-close of the INCR being replaced reports.
pub fn offset_for_close_job() -> i64 {
    load().offset_for_close_job(&mut Server)
}

/// A rewrite has switched writing to a new INCR file and is about to fork: if it is the
/// recovery, the failure it answers is consumed once the old files' fsyncs have ended.
pub fn rewrite_switched_files() {
    match update(FsyncHealth::rewrite_switched_files) {
        SwitchAction::Nothing => {}
        SwitchAction::ConsumeFailure => {
            child::drain_bio_fsync();
            server::set_aof_bio_fsync_errno(0);
            server::set_aof_bio_fsync_status(Status::Ok);
        }
    }
}

/// A rewrite ended (`adopted`: its BASE and manifest are in place and fsynced).
pub fn rewrite_ended(adopted: bool) {
    match update(|machine| machine.rewrite_ended(adopted)) {
        RewriteEndAction::Nothing => {}
        RewriteEndAction::LogRecovered => server_log!(
            Level::Notice,
            "AOF rewritten after an fsync failure: fsynced offsets count again."
        ),
        RewriteEndAction::ScheduleRewrite => server::set_aof_rewrite_scheduled(1),
    }
}

/// AOF switched on or off: the files the failure concerned are no longer written, and
/// upstream clears the fsync status itself when AOF is switched on.
pub fn reset() {
    update(|machine| machine.reset(server::fsynced_reploff_pending()));
    server::set_aof_bio_fsync_errno(0);
}

#[cfg(test)]
mod tests {
    use super::{decode_health, encode_health};
    use aof_core::fsync_health::Health;

    #[test]
    fn health_codes_round_trip() {
        for health in [Health::Healthy, Health::Poisoned, Health::Recovering] {
            assert_eq!(decode_health(encode_health(health)), health);
        }
    }
}

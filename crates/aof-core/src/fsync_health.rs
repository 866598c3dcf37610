//! What a failed background fsync of the AOF means for the fsynced offset, and how the AOF
//! recovers from one: the decisions, without the server.
//!
//! On Linux a failed `fsync` may already have dropped the dirty pages it could not write
//! (they are marked clean: PostgreSQL's "fsyncgate", 2018), so a later `fsync` that
//! succeeds proves nothing about the bytes written before the failure. The dataset in
//! memory is the truth, so a failure is answered by a rewrite from memory:
//! - [`Health::Healthy`]: the fsynced offset moves as the bio thread's fsyncs post it, and
//!   [`FsyncHealth::check`] remembers the last one reached while no fsync was queued or
//!   running and none had failed ([`FsyncHealth::last_clean_offset`]);
//! - a failure noticed while healthy *poisons* the AOF ([`CheckAction::Poison`]): once the
//!   bio queue has drained (a job queued before the failure must not post its offset
//!   afterwards), the fsynced offset goes back to the last clean one and is frozen there,
//!   a rewrite is scheduled and a log line says why;
//! - [`Health::Poisoned`]: the rewrite has not switched files yet; further failures change
//!   nothing, and any movement of the fsynced offset is put back;
//! - the rewrite switching to a new INCR consumes the failure
//!   ([`SwitchAction::ConsumeFailure`]: the rewrite covers the old files), which ends the
//!   server's `-MISCONF`; [`Health::Recovering`] keeps the offset frozen;
//! - the rewrite adopted (its BASE and the manifest naming it are fsynced) makes offsets
//!   count again; a failure of the new INCR meanwhile, or a rewrite that is not adopted,
//!   poisons the AOF again (keeping the frozen offset) and schedules another rewrite.
//!
//! One more rule holds even when nothing fails: while the old INCR's fsync-and-close
//! (queued when a rewrite switches files) has not finished, the fsynced offset does not
//! move past what it was, because a later fsync of the new INCR, run after it by the same
//! bio thread, would otherwise count for the old file too.
//!
//! The caller stores the machine, reads the server through a [`Probe`] and carries out the
//! actions the methods return. The probe is read lazily and in a fixed order: some reads
//! take the bio mutex, and the order of the reads is what makes a clean offset safe to
//! remember (see [`FsyncHealth::check`]).

/// Where the AOF stands with respect to fsync failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// No failure stands: offsets count.
    Healthy,
    /// An fsync failed; a rewrite is scheduled and has not switched files yet.
    Poisoned,
    /// The recovery rewrite runs; the failure before it is consumed.
    Recovering,
}

/// What the machine reads of the server, asked only when a decision needs it.
pub trait Probe {
    /// The bio thread has recorded a failed fsync of the AOF (its status, or the errno it
    /// leaves behind until a recovery or a reset clears it).
    fn fsync_failed(&mut self) -> bool;
    /// `fsynced_reploff_pending`: the offset the bio thread's fsyncs have posted.
    fn fsynced_offset(&mut self) -> i64;
    /// `master_repl_offset`: the offset of everything written so far.
    fn current_offset(&mut self) -> i64;
    /// An fsync of the AOF is queued or running on the bio thread.
    fn fsync_job_pending(&mut self) -> bool;
    /// An fsync-and-close of a replaced INCR is queued or running on the bio thread.
    fn close_job_pending(&mut self) -> bool;
}

/// What the caller does after [`FsyncHealth::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckAction {
    Nothing,
    /// A failure while healthy. In this order: wait until every queued bio fsync job has
    /// ended (one queued before the failure would post its offset when it succeeds), set
    /// the fsynced offset to `fsynced_offset`, schedule a rewrite, log that fsynced data
    /// may be lost and the AOF is rewritten from memory.
    Poison {
        fsynced_offset: i64,
    },
    /// The new INCR failed while the recovery rewrite runs: that rewrite is not enough,
    /// schedule another. (The offset is still frozen; the next check puts it back if the
    /// failed job moved it.)
    ScheduleRewrite,
    /// Something moved the frozen fsynced offset: set it back to this.
    RestoreFsyncedOffset(i64),
}

/// What the caller does after [`FsyncHealth::rewrite_switched_files`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchAction {
    Nothing,
    /// The rewrite answers a failure: wait until every queued bio fsync job has ended (the
    /// old files' fsyncs may still fail), then clear the recorded failure, status and errno.
    ConsumeFailure,
}

/// What the caller does after [`FsyncHealth::rewrite_ended`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewriteEndAction {
    Nothing,
    /// The recovery is complete: log that fsynced offsets count again.
    LogRecovered,
    /// The recovery rewrite was not adopted: schedule another.
    ScheduleRewrite,
}

/// The fsync-failure machine. The caller keeps one, carries it from call to call and does
/// what each method returns; calls never overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsyncHealth {
    pub health: Health,
    /// The fsynced offset when no fsync was queued or running and none had failed:
    /// everything up to it was fsynced by fsyncs that all succeeded. Only a healthy check
    /// or a reset moves it, so while a failure stands it is the offset the failure froze
    /// the fsynced offset at ([`frozen_offset`](Self::frozen_offset)).
    pub last_clean_offset: i64,
}

impl FsyncHealth {
    pub const fn new() -> Self {
        FsyncHealth {
            health: Health::Healthy,
            last_clean_offset: 0,
        }
    }

    /// The fsynced offset that counts while a failure stands; `None` when healthy.
    pub fn frozen_offset(&self) -> Option<i64> {
        match self.health {
            Health::Healthy => None,
            Health::Poisoned | Health::Recovering => Some(self.last_clean_offset),
        }
    }

    /// Looks for a failed background fsync: before each flush, and right before an fsync is
    /// queued (when none is running, so a failure cannot hide behind a later success).
    /// Reads the failure first, then only what the state needs.
    #[inline]
    pub fn check(&mut self, probe: &mut impl Probe) -> CheckAction {
        let failed = probe.fsync_failed();
        match self.health {
            Health::Healthy if failed => {
                self.health = Health::Poisoned;
                CheckAction::Poison {
                    fsynced_offset: self.last_clean_offset,
                }
            }
            Health::Healthy => {
                let fsynced = probe.fsynced_offset();
                if fsynced != self.last_clean_offset {
                    self.note_clean_offset(fsynced, probe);
                }
                CheckAction::Nothing
            }
            Health::Recovering if failed => {
                self.health = Health::Poisoned;
                CheckAction::ScheduleRewrite
            }
            Health::Poisoned | Health::Recovering => {
                let frozen = self.last_clean_offset;
                if probe.fsynced_offset() != frozen {
                    CheckAction::RestoreFsyncedOffset(frozen)
                } else {
                    CheckAction::Nothing
                }
            }
        }
    }

    /// The fsynced offset moved to `fsynced`: it is clean once no fsync is queued or
    /// running. The failure is read again after the queue, because the bio thread records a
    /// failure before it counts a job as done: a job that ended between the two reads is
    /// seen either as pending or as failed.
    #[cold]
    fn note_clean_offset(&mut self, fsynced: i64, probe: &mut impl Probe) {
        if !probe.fsync_job_pending() && !probe.close_job_pending() && !probe.fsync_failed() {
            self.last_clean_offset = fsynced;
        }
    }

    /// Whether the fsynced offset may move to the current offset now: no failure stands,
    /// and no earlier INCR's fsync-and-close is still to end.
    #[inline]
    pub fn offsets_count(&self, probe: &mut impl Probe) -> bool {
        self.health == Health::Healthy && !probe.close_job_pending()
    }

    /// The offset an fsync of the current INCR queued now reports when it succeeds: the
    /// current one, or, while [`offsets_count`](Self::offsets_count) says no, the one that
    /// counts already.
    pub fn offset_for_fsync_job(&self, probe: &mut impl Probe) -> i64 {
        match self.frozen_offset() {
            None if !probe.close_job_pending() => probe.current_offset(),
            None => probe.fsynced_offset(),
            Some(frozen) => frozen,
        }
    }

    /// The offset the fsync-and-close of the INCR being replaced reports: its data up to
    /// the current offset, unless a failure stands.
    pub fn offset_for_close_job(&self, probe: &mut impl Probe) -> i64 {
        match self.frozen_offset() {
            None => probe.current_offset(),
            Some(frozen) => frozen,
        }
    }

    /// A rewrite has switched writing to a new INCR file and is about to fork: if it is the
    /// recovery, it consumes the failure it answers.
    pub fn rewrite_switched_files(&mut self) -> SwitchAction {
        match self.health {
            Health::Poisoned => {
                self.health = Health::Recovering;
                SwitchAction::ConsumeFailure
            }
            Health::Healthy | Health::Recovering => SwitchAction::Nothing,
        }
    }

    /// A rewrite ended (`adopted`: its BASE and manifest are in place and fsynced). Only
    /// the recovery rewrite matters: one that switched files before the failure leaves a
    /// poisoned AOF poisoned, the rewrite the failure scheduled still to come.
    pub fn rewrite_ended(&mut self, adopted: bool) -> RewriteEndAction {
        match self.health {
            Health::Recovering if adopted => {
                self.health = Health::Healthy;
                RewriteEndAction::LogRecovered
            }
            Health::Recovering => {
                self.health = Health::Poisoned;
                RewriteEndAction::ScheduleRewrite
            }
            Health::Healthy | Health::Poisoned => RewriteEndAction::Nothing,
        }
    }

    /// AOF switched on or off: the files a failure concerned are no longer written, so it
    /// no longer stands, and `fsynced` (the fsynced offset now) is where clean offsets
    /// start. The caller clears the recorded failure's errno.
    pub fn reset(&mut self, fsynced: i64) {
        self.health = Health::Healthy;
        self.last_clean_offset = fsynced;
    }
}

impl Default for FsyncHealth {
    fn default() -> Self {
        FsyncHealth::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server whose readings the test sets, recording which ones the machine asked for.
    #[derive(Default)]
    struct FakeServer {
        /// Answers to successive `fsync_failed` reads; the last one repeats.
        failed: Vec<bool>,
        fsynced: i64,
        current: i64,
        fsync_job: bool,
        close_job: bool,
        reads: Vec<&'static str>,
    }

    impl FakeServer {
        fn new() -> Self {
            FakeServer {
                failed: vec![false],
                ..FakeServer::default()
            }
        }

        fn failing() -> Self {
            FakeServer {
                failed: vec![true],
                ..FakeServer::default()
            }
        }
    }

    impl Probe for FakeServer {
        fn fsync_failed(&mut self) -> bool {
            self.reads.push("failed");
            if self.failed.len() > 1 {
                self.failed.remove(0)
            } else {
                self.failed[0]
            }
        }
        fn fsynced_offset(&mut self) -> i64 {
            self.reads.push("fsynced");
            self.fsynced
        }
        fn current_offset(&mut self) -> i64 {
            self.reads.push("current");
            self.current
        }
        fn fsync_job_pending(&mut self) -> bool {
            self.reads.push("fsync_job");
            self.fsync_job
        }
        fn close_job_pending(&mut self) -> bool {
            self.reads.push("close_job");
            self.close_job
        }
    }

    fn healthy(last_clean_offset: i64) -> FsyncHealth {
        FsyncHealth {
            health: Health::Healthy,
            last_clean_offset,
        }
    }

    /// Frozen at `offset`, the last clean one.
    fn poisoned(offset: i64) -> FsyncHealth {
        FsyncHealth {
            health: Health::Poisoned,
            last_clean_offset: offset,
        }
    }

    fn recovering(offset: i64) -> FsyncHealth {
        FsyncHealth {
            health: Health::Recovering,
            last_clean_offset: offset,
        }
    }

    #[test]
    fn starts_healthy_at_zero() {
        assert_eq!(FsyncHealth::new(), healthy(0));
        assert_eq!(FsyncHealth::default(), healthy(0));
    }

    #[test]
    fn healthy_check_with_unmoved_offset_reads_only_the_failure_and_the_offset() {
        let mut m = healthy(100);
        let mut s = FakeServer::new();
        s.fsynced = 100;
        assert_eq!(m.check(&mut s), CheckAction::Nothing);
        assert_eq!(m, healthy(100));
        assert_eq!(s.reads, ["failed", "fsynced"]);
    }

    #[test]
    fn healthy_check_remembers_a_moved_offset_once_no_job_is_queued() {
        let mut m = healthy(100);
        let mut s = FakeServer::new();
        s.fsynced = 250;
        assert_eq!(m.check(&mut s), CheckAction::Nothing);
        assert_eq!(m, healthy(250));
        // The failure is read again after the queue.
        assert_eq!(
            s.reads,
            ["failed", "fsynced", "fsync_job", "close_job", "failed"]
        );
    }

    #[test]
    fn offset_is_not_clean_while_an_fsync_job_is_not_drained() {
        let mut m = healthy(100);
        let mut s = FakeServer::new();
        s.fsynced = 250;
        s.fsync_job = true;
        assert_eq!(m.check(&mut s), CheckAction::Nothing);
        assert_eq!(m, healthy(100));
        assert_eq!(s.reads, ["failed", "fsynced", "fsync_job"]);
    }

    #[test]
    fn offset_is_not_clean_while_a_close_job_is_not_drained() {
        let mut m = healthy(100);
        let mut s = FakeServer::new();
        s.fsynced = 250;
        s.close_job = true;
        assert_eq!(m.check(&mut s), CheckAction::Nothing);
        assert_eq!(m, healthy(100));
        assert_eq!(s.reads, ["failed", "fsynced", "fsync_job", "close_job"]);
    }

    #[test]
    fn offset_is_not_clean_when_a_failure_appears_after_the_first_read() {
        // The job that moved the offset was the last one and failed after the first read.
        let mut m = healthy(100);
        let mut s = FakeServer::new();
        s.failed = vec![false, true];
        s.fsynced = 250;
        assert_eq!(m.check(&mut s), CheckAction::Nothing);
        assert_eq!(m, healthy(100));
        // The next check sees the failure and freezes at the offset before it.
        assert_eq!(
            m.check(&mut s),
            CheckAction::Poison {
                fsynced_offset: 100
            }
        );
    }

    #[test]
    fn failure_while_healthy_poisons_at_the_last_clean_offset() {
        let mut m = healthy(100);
        let mut s = FakeServer::failing();
        s.fsynced = 300;
        s.current = 400;
        assert_eq!(
            m.check(&mut s),
            CheckAction::Poison {
                fsynced_offset: 100
            }
        );
        assert_eq!(m, poisoned(100));
        // The offsets are the machine's own: nothing else is read.
        assert_eq!(s.reads, ["failed"]);
    }

    #[test]
    fn repeated_failures_while_poisoned_neither_log_nor_reschedule() {
        let mut m = poisoned(100);
        let mut s = FakeServer::failing();
        s.fsynced = 100;
        for _ in 0..3 {
            assert_eq!(m.check(&mut s), CheckAction::Nothing);
            assert_eq!(m, poisoned(100));
        }
    }

    #[test]
    fn poisoned_check_puts_back_an_offset_a_job_moved() {
        // A job queued before the failure and not drained yet posts its offset later.
        let mut m = poisoned(100);
        let mut s = FakeServer::failing();
        s.fsynced = 300;
        assert_eq!(m.check(&mut s), CheckAction::RestoreFsyncedOffset(100));
        assert_eq!(m, poisoned(100));
        assert_eq!(s.reads, ["failed", "fsynced"]);
        // Once put back, nothing more to do.
        s.fsynced = 100;
        assert_eq!(m.check(&mut s), CheckAction::Nothing);
    }

    #[test]
    fn poisoned_without_a_recorded_failure_still_holds_the_offset() {
        // A later fsync succeeded and cleared upstream's status: the offset stays frozen.
        let mut m = poisoned(100);
        let mut s = FakeServer::new();
        s.fsynced = 500;
        assert_eq!(m.check(&mut s), CheckAction::RestoreFsyncedOffset(100));
        assert_eq!(m, poisoned(100));
    }

    #[test]
    fn clean_offset_is_not_noted_while_a_failure_stands() {
        let mut s = FakeServer::new();
        s.fsynced = 500;
        for mut m in [poisoned(100), recovering(100)] {
            let before = m;
            m.check(&mut s);
            assert_eq!(m, before);
        }
    }

    #[test]
    fn switching_files_while_poisoned_consumes_the_failure() {
        let mut m = poisoned(100);
        assert_eq!(m.rewrite_switched_files(), SwitchAction::ConsumeFailure);
        assert_eq!(m, recovering(100));
    }

    #[test]
    fn switching_files_otherwise_changes_nothing() {
        for mut m in [healthy(100), recovering(100)] {
            let before = m;
            assert_eq!(m.rewrite_switched_files(), SwitchAction::Nothing);
            assert_eq!(m, before);
        }
    }

    #[test]
    fn recovering_without_failure_holds_the_frozen_offset() {
        let mut m = recovering(100);
        let mut s = FakeServer::new();
        s.fsynced = 100;
        assert_eq!(m.check(&mut s), CheckAction::Nothing);
        s.fsynced = 700;
        assert_eq!(m.check(&mut s), CheckAction::RestoreFsyncedOffset(100));
        assert_eq!(m, recovering(100));
    }

    #[test]
    fn failure_during_recovery_poisons_again_at_the_same_offset() {
        let mut m = recovering(100);
        let mut s = FakeServer::failing();
        s.fsynced = 700;
        assert_eq!(m.check(&mut s), CheckAction::ScheduleRewrite);
        assert_eq!(m, poisoned(100));
        assert_eq!(s.reads, ["failed"]);
        // The offset the failed job posted is put back by the next check, and the next
        // switch consumes the new failure.
        assert_eq!(m.check(&mut s), CheckAction::RestoreFsyncedOffset(100));
        assert_eq!(m.rewrite_switched_files(), SwitchAction::ConsumeFailure);
        assert_eq!(m, recovering(100));
    }

    #[test]
    fn adopted_recovery_rewrite_makes_offsets_count_again() {
        let mut m = recovering(100);
        assert_eq!(m.rewrite_ended(true), RewriteEndAction::LogRecovered);
        assert_eq!(m, healthy(100));
        let mut s = FakeServer::new();
        assert!(m.offsets_count(&mut s));
    }

    #[test]
    fn failed_recovery_rewrite_poisons_again_at_the_same_offset() {
        let mut m = recovering(100);
        assert_eq!(m.rewrite_ended(false), RewriteEndAction::ScheduleRewrite);
        assert_eq!(m, poisoned(100));
    }

    #[test]
    fn other_rewrites_ending_change_nothing() {
        for adopted in [true, false] {
            for mut m in [healthy(100), poisoned(100)] {
                let before = m;
                assert_eq!(m.rewrite_ended(adopted), RewriteEndAction::Nothing);
                assert_eq!(m, before);
            }
        }
    }

    #[test]
    fn reset_is_healthy_from_every_state() {
        for mut m in [healthy(100), poisoned(100), recovering(100)] {
            m.reset(42);
            assert_eq!(m, healthy(42));
        }
    }

    #[test]
    fn offsets_count_only_healthy_with_no_close_job() {
        let mut s = FakeServer::new();
        assert!(healthy(0).offsets_count(&mut s));
        s.close_job = true;
        assert!(!healthy(0).offsets_count(&mut s));
        for m in [poisoned(10), recovering(10)] {
            let mut s = FakeServer::new();
            assert!(!m.offsets_count(&mut s));
            assert!(s.reads.is_empty());
        }
    }

    #[test]
    fn fsync_job_reports_the_current_offset_when_offsets_count() {
        let mut s = FakeServer::new();
        s.fsynced = 300;
        s.current = 400;
        assert_eq!(healthy(0).offset_for_fsync_job(&mut s), 400);
        assert_eq!(s.reads, ["close_job", "current"]);
    }

    #[test]
    fn fsync_job_keeps_the_fsynced_offset_while_a_close_job_runs() {
        let mut s = FakeServer::new();
        s.fsynced = 300;
        s.current = 400;
        s.close_job = true;
        assert_eq!(healthy(0).offset_for_fsync_job(&mut s), 300);
        assert_eq!(s.reads, ["close_job", "fsynced"]);
    }

    #[test]
    fn fsync_job_reports_the_frozen_offset_while_a_failure_stands() {
        for m in [poisoned(100), recovering(100)] {
            for close_job in [false, true] {
                let mut s = FakeServer::new();
                s.fsynced = 300;
                s.current = 400;
                s.close_job = close_job;
                assert_eq!(m.offset_for_fsync_job(&mut s), 100);
                assert!(s.reads.is_empty());
            }
        }
    }

    #[test]
    fn close_job_reports_the_current_offset_unless_a_failure_stands() {
        let mut s = FakeServer::new();
        s.fsynced = 300;
        s.current = 400;
        s.close_job = true;
        assert_eq!(healthy(0).offset_for_close_job(&mut s), 400);
        for m in [poisoned(100), recovering(100)] {
            assert_eq!(m.offset_for_close_job(&mut s), 100);
        }
    }

    #[test]
    fn a_whole_recovery() {
        let mut m = FsyncHealth::new();
        let mut s = FakeServer::new();
        // Clean fsyncs up to 100.
        s.fsynced = 100;
        s.current = 100;
        m.check(&mut s);
        assert_eq!(m.last_clean_offset, 100);
        // Writes up to 200, whose fsync fails.
        s.current = 200;
        s.failed = vec![true];
        assert_eq!(
            m.check(&mut s),
            CheckAction::Poison {
                fsynced_offset: 100
            }
        );
        assert_eq!(m.offset_for_fsync_job(&mut s), 100);
        assert_eq!(m.offset_for_close_job(&mut s), 100);
        // The rewrite switches files and the failure is cleared.
        assert_eq!(m.rewrite_switched_files(), SwitchAction::ConsumeFailure);
        s.failed = vec![false];
        s.current = 300;
        s.fsynced = 300;
        assert_eq!(m.check(&mut s), CheckAction::RestoreFsyncedOffset(100));
        s.fsynced = 100;
        assert!(!m.offsets_count(&mut s));
        // Adopted: offsets count, and the next clean offset is remembered again.
        assert_eq!(m.rewrite_ended(true), RewriteEndAction::LogRecovered);
        assert!(m.offsets_count(&mut s));
        assert_eq!(m.offset_for_fsync_job(&mut s), 300);
        s.fsynced = 300;
        m.check(&mut s);
        assert_eq!(m, healthy(300));
    }

    #[test]
    fn a_failure_after_recovery_freezes_at_the_clean_offset_from_before_it() {
        // Until a new clean offset is noted, the one from before the first failure stands.
        let mut m = recovering(100);
        m.rewrite_ended(true);
        let mut s = FakeServer::failing();
        assert_eq!(
            m.check(&mut s),
            CheckAction::Poison {
                fsynced_offset: 100
            }
        );
    }
}

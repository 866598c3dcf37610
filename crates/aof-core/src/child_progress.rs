//! How often the rewrite child tells the parent how many keys it has written (INFO's
//! `current_save_keys_processed`), in either form of the BASE: upstream's cadence, the
//! clock looked at every 1024 keys and a report sent at most once a second, so the walk
//! neither reads the clock per key nor floods the parent's pipe.

/// Keys between two looks at the clock.
pub const KEYS_PER_CLOCK_CHECK: u64 = 1024;
/// The least time between two reports, in milliseconds.
pub const REPORT_INTERVAL_MS: i64 = 1000;

/// The keys written so far and when the last report went out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    keys: u64,
    /// Milliseconds (the server's clock) of the last report; 0 before the first, so the
    /// first key is reported at once.
    reported_at: i64,
}

impl Progress {
    pub const fn new() -> Progress {
        Progress {
            keys: 0,
            reported_at: 0,
        }
    }

    /// Counts one key written; `Some(keys written)` when a report is due now. `now` (the
    /// clock, in milliseconds) is called only on every 1024th key, from the first.
    #[inline]
    pub fn key_written(&mut self, now: impl FnOnce() -> i64) -> Option<u64> {
        let counted = self.keys;
        self.keys += 1;
        if !counted.is_multiple_of(KEYS_PER_CLOCK_CHECK) {
            return None;
        }
        let now = now();
        if now - self.reported_at < REPORT_INTERVAL_MS {
            return None;
        }
        self.reported_at = now;
        Some(self.keys)
    }

    /// Keys written so far (the walks' closing log lines count them).
    pub fn keys(&self) -> u64 {
        self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `keys` keys at `ms_per_key` each from a clock starting at `start`: the reports
    /// and how many times the clock was read.
    fn run(keys: u64, start: i64, ms_per_key: f64) -> (Vec<u64>, u64) {
        let mut progress = Progress::new();
        let (mut reports, mut reads) = (Vec::new(), 0);
        for i in 0..keys {
            let now = start + (i as f64 * ms_per_key) as i64;
            if let Some(done) = progress.key_written(|| {
                reads += 1;
                now
            }) {
                reports.push(done);
            }
        }
        assert_eq!(progress.keys(), keys);
        (reports, reads)
    }

    #[test]
    fn the_first_key_is_reported_at_once() {
        assert_eq!(run(1, 1_700_000_000_000, 0.0), (vec![1], 1));
    }

    #[test]
    fn the_clock_is_read_every_1024_keys_from_the_first() {
        let (_, reads) = run(10_000, 5_000, 0.0);
        assert_eq!(reads, 10); // keys 0, 1024, ..., 9216
    }

    #[test]
    fn reports_come_at_most_once_a_second_on_a_clock_check() {
        // 1 ms per key: the clock checks fall at 0, 1024, 2048 ... ms after the start.
        let (reports, _) = run(5_000, 10_000, 1.0);
        assert_eq!(reports, vec![1, 1025, 2049, 3073, 4097]);
        // A fast walk: all of it inside one second, one report.
        let (reports, _) = run(100_000, 10_000, 0.001);
        assert_eq!(reports, vec![1]);
        // A slow one: every clock check is a second or more after the last report.
        let (reports, _) = run(3_000, 10_000, 2.0);
        assert_eq!(reports, vec![1, 1025, 2049]);
    }

    #[test]
    fn a_clock_check_under_a_second_after_the_report_sends_nothing() {
        // 0.5 ms per key: checks at 0, 512, 1024, 1536 ms: reports at 0 and 1024 ms.
        let (reports, _) = run(4_096, 10_000, 0.5);
        assert_eq!(reports, vec![1, 2049]);
    }
}

//! When automatic AOF rewrites are held back after repeated failures.
//!
//! After [`FAILURES_BEFORE_LIMIT`] consecutive failed rewrites, automatic rewrites pause
//! for 1 minute, then 2, 4, ... up to [`MAX_DELAY_MINUTES`]; one success (the failure
//! count drops) lifts the limit and resets the delay. `BGREWRITEAOF` is never limited;
//! only the cron's automatic trigger asks this policy.

/// Consecutive failures from which automatic rewrites are limited.
pub const FAILURES_BEFORE_LIMIT: i64 = 3;
/// The longest pause between two automatic attempts.
pub const MAX_DELAY_MINUTES: i64 = 60;

/// What the policy says about a rewrite now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewriteDecision {
    Allowed,
    /// Still inside the current pause.
    Limited,
    /// A new pause of this many minutes starts now (upstream logs it).
    NewlyLimited {
        minutes: i64,
    },
}

/// The back-off state upstream keeps in two function-local statics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewriteBackoff {
    next_delay_minutes: i64,
    /// Unix time at which the pause ends; 0 when no pause is running.
    next_rewrite_time: i64,
}

impl RewriteBackoff {
    pub const fn new() -> Self {
        RewriteBackoff {
            next_delay_minutes: 0,
            next_rewrite_time: 0,
        }
    }

    /// Upstream's `aofRewriteLimited`, given the failure count and the current unix time.
    pub fn decide(&mut self, consecutive_failures: i64, now: i64) -> RewriteDecision {
        if consecutive_failures < FAILURES_BEFORE_LIMIT {
            *self = RewriteBackoff::new();
            return RewriteDecision::Allowed;
        }
        if self.next_rewrite_time != 0 {
            if now < self.next_rewrite_time {
                return RewriteDecision::Limited;
            }
            // The pause is over: one attempt may run; if it fails too, the next call
            // starts a pause twice as long.
            self.next_rewrite_time = 0;
            return RewriteDecision::Allowed;
        }
        self.next_delay_minutes = if self.next_delay_minutes == 0 {
            1
        } else {
            (self.next_delay_minutes * 2).min(MAX_DELAY_MINUTES)
        };
        self.next_rewrite_time = now + self.next_delay_minutes * 60;
        RewriteDecision::NewlyLimited {
            minutes: self.next_delay_minutes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RewriteDecision::*;

    #[test]
    fn few_failures_never_limit() {
        let mut b = RewriteBackoff::new();
        for failures in 0..FAILURES_BEFORE_LIMIT {
            assert_eq!(b.decide(failures, 1000), Allowed);
        }
    }

    #[test]
    fn pauses_double_up_to_an_hour() {
        let mut b = RewriteBackoff::new();
        let mut now = 1_000_000;
        let mut seen = Vec::new();
        for _ in 0..9 {
            match b.decide(5, now) {
                NewlyLimited { minutes } => {
                    seen.push(minutes);
                    // Inside the pause: limited, one second before its end too.
                    assert_eq!(b.decide(5, now + 1), Limited);
                    assert_eq!(b.decide(5, now + minutes * 60 - 1), Limited);
                    // At its end one attempt is allowed.
                    now += minutes * 60;
                    assert_eq!(b.decide(5, now), Allowed);
                }
                other => panic!("expected a new pause, got {other:?}"),
            }
        }
        assert_eq!(seen, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_success_resets_the_backoff() {
        let mut b = RewriteBackoff::new();
        assert_eq!(b.decide(3, 0), NewlyLimited { minutes: 1 });
        assert_eq!(b.decide(3, 60), Allowed);
        assert_eq!(b.decide(4, 60), NewlyLimited { minutes: 2 });
        assert_eq!(b.decide(0, 61), Allowed);
        assert_eq!(b, RewriteBackoff::new());
        assert_eq!(b.decide(3, 100), NewlyLimited { minutes: 1 });
    }
}

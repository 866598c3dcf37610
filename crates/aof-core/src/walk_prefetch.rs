//! The schedule of the cache hints while the rewrite walks the keyspace.
//!
//! The walk is bound by memory latency: each entry's key, value object and encoded value
//! are scattered over the heap, and so are the iterator's next entry and the key's entry
//! in the expires dict. So entries are taken from the iterator [`AHEAD`] keys ahead of
//! the one being written, and each entry's memory is hinted to the cache in steps, each
//! step once the previous one's load has had time to land: the key and the value object
//! when the entry is taken; then, the key being in the cache, the buckets ahead of the
//! iterator and the key's expires bucket ([`PrefetchedWalk::key_ready`], [`KEY_READY_AT`]
//! entries before it is written); then the encoded value (what the object points to,
//! [`VALUE_AT`]), the expires entry ([`EXPIRE_ENTRY_AT`]) and the key that entry holds
//! ([`EXPIRE_OTHER_KEY_AT`]). A step only loads: the keys are written in the iterator's
//! order, each exactly once, whatever the hints do.
//!
//! The first entries of a walk are written before they reach the later positions, and
//! skip those steps (the window is filled at once); an entry whose key was not read by
//! [`PrefetchedWalk::key_ready`] has it read when it is written.

use std::collections::VecDeque;

/// Entries taken ahead of the one being written.
pub const AHEAD: usize = 8;
/// Positions in the window (0: the next to be written) where each later step is taken.
pub const KEY_READY_AT: usize = 5;
pub const VALUE_AT: usize = 4;
pub const EXPIRE_ENTRY_AT: usize = 2;
pub const EXPIRE_OTHER_KEY_AT: usize = 1;

/// A keyspace walk whose memory is hinted in the steps of the schedule above; every step
/// is a hint, and may do nothing.
pub trait PrefetchedWalk {
    /// An entry taken from the iterator, with what its steps have learnt.
    type Entry;
    /// The iterator's next entry (hinting its key and value object), or `None` at the end.
    fn take(&mut self) -> Option<Self::Entry>;
    /// The entry's key is in the cache: hash it, hint the buckets ahead of the iterator
    /// and the key's expires bucket.
    fn key_ready(&mut self, entry: &mut Self::Entry);
    /// The value object is in the cache: hint the encoded value.
    fn value_ready(&mut self, entry: &Self::Entry);
    /// The expires bucket is in the cache: hint its first entry.
    fn expire_entry(&mut self, entry: &Self::Entry);
    /// The expires entry is in the cache: hint the key it holds, if another's.
    fn expire_other_key(&mut self, entry: &Self::Entry);
}

/// Walks every entry of `walk` in its order, each step of the schedule taken at its
/// position; `visit` writes an entry (false: stop, a write error), and this returns
/// whether every entry was written.
#[inline]
pub fn walk<W: PrefetchedWalk>(
    walk: &mut W,
    mut visit: impl FnMut(&mut W, W::Entry) -> bool,
) -> bool {
    let mut upcoming: VecDeque<W::Entry> = VecDeque::with_capacity(AHEAD);
    let mut exhausted = false;
    loop {
        while !exhausted && upcoming.len() < AHEAD {
            match walk.take() {
                Some(entry) => upcoming.push_back(entry),
                None => exhausted = true,
            }
        }
        if let Some(entry) = upcoming.get_mut(KEY_READY_AT) {
            walk.key_ready(entry);
        }
        if let Some(entry) = upcoming.get(VALUE_AT) {
            walk.value_ready(entry);
        }
        if let Some(entry) = upcoming.get(EXPIRE_ENTRY_AT) {
            walk.expire_entry(entry);
        }
        if let Some(entry) = upcoming.get(EXPIRE_OTHER_KEY_AT) {
            walk.expire_other_key(entry);
        }
        let Some(next) = upcoming.pop_front() else {
            return true;
        };
        if !visit(walk, next) {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Step {
        Take,
        KeyReady,
        Value,
        ExpireEntry,
        ExpireOtherKey,
        Visit,
    }

    /// Entries 0..n; records (entry, step) in order.
    struct Recorder {
        n: usize,
        taken: usize,
        log: Vec<(usize, Step)>,
    }

    impl PrefetchedWalk for Recorder {
        type Entry = usize;
        fn take(&mut self) -> Option<usize> {
            (self.taken < self.n).then(|| {
                self.taken += 1;
                self.log.push((self.taken - 1, Step::Take));
                self.taken - 1
            })
        }
        fn key_ready(&mut self, entry: &mut usize) {
            self.log.push((*entry, Step::KeyReady));
        }
        fn value_ready(&mut self, entry: &usize) {
            self.log.push((*entry, Step::Value));
        }
        fn expire_entry(&mut self, entry: &usize) {
            self.log.push((*entry, Step::ExpireEntry));
        }
        fn expire_other_key(&mut self, entry: &usize) {
            self.log.push((*entry, Step::ExpireOtherKey));
        }
    }

    fn run(n: usize, stop_at: Option<usize>) -> (bool, Vec<(usize, Step)>) {
        let mut walk = Recorder {
            n,
            taken: 0,
            log: Vec::new(),
        };
        let done = super::walk(&mut walk, |w, entry| {
            w.log.push((entry, Step::Visit));
            Some(entry) != stop_at
        });
        (done, walk.log)
    }

    fn steps_of(log: &[(usize, Step)], entry: usize) -> Vec<Step> {
        log.iter()
            .filter(|(e, _)| *e == entry)
            .map(|&(_, s)| s)
            .collect()
    }

    #[test]
    fn every_entry_is_written_once_in_order() {
        for n in [0, 1, 5, AHEAD, AHEAD + 1, 100] {
            let (done, log) = run(n, None);
            assert!(done);
            let visited: Vec<usize> = log
                .iter()
                .filter(|(_, s)| *s == Step::Visit)
                .map(|&(e, _)| e)
                .collect();
            assert_eq!(visited, (0..n).collect::<Vec<_>>(), "{n} entries");
        }
    }

    #[test]
    fn an_entry_far_enough_from_the_start_gets_every_step_in_order() {
        let (_, log) = run(100, None);
        use Step::*;
        for entry in [KEY_READY_AT, 50, 99] {
            assert_eq!(
                steps_of(&log, entry),
                [Take, KeyReady, Value, ExpireEntry, ExpireOtherKey, Visit],
                "entry {entry}"
            );
        }
        // The first entries are in the window at once, nearer than the early steps.
        assert_eq!(steps_of(&log, 0), [Take, Visit]);
        assert_eq!(
            steps_of(&log, EXPIRE_ENTRY_AT),
            [Take, ExpireEntry, ExpireOtherKey, Visit]
        );
    }

    #[test]
    fn each_step_comes_its_distance_before_the_entry_is_written() {
        let (_, log) = run(100, None);
        // Position of each event in the order of writes: how many entries were written
        // before it.
        let written_before =
            |at: usize| log[..at].iter().filter(|(_, s)| *s == Step::Visit).count();
        for (at, &(entry, step)) in log.iter().enumerate() {
            let distance = entry - written_before(at);
            let expected = match step {
                Step::KeyReady => KEY_READY_AT,
                Step::Value => VALUE_AT,
                Step::ExpireEntry => EXPIRE_ENTRY_AT,
                Step::ExpireOtherKey => EXPIRE_OTHER_KEY_AT,
                Step::Visit => 0,
                Step::Take => continue,
            };
            assert_eq!(distance, expected, "{step:?} of entry {entry}");
        }
    }

    #[test]
    fn the_iterator_is_never_more_than_the_window_ahead() {
        let (_, log) = run(100, None);
        let mut taken = 0usize;
        let mut written = 0usize;
        for &(_, step) in &log {
            match step {
                Step::Take => taken += 1,
                Step::Visit => written += 1,
                _ => {}
            }
            assert!(taken - written <= AHEAD);
        }
    }

    #[test]
    fn a_failed_write_stops_the_walk() {
        let (done, log) = run(100, Some(10));
        assert!(!done);
        assert_eq!(log.last(), Some(&(10, Step::Visit)));
        assert!(!log.iter().any(|&(e, s)| s == Step::Visit && e > 10));
    }
}

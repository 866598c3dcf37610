//! Looking ahead of the replay: the next few commands' keys get their cache hints (see
//! [`aof_glue::prefetch`]) one step per command run, so the bucket, the entry and the
//! key string of a lookup are each loaded while earlier commands run.

use aof_core::command_reader::peek_upcoming;
use aof_glue::db::Db;
use aof_glue::prefetch::{KeyHash, KeyspacePrefetch};
use std::collections::VecDeque;

/// Commands looked at ahead of the running one: one per prefetch step.
const DEPTH: usize = 3;

pub struct Lookahead {
    prefetch: KeyspacePrefetch,
    /// File offset of the first command not looked at yet.
    seen_up_to: u64,
    /// The commands looked at and not run yet, nearest first: where each starts, and its
    /// key's hash (none for a command without a key, or no dict to hint at).
    upcoming: VecDeque<(u64, Option<KeyHash>)>,
}

impl Lookahead {
    pub fn new() -> Lookahead {
        Lookahead {
            prefetch: KeyspacePrefetch::new(),
            seen_up_to: 0,
            upcoming: VecDeque::with_capacity(DEPTH),
        }
    }

    /// Before running a command: `after` is what the window holds after it, from file
    /// offset `end` (where the command ends) on. Forgets what was looked at up to there,
    /// looks at the commands the window holds whole, and moves each upcoming command one
    /// step further.
    pub fn before_running(&mut self, db: Option<Db>, after: &[u8], end: u64) {
        while self.upcoming.front().is_some_and(|&(at, _)| at < end) {
            self.upcoming.pop_front();
        }
        if self.seen_up_to < end {
            // A restart (first command, or after an annotation or a window refill).
            self.upcoming.clear();
            self.seen_up_to = end;
        }
        while self.upcoming.len() < DEPTH {
            let at = (self.seen_up_to - end) as usize;
            let Some(command) = peek_upcoming(after, at) else {
                break;
            };
            let hash = command
                .key
                .zip(db)
                .and_then(|(key, db)| self.prefetch.bucket(db, &after[key]));
            self.upcoming.push_back((self.seen_up_to, hash));
            self.seen_up_to = end + command.end as u64;
        }
        let Some(db) = db else {
            return;
        };
        if let Some(&(_, Some(hash))) = self.upcoming.get(1) {
            self.prefetch.entry(db, hash);
        }
        if let Some(&(_, Some(hash))) = self.upcoming.front() {
            self.prefetch.key(db, hash);
        }
        self.prefetch.rehash(db);
    }
}

impl Default for Lookahead {
    fn default() -> Self {
        Self::new()
    }
}

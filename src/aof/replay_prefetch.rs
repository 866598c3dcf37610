//! The replay's cache hints (prefetch): the next few commands' keys get their hints (see
//! [`aof_glue::prefetch::replay`]) one step per command run, so the bucket, the entry and
//! the key string of a lookup are each loaded while earlier commands run.

use aof_core::command_reader::peek_upcoming;
use aof_glue::db::Db;
use aof_glue::prefetch::replay::ReplayPrefetch;
use aof_glue::prefetch::KeyHash;
use std::collections::VecDeque;

/// Commands whose keys are hinted ahead of the running one: one per prefetch step.
pub const DEPTH: usize = 3;

/// An upcoming command's key: its bytes, or its hash computed already.
enum UpcomingKey<'k> {
    Bytes(&'k [u8]),
    Hash(KeyHash),
}

pub struct UpcomingPrefetch {
    prefetch: ReplayPrefetch,
    /// The first command not looked at yet (its file offset, or its item number).
    seen_up_to: u64,
    /// The commands looked at and not run yet, nearest first: each one's id, and its
    /// key's hash (none for a command without a key, or no dict to hint at).
    upcoming: VecDeque<(u64, Option<KeyHash>)>,
}

impl UpcomingPrefetch {
    pub fn new() -> UpcomingPrefetch {
        UpcomingPrefetch {
            prefetch: ReplayPrefetch::new(),
            seen_up_to: 0,
            upcoming: VecDeque::with_capacity(DEPTH),
        }
    }

    /// Before running a command: `after` is what the window holds after it, from file
    /// offset `end` (where the command ends) on. Forgets what was looked at up to there,
    /// looks at the commands the window holds whole, and moves each upcoming command one
    /// step further. Commands are known by the file offset they start at.
    pub fn before_running(&mut self, db: Option<Db>, after: &[u8], end: u64) {
        self.advance(db, end, |at| {
            let command = peek_upcoming(after, (at - end) as usize)?;
            let key = command.key.map(|key| UpcomingKey::Bytes(&after[key]));
            Some((key, end + command.end as u64))
        });
    }

    /// The same for the pipelined loader, whose items are known by their sequence number:
    /// before running item `running`, `upcoming(seq)` is the hash of item `seq`'s key
    /// (computed on the reading thread; `Some(None)` for an item without a key), or
    /// `None` past the items handed over.
    pub fn before_running_item(
        &mut self,
        db: Option<Db>,
        running: u64,
        upcoming: impl Fn(u64) -> Option<Option<KeyHash>>,
    ) {
        self.advance(db, running + 1, |seq| {
            Some((upcoming(seq)?.map(UpcomingKey::Hash), seq + 1))
        });
    }

    /// The common step: `next` is the command after the one running, known by `next`'s
    /// id (ids grow in file order); `peek(id)` gives the command known by `id` (its key,
    /// and the id of the command after it), or `None` when it cannot be seen yet.
    fn advance<'k>(
        &mut self,
        db: Option<Db>,
        next: u64,
        peek: impl Fn(u64) -> Option<(Option<UpcomingKey<'k>>, u64)>,
    ) {
        while self.upcoming.front().is_some_and(|&(at, _)| at < next) {
            self.upcoming.pop_front();
        }
        if self.seen_up_to < next {
            // A restart (first command, or after an annotation or a window refill).
            self.upcoming.clear();
            self.seen_up_to = next;
        }
        while self.upcoming.len() < DEPTH {
            let Some((key, after)) = peek(self.seen_up_to) else {
                break;
            };
            let hash = key.zip(db).and_then(|(key, db)| match key {
                UpcomingKey::Bytes(key) => self.prefetch.bucket(db, key),
                UpcomingKey::Hash(hash) => self.prefetch.bucket_of_hash(db, hash),
            });
            self.upcoming.push_back((self.seen_up_to, hash));
            self.seen_up_to = after;
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

impl Default for UpcomingPrefetch {
    fn default() -> Self {
        Self::new()
    }
}

//! Cache hints for the keyspace while an AOF replays.
//!
//! Replaying a large AOF is bound by memory latency, not instructions: each command's key
//! lookup walks the main dict (bucket, entry, key string), three dependent cache misses
//! in a table far larger than the cache, and while the dict grows every lookup also moves
//! a bucket of the old table to the new one (each moved entry's key is read to hash it).
//! The loader knows the next commands' keys before it runs them, and the rehash moves
//! through the old table in order, so both sets of loads can be issued early, one step
//! per command, and found in the cache when the command runs.
//!
//! Nothing here changes any state: every step re-reads the dict as it is at that moment
//! (a command run in between may have grown, rehashed, emptied or replaced it) and only
//! loads what a lookup of the key would load right then; the result is a `prefetch`
//! instruction, which cannot fault. A wrong guess (another db, a stale bucket) costs a
//! wasted hint, never a wrong result.
//!
//! The dict of a db is reached through the public kvstore API: `kvstoreGetDict` where the
//! release has it (8.6); in 8.0 `kvstoreGetDictMetadata` returns a pointer into the dict,
//! whose distance from the dict (kvstore's private metadata layout) is measured once per
//! load from `kvstoreIteratorNextDict`, which returns the dict itself, so no private
//! layout is assumed.

#[cfg(not(keys_in_values))]
use super::first_dict;
use super::ENTRY_TAG_BITS;
use super::{bucket_slot, first_entry, hashes_with_sds_hash, hint, KeyHash};
use crate::bindings::{self, dict, dictEntry};
use crate::db::Db;
use crate::server;

/// Prefetches for one db of a standalone server (a cluster's keys spread over 16384
/// dicts by slot; there nothing is prefetched).
pub struct ReplayPrefetch {
    enabled: bool,
    /// Bytes from a dict to the metadata kvstore hands out for it (8.0), measured once;
    /// set (0 where kvstore hands out the dict itself) once the dict's type is checked.
    metadata_offset: Option<usize>,
    /// The old table of the rehash being helped along, and the buckets of it whose
    /// entries, then keys, have had their hints.
    rehash_table: usize,
    rehash_entries_up_to: i64,
    rehash_keys_up_to: i64,
}

impl ReplayPrefetch {
    pub fn new() -> ReplayPrefetch {
        let cluster = server::cluster_enabled() != 0;
        ReplayPrefetch {
            enabled: !cluster,
            metadata_offset: None,
            rehash_table: 0,
            rehash_entries_up_to: 0,
            rehash_keys_up_to: 0,
        }
    }

    /// Step one: the key's hash, and a hint for its bucket.
    pub fn bucket(&mut self, db: Db, key: &[u8]) -> Option<KeyHash> {
        self.main_dict(db)?;
        self.bucket_of_hash(db, KeyHash::of(key))
    }

    /// Step one for a key whose hash was computed already ([`KeyHash::of`]).
    pub fn bucket_of_hash(&mut self, db: Db, hash: KeyHash) -> Option<KeyHash> {
        let d = self.main_dict(db)?;
        if let Some(slot) = bucket_slot(d, hash) {
            hint(slot.cast());
        }
        Some(hash)
    }

    /// Step two (the bucket is in the cache by now): a hint for the bucket's first entry.
    pub fn entry(&mut self, db: Db, hash: KeyHash) {
        if let Some(entry) = self.main_dict(db).and_then(|d| first_entry(d, hash)) {
            hint((entry as usize & !ENTRY_TAG_BITS) as *const u8);
        }
    }

    /// Step three (the entry is in the cache): a hint for the entry's key string, which
    /// the lookup compares.
    pub fn key(&mut self, db: Db, hash: KeyHash) {
        if let Some(entry) = self.main_dict(db).and_then(|d| first_entry(d, hash)) {
            // SAFETY: `entry` was read from a live bucket of the live dict just now, with
            // no code run in between: dictGetKey decodes a live entry (or tagged key).
            let key = unsafe { bindings::dictGetKey(entry) };
            // The sds header sits just before the string; both are usually one line.
            hint((key as *const u8).wrapping_sub(1));
        }
    }

    /// While the dict grows, every lookup and insertion also moves the next bucket of the
    /// old table (`rehashidx`) to the new one, which reads each moved entry and its key
    /// to hash it: the buckets just ahead of `rehashidx` get their entries hinted, and a
    /// few commands later (nearer) their keys.
    pub fn rehash(&mut self, db: Db) {
        const ENTRIES_AHEAD: i64 = 16;
        const KEYS_AHEAD: i64 = 8;
        let Some(d) = self.main_dict(db) else {
            return;
        };
        // SAFETY: plain field reads of a live dict.
        let (table, exp, next) = unsafe { ((*d).ht_table[0], (*d).ht_size_exp[0], (*d).rehashidx) };
        if next < 0 || exp < 0 || table.is_null() {
            return;
        }
        let size = 1i64 << exp;
        if table as usize != self.rehash_table {
            self.rehash_table = table as usize;
            self.rehash_entries_up_to = next;
            self.rehash_keys_up_to = next;
        }
        let bucket = |index: i64| -> *mut dictEntry {
            // SAFETY: callers keep `index` within the old table's `size` buckets.
            unsafe { *table.add(index as usize) }
        };
        let entries_end = (next + ENTRIES_AHEAD).min(size);
        for index in self.rehash_entries_up_to.max(next)..entries_end {
            let entry = bucket(index);
            if !entry.is_null() {
                hint((entry as usize & !ENTRY_TAG_BITS) as *const u8);
            }
        }
        self.rehash_entries_up_to = entries_end;
        let keys_end = (next + KEYS_AHEAD).min(size);
        for index in self.rehash_keys_up_to.max(next)..keys_end {
            let entry = bucket(index);
            if !entry.is_null() {
                // SAFETY: a live entry read from the live table just now.
                let key = unsafe { bindings::dictGetKey(entry) };
                hint((key as *const u8).wrapping_sub(1));
            }
        }
        self.rehash_keys_up_to = keys_end;
    }

    /// The db's main dict now, if it has one and keys hash the way this module hashes.
    fn main_dict(&mut self, db: Db) -> Option<*mut dict> {
        if !self.enabled {
            return None;
        }
        // The first time a dict is found, its type is checked: the hash below is the db
        // dict type's; any other type, no hints.
        let d = self.first_dict_of(db.keys())?;
        self.enabled.then_some(d)
    }

    /// The kvstore's first dict (a standalone db's only one), if it has one yet.
    #[cfg(keys_in_values)]
    fn first_dict_of(&mut self, keys: *mut bindings::kvstore) -> Option<*mut dict> {
        // SAFETY: a db's keys kvstore is live (see Db); kvstoreGetDict reads the kvstore's
        // dict table only.
        let d = unsafe { bindings::kvstoreGetDict(keys, 0) };
        if d.is_null() {
            return None;
        }
        if self.metadata_offset.is_none() {
            self.enabled = hashes_with_sds_hash(d);
            self.metadata_offset = Some(0);
        }
        Some(d)
    }

    /// The kvstore's first dict (a standalone db's only one), if it has one yet.
    #[cfg(not(keys_in_values))]
    fn first_dict_of(&mut self, keys: *mut bindings::kvstore) -> Option<*mut dict> {
        // SAFETY: a db's keys kvstore is live (see Db); kvstoreGetDictMetadata reads the
        // kvstore's dict table only.
        let metadata = unsafe { bindings::kvstoreGetDictMetadata(keys, 0) };
        if metadata.is_null() {
            return None; // no dict yet (created with the first key), or no metadata
        }
        let offset = match self.metadata_offset {
            Some(offset) => offset,
            None => (metadata as usize).checked_sub(first_dict(keys)? as usize)?,
        };
        let d = (metadata as usize - offset) as *mut dict;
        if self.metadata_offset.is_none() {
            self.enabled = hashes_with_sds_hash(d);
            self.metadata_offset = Some(offset);
        }
        Some(d)
    }
}

impl Default for ReplayPrefetch {
    fn default() -> Self {
        Self::new()
    }
}

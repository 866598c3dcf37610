//! Cache hints for the rewrite child's walk over the keyspace (the steps; their schedule
//! is [`aof_core::walk_prefetch`]'s).

use super::{bucket_position, bucket_slot, first_dict, first_entry, hashes_with_sds_hash, hint};
use super::{KeyHash, ENTRY_NEXT_OFFSET, ENTRY_TAG_BITS};
use crate::bindings::{self, dict};
use crate::db::Db;
use crate::server;

/// Cache hints for the rewrite child's walk over one db of a standalone server.
///
/// The walk is the kvstore iterator going through the db's dict bucket by bucket, and
/// `getExpire` looking each key up in the expires dict: two dependent misses per key
/// (the iterator's next entry, the expires bucket and entry) that no hint on the key
/// itself covers. The iterator's position is known from the keys it hands out (a key's
/// bucket is where the iterator was), so the entries of the buckets just ahead of it
/// can be hinted; and the expires lookup of a key is hinted in two steps, bucket then
/// entry, a few keys before it happens. Both dicts hash with `dictSdsHash`, so one hash
/// of the key serves both.
///
/// A bucket's first entry is all the bucket array tells; at the main dict's usual load
/// (up to one key per bucket) about a third of the keys sit second or later in a chain,
/// and the iterator's read of each such entry is a miss of its own, which no hint on the
/// first entries covers. So, nearer the iterator, where the first entries hinted earlier
/// are in the cache, the second entry of each chain is hinted too. In the child nothing
/// changes the dataset except what upstream changes too (a lookup helping an expires
/// rehash along), and every step re-reads the dict, so a hint is at worst wasted.
pub struct WalkPrefetch {
    keys: Option<*mut dict>,
    expires: Option<*mut dict>,
    /// The table of `keys` and the bucket up to which entries have been hinted.
    scouted_table: usize,
    scouted_up_to: usize,
    /// The bucket of that table up to which second entries have been hinted.
    chained_up_to: usize,
}

impl WalkPrefetch {
    /// Buckets of the main dict hinted ahead of the iterator.
    const SCOUT_BUCKETS: usize = 32;
    /// Buckets ahead of the iterator whose chains' second entries are hinted: half the
    /// distance of the first entries, so those are in the cache when their `next` is
    /// read (other distances: `bench/MEASUREMENTS.md`, "Tried and not kept" under
    /// "2026-12-02, evening").
    const CHAIN_BUCKETS: usize = 16;

    /// For the walk of `db`.
    pub fn new(db: Db) -> WalkPrefetch {
        let (cluster, keys, expires) = (server::cluster_enabled() != 0, db.keys(), db.expires());
        let usable = |kvs| {
            if cluster {
                None
            } else {
                first_dict(kvs).filter(|&d| hashes_with_sds_hash(d))
            }
        };
        WalkPrefetch {
            keys: usable(keys),
            // Where keys live in their values, the expiry is read off the value object:
            // the walk looks nothing up in the expires dict.
            expires: if cfg!(keys_in_values) {
                None
            } else {
                usable(expires)
            },
            scouted_table: 0,
            scouted_up_to: 0,
            chained_up_to: 0,
        }
    }

    /// Step one, once the key string is in the cache: hints the buckets ahead of the
    /// iterator (it has just handed out this key or one a few after it) and the key's
    /// expires bucket.
    pub fn key_ready(&mut self, key: &[u8]) -> Option<KeyHash> {
        if self.keys.is_none() && self.expires.is_none() {
            return None;
        }
        // SAFETY: dictGenHashFunction reads `key.len()` bytes of `key`.
        let hash =
            KeyHash(unsafe { bindings::dictGenHashFunction(key.as_ptr().cast(), key.len()) });
        if let Some(d) = self.keys {
            self.scout(d, hash);
        }
        if let Some(slot) = self.expires.and_then(|e| bucket_slot(e, hash)) {
            hint(slot.cast());
        }
        Some(hash)
    }

    /// Step two (the expires bucket is in the cache): hints its first entry, which a key
    /// with a TTL is usually the one of.
    #[inline]
    pub fn expire_entry(&self, hash: KeyHash) {
        if let Some(entry) = self.expires.and_then(|e| first_entry(e, hash)) {
            hint((entry as usize & !ENTRY_TAG_BITS) as *const u8);
        }
    }

    /// Step three (the entry is in the cache): when the bucket's first entry is another
    /// key's (most keys have no TTL, and their expires bucket holds other keys), hints
    /// that key's string, which the lookup compares with this one.
    #[inline]
    pub fn expire_other_key(&self, hash: KeyHash, key: *const u8) {
        if let Some(entry) = self.expires.and_then(|e| first_entry(e, hash)) {
            // SAFETY: `entry` was read from a live bucket of the live dict just now, with
            // no code run in between: dictGetKey decodes a live entry.
            let other = unsafe { bindings::dictGetKey(entry) } as *const u8;
            if other != key {
                hint(other.wrapping_sub(1));
            }
        }
    }

    fn scout(&mut self, d: *mut dict, hash: KeyHash) {
        // The iterator handed out this key from its bucket, or a few keys after it.
        let Some((table, index)) = bucket_position(d, hash) else {
            return;
        };
        // SAFETY: plain field reads of a live dict.
        let (tables, exps) = unsafe { ((*d).ht_table, (*d).ht_size_exp) };
        let size = 1usize << exps[table];
        let same_table = self.scouted_table == table;
        let start = if same_table {
            self.scouted_up_to.max(index + 1)
        } else {
            index + 1
        };
        let end = (index + 1 + Self::SCOUT_BUCKETS).min(size);
        for i in start..end {
            // SAFETY: `i` < the table's size.
            let entry = unsafe { *tables[table].add(i) };
            if !entry.is_null() {
                // The iterator reads the entry's `next` too: a 24-byte entry can end in
                // the following cache line.
                let entry = (entry as usize & !ENTRY_TAG_BITS) as *const u8;
                hint(entry);
                hint(entry.wrapping_add(ENTRY_NEXT_OFFSET));
            }
        }
        let chain_start = if same_table {
            self.chained_up_to.max(index + 1)
        } else {
            index + 1
        };
        let chain_end = (index + 1 + Self::CHAIN_BUCKETS).min(size);
        for i in chain_start..chain_end {
            // SAFETY: `i` < the table's size.
            let entry = unsafe { *tables[table].add(i) };
            // Only an untagged bucket pointer (ENTRY_PTR_NORMAL) is a whole dictEntry;
            // the tagged forms are a key or a no-value entry, not read here.
            if !entry.is_null() && entry as usize & ENTRY_TAG_BITS == 0 {
                // SAFETY: dict.c allocates an untagged entry as its whole `struct
                // dictEntry { key; v; next; }` (zmalloc(sizeof(*entry)), ENTRY_SIZE
                // bytes, `next` at ENTRY_NEXT_OFFSET: dict_entry_mismatches checks both
                // against this tree's dict.c, and the library refuses to start
                // otherwise), live in the child's unchanging dict, so the word read lies
                // inside it. What it holds is only hinted, never followed.
                let next = unsafe { *(entry as *const u8).add(ENTRY_NEXT_OFFSET).cast::<usize>() };
                if next != 0 {
                    hint((next & !ENTRY_TAG_BITS) as *const u8);
                }
            }
        }
        self.scouted_table = table;
        self.scouted_up_to = end.max(start);
        self.chained_up_to = chain_end.max(chain_start);
    }
}

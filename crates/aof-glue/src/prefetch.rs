//! Cache hints for the keyspace while an AOF replays ([`KeyspacePrefetch`]) and while the
//! rewrite child walks it ([`KeyWalkPrefetch`]).
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

use super::bindings::{self, dict, dictEntry};
use super::db::Db;
use super::server;

/// Prefetches for one db of a standalone server (a cluster's keys spread over 16384
/// dicts by slot; there nothing is prefetched).
pub struct KeyspacePrefetch {
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

/// Where a key would be looked up: its hash, kept between the steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash(u64);

impl KeyHash {
    /// The hash a db's dict gives `key` (`dictSdsHash`, which is `dictGenHashFunction`;
    /// [`KeyspacePrefetch`] hints at no dict of another type). Any thread may compute
    /// it: `dictGenHashFunction` is siphash keyed by `dict_hash_function_seed`, which
    /// upstream sets once in `main()` before anything is loaded and never again.
    pub fn of(key: &[u8]) -> KeyHash {
        // SAFETY: dictGenHashFunction reads `key.len()` bytes of `key` and the seed.
        KeyHash(unsafe { bindings::dictGenHashFunction(key.as_ptr().cast(), key.len()) })
    }
}

impl KeyspacePrefetch {
    pub fn new() -> KeyspacePrefetch {
        let cluster = server::cluster_enabled() != 0;
        KeyspacePrefetch {
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

impl Default for KeyspacePrefetch {
    fn default() -> Self {
        Self::new()
    }
}

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
pub struct KeyWalkPrefetch {
    keys: Option<*mut dict>,
    expires: Option<*mut dict>,
    /// The table of `keys` and the bucket up to which entries have been hinted.
    scouted_table: usize,
    scouted_up_to: usize,
    /// The bucket of that table up to which second entries have been hinted.
    chained_up_to: usize,
}

impl KeyWalkPrefetch {
    /// Buckets of the main dict hinted ahead of the iterator.
    const SCOUT_BUCKETS: usize = 32;
    /// Buckets ahead of the iterator whose chains' second entries are hinted: half the
    /// distance of the first entries, so those are in the cache when their `next` is
    /// read (other distances: `bench/MEASUREMENTS.md`, "Tried and not kept" under
    /// "2026-12-02, evening").
    const CHAIN_BUCKETS: usize = 16;

    /// For the walk of `db`.
    pub fn new(db: Db) -> KeyWalkPrefetch {
        let (cluster, keys, expires) = (server::cluster_enabled() != 0, db.keys(), db.expires());
        let usable = |kvs| {
            if cluster {
                None
            } else {
                first_dict(kvs).filter(|&d| hashes_with_sds_hash(d))
            }
        };
        KeyWalkPrefetch {
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

/// The first dict of a kvstore that has one (a standalone server's only dict): the
/// kvstore iterator hands out the dict itself.
fn first_dict(kvs: *mut bindings::kvstore) -> Option<*mut dict> {
    // SAFETY: a kvstore iterator over a live kvstore, released at once; asking for the
    // first dict neither iterates its entries nor pauses its rehashing.
    let d = unsafe {
        let it = bindings::redis_aof_shim_kvstore_iter_start(kvs);
        let d = bindings::kvstoreIteratorNextDict(it);
        bindings::redis_aof_shim_kvstore_iter_stop(it);
        d
    };
    (!d.is_null()).then_some(d)
}

/// Whether the dict hashes its keys with `dictSdsHash`, the function the hints hash with.
fn hashes_with_sds_hash(d: *mut dict) -> bool {
    // SAFETY: a live dict; its type is a static dictType.
    let hash_function = unsafe { (*(*d).type_).hashFunction };
    hash_function.map(|f| f as usize) == Some(bindings::dictSdsHash as *const () as usize)
}

/// Offset of `next` in dict.c's `dictEntry`: its last pointer in 8.0 (key, value, next),
/// its first where keys live in values (next, key, value; `dictEntryNoValue` too starts
/// with `next`, so an untagged bucket pointer's first word is `next` either way).
#[cfg(not(keys_in_values))]
const ENTRY_NEXT_OFFSET: usize = 2 * std::mem::size_of::<usize>();
#[cfg(keys_in_values)]
const ENTRY_NEXT_OFFSET: usize = 0;
/// Size of dict.c's `dictEntry` with a value (the only kind whose `next` is read here).
const ENTRY_SIZE: usize = 3 * std::mem::size_of::<usize>();

extern "C" {
    // Compiled by build.rs from a copy of this tree's private dict.c definitions.
    static redis_aof_dict_entry_size: usize;
    static redis_aof_dict_entry_next: usize;
    static redis_aof_dict_entry_ptr_mask: usize;
    static redis_aof_dict_entry_ptr_normal: usize;
}

/// What dict.c's private `dictEntry` and pointer tags are, against what this module
/// assumes (empty when they agree): checked at start-up with the other layouts.
pub(super) fn dict_entry_mismatches() -> Vec<String> {
    // SAFETY: constants defined by the generated dict_entry_c.c.
    let c = unsafe {
        [
            ("dictEntry size", redis_aof_dict_entry_size, ENTRY_SIZE),
            (
                "dictEntry.next",
                redis_aof_dict_entry_next,
                ENTRY_NEXT_OFFSET,
            ),
            (
                "ENTRY_PTR_MASK",
                redis_aof_dict_entry_ptr_mask,
                ENTRY_TAG_BITS,
            ),
            ("ENTRY_PTR_NORMAL", redis_aof_dict_entry_ptr_normal, 0),
        ]
    };
    c.iter()
        .filter(|(_, in_c, assumed)| in_c != assumed)
        .map(|(name, in_c, assumed)| format!("{name} is {in_c} in dict.c, {assumed} here"))
        .collect()
}

/// dict.c tags bucket pointers in their low three bits (`ENTRY_PTR_MASK`).
const ENTRY_TAG_BITS: usize = 7;

/// The table and bucket a lookup of `hash` reads first: the old table unless rehashing
/// has already moved that bucket, as `dictFind` chooses.
#[inline]
fn bucket_position(d: *mut dict, hash: KeyHash) -> Option<(usize, usize)> {
    // SAFETY: plain field reads of a live dict.
    let (tables, exps, rehash_index) = unsafe { ((*d).ht_table, (*d).ht_size_exp, (*d).rehashidx) };
    let index_in = |t: usize| -> Option<usize> {
        let exp = exps[t];
        (exp >= 0 && !tables[t].is_null()).then(|| (hash.0 & ((1u64 << exp) - 1)) as usize)
    };
    let old = index_in(0)?;
    if rehash_index >= 0 && (old as i64) < rehash_index {
        Some((1, index_in(1)?))
    } else {
        Some((0, old))
    }
}

/// The bucket (slot of the table) a lookup of `hash` reads first.
#[inline]
fn bucket_slot(d: *mut dict, hash: KeyHash) -> Option<*mut *mut dictEntry> {
    let (table, index) = bucket_position(d, hash)?;
    // SAFETY: `index` is masked to the table's size.
    Some(unsafe { (*d).ht_table[table].add(index) })
}

#[inline]
fn first_entry(d: *mut dict, hash: KeyHash) -> Option<*mut dictEntry> {
    let slot = bucket_slot(d, hash)?;
    // SAFETY: a bucket of the live table (bucket_slot bounds it).
    let entry = unsafe { *slot };
    (!entry.is_null()).then_some(entry)
}

/// A hint that `address` will be read soon (also used by the rewrite child's key walk).
#[inline]
pub fn hint(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(address.cast(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod dict_entry_tests {
    use super::*;

    #[test]
    fn dict_c_private_entry_is_what_the_walk_reads() {
        // The walk reads `next` of an untagged entry (KeyWalkPrefetch::scout): the copy of
        // dict.c's definitions compiled by build.rs must agree with the constants here.
        assert_eq!(dict_entry_mismatches(), Vec::<String>::new());
        // SAFETY: constants of the generated C file.
        let (size, next) = unsafe { (redis_aof_dict_entry_size, redis_aof_dict_entry_next) };
        assert_eq!((size, next), (ENTRY_SIZE, ENTRY_NEXT_OFFSET));
    }
}

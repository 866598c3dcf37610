//! Cache hints ("prefetch": loads issued early, which cannot fault and change nothing)
//! for the keyspace's dicts: while an AOF replays ([`replay::ReplayPrefetch`]) and while
//! the rewrite child walks it ([`walk::WalkPrefetch`]); and what both rest on: the hash
//! of a key, where a lookup of it reads first, and the layout of dict.c's private
//! `dictEntry`, checked at start-up.

use super::bindings::{self, dict, dictEntry};

pub mod replay;
pub mod walk;

/// Where a key would be looked up: its hash, kept between the steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash(u64);

impl KeyHash {
    /// The hash a db's dict gives `key` (`dictSdsHash`, which is `dictGenHashFunction`;
    /// [`ReplayPrefetch`] hints at no dict of another type). Any thread may compute
    /// it: `dictGenHashFunction` is siphash keyed by `dict_hash_function_seed`, which
    /// upstream sets once in `main()` before anything is loaded and never again.
    pub fn of(key: &[u8]) -> KeyHash {
        // SAFETY: dictGenHashFunction reads `key.len()` bytes of `key` and the seed.
        KeyHash(unsafe { bindings::dictGenHashFunction(key.as_ptr().cast(), key.len()) })
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
        // The walk reads `next` of an untagged entry (walk::WalkPrefetch::scout): the copy of
        // dict.c's definitions compiled by build.rs must agree with the constants here.
        assert_eq!(dict_entry_mismatches(), Vec::<String>::new());
        // SAFETY: constants of the generated C file.
        let (size, next) = unsafe { (redis_aof_dict_entry_size, redis_aof_dict_entry_next) };
        assert_eq!((size, next), (ENTRY_SIZE, ENTRY_NEXT_OFFSET));
    }
}

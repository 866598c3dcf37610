//! The rewrite's walk over the keys of one db: upstream's kvstore iterator (so the order,
//! and so the rewritten file, is upstream's), each key with its value and expiry, the
//! cache hints taken on the schedule of [`aof_core::walk_prefetch`].

use super::bindings::{self, robj};
use super::db::Db;
use super::prefetch::walk::WalkPrefetch;
use super::prefetch::{hint, KeyHash};
use super::value::Value;
use aof_core::walk_prefetch::{self, PrefetchedWalk};
use std::marker::PhantomData;

/// A key of the keyspace (an sds), borrowed for `'a` (one step of [`for_each_key`]).
#[derive(Clone, Copy)]
pub struct Key<'a> {
    s: bindings::sds,
    _borrow: PhantomData<&'a [u8]>,
}

impl<'a> Key<'a> {
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        // SAFETY: a live key of the keyspace, unmodified for `'a` (see for_each_key).
        unsafe { super::sds::bytes(self.s) }
    }

    /// The key's sds, for upstream's writers that take it as one.
    #[inline]
    pub(crate) fn as_sds(&self) -> bindings::sds {
        self.s
    }
}

/// An entry taken from the iterator ahead of its turn, with what its steps read.
struct Upcoming {
    entry: *mut bindings::dictEntry,
    /// Null until read: where keys live in their values, reading the key reads the value
    /// object, which is left until its hint has had time to land.
    key: bindings::sds,
    value: *mut robj,
    hash: Option<KeyHash>,
}

/// One db's walk: the kvstore iterator and the hints' state. Its entries stay valid while
/// it lives, because nothing changes the dataset during a walk (see [`for_each_key`]).
struct KeyWalk<'s> {
    db: Db,
    it: *mut bindings::kvstoreIterator,
    prefetch: WalkPrefetch,
    no_expires: bool,
    #[cfg(slot_trim_jobs)]
    cluster: bool,
    #[cfg_attr(not(slot_trim_jobs), allow(dead_code))]
    skipped: &'s mut u64,
}

impl KeyWalk<'_> {
    /// The entry's key, read once.
    #[inline]
    fn key_of(u: &mut Upcoming) -> bindings::sds {
        if u.key.is_null() {
            // SAFETY: `u.entry` is a live entry of the keyspace and `u.value` its value (an
            // Upcoming comes only from `take` of a live walk); the shim reads only the
            // entry's key field or, where keys live in values, upstream's kvobjGetKey reads
            // the value's embedded key.
            u.key = unsafe { bindings::redis_aof_shim_entry_key(u.entry, u.value) };
        }
        u.key
    }

    /// The iterator's next entry, or None at the end.
    #[inline]
    fn iterator_next(&mut self) -> Option<*mut bindings::dictEntry> {
        // SAFETY: the walk's live kvstore iterator, over a dataset nothing changes
        // meanwhile; it returns NULL at the end or a live entry.
        let de = unsafe { bindings::kvstoreIteratorNext(self.it) };
        (!de.is_null()).then_some(de)
    }

    /// The next entry the rewrite writes: keys of slots a trim job is deleting are passed
    /// over and counted, as upstream's rewrite passes them over (the iterator's current
    /// dict is the slot of the entry just taken).
    #[cfg(slot_trim_jobs)]
    #[inline]
    fn next_entry(&mut self) -> Option<*mut bindings::dictEntry> {
        loop {
            let de = self.iterator_next()?;
            // SAFETY: the live iterator; isSlotInTrimJob only reads the trim job list.
            let trimmed = self.cluster
                && unsafe {
                    bindings::isSlotInTrimJob(bindings::kvstoreIteratorGetCurrentDictIndex(self.it))
                } != 0;
            if !trimmed {
                return Some(de);
            }
            *self.skipped += 1;
        }
    }

    /// The next entry (releases before 8.6 have no trim jobs).
    #[cfg(not(slot_trim_jobs))]
    #[inline]
    fn next_entry(&mut self) -> Option<*mut bindings::dictEntry> {
        self.iterator_next()
    }

    /// Writes one entry: its key, value and expiry (-1 for none) to `f`.
    #[inline]
    fn visit(
        &mut self,
        mut next: Upcoming,
        f: impl FnOnce(Key<'_>, Value<'_>, i64) -> bool,
    ) -> bool {
        let (key, value) = (Self::key_of(&mut next), next.value);
        // getExpire finds nothing in an empty expires dict (dbFindExpires: an empty kvstore
        // dict finds no key, and without cluster mode the slot is 0 with no side effect),
        // and nothing is added to it in the child: skip the lookup.
        let expire = if self.no_expires {
            -1
        } else {
            // SAFETY: a live db, a live key of it and its value (the shim reads the expiry
            // off the value where keys live in values, else looks the key up).
            unsafe { bindings::redis_aof_shim_get_expire(self.db.as_ptr(), key, value) }
        };
        let key = Key {
            s: key,
            _borrow: PhantomData,
        };
        // SAFETY: a live value of the keyspace, unchanged while the walk lives.
        f(key, unsafe { Value::from_raw(value) }, expire)
    }
}

impl PrefetchedWalk for KeyWalk<'_> {
    type Entry = Upcoming;

    #[inline]
    fn take(&mut self) -> Option<Upcoming> {
        let de = self.next_entry()?;
        // SAFETY: a live entry of the keyspace, whose value is an robj (the shim reads it
        // as this release stores it).
        let value = unsafe { bindings::redis_aof_shim_entry_value(de) };
        hint(value as *const u8);
        // Where the entry holds the key apart from the value, it is read here.
        let key = if cfg!(keys_in_values) {
            std::ptr::null_mut()
        } else {
            // SAFETY: as above; the shim reads only the entry's key field.
            let key = unsafe { bindings::redis_aof_shim_entry_key(de, value) };
            hint((key as *const u8).wrapping_sub(1));
            key
        };
        Some(Upcoming {
            entry: de,
            key,
            value,
            hash: None,
        })
    }

    #[inline]
    fn key_ready(&mut self, entry: &mut Upcoming) {
        let key = Self::key_of(entry);
        // SAFETY: a live key of the keyspace (an sds), unchanged while the walk lives.
        entry.hash = self.prefetch.key_ready(unsafe { super::sds::bytes(key) });
    }

    #[inline]
    fn value_ready(&mut self, entry: &Upcoming) {
        // SAFETY: a live value object of the keyspace; a plain field read. An
        // integer-encoded value's pointer is no address: a hint cannot fault.
        let encoded = unsafe { (*entry.value).ptr } as *const u8;
        hint(encoded);
        hint(encoded.wrapping_add(64));
    }

    #[inline]
    fn expire_entry(&mut self, entry: &Upcoming) {
        if let Some(hash) = entry.hash {
            self.prefetch.expire_entry(hash);
        }
    }

    #[inline]
    fn expire_other_key(&mut self, entry: &Upcoming) {
        if let Some(hash) = entry.hash {
            self.prefetch.expire_other_key(hash, entry.key as *const u8);
        }
    }
}

impl Drop for KeyWalk<'_> {
    fn drop(&mut self) {
        // SAFETY: the iterator this walk started, released once.
        unsafe { bindings::redis_aof_shim_kvstore_iter_stop(self.it) }
    }
}

/// Every key of `db` with its value and expiry (-1 for none), in the kvstore iterator's
/// order; `f` returns false to stop (a write error), which this returns.
///
/// Runs on the thread that owns the keyspace, with nothing changing the dataset during
/// the walk: the fork child's only thread, or the main thread writing the first BASE at
/// start-up. In cluster mode, keys of slots that a trim job is deleting (atomic slot
/// migration, 8.6) are passed over and counted in `skipped`.
#[inline]
pub fn for_each_key(
    db: Db,
    skipped: &mut u64,
    mut f: impl FnMut(Key<'_>, Value<'_>, i64) -> bool,
) -> bool {
    let mut walk = KeyWalk {
        db,
        prefetch: WalkPrefetch::new(db),
        #[cfg(slot_trim_jobs)]
        cluster: super::server::cluster_enabled() != 0,
        skipped,
        no_expires: db.expires_size() == 0,
        // SAFETY: a live db's keys kvstore; the iterator lives in the walk, which stops it.
        it: unsafe { bindings::redis_aof_shim_kvstore_iter_start(db.keys()) },
    };
    walk_prefetch::walk(&mut walk, |walk, entry| walk.visit(entry, &mut f))
}

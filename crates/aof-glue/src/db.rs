//! A database of the keyspace: one element of `server.db`.

use super::bindings::{self, redisDb};
use super::server;
use std::ptr::NonNull;

/// One of the server's databases. It stays valid for the whole process: upstream
/// allocates `server.db` once, `dbnum` elements (`initServer`, server.c), and never frees
/// or moves it (`databases` is an immutable config; SWAPDB and async loading swap the
/// elements' contents, not the array), so a `Db` needs no lifetime. Its kvstores are
/// read afresh on every use, as SWAPDB may exchange them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Db(NonNull<redisDb>);

impl Db {
    /// Db `index`, or `None` when it is not one of the `dbnum` databases.
    pub fn of_index(index: i32) -> Option<Db> {
        if index < 0 || index >= server::dbnum() {
            return None;
        }
        // SAFETY: `index` is below dbnum, the length of the array `server.db` points at.
        NonNull::new(unsafe { server::db().add(index as usize) }).map(Db)
    }

    /// The db a client's `db` field points at (always `&server.db[id]`: selectDb).
    ///
    /// # Safety
    /// `db` must be NULL or point into `server.db`.
    pub(super) unsafe fn from_raw(db: *mut redisDb) -> Option<Db> {
        NonNull::new(db).map(Db)
    }

    pub(super) fn as_ptr(self) -> *mut redisDb {
        self.0.as_ptr()
    }

    /// The db's main kvstore (keys to values).
    pub(super) fn keys(self) -> *mut bindings::kvstore {
        // SAFETY: a live element of server.db (see the type); a plain field read.
        unsafe { (*self.as_ptr()).keys }
    }

    /// The db's kvstore of expiry times.
    pub(super) fn expires(self) -> *mut bindings::kvstore {
        // SAFETY: as for `keys`.
        unsafe { (*self.as_ptr()).expires }
    }

    /// The number of keys.
    pub fn size(self) -> u64 {
        // SAFETY: a db's keys kvstore is always a live kvstore (created in initServer,
        // emptied but never freed by FLUSHALL).
        unsafe { bindings::kvstoreSize(self.keys()) }
    }

    /// The number of keys with a time to live.
    pub fn expires_size(self) -> u64 {
        // SAFETY: as for `size`: the expires kvstore lives as long as the keys one.
        unsafe { bindings::kvstoreSize(self.expires()) }
    }

    /// Grows the keyspace's tables to hold `keys` keys and `expires` TTLs without
    /// rehashing, as RDB loading does for its RESIZEDB opcode (`dbExpand`,
    /// `dbExpandExpires`, with `try_expand`: a table that cannot be allocated is left as it
    /// is). Upstream creates a kvstore's table only when its first key is added
    /// (`KVSTORE_ALLOCATE_DICTS_ON_DEMAND`), its expand skips a table not created yet, and
    /// it refuses to expand a table that is rehashing: returns whether the keys' and the
    /// TTLs' tables now have at least the buckets asked for (false: try again later).
    pub fn grow(self, keys: u64, expires: u64) -> (bool, bool) {
        // SAFETY: a live element of server.db (see the type) whose kvstores are live;
        // kvstoreBuckets only reads, and dbExpand/dbExpandExpires are upstream's own
        // resize of those kvstores (allocating through zmalloc, touching nothing else).
        unsafe {
            if keys > bindings::kvstoreBuckets(self.keys()) {
                bindings::dbExpand(self.as_ptr(), keys, 1);
            }
            if expires > bindings::kvstoreBuckets(self.expires()) {
                bindings::dbExpandExpires(self.as_ptr(), expires, 1);
            }
            (
                bindings::kvstoreBuckets(self.keys()) >= keys,
                bindings::kvstoreBuckets(self.expires()) >= expires,
            )
        }
    }
}

/// Asks whether databases hold keys, as the keyspace is now, without touching them (no
/// expiry, no access time). Owns one scratch sds for the key names, from Redis's
/// allocator, freed on drop.
pub struct KeyLookup {
    scratch: bindings::sds,
}

impl KeyLookup {
    pub fn new() -> KeyLookup {
        // SAFETY: sdsempty allocates a new empty sds through s_malloc (zmalloc, which
        // aborts rather than return NULL); this value owns it.
        let scratch = unsafe { bindings::sdsempty() };
        KeyLookup { scratch }
    }

    /// Whether `db` holds `key` (logically expired keys count as held: they are in the
    /// table until something deletes them).
    pub fn holds(&mut self, db: Db, key: &[u8]) -> bool {
        // SAFETY: `db` is a live element of server.db (see the type) and `scratch` the
        // live sds this value owns, which the shim may reallocate and stores back;
        // `key` is `key.len()` readable bytes that sdscpylen copies. dbFind (db.c) only
        // reads the keyspace, and this runs on the main thread, which alone writes it.
        unsafe {
            bindings::redis_aof_shim_db_holds(
                db.as_ptr(),
                &mut self.scratch,
                key.as_ptr().cast(),
                key.len(),
            ) != 0
        }
    }
}

impl Default for KeyLookup {
    fn default() -> Self {
        KeyLookup::new()
    }
}

impl Drop for KeyLookup {
    fn drop(&mut self) {
        // SAFETY: `scratch` is the sds this value owns (sdsempty or the shim's
        // reallocation), freed once, here.
        unsafe { bindings::sdsfree(self.scratch) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_databases_are_reachable() {
        // Outside a running server dbnum is 0: no index names a db.
        let dbnum = server::dbnum();
        assert_eq!(Db::of_index(-1), None);
        assert_eq!(Db::of_index(dbnum), None);
        assert_eq!(Db::of_index(i32::MAX), None);
    }
}

//! Values of an RDB built by upstream's own `rdbLoadObject` from bytes in memory, off the
//! main thread: the RDB BASE's reading thread builds them ahead of the loader (the
//! staticlib's `src/aof/rdb_read_ahead.rs`), which takes each one where upstream's loader
//! would have read it ([`super::rdb_stream`]).
//!
//! Only values stored as one string whose bytes the reading thread has proved whole
//! ([`aof_core::rdb_scan::RdbScan::take_string_value`]): strings (`RDB_TYPE_STRING`), and
//! intsets and set, zset and hash listpacks whose header upstream's checks accept, that
//! are not empty and that upstream keeps in their encoding (no more entries than the
//! `*-max-*-entries` settings allow: [`aof_core::rdb_blob`]), while deep sanitization is
//! off. For those, `rdbLoadObject` touches no state but the object it builds, the
//! allocator and a few settings ([`Settings`]), and none of its refusals (a short read,
//! an unknown encoding, an LZF payload that does not expand as stated, a header check,
//! which log and end the process) nor any conversion can happen; `upstream_facts` below
//! checks the branches against the tree's `rdb.c`.

use super::bindings::{self, rio, robj};
use super::server;
use aof_core::rdb_blob::{self, BlobKind};
use aof_core::rdb_scan::{
    TYPE_HASH_LISTPACK, TYPE_SET_INTSET, TYPE_SET_LISTPACK, TYPE_STRING, TYPE_ZSET_LISTPACK,
};
use std::ffi::{c_int, c_void};
use std::ptr::NonNull;

/// An object upstream built, owned here: the only reference to it (or one of upstream's
/// shared integers, whose count never changes). Dropping it releases it
/// (`decrRefCount`), on whichever thread drops it.
pub struct BuiltValue {
    object: NonNull<robj>,
    /// The RDB value type it was built from.
    rdb_type: u8,
    /// Where keys live in values (8.6): the key metadata bits the object was made a
    /// kvobj with, as the loader's insert will ask for them ([`BuiltValue::into_kvobj`]).
    #[cfg(keys_in_values)]
    meta_bits: u32,
}

// SAFETY: a BuiltValue is the only reference to its object (rdbLoadObject returns a fresh
// object of refcount 1, or a shared integer of OBJ_SHARED_REFCOUNT, which decrRefCount
// never writes; kvobjSet, on 8.6, a fresh kvobj of refcount 1), so moving it to another
// thread moves the whole object; zmalloc's frees and counters work from any thread
// (per-thread atomic counters, zmalloc.c).
unsafe impl Send for BuiltValue {}

impl BuiltValue {
    /// Hands the object to upstream C code, which owns it from then on.
    pub fn into_raw(self) -> *mut robj {
        let object = self.object.as_ptr();
        std::mem::forget(self);
        object
    }

    /// A hint to the cache that the object will be read soon: it was written on another
    /// core, and the loader reads it (its header, and an embedded string's bytes, one
    /// cache line of jemalloc's 64-byte class) as it inserts the key.
    pub fn hint(&self) {
        super::prefetch::hint(self.object.as_ptr() as *const u8);
    }

    /// The RDB value type it was built from.
    pub fn rdb_type(&self) -> u8 {
        self.rdb_type
    }

    /// The key metadata bits it was made a kvobj with.
    #[cfg(keys_in_values)]
    pub fn meta_bits(&self) -> u32 {
        self.meta_bits
    }

    /// The object the loader's insert makes of this value for `key` (`dbAddRDBLoad`'s
    /// `kvobjSet(key, val, metabits)`, the expire bit set when an expire opcode came
    /// before the key): an embedded string copied into a new object with the key
    /// embedded, any other value's payload moved into one. Made here, off the main
    /// thread, the insert keeps it as it is ([`super::rdb_stream::insert_value`]).
    #[cfg(keys_in_values)]
    fn into_kvobj(self, key: &[u8], expires: bool) -> Option<BuiltValue> {
        let meta_bits = if expires {
            bindings::KEY_META_MASK_EXPIRE
        } else {
            0
        };
        let rdb_type = self.rdb_type;
        let key = super::sds::new(key);
        // SAFETY: kvobjSet takes the one reference to a live object (and releases it),
        // copies `key` into the new object and reads the bits; it touches nothing else
        // but the allocator (upstream_facts::kvobj_set_reads_only_its_arguments). `key`
        // is ours, freed once after.
        let object = unsafe {
            let object = bindings::kvobjSet(key, self.into_raw(), meta_bits);
            bindings::sdsfree(key);
            object
        };
        Some(BuiltValue {
            object: NonNull::new(object)?,
            rdb_type,
            meta_bits,
        })
    }
}

impl Drop for BuiltValue {
    fn drop(&mut self) {
        // SAFETY: the one reference to a live object, released once.
        unsafe { bindings::decrRefCount(self.object.as_ptr()) }
    }
}

/// The settings `rdbLoadObject` reads while it builds a value here: whether small
/// integers may be upstream's shared objects (`maxmemory` and its policy,
/// `createStringObjectFromLongLongForValue` and `tryObjectEncoding`),
/// `sanitize-dump-payload` (read at the top of every call), and the entry counts past
/// which a blob is converted. A value built under other settings than the loader would use
/// is not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    maxmemory: u64,
    maxmemory_policy: c_int,
    sanitize_dump_payload: c_int,
    set_max_intset_entries: usize,
    set_max_listpack_entries: usize,
    zset_max_listpack_entries: usize,
    hash_max_listpack_entries: usize,
}

impl Settings {
    /// The settings now.
    pub fn now() -> Settings {
        Settings {
            maxmemory: server::maxmemory(),
            maxmemory_policy: server::maxmemory_policy(),
            sanitize_dump_payload: server::sanitize_dump_payload(),
            set_max_intset_entries: server::set_max_intset_entries(),
            set_max_listpack_entries: server::set_max_listpack_entries(),
            zset_max_listpack_entries: server::zset_max_listpack_entries(),
            hash_max_listpack_entries: server::hash_max_listpack_entries(),
        }
    }

    /// Whether upstream keeps a blob of `value_type` with `entries` entries as it is
    /// (no conversion, which the thread never runs), without deep sanitization.
    fn keeps_blob(&self, value_type: u8, entries: u64) -> bool {
        let limit = match value_type {
            TYPE_SET_INTSET => self.set_max_intset_entries,
            TYPE_SET_LISTPACK => self.set_max_listpack_entries,
            TYPE_ZSET_LISTPACK => self.zset_max_listpack_entries,
            TYPE_HASH_LISTPACK => self.hash_max_listpack_entries,
            _ => return false,
        };
        self.sanitize_dump_payload != bindings::SANITIZE_DUMP_YES as c_int
            && entries <= limit as u64
    }
}

/// A rio reading `bytes` (and nothing else): the rio comes first, so the pointer upstream
/// hands the read function is also a pointer to this whole struct.
#[repr(C)]
struct SliceRio<'b> {
    rio: rio,
    bytes: &'b [u8],
    read: usize,
}

/// `rio.read` of a [`SliceRio`]: the next `len` bytes, or 0 (a short read) past its end.
unsafe extern "C" fn slice_read(r: *mut rio, buf: *mut c_void, len: usize) -> usize {
    // SAFETY: installed only by build_string_value on the `rio` field of a SliceRio
    // (repr(C), field first) that outlives its rdbLoadObject call; rioRead calls it with
    // that pointer and `len` writable bytes at `buf`.
    let s = unsafe { &mut *(r as *mut SliceRio<'_>) };
    let Some(bytes) = s.bytes.get(s.read..s.read.saturating_add(len)) else {
        return 0;
    };
    // SAFETY: `buf` has `len` writable bytes (rioRead's contract), `bytes` is `len` long.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf as *mut u8, len) };
    s.read += len;
    1
}

unsafe extern "C" fn slice_write(_: *mut rio, _: *const c_void, _: usize) -> usize {
    0
}

unsafe extern "C" fn slice_tell(r: *mut rio) -> bindings::off_t {
    // SAFETY: as in slice_read; a plain field read.
    unsafe { (*r).processed_bytes as bindings::off_t }
}

unsafe extern "C" fn slice_flush(_: *mut rio) -> c_int {
    1
}

/// Builds the value of `value_type` stored as `stored` (its length, encoding and payload,
/// as `take_string_value` took them; `payload` the plain bytes, an LZF payload expanded)
/// with `rdbLoadObject`, for `key` (with an expire when `expires`) of db `dbid`: None
/// when it is not a value built here, or upstream does not build it from exactly those
/// bytes. Where keys live in values, the value is then made the object the loader's
/// insert makes of it ([`BuiltValue::into_kvobj`]).
///
/// Callers keep [`Settings`] from changing while this runs (the reading thread does not
/// build while the main thread serves clients).
pub fn build_value(
    value_type: u8,
    stored: &[u8],
    payload: Option<&[u8]>,
    dbid: c_int,
    key: &[u8],
    expires: bool,
) -> Option<BuiltValue> {
    if value_type != TYPE_STRING {
        let kind: BlobKind = rdb_blob::kind_of(value_type)?;
        let entries = rdb_blob::entries(kind, payload?)?;
        if !Settings::now().keeps_blob(value_type, entries) {
            return None;
        }
    }
    // SAFETY: an all-zero rio is rio.c's own starting point (no update_cksum, no chunk
    // limit, counters 0); the four backend functions are set below.
    let rio: rio = unsafe { std::mem::zeroed() };
    let mut r = SliceRio {
        rio,
        bytes: stored,
        read: 0,
    };
    r.rio.read = Some(slice_read);
    r.rio.write = Some(slice_write);
    r.rio.tell = Some(slice_tell);
    r.rio.flush = Some(slice_flush);
    let mut error: c_int = 0;
    // SAFETY: `r` outlives the call and nothing keeps a pointer to it after. The branches
    // of these types never read the key (NULL) and read only the rio, the allocator and
    // Settings (upstream_facts); `stored` is a whole value (the caller's proof) and a blob
    // passes the header checks and stays in its encoding (checked above), so none of the
    // refusals, which log or exit, nor a conversion is reached.
    let object = unsafe {
        bindings::rdbLoadObject(
            value_type as c_int,
            &mut r.rio,
            std::ptr::null_mut(),
            dbid,
            &mut error,
        )
    };
    let value = BuiltValue {
        object: NonNull::new(object)?,
        rdb_type: value_type,
        #[cfg(keys_in_values)]
        meta_bits: 0,
    };
    let value = (error == 0 && r.read == stored.len()).then_some(value)?;
    #[cfg(keys_in_values)]
    return value.into_kvobj(key, expires);
    #[cfg(not(keys_in_values))]
    {
        let _ = (key, expires);
        Some(value)
    }
}

#[cfg(test)]
mod upstream_facts {
    //! The facts about rdb.c that building a string value off the main thread rests on,
    //! read off the tree being built against.

    use crate::upstream_text::{between, source};

    #[test]
    fn the_string_branch_reads_one_encoded_string_and_encodes_it() {
        let rdb = source("rdb.c");
        let object = between(
            &rdb,
            "robj *rdbLoadObject(int rdbtype,",
            "} else if (rdbtype == RDB_TYPE_LIST)",
        );
        let branch = &object[object.find("if (rdbtype == RDB_TYPE_STRING)").unwrap()..];
        assert_eq!(
            branch,
            "if (rdbtype == RDB_TYPE_STRING) { /* Read string value */ \
             if ((o = rdbLoadEncodedStringObject(rdb)) == NULL) return NULL; \
             o = tryObjectEncodingEx(o, 0);"
        );
        // Before it: the error default and the sanitization setting, nothing else.
        let body = &object[object.find('{').unwrap()..];
        let before = &body[..body.find("if (rdbtype == RDB_TYPE_STRING)").unwrap()];
        for line in [
            "server.sanitize_dump_payload",
            "server.loading",
            "*error = RDB_LOAD_ERR_OTHER",
        ] {
            assert!(before.contains(line), "{line}");
        }
        assert!(
            !before.contains("key"),
            "the key is read before the string branch"
        );
    }

    /// Whether C text (whitespace collapsed) uses the variable `key`.
    fn reads_key(text: &str) -> bool {
        ["(key", " key,", " key)", "= key;", "key->"]
            .iter()
            .any(|k| text.contains(k))
    }

    /// The `case` of `rdbLoadObject`'s blob switch for `case`, whitespace collapsed.
    fn blob_case(rdb: &str, case: &str) -> String {
        let object = &rdb[rdb.find("robj *rdbLoadObject(int rdbtype,").unwrap()..];
        between(object, case, "break;")
    }

    #[test]
    fn a_blob_kept_in_its_encoding_is_the_header_checked_and_counted() {
        let rdb = source("rdb.c");
        // The blob types read one plain string into a string object, then fix its type.
        let object = between(
            &rdb,
            "robj *rdbLoadObject(int rdbtype,",
            "switch(rdbtype) {",
        );
        let blobs = &object[object.find("rdbtype == RDB_TYPE_HASH_ZIPMAP ||").unwrap()..];
        for line in [
            "rdbtype == RDB_TYPE_SET_INTSET ||",
            "rdbtype == RDB_TYPE_SET_LISTPACK ||",
            "rdbtype == RDB_TYPE_ZSET_LISTPACK ||",
            "rdbtype == RDB_TYPE_HASH_LISTPACK ||",
            "unsigned char *encoded = rdbGenericLoadStringObject(rdb,RDB_LOAD_PLAIN,&encoded_len); \
             if (encoded == NULL) return NULL; o = createObject(OBJ_STRING, encoded);",
        ] {
            assert!(blobs.contains(line), "{line}");
        }
        // Each case: its deep-only counter and header check (with `deep` the setting),
        // then the count against the setting Settings::keeps_blob reads, past which it
        // converts; nothing else but setting the type, the encoding and the empty key.
        let cases = [
            ("case RDB_TYPE_SET_INTSET:", "intsetValidateIntegrity(encoded, encoded_len, deep_integrity_validation)", "if (intsetLen(o->ptr) > server.set_max_intset_entries) setTypeConvert(o, OBJ_ENCODING_HT);"),
            ("case RDB_TYPE_SET_LISTPACK:", "lpValidateIntegrityAndDups(encoded, encoded_len, deep_integrity_validation, 1)", "if (setTypeSize(o) > server.set_max_listpack_entries) setTypeConvert(o, OBJ_ENCODING_HT);"),
            ("case RDB_TYPE_ZSET_LISTPACK:", "lpValidateIntegrityAndDups(encoded, encoded_len, deep_integrity_validation, 2)", "if (zsetLength(o) > server.zset_max_listpack_entries) zsetConvert(o, OBJ_ENCODING_SKIPLIST);"),
            ("case RDB_TYPE_HASH_LISTPACK:", "lpValidateIntegrityAndDups(encoded, encoded_len, deep_integrity_validation, tuple_len)", "if (hashTypeLength(o, 0) > server.hash_max_listpack_entries) hashTypeConvert("),
        ];
        for (case, check, convert) in cases {
            let text = blob_case(&rdb, case);
            assert!(
                text.contains(
                    "if (deep_integrity_validation) server.stat_dump_payload_sanitizations++;"
                ),
                "{case}"
            );
            assert!(
                text.contains(&format!("if (!{check}) {{ rdbReportCorruptRDB(")),
                "{case}"
            );
            assert!(text.contains(convert), "{case}: {text}");
            if case != "case RDB_TYPE_HASH_LISTPACK:" {
                assert!(!reads_key(&text), "{case} reads the key");
            }
        }
        // The hash case reads the key only for the listpackEx of the types with TTLs.
        let hash = blob_case(&rdb, "case RDB_TYPE_HASH_LISTPACK:");
        let plain = &hash[hash
            .find("} else o->encoding = OBJ_ENCODING_LISTPACK;")
            .unwrap()..];
        assert!(!reads_key(plain));
        assert!(hash.contains("int tuple_len = (rdbtype == RDB_TYPE_HASH_LISTPACK ? 2 : 3);"));
    }

    #[test]
    fn header_checks_without_deep_are_the_ones_rdb_blob_makes() {
        let intset = between(&source("intset.c"), "int intsetValidateIntegrity(", "\n}");
        for line in [
            "if (size < sizeof(*is)) return 0;",
            "if (sizeof(*is) + count*record_size != size) return 0;",
            "if (count==0) return 0;",
            "if (!deep) return 1;",
        ] {
            assert!(intset.contains(line), "{line}");
        }
        let listpack = source("listpack.c");
        let dups = between(&source("rdb.c"), "int lpValidateIntegrityAndDups(", "\n}");
        assert!(dups.contains("if (!deep) return lpValidateIntegrity(lp, size, 0, NULL, NULL);"));
        let header = between(
            &listpack,
            "int lpValidateIntegrity(unsigned char *lp, size_t size, int deep,",
            "\n}",
        );
        let shallow = &header[..header.find("if (!deep) return 1;").unwrap()];
        for line in [
            "if (size < LP_HDR_SIZE + 1) return 0;",
            "if (bytes != size) return 0;",
            "if (lp[size-1] != LP_EOF) return 0;",
        ] {
            assert!(shallow.contains(line), "{line}");
        }
        // The count upstream compares: the header's, unless it says "unknown".
        let length = between(
            &listpack,
            "unsigned long lpLength(unsigned char *lp) {",
            "\n}",
        );
        assert!(length.contains("uint32_t numele = lpGetNumElements(lp); if (numele != LP_HDR_NUMELE_UNKNOWN) return numele;"));
    }

    /// The names a C function body calls (an identifier just before a parenthesis).
    #[cfg(keys_in_values)]
    fn calls(body: &str) -> std::collections::BTreeSet<String> {
        let bytes = body.as_bytes();
        let mut names = std::collections::BTreeSet::new();
        for (at, _) in body.match_indices('(') {
            let mut start = at;
            while start > 0
                && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_')
            {
                start -= 1;
            }
            if start < at {
                names.insert(body[start..at].to_string());
            }
        }
        names
    }

    #[cfg(keys_in_values)]
    #[test]
    fn kvobj_set_reads_only_its_arguments() {
        // What BuiltValue::into_kvobj runs on the reading thread: kvobjSet and the two
        // constructors it calls read no server state and call only the allocator, sds
        // helpers and the metadata helpers guarded by module bits a value built here never
        // has (rdbLoadObject's objects start with metabits 0).
        let object = source("object.c");
        let set = between(
            &object,
            "kvobj *kvobjSet(sds key, robj *val, uint32_t keyMetaBits) {",
            "\n}",
        );
        assert!(set.contains(
            "if (val->metabits & KEY_META_MASK_MODULES) keyMetaTransition((kvobj *) val, kv);"
        ));
        let embed = between(&object, "static kvobj *kvobjCreateEmbedString(", "\n}");
        let create = between(
            &object,
            "kvobj *kvobjCreate(int type, const sds key, void *ptr, uint32_t keyMetaBits) {",
            "\n}",
        );
        let allowed = [
            "if",
            "sizeof",
            "sdslen",
            "kvobjCreateEmbedString",
            "kvobjCreate",
            "sdsnewlen",
            "sdsdup",
            "serverPanic",
            "keyMetaTransition",
            "decrRefCount",
            "getNumMeta",
            "sdsReqType",
            "sdsReqSize",
            "zmalloc_usable",
            "zmalloc",
            "sdsHdrSize",
            "sdsnewplacement",
            "keyMetaResetValues",
            "serverAssert",
            "debugServerAssert",
        ];
        for function in [&set, &embed, &create] {
            let body = &function[function.find('{').unwrap()..];
            assert!(!body.contains("server."), "{body}");
            for name in calls(body) {
                assert!(allowed.contains(&name.as_str()), "{name} in {body}");
            }
        }
        let reset = between(
            &source("keymeta.h"),
            "static inline void keyMetaResetValues(kvobj *kv) {",
            "\n}",
        );
        assert!(reset.starts_with("static inline void keyMetaResetValues(kvobj *kv) { if (unlikely(kv->metabits & KEY_META_MASK_MODULES))"));
    }

    #[cfg(keys_in_values)]
    #[test]
    fn only_the_key_loop_inserts_with_the_hook_after_reading_the_value() {
        // rdb_stream::insert_value keeps the object load_value returned last: that holds
        // while dbAddRDBLoad, whose kvobjSet call the patch (redis-patch/8.6/0004) sends
        // there, is called only by the RDB loader's key loop, after its value was read.
        let db = source("db.c");
        let add = between(
            &db,
            "kvobj *dbAddRDBLoad(redisDb *db, sds key, robj **valref,",
            "\n}",
        );
        assert!(add.contains("robj *val = *valref; kvobj *kv = redis_aof_rdb_kvobj_set(key, val, keyMetaSpec->metabits);"));
        let src = std::env::var("REDIS_SRC").unwrap();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "c") {
                let text = std::fs::read_to_string(&path).unwrap();
                let uses = text.matches("dbAddRDBLoad(").count();
                let name = path.file_name().unwrap().to_str().unwrap();
                let expected = match name {
                    "rdb.c" => 2,
                    "db.c" => 1,
                    _ => 0,
                };
                assert_eq!(uses, expected, "{name}");
            }
        }
        let rdb = source("rdb.c");
        let read = rdb
            .find("val = redis_aof_rdb_load_value(type,rdb,key,db->id,&error);")
            .unwrap();
        let inserts: Vec<usize> = rdb
            .match_indices("dbAddRDBLoad(db, key, &val, &keyMeta)")
            .map(|(at, _)| at)
            .collect();
        let next_key = rdb[read..]
            .find("rdbGenericLoadStringObject(rdb,RDB_LOAD_SDS,NULL)")
            .map_or(usize::MAX, |at| read + at);
        assert!(
            inserts.iter().all(|&at| at > read && at < next_key),
            "both inserts follow the value's read"
        );
    }

    #[test]
    fn a_string_is_refused_only_for_what_the_scan_proves_absent() {
        let rdb = source("rdb.c");
        // 8.6 names the reader `...Usable` (with a wrapper); 8.0 has the one function.
        let generic = if rdb.contains("void *rdbGenericLoadStringObjectUsable(") {
            between(&rdb, "void *rdbGenericLoadStringObjectUsable(", "\n}")
        } else {
            between(&rdb, "void *rdbGenericLoadStringObject(", "\n}")
        };
        // Unknown encodings are refused; int and LZF have their own readers.
        assert_eq!(generic.matches("rdbReportCorruptRDB(").count(), 1);
        assert!(
            generic.contains("rdbReportCorruptRDB(\"Unknown RDB string encoding type %llu\",len)")
        );
        let lzf = between(&rdb, "void *rdbLoadLzfStringObject(", "\n}");
        // The one corruption report: a payload that does not expand to its stated length.
        assert_eq!(lzf.matches("rdbReportCorruptRDB(").count(), 1);
        assert!(lzf.contains("if (lzf_decompress(c,clen,val,len) != len) { rdbReportCorruptRDB(\"Invalid LZF compressed string\");"));
        // Only the encodings other than INT8, INT16 and INT32, which the scan refuses.
        let int = between(&rdb, "void *rdbLoadIntegerObject(", "\n}");
        assert_eq!(int.matches("rdbReportCorruptRDB(").count(), 1);
        assert!(int.contains(
            "} else { rdbReportCorruptRDB(\"Unknown RDB integer encoding type %d\",enctype);"
        ));
    }
}

//! String values of an RDB built by upstream's own `rdbLoadObject` from bytes in memory,
//! off the main thread: the RDB BASE's reading thread builds them ahead of the loader
//! (the staticlib's `src/aof/rdb_read_ahead.rs`), which takes each one where upstream's
//! loader would have read it ([`super::rdb_stream`]).
//!
//! Only string values (`RDB_TYPE_STRING`), and only bytes the reading thread has proved
//! whole ([`aof_core::rdb_scan::RdbScan::take_string_value`]): for those,
//! `rdbLoadObject` touches no state but the object it builds, the allocator and a few
//! settings ([`Settings`]), and none of its refusals (a short read, an unknown encoding,
//! an LZF payload that does not expand as stated, which would log and, for the last,
//! end the process) can happen; `upstream_facts` below checks the branch against the
//! tree's `rdb.c`.

use super::bindings::{self, rio, robj};
use super::server;
use std::ffi::{c_int, c_void};
use std::ptr::NonNull;

/// An object upstream built, owned here: the only reference to it (or one of upstream's
/// shared integers, whose count never changes). Dropping it releases it
/// (`decrRefCount`), on whichever thread drops it.
pub struct BuiltValue(NonNull<robj>);

// SAFETY: a BuiltValue is the only reference to its object (rdbLoadObject returns a fresh
// object of refcount 1, or a shared integer of OBJ_SHARED_REFCOUNT, which decrRefCount
// never writes), so moving it to another thread moves the whole object; zmalloc's frees
// and counters work from any thread (per-thread atomic counters, zmalloc.c).
unsafe impl Send for BuiltValue {}

impl BuiltValue {
    /// Hands the object to upstream C code, which owns it from then on.
    pub fn into_raw(self) -> *mut robj {
        let object = self.0.as_ptr();
        std::mem::forget(self);
        object
    }

    /// A hint to the cache that the object will be read soon: it was written on another
    /// core, and the loader reads it (its header, and an embedded string's bytes, one
    /// cache line of jemalloc's 64-byte class) as it inserts the key.
    pub fn hint(&self) {
        super::prefetch::hint(self.0.as_ptr() as *const u8);
    }

    /// The object's type (`OBJ_STRING` for every value built here).
    pub fn object_type(&self) -> u32 {
        // SAFETY: the object is alive and owned here; a read of its type bit-field.
        unsafe { (*self.0.as_ptr()).type_() }
    }
}

impl Drop for BuiltValue {
    fn drop(&mut self) {
        // SAFETY: the one reference to a live object, released once.
        unsafe { bindings::decrRefCount(self.0.as_ptr()) }
    }
}

/// The settings `rdbLoadObject` reads while it builds a string value: whether small
/// integers may be upstream's shared objects (`maxmemory` and its policy,
/// `createStringObjectFromLongLongForValue` and `tryObjectEncoding`), and
/// `sanitize-dump-payload`, read at the top of every call. A value built under other
/// settings than the loader would use is not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    maxmemory: u64,
    maxmemory_policy: c_int,
    sanitize_dump_payload: c_int,
}

impl Settings {
    /// The settings now.
    pub fn now() -> Settings {
        Settings {
            maxmemory: server::maxmemory(),
            maxmemory_policy: server::maxmemory_policy(),
            sanitize_dump_payload: server::sanitize_dump_payload(),
        }
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

/// Builds the string value stored as `stored` (its length, encoding and payload, as
/// `take_string_value` took them) with `rdbLoadObject(RDB_TYPE_STRING, ..)`, for db
/// `dbid`: None when upstream does not build it from exactly those bytes.
///
/// Callers keep [`Settings`] from changing while this runs (the reading thread holds
/// the loader's gate, which the main thread takes before it serves clients).
pub fn build_string_value(stored: &[u8], dbid: c_int) -> Option<BuiltValue> {
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
    // SAFETY: `r` outlives the call and nothing keeps a pointer to it after; the STRING
    // branch never reads the key (NULL) and reads only the rio, the allocator and
    // Settings (upstream_facts); `stored` is a whole string value (the caller's proof), so
    // none of its refusals, which log or exit, is reached.
    let object = unsafe {
        bindings::rdbLoadObject(
            bindings::RDB_TYPE_STRING as c_int,
            &mut r.rio,
            std::ptr::null_mut(),
            dbid,
            &mut error,
        )
    };
    let value = BuiltValue(NonNull::new(object)?);
    (error == 0 && r.read == stored.len()).then_some(value)
}

#[cfg(test)]
mod upstream_facts {
    //! The facts about rdb.c that building a string value off the main thread rests on,
    //! read off the tree being built against.

    fn source(file: &str) -> String {
        let src = std::env::var("REDIS_SRC").expect("REDIS_SRC names the upstream src/ folder");
        std::fs::read_to_string(std::path::Path::new(&src).join(file)).unwrap()
    }

    /// The text from `from` up to the first `until` after it, whitespace collapsed.
    fn between(source: &str, from: &str, until: &str) -> String {
        let start = source.find(from).unwrap_or_else(|| panic!("{from} not found"));
        let end = start + source[start..].find(until).unwrap();
        source[start..end].split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_string_branch_reads_one_encoded_string_and_encodes_it() {
        let rdb = source("rdb.c");
        let object = between(&rdb, "robj *rdbLoadObject(int rdbtype,", "} else if (rdbtype == RDB_TYPE_LIST)");
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
        for line in ["server.sanitize_dump_payload", "server.loading", "*error = RDB_LOAD_ERR_OTHER"] {
            assert!(before.contains(line), "{line}");
        }
        assert!(!before.contains("key"), "the key is read before the string branch");
    }

    #[test]
    fn a_string_is_refused_only_for_what_the_scan_proves_absent() {
        let rdb = source("rdb.c");
        let generic = between(&rdb, "void *rdbGenericLoadStringObjectUsable(", "\n}");
        // Unknown encodings are refused; int and LZF have their own readers.
        assert_eq!(generic.matches("rdbReportCorruptRDB(").count(), 1);
        assert!(generic.contains("rdbReportCorruptRDB(\"Unknown RDB string encoding type %llu\",len)"));
        let lzf = between(&rdb, "void *rdbLoadLzfStringObject(", "\n}");
        // The one corruption report: a payload that does not expand to its stated length.
        assert_eq!(lzf.matches("rdbReportCorruptRDB(").count(), 1);
        assert!(lzf.contains("if (lzf_decompress(c,clen,val,len) != len) { rdbReportCorruptRDB(\"Invalid LZF compressed string\");"));
        // Only the encodings other than INT8, INT16 and INT32, which the scan refuses.
        let int = between(&rdb, "void *rdbLoadIntegerObject(", "\n}");
        assert_eq!(int.matches("rdbReportCorruptRDB(").count(), 1);
        assert!(int.contains("} else { rdbReportCorruptRDB(\"Unknown RDB integer encoding type %d\",enctype);"));
    }
}

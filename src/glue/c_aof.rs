//! Functions upstream `aof.c` still defines while the port is incomplete, declared here so
//! Rust can call them. Each declaration leaves when its function moves to Rust (then the
//! call goes straight to the Rust definition). cbindgen copies these declarations into
//! include/redis_aof.h as `extern` prototypes, so tests/check-signatures.sh proves them
//! identical to aof.c's definitions too.

use super::bindings::{rio, robj};
use super::dataset::{RioSink, Value};
use std::ffi::c_int;

extern "C" {
    fn rewriteStreamObject(r: *mut rio, key: *mut robj, o: *mut robj) -> c_int;
    fn rewriteModuleObject(r: *mut rio, key: *mut robj, o: *mut robj, dbid: c_int) -> c_int;
}

/// A temporary string object holding `key`, for upstream functions that take one.
fn with_key_object<R>(key: &[u8], f: impl FnOnce(*mut robj) -> R) -> R {
    // SAFETY: a fresh object, released after `f`.
    unsafe {
        let obj = super::bindings::createStringObject(key.as_ptr().cast(), key.len());
        let result = f(obj);
        super::bindings::decrRefCount(obj);
        result
    }
}

/// The commands that rebuild a stream (still upstream's code).
pub fn rewrite_stream(sink: &RioSink, key: &[u8], value: Value) -> bool {
    // SAFETY: a live rio and a live stream object of the dataset.
    with_key_object(
        key,
        |k| unsafe { rewriteStreamObject(sink.as_ptr(), k, value.as_ptr()) } != 0,
    )
}

/// A module type's own rewrite callback (still upstream's code).
pub fn rewrite_module_value(sink: &RioSink, key: &[u8], value: Value, db: c_int) -> bool {
    // SAFETY: a live rio and a live module object of the dataset.
    with_key_object(
        key,
        |k| unsafe { rewriteModuleObject(sink.as_ptr(), k, value.as_ptr(), db) } != 0,
    )
}

//! Module values in the command-form rewrite: a module type's own `aof_rewrite` callback,
//! the key metadata classes' (8.6), and the key object both take.

use super::bindings::{self, robj};
use super::object::StringValue;
use super::rio_sink::RioSink;
use super::value::Value;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// A module type's value (`OBJ_MODULE`): its type's name, and the type's own
/// `aof_rewrite` callback, which writes the value's commands through the module API.
impl<'a> Value<'a> {
    /// The name the module registered the value's type under.
    pub fn module_type_name(&self) -> &'a [u8] {
        self.expect(bindings::OBJ_MODULE, c"o->type == OBJ_MODULE");
        // SAFETY: a live module object holds a moduleValue whose type is registered for as
        // long as a value of it exists (a module with live values cannot be unloaded); the
        // shim returns the type's NUL-terminated name, stored in the type itself.
        unsafe {
            let mv = (*self.as_ptr()).ptr as *mut bindings::moduleValue;
            std::ffi::CStr::from_ptr(bindings::redis_aof_shim_module_type_name((*mv).type_))
                .to_bytes()
        }
    }

    /// Runs the type's `aof_rewrite` callback over the value, writing into `sink` (as
    /// upstream's `rewriteModuleObject` does): whether the callback reported no error, or
    /// None, with nothing called, when the type has no callback (`RM_CreateDataType` does
    /// not require one).
    pub fn call_module_aof_rewrite(
        &self,
        sink: &RioSink<'_>,
        key: &KeyObject<'_>,
        db: i32,
    ) -> Option<bool> {
        self.expect(bindings::OBJ_MODULE, c"o->type == OBJ_MODULE");
        // SAFETY: a live module object holds a moduleValue whose type is registered; the IO
        // context lives on this frame for the callback's duration; a context the callback
        // created is freed as upstream frees it.
        unsafe {
            let mv = (*self.as_ptr()).ptr as *mut bindings::moduleValue;
            let mt = (*mv).type_;
            let callback = (*mt).aof_rewrite?;
            let mut io = MaybeUninit::<bindings::RedisModuleIO>::zeroed();
            bindings::redis_aof_shim_module_io_init(
                io.as_mut_ptr(),
                mt,
                sink.as_ptr(),
                key.key,
                db,
            );
            callback(io.as_mut_ptr(), key.key, (*mv).value);
            let io = io.assume_init();
            if !io.ctx.is_null() {
                bindings::moduleFreeContext(io.ctx);
                bindings::zfree(io.ctx as *mut c_void);
            }
            Some(io.error == 0)
        }
    }
}

/// Writes the value's module key metadata into `sink`, as upstream's `keyMetaOnAof` does;
/// false when a class's callback reported an error.
#[cfg(key_metadata)]
pub fn rewrite_key_metadata(
    sink: &RioSink<'_>,
    key: &KeyObject<'_>,
    value: Value<'_>,
    db: i32,
) -> bool {
    // SAFETY: a live rio, key object and key-value object for the call; keyMetaOnAof
    // reads the metadata slots the value's metabits announce and writes through the rio.
    unsafe { bindings::keyMetaOnAof(sink.as_ptr(), key.key, value.as_ptr(), db) != 0 }
}

/// A key as a live string object, for callbacks that take the key as an object; borrowed
/// for `'a`.
pub struct KeyObject<'a> {
    key: *mut robj,
    _borrow: PhantomData<&'a robj>,
}

impl<'a> KeyObject<'a> {
    /// The key's value (a string object's; an integer-encoded key is a number).
    pub fn string(&self) -> StringValue<'a> {
        // SAFETY: a live string object for `'a` (the constructor's contract).
        unsafe { super::object::string_value(self.key) }
    }

    /// # Safety
    /// `key` must be a live string object for `'a`.
    pub unsafe fn from_raw(key: *mut robj) -> KeyObject<'a> {
        super::process::assert(!key.is_null(), c"key != NULL");
        KeyObject {
            key,
            _borrow: PhantomData,
        }
    }
}

/// A temporary key object holding `key` (upstream passes a stack object over the same
/// bytes), for the duration of `f`.
pub fn with_key_object<R>(key: &[u8], f: impl FnOnce(&KeyObject<'_>) -> R) -> R {
    // SAFETY: createStringObject returns a new object, which lives until the
    // decrRefCount after `f`; the KeyObject borrowed by `f` cannot outlive the call.
    unsafe {
        let obj = bindings::createStringObject(key.as_ptr().cast(), key.len());
        let result = f(&KeyObject::from_raw(obj));
        bindings::decrRefCount(obj);
        result
    }
}

//! Redis objects (`robj`) as the AOF reads them: command arguments are string objects.

use super::bindings::{self, robj};

/// A string object's value: raw/embstr objects carry bytes, int-encoded ones a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringValue<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

/// What upstream's `getDecodedObject` would produce, without allocating or touching the
/// reference count.
///
/// # Safety
/// `o` must point to a live object that stays unmodified while the result is used.
pub unsafe fn string_value<'a>(o: *const robj) -> StringValue<'a> {
    // SAFETY: `o` points to a live object left unmodified while the result is used (this
    // fn's # Safety), so a shared reference to its header is sound for that long.
    let obj = unsafe { &*o };
    match obj.encoding() {
        bindings::OBJ_ENCODING_RAW | bindings::OBJ_ENCODING_EMBSTR => {
            // SAFETY: raw and embstr objects hold an sds in `ptr`.
            StringValue::Bytes(unsafe { super::sds::bytes(obj.ptr as bindings::sds) })
        }
        bindings::OBJ_ENCODING_INT if obj.type_() == bindings::OBJ_STRING => {
            StringValue::Int(obj.ptr as isize as i64)
        }
        _ => super::process::panic("Unknown encoding type"),
    }
}

/// An object's reference count (a bit-field where keys live in values, beside the bits
/// that mark a key-value object).
///
/// # Safety
/// `o` must point to a live object.
#[inline]
pub unsafe fn refcount(o: *const robj) -> u32 {
    // SAFETY: `o` points to a live object (this fn's # Safety); the reference lives only
    // for the read of its refcount bits.
    let obj = unsafe { &*o };
    #[cfg(keys_in_values)]
    let count = obj.refcount();
    #[cfg(not(keys_in_values))]
    let count = obj.refcount as u32;
    count
}

/// A command's argument vector, as `call()` and propagation hand it to the AOF.
#[derive(Clone, Copy)]
pub struct Argv<'a> {
    objects: &'a [*mut robj],
}

impl<'a> Argv<'a> {
    /// # Safety
    /// Unless `argv` is NULL or `argc` <= 0, `argv` must point to `argc` pointers to live
    /// string objects; the array and the objects stay allocated and unmodified for `'a`.
    pub unsafe fn from_raw(argv: *mut *mut robj, argc: i32) -> Argv<'a> {
        let objects = if argc <= 0 || argv.is_null() {
            &[][..]
        } else {
            // SAFETY: `argv` is non-null and `argc` > 0 (checked above), so it points to
            // `argc` object pointers that stay unmodified for 'a (the caller's `# Safety`).
            unsafe { std::slice::from_raw_parts(argv, argc as usize) }
        };
        Argv { objects }
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The arguments' values, in order.
    pub fn values(&self) -> impl Iterator<Item = StringValue<'a>> + Clone + 'a {
        // SAFETY: `from_raw`'s contract keeps every object live and unmodified for 'a.
        self.objects.iter().map(|&o| unsafe { string_value(o) })
    }
}

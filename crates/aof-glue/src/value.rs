//! A value of the keyspace as the rewrite reads it: its type, and the elements of each
//! type through upstream's own iterators (so the order, and so the rewritten file, is
//! exactly upstream's).

use super::bindings::{self, robj};
use super::object::StringValue;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// A value's element: a string, or an integer stored as such.
pub type Element<'a> = StringValue<'a>;

fn element<'a>(ptr: *const u8, len: usize, int: i64) -> Element<'a> {
    if ptr.is_null() {
        StringValue::Int(int)
    } else {
        // SAFETY: upstream iterators return a pointer to `len` bytes valid until the
        // iterator moves on; callers use the element before that.
        StringValue::Bytes(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

/// The type of a value in the keyspace (upstream's `OBJ_*` types a key can hold).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Set,
    SortedSet,
    Hash,
    Stream,
    Module,
}

/// A value in the keyspace, borrowed for `'a` (one step of
/// [`super::keyspace_walk::for_each_key`], or the C call that passed it). Each type's
/// accessors check the object's type first and abort on another, so no safe call reads one
/// type's encoding as another's.
#[derive(Clone, Copy)]
pub struct Value<'a> {
    o: *mut robj,
    _borrow: PhantomData<&'a robj>,
}

impl<'a> Value<'a> {
    /// # Safety
    /// `o` must be a live object, not modified or freed for `'a`.
    #[inline]
    pub unsafe fn from_raw(o: *mut robj) -> Value<'a> {
        super::process::assert(!o.is_null(), c"o != NULL");
        Value {
            o,
            _borrow: PhantomData,
        }
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut robj {
        self.o
    }

    /// Aborts (as upstream's serverAssert would) unless the object is of `object_type`.
    #[inline]
    pub(crate) fn expect(&self, object_type: u32, what: &std::ffi::CStr) {
        super::process::assert(self.object_type() == object_type, what);
    }

    pub(crate) fn object_type(&self) -> u32 {
        // SAFETY: live value of the keyspace being rewritten.
        unsafe { (*self.o).type_() }
    }

    /// The value's type; an object of any other type aborts with upstream's
    /// "Unknown object type" (no key can hold one).
    pub fn value_type(&self) -> ValueType {
        match self.object_type() {
            bindings::OBJ_STRING => ValueType::String,
            bindings::OBJ_LIST => ValueType::List,
            bindings::OBJ_SET => ValueType::Set,
            bindings::OBJ_ZSET => ValueType::SortedSet,
            bindings::OBJ_HASH => ValueType::Hash,
            bindings::OBJ_STREAM => ValueType::Stream,
            bindings::OBJ_MODULE => ValueType::Module,
            _ => super::process::panic("Unknown object type"),
        }
    }

    pub(crate) fn encoding(&self) -> u32 {
        // SAFETY: as above.
        unsafe { (*self.o).encoding() }
    }

    /// The value of a string object.
    pub fn string(&self) -> StringValue<'a> {
        self.expect(bindings::OBJ_STRING, c"o->type == OBJ_STRING");
        // SAFETY: a live string object of the keyspace.
        unsafe { super::object::string_value(self.o) }
    }

    pub fn list_len(&self) -> u64 {
        self.expect(bindings::OBJ_LIST, c"o->type == OBJ_LIST");
        // SAFETY: a live list object.
        unsafe { bindings::listTypeLength(self.o) }
    }

    /// Every element from head to tail.
    pub fn for_each_list_element(&self, mut f: impl FnMut(Element<'_>) -> bool) -> bool {
        self.expect(bindings::OBJ_LIST, c"o->type == OBJ_LIST");
        // SAFETY: upstream's list iterator over a live list, in storage on this frame (or
        // upstream's own, see the shim), stopped before the frame ends; the entry lives on
        // this frame too and is filled by listTypeNext before each read.
        unsafe {
            let mut storage = MaybeUninit::<bindings::listTypeIterator>::uninit();
            let it = bindings::redis_aof_shim_list_iter_start(storage.as_mut_ptr(), self.o);
            let mut entry = MaybeUninit::<bindings::listTypeEntry>::zeroed();
            let mut ok = true;
            while bindings::listTypeNext(it, entry.as_mut_ptr()) != 0 {
                let (mut len, mut int) = (0usize, 0i64);
                let ptr = bindings::listTypeGetValue(entry.as_mut_ptr(), &mut len, &mut int);
                if !f(element(ptr, len, int)) {
                    ok = false;
                    break;
                }
            }
            bindings::redis_aof_shim_list_iter_stop(it);
            ok
        }
    }

    pub fn set_len(&self) -> u64 {
        self.expect(bindings::OBJ_SET, c"o->type == OBJ_SET");
        // SAFETY: a live set object.
        unsafe { bindings::setTypeSize(self.o) }
    }

    pub fn for_each_set_member(&self, mut f: impl FnMut(Element<'_>) -> bool) -> bool {
        self.expect(bindings::OBJ_SET, c"o->type == OBJ_SET");
        // SAFETY: upstream's set iterator over a live set, in storage on this frame (or
        // upstream's own, see the shim), stopped before the frame ends.
        unsafe {
            let mut storage = MaybeUninit::<bindings::setTypeIterator>::uninit();
            let it = bindings::redis_aof_shim_set_iter_start(storage.as_mut_ptr(), self.o);
            let mut ok = true;
            loop {
                let (mut ptr, mut len, mut int) = (std::ptr::null_mut(), 0usize, 0i64);
                if bindings::setTypeNext(it, &mut ptr, &mut len, &mut int) == -1 {
                    break;
                }
                if !f(element(ptr as *const u8, len, int)) {
                    ok = false;
                    break;
                }
            }
            bindings::redis_aof_shim_set_iter_stop(it);
            ok
        }
    }

    pub fn zset_len(&self) -> u64 {
        self.expect(bindings::OBJ_ZSET, c"o->type == OBJ_ZSET");
        // SAFETY: a live sorted set.
        unsafe { bindings::zsetLength(self.o) }
    }

    /// Every member with its score, in upstream's order for the encoding.
    pub fn for_each_zset_member(&self, mut f: impl FnMut(f64, Element<'_>) -> bool) -> bool {
        self.expect(bindings::OBJ_ZSET, c"o->type == OBJ_ZSET");
        // SAFETY: listpack and skiplist walks over a live sorted set, as upstream's
        // rewrite does them; pointers are used before the walk moves on.
        unsafe {
            match self.encoding() {
                bindings::OBJ_ENCODING_LISTPACK => {
                    let zl = (*self.o).ptr as *mut u8;
                    let mut eptr = bindings::lpSeek(zl, 0);
                    super::process::assert(!eptr.is_null(), c"eptr != NULL");
                    let mut sptr = bindings::lpNext(zl, eptr);
                    super::process::assert(!sptr.is_null(), c"sptr != NULL");
                    while !eptr.is_null() {
                        let (mut len, mut int) = (0u32, 0i64);
                        let ptr = bindings::lpGetValue(eptr, &mut len, &mut int);
                        let score = bindings::zzlGetScore(sptr);
                        if !f(score, element(ptr, len as usize, int)) {
                            return false;
                        }
                        bindings::zzlNext(zl, &mut eptr, &mut sptr);
                    }
                    true
                }
                bindings::OBJ_ENCODING_SKIPLIST => {
                    let zs = (*self.o).ptr as *mut bindings::zset;
                    let mut it = MaybeUninit::<bindings::dictIterator>::uninit();
                    bindings::dictInitIterator(it.as_mut_ptr(), (*zs).dict);
                    let mut ok = true;
                    loop {
                        let de = bindings::dictNext(it.as_mut_ptr());
                        if de.is_null() {
                            break;
                        }
                        let mut score = 0f64;
                        let member = bindings::redis_aof_shim_zset_dict_member(de, &mut score);
                        if !f(score, StringValue::Bytes(super::sds::bytes(member))) {
                            ok = false;
                            break;
                        }
                    }
                    bindings::dictResetIterator(it.as_mut_ptr());
                    ok
                }
                _ => super::process::panic("Unknown sorted zset encoding"),
            }
        }
    }

    pub fn hash_len(&self) -> u64 {
        self.expect(bindings::OBJ_HASH, c"o->type == OBJ_HASH");
        // SAFETY: a live hash (expired fields counted, as upstream's rewrite counts them).
        unsafe { bindings::hashTypeLength(self.o, 0) }
    }

    /// Whether any field of the hash has a TTL.
    pub fn hash_has_field_expiry(&self) -> bool {
        self.expect(bindings::OBJ_HASH, c"o->type == OBJ_HASH");
        // SAFETY: a live hash.
        unsafe {
            bindings::hashTypeGetMinExpire(self.o, 0)
                != bindings::redis_aof_shim_eb_expire_time_invalid()
        }
    }

    /// Every field, its value and its expiry time (None without a TTL).
    pub fn for_each_hash_field(
        &self,
        mut f: impl FnMut(Element<'_>, Element<'_>, Option<u64>) -> bool,
    ) -> bool {
        const KEY: i32 = bindings::OBJ_HASH_KEY as i32;
        self.expect(bindings::OBJ_HASH, c"o->type == OBJ_HASH");
        const VALUE: i32 = bindings::OBJ_HASH_VALUE as i32;
        // SAFETY: upstream's hash iterator over a live hash, in storage on this frame (or
        // upstream's own, see the shim), stopped before the frame ends; the current field
        // and value stay valid until hashTypeNext moves on.
        unsafe {
            let invalid = bindings::redis_aof_shim_eb_expire_time_invalid();
            let mut storage = MaybeUninit::<bindings::hashTypeIterator>::uninit();
            let hi = bindings::redis_aof_shim_hash_iter_start(storage.as_mut_ptr(), self.o);
            let current = |what: i32| -> Element<'_> {
                match (*hi).encoding as u32 {
                    bindings::OBJ_ENCODING_LISTPACK | bindings::OBJ_ENCODING_LISTPACK_EX => {
                        let (mut ptr, mut len, mut int) =
                            (std::ptr::null_mut(), u32::MAX, i64::MAX);
                        bindings::hashTypeCurrentFromListpack(
                            hi,
                            what,
                            &mut ptr,
                            &mut len,
                            &mut int,
                            std::ptr::null_mut(),
                        );
                        element(ptr, len as usize, int)
                    }
                    bindings::OBJ_ENCODING_HT => {
                        let (mut ptr, mut len) = (std::ptr::null_mut(), 0usize);
                        bindings::hashTypeCurrentFromHashTable(
                            hi,
                            what,
                            &mut ptr,
                            &mut len,
                            std::ptr::null_mut(),
                        );
                        StringValue::Bytes(std::slice::from_raw_parts(ptr as *const u8, len))
                    }
                    _ => super::process::panic("Unknown hash encoding"),
                }
            };
            let mut ok = true;
            while bindings::hashTypeNext(hi, 0) != bindings::C_ERR {
                let expire = (*hi).expire_time;
                let expire = (expire != invalid).then_some(expire);
                if !f(current(KEY), current(VALUE), expire) {
                    ok = false;
                    break;
                }
            }
            bindings::redis_aof_shim_hash_iter_stop(hi);
            ok
        }
    }

    /// After writing a key, the fork child may hand its pages back to the OS.
    #[inline]
    pub fn dismiss(&self, bytes_written: usize) {
        // SAFETY: a live object; dismissObject only advises the allocator.
        unsafe { bindings::dismissObject(self.o, bytes_written) }
    }
}

/// Upstream's double format for scores (`fpconv_dtoa`, the shortest round-trip form).
pub fn format_double(d: f64, out: &mut [u8; 24]) -> usize {
    // SAFETY: fpconv_dtoa writes at most 24 bytes.
    unsafe { bindings::fpconv_dtoa(d, out.as_mut_ptr() as *mut _) as usize }
}

/// Module key metadata (8.6): whether the value carries any, and writing it after the key
/// through each metadata class's `aof_rewrite` callback (upstream's `keyMetaOnAof`).
#[cfg(key_metadata)]
impl Value<'_> {
    pub fn has_module_metadata(&self) -> bool {
        // SAFETY: a live value; `metabits` is meaningful on key-value objects, which every
        // value of the keyspace is (keymeta.h's getModuleMetaBits reads it the same way).
        unsafe { (*self.o).metabits() & bindings::KEY_META_MASK_MODULES != 0 }
    }
}

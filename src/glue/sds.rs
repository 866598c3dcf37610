//! Upstream's dynamic strings. Memory that C may free must come from Redis's allocator, so
//! every sds handed to C is built by upstream's own `sdsnewlen`/`sdscatlen`.

use super::bindings;
use std::ffi::c_void;

/// The bytes of a C sds, borrowed.
///
/// # Safety
/// `s` must be a valid sds that stays alive and unmodified while the slice is used.
pub unsafe fn bytes<'a>(s: bindings::sds) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    // SAFETY: per the caller's contract, `s` points at `sdslen(s)` initialised bytes.
    unsafe { std::slice::from_raw_parts(s as *const u8, len(s)) }
}

/// Upstream's `sdslen`, read from the header in Rust: it is on the per-command path (every
/// argument of every command fed to the AOF), where a call into C per argument costs more
/// than the read. The header structs' layout is checked against C like every other one,
/// and [`len_agrees_with_c`] compares the two at start-up.
///
/// # Safety
/// `s` must be a valid, non-NULL sds.
pub unsafe fn len(s: bindings::sds) -> usize {
    use bindings::{sdshdr16, sdshdr32, sdshdr64, sdshdr8};
    use std::mem::size_of;
    use std::ptr::addr_of;
    let base = s as *const u8;
    // SAFETY: a valid sds has its flags byte just before its buffer and, for every type
    // but 5, the header of that type (packed, hence the unaligned reads) before that.
    unsafe {
        let flags = *base.sub(1);
        match u32::from(flags) & bindings::SDS_TYPE_MASK {
            bindings::SDS_TYPE_5 => usize::from(flags >> bindings::SDS_TYPE_BITS),
            bindings::SDS_TYPE_8 => {
                let h = base.sub(size_of::<sdshdr8>()) as *const sdshdr8;
                usize::from(addr_of!((*h).len).read_unaligned())
            }
            bindings::SDS_TYPE_16 => {
                let h = base.sub(size_of::<sdshdr16>()) as *const sdshdr16;
                usize::from(addr_of!((*h).len).read_unaligned())
            }
            bindings::SDS_TYPE_32 => {
                let h = base.sub(size_of::<sdshdr32>()) as *const sdshdr32;
                addr_of!((*h).len).read_unaligned() as usize
            }
            _ => {
                let h = base.sub(size_of::<sdshdr64>()) as *const sdshdr64;
                addr_of!((*h).len).read_unaligned() as usize
            }
        }
    }
}

/// Whether [`len`] reads what C's `sdslen` reads, on headers of every type built here by
/// hand (native-endian fields, packed, the flags byte last), with lengths at each type's
/// limits. Part of the start-up layout check; needs no allocator, so it runs in tests too.
pub fn len_agrees_with_c() -> bool {
    let cases: [(u32, usize, u64); 9] = [
        (bindings::SDS_TYPE_5, 0, 0),
        (bindings::SDS_TYPE_5, 0, 31),
        (bindings::SDS_TYPE_8, 1, 0),
        (bindings::SDS_TYPE_8, 1, 255),
        (bindings::SDS_TYPE_16, 2, 256),
        (bindings::SDS_TYPE_16, 2, 65535),
        (bindings::SDS_TYPE_32, 4, 65536),
        (bindings::SDS_TYPE_32, 4, u32::MAX as u64),
        (bindings::SDS_TYPE_64, 8, u64::from(u32::MAX) + 7),
    ];
    cases.iter().all(|&(sds_type, field_bytes, n)| {
        let mut header = Vec::new();
        let flags = if sds_type == bindings::SDS_TYPE_5 {
            ((n as u8) << bindings::SDS_TYPE_BITS) | sds_type as u8
        } else {
            // len, then alloc (any value), each `field_bytes` wide.
            header.extend_from_slice(&n.to_ne_bytes()[..field_bytes]);
            header.extend_from_slice(&u64::MAX.to_ne_bytes()[..field_bytes]);
            sds_type as u8
        };
        header.push(flags);
        header.push(0); // the buffer: only its address matters
        let buffer_at = header.len() - 1;
        let s = header[buffer_at..].as_mut_ptr() as bindings::sds;
        // SAFETY: `s` points just after a complete header of its type, as in a real sds;
        // neither reader looks past the header.
        unsafe { len(s) as u64 == n && bindings::redis_aof_shim_sdslen(s) as u64 == n }
    })
}

/// A new sds (Redis allocator) holding `data`; ownership goes to the caller.
pub fn new(data: &[u8]) -> bindings::sds {
    // SAFETY: sdsnewlen copies `data.len()` bytes from a valid slice.
    unsafe { bindings::sdsnewlen(data.as_ptr() as *const c_void, data.len()) }
}

/// Appends `data` to `s`, returning the (possibly moved) sds, as upstream's `sdscatlen`.
///
/// # Safety
/// `s` must be a valid sds owned by the caller; the old pointer is invalid afterwards.
pub unsafe fn cat(s: bindings::sds, data: &[u8]) -> bindings::sds {
    // SAFETY: caller owns `s`; `data` is a valid slice.
    unsafe { bindings::sdscatlen(s, data.as_ptr() as *const c_void, data.len()) }
}

/// Appends exactly `len` bytes to the sds at `*s`, produced in place by `fill`: the buffer
/// grows once (upstream's greedy `sdsMakeRoomFor`, as `sdscatlen` would grow it) and the
/// bytes are written straight into it, no temporary string. `fill` must initialise the
/// whole slice it is given and return its length, which is checked.
///
/// # Safety
/// `*s` must be a valid sds owned by the caller; it may be moved by the growth.
pub unsafe fn append_in_place(
    s: &mut bindings::sds,
    len: usize,
    fill: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> usize,
) {
    // SAFETY: `*s` is a valid sds; sdsMakeRoomFor returns one with at least `len` spare
    // bytes after the current length (plus room for the terminator).
    unsafe {
        *s = bindings::sdsMakeRoomFor(*s, len);
        let current = self::len(*s);
        let spare = std::slice::from_raw_parts_mut(
            (*s as *mut std::mem::MaybeUninit<u8>).add(current),
            len,
        );
        let written = fill(spare);
        assert_eq!(written, len, "in-place sds append wrote a different length");
        // sdsIncrLen also writes the terminating NUL.
        bindings::sdsIncrLen(*s, len as isize);
    }
}

//! Upstream's dynamic strings. Memory that C may free must come from Redis's allocator, so
//! every sds handed to C is built by upstream's own `sdsnewlen`/`sdscatlen`.

use super::bindings;
use std::ffi::c_void;

/// The bytes of a C sds, borrowed.
///
/// # Safety
/// `s` must be NULL or a live sds (made by upstream's sds functions, not freed) that stays
/// allocated and unmodified for `'a`.
#[inline]
pub unsafe fn bytes<'a>(s: bindings::sds) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    // SAFETY: `s` is non-null (checked above), so a live sds that stays unmodified for 'a
    // (the caller's `# Safety`): its buffer holds `sdslen(s)` initialised bytes.
    unsafe { std::slice::from_raw_parts(s as *const u8, len(s)) }
}

/// The sized sds headers (every type but 5): where Rust reads and writes their fields.
/// The header structs' layout is checked against C like every other one, and
/// [`header_agrees_with_c`] compares the readers and the writer with C's at start-up.
trait SizedHeader {
    /// (len, alloc) of the sds whose buffer starts at `buf`.
    ///
    /// # Safety
    /// `buf` must be the buffer of a valid sds of this header type.
    unsafe fn lengths(buf: *const u8) -> (usize, usize);

    /// # Safety
    /// As [`SizedHeader::lengths`], and `len` must fit the type and the allocation.
    unsafe fn set_len(buf: *mut u8, len: usize);
}

macro_rules! sized_header {
    ($header:ty, $field:ty) => {
        impl SizedHeader for $header {
            unsafe fn lengths(buf: *const u8) -> (usize, usize) {
                // SAFETY: per the contract, the packed header (hence the unaligned
                // reads) lies just before the buffer.
                unsafe {
                    let h = buf.sub(std::mem::size_of::<$header>()) as *const $header;
                    (
                        std::ptr::addr_of!((*h).len).read_unaligned() as usize,
                        std::ptr::addr_of!((*h).alloc).read_unaligned() as usize,
                    )
                }
            }

            unsafe fn set_len(buf: *mut u8, len: usize) {
                // SAFETY: `buf` is the buffer of a valid sds of this header type and `len`
                // fits the type and the allocation (the trait's # Safety), so the packed
                // header just before `buf` has a `len` field to write, unaligned.
                unsafe {
                    let h = buf.sub(std::mem::size_of::<$header>()) as *mut $header;
                    std::ptr::addr_of_mut!((*h).len).write_unaligned(len as $field);
                }
            }
        }
    };
}

sized_header!(bindings::sdshdr8, u8);
sized_header!(bindings::sdshdr16, u16);
sized_header!(bindings::sdshdr32, u32);
sized_header!(bindings::sdshdr64, u64);

/// (len, avail) of a valid, non-NULL sds, as upstream's `sdslen` and `sdsavail`.
///
/// # Safety
/// `s` must be a valid, non-NULL sds.
unsafe fn lengths(s: bindings::sds) -> (usize, usize) {
    let buf = s as *const u8;
    // SAFETY: a valid sds has its flags byte just before its buffer, and for every type
    // but 5 the header of that type before that.
    let (len, alloc) = unsafe {
        let flags = *buf.sub(1);
        match u32::from(flags) & bindings::SDS_TYPE_MASK {
            bindings::SDS_TYPE_5 => {
                let len = usize::from(flags >> bindings::SDS_TYPE_BITS);
                (len, len)
            }
            bindings::SDS_TYPE_8 => bindings::sdshdr8::lengths(buf),
            bindings::SDS_TYPE_16 => bindings::sdshdr16::lengths(buf),
            bindings::SDS_TYPE_32 => bindings::sdshdr32::lengths(buf),
            _ => bindings::sdshdr64::lengths(buf),
        }
    };
    (len, alloc - len)
}

/// Upstream's `sdssetlen`.
///
/// # Safety
/// `s` must be a valid, non-NULL sds and `new_len` at most its allocation.
unsafe fn set_len(s: bindings::sds, new_len: usize) {
    let buf = s as *mut u8;
    // SAFETY: as in `lengths`; `new_len` fits because it fits the allocation.
    unsafe {
        let flags = buf.sub(1);
        match u32::from(*flags) & bindings::SDS_TYPE_MASK {
            bindings::SDS_TYPE_5 => {
                *flags = bindings::SDS_TYPE_5 as u8 | ((new_len as u8) << bindings::SDS_TYPE_BITS)
            }
            bindings::SDS_TYPE_8 => bindings::sdshdr8::set_len(buf, new_len),
            bindings::SDS_TYPE_16 => bindings::sdshdr16::set_len(buf, new_len),
            bindings::SDS_TYPE_32 => bindings::sdshdr32::set_len(buf, new_len),
            _ => bindings::sdshdr64::set_len(buf, new_len),
        }
    }
}

/// Upstream's `sdslen`, read from the header in Rust: it is on the per-command path (every
/// argument of every command fed to the AOF), where a call into C per argument costs more
/// than the read.
///
/// # Safety
/// `s` must be a valid, non-NULL sds.
#[inline]
pub unsafe fn len(s: bindings::sds) -> usize {
    // SAFETY: `s` is a valid, non-NULL sds (this fn's # Safety), all `lengths` requires.
    unsafe { lengths(s).0 }
}

/// Bytes allocated for the string (its length and its spare room), as upstream's
/// `sdsalloc`.
///
/// # Safety
/// `s` must be a valid, non-NULL sds.
pub unsafe fn allocated(s: bindings::sds) -> usize {
    // SAFETY: `s` is a valid, non-NULL sds (this fn's # Safety), all `lengths` requires.
    let (len, avail) = unsafe { lengths(s) };
    len + avail
}

/// Whether [`len`], the spare room and [`set_len`] agree with C's `sdslen`, `sdsavail`
/// and `sdssetlen`, on headers of every type built here by hand (native-endian fields,
/// packed, the flags byte last), with lengths at each type's limits. Part of the start-up
/// layout check; needs no allocator, so it runs in tests too.
pub fn header_agrees_with_c() -> bool {
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
        // The allocation: all ones in the field's width (type 5 has none).
        let alloc = if field_bytes == 0 {
            n
        } else {
            u64::MAX >> (64 - 8 * field_bytes)
        };
        let make = |len: u64| {
            let mut header = Vec::new();
            let flags = if sds_type == bindings::SDS_TYPE_5 {
                ((len as u8) << bindings::SDS_TYPE_BITS) | sds_type as u8
            } else {
                header.extend_from_slice(&len.to_ne_bytes()[..field_bytes]);
                header.extend_from_slice(&alloc.to_ne_bytes()[..field_bytes]);
                sds_type as u8
            };
            header.push(flags);
            header.push(0); // the buffer: only its address matters
            header
        };
        let buffer_of = |header: &mut Vec<u8>| {
            let at = header.len() - 1;
            header[at..].as_mut_ptr() as bindings::sds
        };
        let (mut in_rust, mut in_c) = (make(0), make(0));
        let (s_rust, s_c) = (buffer_of(&mut in_rust), buffer_of(&mut in_c));
        let mut checked = make(n);
        let s = buffer_of(&mut checked);
        // SAFETY: each pointer points just after a complete header of its type, as in a
        // real sds; neither side reads or writes past the header.
        unsafe {
            set_len(s_rust, n as usize);
            bindings::redis_aof_shim_sdssetlen(s_c, n as usize);
            let (len, avail) = lengths(s);
            len as u64 == n
                && bindings::redis_aof_shim_sdslen(s) as u64 == n
                && avail == bindings::redis_aof_shim_sdsavail(s)
                && in_rust == in_c
        }
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
    // SAFETY: `*s` is a valid sds. With `len` spare bytes (or once sdsMakeRoomFor has made
    // them) the region after the current length is ours, and an sds always has room for
    // its terminator beyond its allocation.
    unsafe {
        let (current, avail) = lengths(*s);
        if avail < len {
            *s = bindings::sdsMakeRoomFor(*s, len);
        }
        let buf = *s as *mut u8;
        let spare =
            std::slice::from_raw_parts_mut(buf.add(current) as *mut std::mem::MaybeUninit<u8>, len);
        let written = fill(spare);
        assert_eq!(written, len, "in-place sds append wrote a different length");
        set_len(*s, current + len);
        *buf.add(current + len) = 0;
    }
}

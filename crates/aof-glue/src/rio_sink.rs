//! Rios to write through: a file's, a C caller's, or one whose writes go to a Rust
//! callback (for upstream code that writes through a rio, such as a module's callback).

use super::bindings;
use std::ffi::c_void;
use std::marker::PhantomData;

/// A rio that receives the rewrite (the BASE file's, in large pieces, or one of
/// [`with_callback_rio`]): a rio to write through, borrowed for `'a` (from the
/// [`super::rio_file::RioFile`] that owns it, the callback rio of [`with_callback_rio`],
/// or the C call that passed it).
pub struct RioSink<'a> {
    r: *mut bindings::rio,
    _borrow: PhantomData<&'a mut bindings::rio>,
}

impl<'a> RioSink<'a> {
    /// # Safety
    /// `r` must be a live rio for `'a`, written meanwhile only through this sink.
    pub unsafe fn from_raw(r: *mut bindings::rio) -> RioSink<'a> {
        RioSink {
            r,
            _borrow: PhantomData,
        }
    }

    pub fn as_ptr(&self) -> *mut bindings::rio {
        self.r
    }

    /// `rioWrite`: false on error (rio records it).
    pub fn write(&self, bytes: &[u8]) -> bool {
        // SAFETY: a live rio (constructor contract) and a valid slice.
        bytes.is_empty()
            || unsafe {
                bindings::redis_aof_shim_rio_write(
                    self.r,
                    bytes.as_ptr() as *const c_void,
                    bytes.len(),
                )
            } != 0
    }
}

/// A rio whose writes go to `write` (false: a write error, which rio records), for `body`
/// to hand to upstream code that writes through a rio. A module type's `aof_rewrite`
/// callback writes its commands this way, a few bytes per call (`RM_EmitAOF`), so they
/// can join the rewrite's own buffer instead of reaching the file piece by piece.
pub fn with_callback_rio<F: FnMut(&[u8]) -> bool, R>(
    write: F,
    body: impl FnOnce(&RioSink<'_>) -> R,
) -> R {
    /// The rio first, so a pointer to the whole is a pointer to the rio the callbacks get.
    #[repr(C)]
    struct CallbackRio<F> {
        rio: bindings::rio,
        write: F,
    }
    unsafe extern "C" fn write_callback<F: FnMut(&[u8]) -> bool>(
        r: *mut bindings::rio,
        buf: *const c_void,
        len: usize,
    ) -> usize {
        // SAFETY: `r` points to the rio at the start of the live CallbackRio<F> below
        // (only this function's rio has this callback); rioWrite passes `len` bytes.
        unsafe {
            let this = &mut *(r as *mut CallbackRio<F>);
            let bytes = if len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(buf as *const u8, len)
            };
            usize::from((this.write)(bytes))
        }
    }
    unsafe extern "C" fn tell_callback(r: *mut bindings::rio) -> bindings::off_t {
        // SAFETY: rio calls this with its own live rio.
        unsafe { (*r).processed_bytes as bindings::off_t }
    }
    unsafe extern "C" fn flush_callback(_: *mut bindings::rio) -> i32 {
        1
    }
    // SAFETY: an all-zero rio is a valid one with no callbacks, flags or checksum; the
    // three callbacks set here are the only ones upstream's writing code calls.
    let mut rio: bindings::rio = unsafe { std::mem::zeroed() };
    rio.write = Some(write_callback::<F>);
    rio.tell = Some(tell_callback);
    rio.flush = Some(flush_callback);
    let mut holder = CallbackRio { rio, write };
    // SAFETY: the pointer covers the whole holder (the callback reaches `write` through
    // it) and the holder is not touched otherwise until `body` returns.
    let sink = unsafe { RioSink::from_raw(std::ptr::addr_of_mut!(holder) as *mut bindings::rio) };
    body(&sink)
}

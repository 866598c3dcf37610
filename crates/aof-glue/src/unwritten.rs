//! The bytes of a new string that are written before anything reads them.
//!
//! Upstream's loader makes each argument's string with `sdsnewlen(SDS_NOINIT, len)` and
//! reads the file into it: the allocation is never cleared first. Clearing it would cost
//! a `memset` of every large argument, as many bytes as the file's large payloads, for
//! bytes the read overwrites at once (figures: `bench/MEASUREMENTS.md`, "64 KiB values
//! after the run: strings left uncleared"). Rust may not read uninitialised bytes or put
//! them in a `&[u8]`, so such a string's bytes are handed out as this type, which only
//! writes them, front to back, and counts how many are written; whoever made the string
//! calls [`finish`](UnwrittenBytes::finish) before anything may read it.

use super::bindings::{self, robj};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

pub struct UnwrittenBytes<'a> {
    bytes: &'a mut [MaybeUninit<u8>],
    written: usize,
}

impl<'a> UnwrittenBytes<'a> {
    pub fn new(bytes: &'a mut [MaybeUninit<u8>]) -> UnwrittenBytes<'a> {
        UnwrittenBytes { bytes, written: 0 }
    }

    /// Bytes not written yet.
    pub fn left(&self) -> usize {
        self.bytes.len() - self.written
    }

    /// Writes `data` after the bytes written so far. Panics if it does not fit (a caller
    /// takes at most [`left`](Self::left) bytes).
    pub fn put(&mut self, data: &[u8]) {
        let end = self.written + data.len();
        self.bytes[self.written..end].write_copy_of_slice(data);
        self.written = end;
    }

    /// The bytes written so far, front to back (a checksummed range digests a payload
    /// read straight into its string from here).
    pub fn written(&self) -> &[u8] {
        let written = &self.bytes[..self.written];
        // SAFETY: the first `self.written` bytes were written by `put` (a copy) or by
        // read(2) into this slice (`read_from` counts only what the kernel reported
        // written), and `written` never counts more; MaybeUninit<u8> has u8's layout, so
        // initialised bytes may be read as a `&[u8]` borrowed from `self`.
        unsafe { std::slice::from_raw_parts(written.as_ptr().cast::<u8>(), written.len()) }
    }

    /// One `read(2)` from `file` into the bytes left: Ok(0) at the end of the file (or when
    /// none are left), Ok(n) for n bytes written.
    pub fn read_from(&mut self, file: &impl AsRawFd) -> std::io::Result<usize> {
        // Linux reads at most 0x7ffff000 bytes at once; other systems refuse more than
        // INT_MAX with EINVAL, so a longer string is read in several calls.
        let end = self.bytes.len().min(self.written + i32::MAX as usize);
        let rest = &mut self.bytes[self.written..end];
        // SAFETY: read(2) writes at most `rest.len()` bytes at `rest`'s start, which this
        // value borrows mutably; MaybeUninit<u8> may hold any bytes the kernel writes.
        let n = unsafe { libc::read(file.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.written += n as usize;
        Ok(n as usize)
    }

    /// Zeroes the bytes not written (a fill that stopped early: a short file, a read
    /// error), so that every byte of the string is initialised before anything may read
    /// it; after a whole fill, nothing is left to do.
    pub fn finish(&mut self) {
        for slot in &mut self.bytes[self.written..] {
            slot.write(0);
        }
        self.written = self.bytes.len();
    }
}

/// A new string object of `len` bytes that nothing has written yet, made as upstream's
/// loader makes each argument (`createObject(OBJ_STRING, sdsnewlen(SDS_NOINIT, len))`,
/// raw-encoded whatever its length), and those bytes.
///
/// # Safety
/// The bytes are the string's own: `sdsnewlen` returns an sds whose `len` bytes follow its
/// header in one allocation, and under `SDS_NOINIT` skips the `memset` that clears them
/// (sds.c: `if (init==SDS_NOINIT) init = NULL;`), writing only the header and the
/// terminator; `createObject` stores that sds as `ptr` without touching it. Until all
/// `len` bytes are written ([`UnwrittenBytes::finish`]) nothing may read the string, and
/// the caller, who owns the one reference to the object, must not free it while the slice
/// is in use; the slice's lifetime is the caller's to bound. (Freeing reads only the
/// header: `decrRefCount` → `sdsfree`.)
pub(crate) unsafe fn unwritten_string<'a>(len: usize) -> (*mut robj, &'a mut [MaybeUninit<u8>]) {
    // SAFETY: `SDS_NOINIT` is sds.c's `const char *SDS_NOINIT = "SDS_NOINIT";`, which
    // nothing assigns after load, so reading the static races with no writer. `sdsnewlen`
    // takes it as its marker, not as bytes to copy, and never returns NULL (`_sdsnewlen`
    // with `trymalloc` 0 asserts the size does not overflow and allocates with
    // `s_malloc_usable`, which aborts on OOM).
    let s = unsafe { bindings::sdsnewlen(bindings::SDS_NOINIT.cast(), len) };
    // SAFETY: `s` is the new sds just made, referred to by nothing else; `createObject`
    // (object.c) zmallocs the header, stores `s` as `ptr` without reading it and gives the
    // object refcount 1, so the caller owns its one reference (this fn's # Safety).
    let obj = unsafe { bindings::createObject(bindings::OBJ_STRING as i32, s.cast()) };
    // SAFETY: `sdsnewlen` returned `s` pointing at the first of `len` bytes of its own
    // allocation (header before, terminator after), uninitialised under `SDS_NOINIT`,
    // which `MaybeUninit<u8>` admits; nothing else refers to them (the object is new and
    // not read until `finish`), and the caller keeps the object alive for `'a` (this fn's
    // # Safety), so a unique slice for `'a` is sound.
    let bytes = unsafe { std::slice::from_raw_parts_mut(s.cast(), len) };
    (obj, bytes)
}

#[cfg(test)]
mod tests {
    use super::UnwrittenBytes;
    use std::mem::MaybeUninit;

    #[test]
    fn writes_from_memory_then_from_a_file_in_order() {
        let path = std::env::temp_dir().join(format!("unwritten-{}", std::process::id()));
        std::fs::write(&path, b"world!").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut storage = [MaybeUninit::<u8>::uninit(); 11];
        let mut bytes = UnwrittenBytes::new(&mut storage);
        bytes.put(b"hello");
        assert_eq!(bytes.left(), 6);
        assert_eq!(bytes.read_from(&file).unwrap(), 6);
        assert_eq!(bytes.left(), 0);
        assert_eq!(bytes.read_from(&file).unwrap(), 0);
        // SAFETY: all 11 bytes were written above.
        let written: Vec<u8> = storage.iter().map(|b| unsafe { b.assume_init() }).collect();
        assert_eq!(written, b"helloworld!");
    }

    #[test]
    fn finish_zeroes_what_a_short_fill_left() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 6];
        let mut bytes = UnwrittenBytes::new(&mut storage);
        bytes.put(b"ab");
        bytes.finish();
        assert_eq!(bytes.left(), 0);
        // SAFETY: finish wrote the 4 bytes put did not.
        let written: Vec<u8> = storage.iter().map(|b| unsafe { b.assume_init() }).collect();
        assert_eq!(written, b"ab\0\0\0\0");
    }

    #[test]
    fn reading_a_closed_descriptor_is_an_error() {
        struct Closed;
        impl std::os::fd::AsRawFd for Closed {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                -1
            }
        }
        let mut storage = [MaybeUninit::<u8>::uninit(); 4];
        let mut bytes = UnwrittenBytes::new(&mut storage);
        let err = bytes.read_from(&Closed).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(bytes.left(), 4);
    }

    #[test]
    #[should_panic(expected = "range end index 3 out of range")]
    fn refuses_more_than_is_left() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 2];
        UnwrittenBytes::new(&mut storage).put(b"abc");
    }
}

//! The bytes of a new string that are written before anything reads them.
//!
//! Upstream's loader makes each argument's string with `sdsnewlen(SDS_NOINIT, len)` and
//! reads the file into it: the allocation is never cleared first. Clearing it costs a
//! `memset` of every large argument (512 MB for the bench's 8192 values of 64 KiB, about
//! a tenth of that load). Rust may not read uninitialised bytes or put them in a `&[u8]`,
//! so such a string's bytes are handed out as this type, which only writes them, front to
//! back, and counts how many are written.

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
        let slots = &mut self.bytes[self.written..end];
        // SAFETY: `slots` (bounds-checked above) is exactly `data.len()` bytes this value
        // borrows mutably, and cannot overlap `data`, a shared borrow.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), slots.as_mut_ptr().cast(), data.len())
        };
        self.written = end;
    }

    /// One `read(2)` from `file` into the bytes left: Ok(0) at the end of the file (or when
    /// none are left), Ok(n) for n bytes written.
    pub fn read_from(&mut self, file: &impl AsRawFd) -> std::io::Result<usize> {
        let rest = &mut self.bytes[self.written..];
        // SAFETY: read(2) writes at most `rest.len()` bytes at `rest`'s start, which this
        // value borrows mutably; MaybeUninit<u8> may hold any bytes the kernel writes.
        let n = unsafe { libc::read(file.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.written += n as usize;
        Ok(n as usize)
    }
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
    #[should_panic]
    fn refuses_more_than_is_left() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 2];
        UnwrittenBytes::new(&mut storage).put(b"abc");
    }
}

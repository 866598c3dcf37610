//! The few system calls the AOF makes, as safe functions returning `errno` on failure.

use std::ffi::CStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path as Redis holds it (bytes, from `appenddirname`, `appendfilename` or a manifest
/// entry) as the path std's file functions take: the same bytes, no encoding check (a
/// Unix path is any bytes but NUL).
pub fn os_path(path: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(path))
}

/// An `errno` value, kept as upstream keeps it (`aof_last_write_errno`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

/// `io::Error` -> `Errno`, in two kinds. They differ only for an error std made itself
/// rather than the kernel (a path with a NUL byte, `write_all`'s `WriteZero`), which
/// carries no errno; there the fallback can be seen, in the log line that prints
/// `strerror` of it ("Success" for 0, "Input/output error" for EIO), so the two are kept
/// apart and each call site keeps the one it has always had.
impl Errno {
    /// Falls back to 0: the open and stat failures that are logged as upstream logs
    /// `strerror(errno)` right after the failed call (the files' sizes, opening an AOF
    /// file for writing or reading, the manifest for reading).
    pub fn from_io_or_zero(err: &std::io::Error) -> Errno {
        Errno(err.raw_os_error().unwrap_or(0))
    }

    /// Falls back to EIO: an error carried on as a failure's cause (a read or seek of the
    /// file being loaded, a rename, the manifest's writing), which must not name errno 0,
    /// "no error".
    pub fn from_io_or_eio(err: &std::io::Error) -> Errno {
        Errno(err.raw_os_error().unwrap_or(libc::EIO))
    }

    pub fn last() -> Errno {
        // last_os_error always carries an errno: the fallback is never taken.
        Errno::from_io_or_zero(&std::io::Error::last_os_error())
    }

    /// The C library's text for it, exactly as upstream's `strerror(errno)` logs it.
    pub fn message(self) -> String {
        // SAFETY: strerror returns a pointer to a NUL-terminated string valid until the
        // next strerror call on this thread; it is copied at once.
        unsafe {
            CStr::from_ptr(libc::strerror(self.0))
                .to_string_lossy()
                .into_owned()
        }
    }

    pub fn set_current(self) {
        // SAFETY: __errno_location returns this thread's errno slot.
        unsafe { *libc::__errno_location() = self.0 };
    }
}

/// One `write(2)`.
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

pub fn ftruncate(fd: i32, len: i64) -> Result<(), Errno> {
    // SAFETY: plain system call on an integer descriptor.
    if unsafe { libc::ftruncate(fd, len) } == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Upstream's `redis_fsync`, which is `fdatasync` on Linux (data, not metadata).
pub fn fdatasync(fd: i32) -> Result<(), Errno> {
    // SAFETY: plain system call on an integer descriptor.
    if unsafe { libc::fdatasync(fd) } == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

pub fn close(fd: i32) {
    // SAFETY: plain system call; the caller owns `fd` and never uses it again.
    unsafe { libc::close(fd) };
}

/// Returns the C library's free heap pages to the kernel (glibc's `malloc_trim(0)`). The
/// Rust side's own allocations (the loader's key-estimate sample and its sets, the reading
/// thread's batches) come from glibc's malloc, not Redis's jemalloc, and glibc keeps the
/// pages they freed: each large block it frees raises its trim threshold (up to 64 MiB),
/// so after a load the heap would keep megabytes that no one uses, in RSS, with
/// `used_memory` unchanged (figures: `bench/MEASUREMENTS.md`, "RSS after loading RDB
/// base + INCR"). Redis never calls it itself: its own memory is jemalloc's.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only hands free pages of glibc's arenas back to the kernel (it
    // takes each arena's lock while it does); no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub fn usleep(microseconds: u32) {
    std::thread::sleep(std::time::Duration::from_micros(microseconds.into()));
}

/// `kill(pid, signal)`.
pub fn kill(pid: libc::pid_t, signal: i32) -> Result<(), Errno> {
    // SAFETY: plain system call.
    if unsafe { libc::kill(pid, signal) } == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `waitpid(-1, &status, 0)`: reaps any child, returning its pid (-1 on error).
pub fn wait_any_child() -> libc::pid_t {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    unsafe { libc::waitpid(-1, &mut status, 0) }
}

pub fn sleep_seconds(seconds: u64) {
    std::thread::sleep(std::time::Duration::from_secs(seconds));
}

/// Upstream's `bg_unlink`: removes the name now and lets the bio thread free the data,
/// so deleting a large file never stalls the main thread.
pub fn bg_unlink(path: &[u8]) -> Result<(), Errno> {
    let path = std::ffi::CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: `path` is a valid NUL-terminated string for the call.
    if unsafe { super::bindings::bg_unlink(path.as_ptr()) } == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `truncate(path, len)`.
pub fn truncate(path: &[u8], len: u64) -> Result<(), Errno> {
    let path = std::ffi::CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: `path` is a valid NUL-terminated string for the call.
    if unsafe { libc::truncate(path.as_ptr(), len as libc::off_t) } == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `lseek(fd, 0, SEEK_END)`.
pub fn seek_to_end(fd: i32) -> Result<(), Errno> {
    // SAFETY: plain system call on an integer descriptor.
    if unsafe { libc::lseek(fd, 0, libc::SEEK_END) } == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Upstream's `dirCreateIfMissing`.
pub fn create_dir_if_missing(path: &[u8]) -> Result<(), Errno> {
    let path = std::ffi::CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: valid NUL-terminated string for the call.
    if unsafe { super::bindings::dirCreateIfMissing(path.as_ptr() as *mut _) } == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Upstream's `fsyncFileDir`: makes a rename in that file's folder durable.
pub fn fsync_file_dir(path: &[u8]) -> Result<(), Errno> {
    let path = std::ffi::CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: valid NUL-terminated string for the call.
    if unsafe { super::bindings::fsyncFileDir(path.as_ptr()) } == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `rename(from, to)`.
pub fn rename(from: &[u8], to: &[u8]) -> Result<(), Errno> {
    std::fs::rename(os_path(from), os_path(to)).map_err(|e| Errno::from_io_or_eio(&e))
}

/// `posix_fadvise(POSIX_FADV_SEQUENTIAL)` over the whole of `file`: the kernel reads
/// further ahead of a file read front to back (a hint; a failure changes nothing).
pub fn advise_sequential(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a hint about a descriptor `file` keeps open for the call; it reads no memory.
    let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
}

/// A buffer of its own anonymous pages (`mmap`), returned to the kernel when dropped
/// (`munmap`): a loader's buffers leave nothing behind in the C library's heap, where
/// freed blocks stay resident (the RSS after loading stays stock's).
pub struct MappedBuffer {
    ptr: std::ptr::NonNull<u8>,
    capacity: usize,
    len: usize,
}

// SAFETY: the buffer owns its pages outright (no other pointer to them exists); moving
// it to another thread moves that ownership.
unsafe impl Send for MappedBuffer {}

impl MappedBuffer {
    /// `capacity` bytes of zeroed pages, none of them in use yet (None if mmap fails).
    pub fn new(capacity: usize) -> Option<MappedBuffer> {
        // SAFETY: a private anonymous mapping at an address the kernel picks; nothing else
        // refers to it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                capacity.max(1),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        Some(MappedBuffer {
            ptr: std::ptr::NonNull::new(p as *mut u8)?,
            capacity: capacity.max(1),
            len: 0,
        })
    }

    /// All of the buffer, to fill (anonymous pages start zeroed, so every byte is
    /// initialised); then [`set_len`](Self::set_len) says how much of it is in use.
    pub fn whole(&mut self) -> &mut [u8] {
        // SAFETY: `capacity` bytes mapped readable and writable, owned by self, borrowed
        // mutably for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }

    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity);
    }
}

impl AsRef<[u8]> for MappedBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the mapping, borrowed shared with self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for MappedBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), unmapped once; no borrow of it outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.capacity) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_keeps_its_errno_and_a_std_made_one_takes_the_fallback() {
        let from_kernel = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(Errno::from_io_or_zero(&from_kernel), Errno(libc::ENOSPC));
        assert_eq!(Errno::from_io_or_eio(&from_kernel), Errno(libc::ENOSPC));
        let made_by_std = std::io::Error::from(std::io::ErrorKind::WriteZero);
        assert_eq!(Errno::from_io_or_zero(&made_by_std), Errno(0));
        assert_eq!(Errno::from_io_or_eio(&made_by_std), Errno(libc::EIO));
    }

    #[test]
    fn os_path_keeps_every_byte() {
        let bytes: &[u8] = b"dir/app\xffendonly.aof.1.incr.aof";
        assert_eq!(os_path(bytes).as_os_str().as_bytes(), bytes);
    }
}

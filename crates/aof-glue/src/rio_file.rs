//! A stdio file behind upstream's `rio`, as the rewrite writes its BASE through it (so
//! `aof-rewrite-incremental-fsync`, page-cache reclaim and the RDB writer work exactly as
//! upstream's).

use super::bindings;
use super::rdb_writer::RdbWriter;
use super::rio_sink::RioSink;
use super::sys::Errno;
use std::ffi::CString;
use std::mem::MaybeUninit;

pub struct RioFile {
    fp: *mut libc::FILE,
    rio: Box<MaybeUninit<bindings::rio>>,
}

impl RioFile {
    /// `fopen(path, "w")` wrapped in a file rio.
    pub fn create(path: &[u8]) -> Result<RioFile, Errno> {
        let cpath = CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
        // SAFETY: fopen with valid strings; the rio is initialised over the open FILE and
        // lives (boxed, so it never moves) as long as the FILE.
        unsafe {
            let fp = libc::fopen(cpath.as_ptr(), c"w".as_ptr());
            if fp.is_null() {
                return Err(Errno::last());
            }
            let mut rio = Box::new(MaybeUninit::<bindings::rio>::zeroed());
            bindings::rioInitWithFile(rio.as_mut_ptr(), fp as *mut bindings::FILE);
            Ok(RioFile { fp, rio })
        }
    }

    fn rio_ptr(&mut self) -> *mut bindings::rio {
        self.rio.as_mut_ptr()
    }

    /// No stdio buffer of its own, for a writer that hands over whole buffers (one
    /// `write` per piece, and no page of stdio buffer for a fork child to copy). Call
    /// before the first write.
    pub fn unbuffered(&mut self) {
        // SAFETY: an open FILE with no I/O done on it yet, as setvbuf requires.
        unsafe {
            libc::setvbuf(self.fp, std::ptr::null_mut(), libc::_IONBF, 0);
        }
    }

    /// fsync every REDIS_AUTOSYNC_BYTES and drop written pages from the cache.
    pub fn enable_incremental_fsync(&mut self) {
        // SAFETY: initialised rio over an open file.
        unsafe {
            bindings::rioSetAutoSync(self.rio_ptr(), bindings::REDIS_AUTOSYNC_BYTES as i64);
            bindings::rioSetReclaimCache(self.rio_ptr(), 1);
        }
    }

    /// The file's rio to write through; the sink borrows the file, so it cannot outlive
    /// it or overlap the file's other operations.
    pub fn sink(&mut self) -> RioSink<'_> {
        // SAFETY: the rio is boxed (it never moves) and lives as long as the file, which
        // the sink borrows mutably.
        unsafe { RioSink::from_raw(self.rio_ptr()) }
    }

    /// Upstream's RDB writer into this file (`aof-use-rdb-preamble yes`); Err carries the
    /// errno it reports.
    pub fn save_rdb(&mut self) -> Result<(), Errno> {
        let mut error = 0;
        // SAFETY: initialised rio; `error` is a valid out-pointer.
        let ret = unsafe {
            bindings::rdbSaveRio(
                bindings::SLAVE_REQ_NONE as i32,
                self.rio_ptr(),
                &mut error,
                bindings::RDBFLAGS_AOF_PREAMBLE as i32,
                std::ptr::null_mut(),
            )
        };
        if ret == bindings::C_ERR {
            Err(Errno(error))
        } else {
            Ok(())
        }
    }

    /// The RDB writers of upstream's `rdbSaveRio` over this file, for a preamble written
    /// section by section (see [`RdbWriter`]). The file writes unbuffered from here on:
    /// the writer hands it whole stages.
    pub fn rdb_writer(&mut self) -> RdbWriter<'_> {
        // Nothing has been written yet, and from here on only whole stages reach the file.
        self.unbuffered();
        let checksum = super::server::rdb_checksum() != 0;
        // SAFETY: the file's rio is boxed (it never moves) and initialised, and outlives
        // the writer, which borrows the file mutably.
        unsafe { RdbWriter::over(self.rio_ptr(), checksum) }
    }

    /// fflush + fsync: the data is on disk.
    pub fn flush_and_sync(&mut self) -> Result<(), Errno> {
        // SAFETY: an open FILE.
        unsafe {
            if libc::fflush(self.fp) != 0 || libc::fsync(libc::fileno(self.fp)) != 0 {
                return Err(Errno::last());
            }
        }
        Ok(())
    }

    /// Drops the file's pages from the page cache (a rewrite should not evict the
    /// dataset's working set).
    pub fn reclaim_page_cache(&mut self) -> Result<(), Errno> {
        // SAFETY: an open FILE's descriptor.
        if unsafe { bindings::reclaimFilePageCache(libc::fileno(self.fp), 0, 0) } == -1 {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }

    pub fn close(mut self) -> Result<(), Errno> {
        let fp = std::mem::replace(&mut self.fp, std::ptr::null_mut());
        // SAFETY: closes the FILE once; Drop sees it is gone.
        if unsafe { libc::fclose(fp) } != 0 {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }
}

impl Drop for RioFile {
    fn drop(&mut self) {
        if !self.fp.is_null() {
            // SAFETY: an open FILE not closed yet.
            unsafe { libc::fclose(self.fp) };
        }
    }
}

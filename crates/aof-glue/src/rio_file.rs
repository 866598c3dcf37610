//! A stdio file behind upstream's `rio`, as the rewrite writes its BASE through it (so
//! `aof-rewrite-incremental-fsync`, page-cache reclaim and the RDB writer work exactly as
//! upstream's).

use super::bindings;
use super::dataset::{self, RioSink};
use super::db::Db;
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

    /// Upstream's `rdbSaveRio` for an AOF preamble (`SLAVE_REQ_NONE`,
    /// `RDBFLAGS_AOF_PREAMBLE`, no replication info), driven from Rust so the keyspace is
    /// walked with [`dataset::for_each_key`]'s prefetching: the same upstream writers in
    /// upstream's order (header, aux fields, module aux before, functions, per db SELECTDB
    /// and RESIZEDB then `rdbSaveKeyValuePair` per key, module aux after, EOF, checksum),
    /// with its `dismissObject` after each key and its child-info report about once a
    /// second. The keys come in the kvstore iterator's order, so for the same dataset in
    /// the same process the bytes are upstream's. A cluster's slot-info opcodes are not
    /// written here: with cluster mode on, upstream's own function runs; so it does where
    /// the release tracks memory per key and that is on (8.6's rdbSaveDb updates the
    /// accounting around each key's save).
    pub fn save_rdb_prefetching(&mut self) -> Result<(), Errno> {
        #[cfg(memory_tracking)]
        let tracking = super::server::memory_tracking_enabled() != 0;
        #[cfg(not(memory_tracking))]
        let tracking = false;
        if super::server::cluster_enabled() != 0 || tracking {
            return self.save_rdb();
        }
        // Nothing has been written yet, and from here on only whole stages reach the file.
        self.unbuffered();
        let mut staged = StagedRio::new(self.rio_ptr(), super::server::rdb_checksum() != 0);
        let rdb = staged.rio_ptr();
        let failed = || Err(Errno::last());
        // SAFETY: the staged rio is initialised over the file's; every call is upstream's
        // writer with the arguments rdbSaveRio passes (rdb.c), on the thread that owns the
        // keyspace (the fork child's only thread, or the server's main thread when the
        // first BASE is written at start-up), so nothing changes the dataset meanwhile.
        unsafe {
            let magic = format!("REDIS{:04}", bindings::RDB_VERSION);
            if bindings::rdbWriteRaw(rdb, magic.as_ptr() as *mut _, 9) == -1
                || bindings::rdbSaveInfoAuxFields(
                    rdb,
                    bindings::RDBFLAGS_AOF_PREAMBLE as i32,
                    std::ptr::null_mut(),
                ) == -1
                || bindings::rdbSaveModulesAux(rdb, bindings::REDISMODULE_AUX_BEFORE_RDB as i32)
                    == -1
                || bindings::rdbSaveFunctions(rdb) == -1
            {
                return failed();
            }
            let mut key_counter: i64 = 0;
            let mut info_updated_time: i64 = 0;
            let in_fork_child = super::server::in_fork_child() != 0;
            for index in 0..super::server::dbnum() {
                let Some(db) = Db::of_index(index) else {
                    continue;
                };
                let db_size = db.size();
                if db_size == 0 {
                    continue;
                }
                if bindings::rdbSaveType(rdb, bindings::RDB_OPCODE_SELECTDB as u8) < 0
                    || bindings::rdbSaveLen(rdb, index as u64) < 0
                    || bindings::rdbSaveType(rdb, bindings::RDB_OPCODE_RESIZEDB as u8) < 0
                    || bindings::rdbSaveLen(rdb, db_size) < 0
                    || bindings::rdbSaveLen(rdb, db.expires_size()) < 0
                {
                    return failed();
                }
                // Standalone: no slot is ever in a trim job, so nothing is skipped.
                let mut skipped = 0u64;
                let written =
                    super::keyspace_walk::for_each_key(db, &mut skipped, |key, value, expire| {
                        let before = (*rdb).processed_bytes;
                        if bindings::redis_aof_shim_rdb_save_key_value(
                            rdb,
                            key.as_sds(),
                            value.as_ptr(),
                            expire,
                            index,
                        ) < 0
                        {
                            return false;
                        }
                        if in_fork_child {
                            value.dismiss((*rdb).processed_bytes - before);
                        }
                        let counted = key_counter;
                        key_counter += 1;
                        if counted & 1023 == 0 {
                            let now = super::runtime::mstime();
                            if now - info_updated_time >= 1000 {
                                dataset::report_keys_done(key_counter as usize);
                                info_updated_time = now;
                            }
                        }
                        true
                    });
                if !written {
                    return failed();
                }
            }
            if bindings::rdbSaveModulesAux(rdb, bindings::REDISMODULE_AUX_AFTER_RDB as i32) == -1
                || bindings::rdbSaveType(rdb, bindings::RDB_OPCODE_EOF as u8) == -1
            {
                return failed();
            }
            // The checksum covers every byte before it, so the stage goes first.
            if !staged.flush() {
                return failed();
            }
            let cksum = (*rdb).cksum.to_le_bytes();
            if bindings::redis_aof_shim_rio_write(rdb, cksum.as_ptr() as *const _, 8) == 0
                || !staged.flush()
            {
                return failed();
            }
            if cfg!(rdb_save_done_log) {
                crate::server_log!(
                    super::log::Level::Notice,
                    "BGSAVE done, {key_counter} keys saved, 0 keys skipped, {} bytes written.",
                    (*rdb).processed_bytes
                );
            }
        }
        Ok(())
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

/// A rio in front of the file's that gathers the RDB writers' small writes (a type byte, a
/// length, a key: several `rioWrite`s of a few bytes per key) into whole stages, and hands
/// each stage to the checksum and the file at once.
///
/// Upstream's `rdbSaveRio` sets `rioGenericUpdateChecksum` on the file rio, so every small
/// write runs `crc64` on its own (a call, the byte-at-a-time head and tail of
/// `crcspeed64little`) and then `fwrite` (a stream lock, a copy into stdio's buffer). Here
/// the same `rioGenericUpdateChecksum` runs over each whole stage, where crc64 takes
/// eight bytes per step, and the file gets one `rioWrite` per stage. The bytes, their
/// order and the checksum are the same: crc64 over a sequence of pieces is crc64 over
/// their concatenation (each call continues from the previous value), and `cksum` here
/// is only read once the stage is flushed. `processed_bytes` of this rio counts every
/// byte as the writers hand it over, as upstream's counts them (`dismissObject` reads the
/// difference per key), and the file rio counts what reaches it, so its 4 MB incremental
/// fsync keeps its rhythm.
///
/// A write error shows up when a stage is flushed (as upstream's stdio buffer shows it
/// when that buffer is flushed), with `errno` from the failed write.
#[repr(C)]
struct StagedRio {
    /// First, so a pointer to the whole is a pointer to the rio the callbacks receive.
    rio: bindings::rio,
    file: *mut bindings::rio,
    checksum: bool,
    used: usize,
    stage: Box<[u8]>,
}

impl StagedRio {
    /// Bytes gathered before they go to the checksum and the file. The stage is memory
    /// the fork child allocates (upstream's child has a 4 KiB stdio buffer instead).
    const STAGE_BYTES: usize = 16 * 1024;

    fn new(file: *mut bindings::rio, checksum: bool) -> Box<StagedRio> {
        // SAFETY: an all-zero rio is a valid one with no callbacks, flags or checksum
        // (rio.h's own static initialisers start from zero); the callbacks set below are
        // the only ones upstream's writing code calls on a rio it writes to.
        let mut rio: bindings::rio = unsafe { std::mem::zeroed() };
        rio.write = Some(Self::write_callback);
        rio.tell = Some(Self::tell_callback);
        rio.flush = Some(Self::flush_callback);
        Box::new(StagedRio {
            rio,
            file,
            checksum,
            used: 0,
            stage: vec![0u8; Self::STAGE_BYTES].into_boxed_slice(),
        })
    }

    fn rio_ptr(&mut self) -> *mut bindings::rio {
        std::ptr::addr_of_mut!(self.rio)
    }

    /// Checksum and file for `len` bytes at `buf` (the stage, or a piece too large for
    /// it); false on a write error.
    ///
    /// # Safety
    /// `buf` must be valid for `len` bytes.
    unsafe fn pass_on(&mut self, buf: *const u8, len: usize) -> bool {
        if len == 0 {
            return true;
        }
        // SAFETY: `self.rio` is a live rio; rioGenericUpdateChecksum only reads `len`
        // bytes at `buf` and updates `cksum` (rio.c: `r->cksum = crc64(r->cksum,buf,len)`);
        // `self.file` is the open file's rio, which outlives this one.
        unsafe {
            if self.checksum {
                bindings::rioGenericUpdateChecksum(self.rio_ptr(), buf.cast(), len);
            }
            bindings::redis_aof_shim_rio_write(self.file, buf.cast(), len) != 0
        }
    }

    /// Hands the stage to the checksum and the file; false on a write error.
    fn flush(&mut self) -> bool {
        let used = std::mem::take(&mut self.used);
        let stage = self.stage.as_ptr();
        // SAFETY: the first `used` bytes of the stage are written.
        unsafe { self.pass_on(stage, used) }
    }

    unsafe extern "C" fn write_callback(
        r: *mut bindings::rio,
        buf: *const std::ffi::c_void,
        len: usize,
    ) -> usize {
        // SAFETY: `r` is the rio at the start of a live StagedRio (only StagedRio::new
        // sets this callback), borrowed by nothing else during the call; rioWrite passes
        // `len` readable bytes at `buf`.
        unsafe {
            let this = &mut *(r as *mut StagedRio);
            let buf = buf as *const u8;
            if len <= this.stage.len() - this.used {
                let to = this.stage.as_mut_ptr().add(this.used);
                // Half the writes are one byte (a type, a short length): no memcpy call.
                if len == 1 {
                    *to = *buf;
                } else {
                    std::ptr::copy_nonoverlapping(buf, to, len);
                }
                this.used += len;
                return 1;
            }
            if !this.flush() {
                return 0;
            }
            // A piece as large as half a stage goes on from where it lies (a large value,
            // already compressed or not, is not copied).
            if len >= this.stage.len() / 2 {
                return usize::from(this.pass_on(buf, len));
            }
            std::ptr::copy_nonoverlapping(buf, this.stage.as_mut_ptr(), len);
            this.used = len;
            1
        }
    }

    unsafe extern "C" fn tell_callback(r: *mut bindings::rio) -> bindings::off_t {
        // SAFETY: rio calls this with its own live rio.
        unsafe { (*r).processed_bytes as bindings::off_t }
    }

    unsafe extern "C" fn flush_callback(r: *mut bindings::rio) -> i32 {
        // SAFETY: as in write_callback; the file rio's own flush is rioFileFlush (set
        // by rioInitWithFile).
        unsafe {
            let this = &mut *(r as *mut StagedRio);
            if !this.flush() {
                return 0;
            }
            match (*this.file).flush {
                Some(flush) => flush(this.file),
                None => 1,
            }
        }
    }
}

/// `startSaving` / `stopSaving`: module events and INFO around a save.
pub fn start_saving() {
    // SAFETY: rdb.c's startSaving takes its flags by value and only picks the subevent
    // (from them and getpid() against server.pid) for moduleFireServerEvent; no pointer.
    unsafe { bindings::startSaving(bindings::RDBFLAGS_AOF_PREAMBLE as i32) }
}

pub fn stop_saving(success: bool) {
    // SAFETY: rdb.c's stopSaving takes `success` by value and only fires the module
    // persistence-ended or -failed event; no pointer.
    unsafe { bindings::stopSaving(success as i32) }
}

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
    /// written here: with cluster mode on, upstream's own function runs.
    pub fn save_rdb_prefetching(&mut self) -> Result<(), Errno> {
        if super::server::cluster_enabled() != 0 {
            return self.save_rdb();
        }
        let rdb = self.rio_ptr();
        let failed = || Err(Errno::last());
        // SAFETY: an initialised rio over the open file; every call is upstream's writer
        // with the arguments rdbSaveRio passes (rdb.c), on the thread that owns the
        // keyspace (the fork child's only thread, or the server's main thread when the
        // first BASE is written at start-up), so nothing changes the dataset meanwhile.
        unsafe {
            if super::server::rdb_checksum() != 0 {
                (*rdb).update_cksum = Some(bindings::rioGenericUpdateChecksum);
            }
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
                let written = dataset::for_each_key(db, |key, value, expire| {
                    let before = (*rdb).processed_bytes;
                    // `key` is `sds::bytes` of the entry's key, so it starts at that sds.
                    if bindings::redis_aof_shim_rdb_save_key_value(
                        rdb,
                        key.as_ptr() as bindings::sds,
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
            let cksum = (*rdb).cksum.to_le_bytes();
            if bindings::redis_aof_shim_rio_write(rdb, cksum.as_ptr() as *const _, 8) == 0 {
                return failed();
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

/// `startSaving` / `stopSaving`: module events and INFO around a save.
pub fn start_saving() {
    // SAFETY: upstream function with a flag argument.
    unsafe { bindings::startSaving(bindings::RDBFLAGS_AOF_PREAMBLE as i32) }
}

pub fn stop_saving(success: bool) {
    // SAFETY: upstream function.
    unsafe { bindings::stopSaving(success as i32) }
}

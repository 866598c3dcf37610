//! Upstream's RDB writers (rdb.c) for an AOF preamble written section by section, behind
//! a staged rio; what the sections are and their order is `src/aof/rdb_preamble.rs`'s
//! (and `aof_core::rdb_preamble`'s). Each writer is called with the arguments
//! `rdbSaveRio` passes for an AOF preamble (`RDBFLAGS_AOF_PREAMBLE`, no replication info).

use super::bindings;
use super::keyspace_walk::Key;
use super::sys::Errno;
use super::value::Value;

/// The RDB writers over a file's rio (through a [`StagedRio`]), borrowed from the
/// [`super::rio_file::RioFile`] for `'f`.
pub struct RdbWriter<'f> {
    staged: Box<StagedRio>,
    _file: std::marker::PhantomData<&'f mut bindings::rio>,
}

/// `Ok`, or the errno of a writer that reported -1.
fn status(failed: bool) -> Result<(), Errno> {
    if failed {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

impl RdbWriter<'_> {
    /// # Safety
    /// `file` must be an initialised rio that lives for `'f` and is written meanwhile
    /// only through the writer.
    pub(super) unsafe fn over<'f>(file: *mut bindings::rio, checksum: bool) -> RdbWriter<'f> {
        RdbWriter {
            staged: StagedRio::new(file, checksum),
            _file: std::marker::PhantomData,
        }
    }

    fn rdb(&mut self) -> *mut bindings::rio {
        self.staged.rio_ptr()
    }

    /// `REDIS` and the four-digit RDB version (`rdbWriteRaw` of "REDIS%04d").
    pub fn magic(&mut self) -> Result<(), Errno> {
        let magic = format!("REDIS{:04}", bindings::RDB_VERSION);
        // SAFETY: the staged rio is live (see `over`); rdbWriteRaw reads the 9 bytes.
        status(unsafe { bindings::rdbWriteRaw(self.rdb(), magic.as_ptr() as *mut _, 9) } == -1)
    }

    /// `rdbSaveInfoAuxFields` for an AOF preamble.
    pub fn info_aux_fields(&mut self) -> Result<(), Errno> {
        // SAFETY: a live rio; no replication info, as rdbSaveRio passes for a preamble.
        status(
            unsafe {
                bindings::rdbSaveInfoAuxFields(
                    self.rdb(),
                    bindings::RDBFLAGS_AOF_PREAMBLE as i32,
                    std::ptr::null_mut(),
                )
            } == -1,
        )
    }

    /// `rdbSaveModulesAux` for the modules' aux fields before (or after) the keys.
    pub fn modules_aux(&mut self, before_keys: bool) -> Result<(), Errno> {
        let when = if before_keys {
            bindings::REDISMODULE_AUX_BEFORE_RDB
        } else {
            bindings::REDISMODULE_AUX_AFTER_RDB
        };
        // SAFETY: a live rio; rdbSaveModulesAux runs the modules' aux_save callbacks on
        // the thread that owns the dataset, as rdbSaveRio does.
        status(unsafe { bindings::rdbSaveModulesAux(self.rdb(), when as i32) } == -1)
    }

    /// `rdbSaveFunctions`: every function library.
    pub fn functions(&mut self) -> Result<(), Errno> {
        // SAFETY: a live rio; the functions dict is upstream's, unchanged meanwhile.
        status(unsafe { bindings::rdbSaveFunctions(self.rdb()) } == -1)
    }

    /// SELECTDB `index`, then RESIZEDB with the db's `keys` and `expires`.
    pub fn db_header(&mut self, index: i32, keys: u64, expires: u64) -> Result<(), Errno> {
        let rdb = self.rdb();
        // SAFETY: a live rio; plain type and length writers.
        status(unsafe {
            bindings::rdbSaveType(rdb, bindings::RDB_OPCODE_SELECTDB as u8) < 0
                || bindings::rdbSaveLen(rdb, index as u64) < 0
                || bindings::rdbSaveType(rdb, bindings::RDB_OPCODE_RESIZEDB as u8) < 0
                || bindings::rdbSaveLen(rdb, keys) < 0
                || bindings::rdbSaveLen(rdb, expires) < 0
        })
    }

    /// `rdbSaveKeyValuePair` for a key of db `index`: false on a write error (`errno`
    /// says which, as upstream leaves it).
    #[inline]
    pub fn key_value(&mut self, key: Key<'_>, value: Value<'_>, expire: i64, index: i32) -> bool {
        // SAFETY: a live rio, a live key (an sds) and its live value of db `index`; the
        // shim passes them to rdbSaveKeyValuePair as rdbSaveDb does.
        unsafe {
            bindings::redis_aof_shim_rdb_save_key_value(
                self.rdb(),
                key.as_sds(),
                value.as_ptr(),
                expire,
                index,
            ) >= 0
        }
    }

    /// The bytes the writers have handed over so far (`processed_bytes`).
    #[inline]
    pub fn processed_bytes(&self) -> usize {
        self.staged.rio.processed_bytes
    }

    /// The EOF opcode.
    pub fn eof(&mut self) -> Result<(), Errno> {
        // SAFETY: a live rio; a plain type writer.
        status(unsafe { bindings::rdbSaveType(self.rdb(), bindings::RDB_OPCODE_EOF as u8) } == -1)
    }

    /// The checksum of every byte before it (0 with `rdbchecksum no`), after the stage
    /// has gone to the checksum and the file; then that too goes to the file.
    pub fn checksum(&mut self) -> Result<(), Errno> {
        status(!self.staged.flush())?;
        let cksum = self.staged.rio.cksum.to_le_bytes();
        // SAFETY: a live rio; the 8 bytes of `cksum` are readable for the call.
        let written = unsafe {
            bindings::redis_aof_shim_rio_write(self.rdb(), cksum.as_ptr() as *const _, 8)
        } != 0;
        status(!written || !self.staged.flush())
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

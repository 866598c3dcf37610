//! The files in `appenddirname`: naming, the manifest on disk, open/upgrade/delete.

use aof_glue::log::{Level, Line};
use aof_glue::manifest::{ManifestRef, AOF_FILE_TYPE_BASE, AOF_FILE_TYPE_INCR};
use aof_glue::sys::Errno;
use aof_glue::{bindings, process, runtime, sds, server};
use std::os::unix::ffi::OsStrExt;

const AOF_OK: i32 = bindings::AOF_OK as i32;
const AOF_NOT_EXIST: i32 = bindings::AOF_NOT_EXIST as i32;
const AOF_OPEN_ERR: i32 = bindings::AOF_OPEN_ERR as i32;

const MANIFEST_NAME_SUFFIX: &[u8] = b".manifest";
const TEMP_FILE_NAME_PREFIX: &[u8] = b"temp-";

/// Upstream's `<appendfilename>.manifest` (MANIFEST_NAME_SUFFIX).
pub fn manifest_file_name() -> bindings::sds {
    let mut name = server::aof_filename().to_vec();
    name.extend_from_slice(MANIFEST_NAME_SUFFIX);
    sds::new(&name)
}

/// The manifest is written under this name, then renamed over [`manifest_file_name`].
pub fn temp_manifest_file_name() -> bindings::sds {
    let mut name = TEMP_FILE_NAME_PREFIX.to_vec();
    name.extend_from_slice(server::aof_filename());
    name.extend_from_slice(MANIFEST_NAME_SUFFIX);
    sds::new(&name)
}

/// Upstream's `makePath(server.aof_dirname, name)`.
pub fn path_in_aof_dir(name: &[u8]) -> Vec<u8> {
    let dir = server::aof_dirname();
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    path.push(b'/');
    path.extend_from_slice(name);
    path
}

fn metadata(path: &[u8]) -> std::io::Result<std::fs::Metadata> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::metadata(std::ffi::OsStr::from_bytes(path))
}

/// Upstream's `aofFileExist`: a regular file of that name in `appenddirname`.
pub fn file_exists(name: &[u8]) -> bool {
    metadata(&path_in_aof_dir(name)).is_ok_and(|m| m.is_file())
}

/// Upstream's `getAppendOnlyFileSize`: the size of an AOF file and `AOF_OK`, or 0 and
/// `AOF_NOT_EXIST` / `AOF_OPEN_ERR` (logged). The stat is a latency event ("aof-fstat").
pub fn file_size(name: &[u8]) -> (i64, i32) {
    let started = runtime::latency_start();
    let result = metadata(&path_in_aof_dir(name));
    let elapsed = runtime::latency_end(started);
    let outcome = match result {
        Ok(m) => (m.len() as i64, AOF_OK),
        Err(err) => {
            let errno = Errno(err.raw_os_error().unwrap_or(0));
            let status = if errno.0 == libc::ENOENT {
                AOF_NOT_EXIST
            } else {
                AOF_OPEN_ERR
            };
            Line::new("Unable to obtain the AOF file ")
                .bytes(name)
                .text(" length. stat: ")
                .text(&errno.message())
                .write(Level::Warning);
            (0, status)
        }
    };
    runtime::latency_add_sample_if_needed(c"aof-fstat", elapsed);
    outcome
}

/// Upstream's `getBaseAndIncrAppendOnlyFilesSize`: the BASE and INCR files' total size,
/// or 0 with the first file's error status.
pub fn base_and_incr_size(am: ManifestRef<'_>) -> (i64, i32) {
    let base = am.base().inspect(|info| {
        process::assert(
            info.file_type == AOF_FILE_TYPE_BASE,
            c"am->base_aof_info->file_type == AOF_FILE_TYPE_BASE",
        );
    });
    let mut total = 0;
    let mut status = AOF_OK;
    for info in base.into_iter().chain(am.incr()) {
        if info.file_type != AOF_FILE_TYPE_BASE {
            process::assert(
                info.file_type == AOF_FILE_TYPE_INCR,
                c"ai->file_type == AOF_FILE_TYPE_INCR",
            );
        }
        let (size, file_status) = file_size(info.file_name);
        status = file_status;
        if status != AOF_OK {
            return (0, status);
        }
        total += size;
    }
    (total, status)
}

/// Upstream's `getBaseAndIncrAppendOnlyFilesNum`.
pub fn base_and_incr_count(am: ManifestRef<'_>) -> usize {
    usize::from(am.base().is_some()) + am.incr_count()
}

/// How an AOF file is opened for writing.
#[derive(Clone, Copy)]
pub enum OpenMode {
    /// The INCR file the server keeps appending to.
    Append,
    /// A new (or reused temporary) INCR file, emptied.
    Truncate,
}

/// Opens an AOF file in `appenddirname` for writing (mode 0644, created if missing),
/// logging upstream's line when it cannot.
pub fn open_for_writing(name: &[u8], mode: OpenMode) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    match mode {
        OpenMode::Append => options.append(true),
        OpenMode::Truncate => options.write(true).truncate(true),
    };
    let path = path_in_aof_dir(name);
    match options
        .create(true)
        .mode(0o644)
        .open(std::ffi::OsStr::from_bytes(&path))
    {
        Ok(file) => Some(file),
        Err(e) => {
            Line::new("Can't open the append-only file ")
                .bytes(name)
                .text(": ")
                .text(&Errno(e.raw_os_error().unwrap_or(0)).message())
                .write(Level::Warning);
            None
        }
    }
}

/// Creates `appenddirname` if missing; logs upstream's line and returns false when it
/// cannot.
pub fn create_aof_dir() -> bool {
    let dir = server::aof_dirname();
    match aof_glue::sys::create_dir_if_missing(dir) {
        Ok(()) => true,
        Err(errno) => {
            Line::new("Can't open or create append-only dir ")
                .bytes(dir)
                .text(": ")
                .text(&errno.message())
                .write(Level::Warning);
            false
        }
    }
}

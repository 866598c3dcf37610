//! The files in `appenddirname`: paths, existence, sizes, opening for writing, the
//! folder itself. Their names are `aof_core::aof_manifest`'s (through `manifest`).

use crate::aof::status::SizeUnknown;
use aof_glue::log::{Level, Line};
use aof_glue::manifest::{ManifestRef, AOF_FILE_TYPE_BASE, AOF_FILE_TYPE_INCR};
use aof_glue::sys::{self, Errno};
use aof_glue::{process, runtime, server};

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
    std::fs::metadata(sys::os_path(path))
}

/// Upstream's `aofFileExist`: a regular file of that name in `appenddirname`.
pub fn file_exists(name: &[u8]) -> bool {
    metadata(&path_in_aof_dir(name)).is_ok_and(|m| m.is_file())
}

/// Upstream's `getAppendOnlyFileSize`: the size of an AOF file, or (logged) why it is
/// unknown, where upstream returns 0 with that status. The stat is a latency event
/// ("aof-fstat").
pub fn file_size(name: &[u8]) -> Result<i64, SizeUnknown> {
    let started = runtime::latency_start();
    let result = metadata(&path_in_aof_dir(name));
    let elapsed = runtime::latency_end(started);
    let outcome = match result {
        Ok(m) => Ok(m.len() as i64),
        Err(err) => {
            let errno = Errno::from_io_or_zero(&err);
            let unknown = if errno.0 == libc::ENOENT {
                SizeUnknown::NotExist
            } else {
                SizeUnknown::OpenErr
            };
            Line::new("Unable to obtain the AOF file ")
                .bytes(name)
                .text(" length. stat: ")
                .text(&errno.message())
                .write(Level::Warning);
            Err(unknown)
        }
    };
    runtime::latency_add_sample_if_needed(c"aof-fstat", elapsed);
    outcome
}

/// Upstream's `getBaseAndIncrAppendOnlyFilesSize`: the BASE and INCR files' total size,
/// or why the first file whose size is unknown is (where upstream returns 0 with its
/// status).
pub fn base_and_incr_size(am: ManifestRef<'_>) -> Result<i64, SizeUnknown> {
    let base = am.base().inspect(|info| {
        process::assert(
            info.file_type == AOF_FILE_TYPE_BASE,
            c"am->base_aof_info->file_type == AOF_FILE_TYPE_BASE",
        );
    });
    let mut total = 0;
    for info in base.into_iter().chain(am.incr()) {
        if info.file_type != AOF_FILE_TYPE_BASE {
            process::assert(
                info.file_type == AOF_FILE_TYPE_INCR,
                c"ai->file_type == AOF_FILE_TYPE_INCR",
            );
        }
        total += file_size(info.file_name)?;
    }
    Ok(total)
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
    match options.create(true).mode(0o644).open(sys::os_path(&path)) {
        Ok(file) => Some(file),
        Err(e) => {
            Line::new("Can't open the append-only file ")
                .bytes(name)
                .text(": ")
                .text(&Errno::from_io_or_zero(&e).message())
                .write(Level::Warning);
            None
        }
    }
}

/// Makes the names in `appenddirname` durable (an fsync of the folder): called after a
/// file was created or renamed into it and before the manifest that names it is renamed
/// into place. Upstream fsyncs the folder only after that rename, so it relies on the file
/// system committing the two name changes in order (ext4's journal does; POSIX does not
/// promise it, and a crash in between could leave a durable manifest naming a file whose
/// name was lost). A failure is logged in the words of upstream's line for the folder
/// fsync after a manifest rename, naming the folder.
pub fn make_names_durable() -> Result<(), crate::aof::Reported> {
    // fsyncFileDir syncs the folder holding the path it is given: `<dir>/.`.
    let probe = path_in_aof_dir(b".");
    aof_glue::sys::fsync_file_dir(&probe).map_err(|errno| {
        Line::new("Fail to fsync AOF directory ")
            .bytes(server::aof_dirname())
            .text(&format!(": {}.", errno.message()))
            .write(Level::Warning);
        crate::aof::Reported
    })
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

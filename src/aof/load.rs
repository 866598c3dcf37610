//! Loading at start-up (and `DEBUG LOADAOF`): the manifest decides the order (BASE, then
//! each INCR); each file is an RDB (BASE or old-style preamble, through upstream's RDB
//! loader) optionally followed by RESP commands, replayed through the AOF client.

use crate::aof::files;
use crate::aof::load_file;
use aof_core::load_machine::ShortFile;
use aof_glue::log::{Level, Line};
use aof_glue::manifest::{ManifestHandle, ManifestRef, AOF_FILE_TYPE_BASE, AOF_FILE_TYPE_INCR};
use aof_glue::server_log;
use aof_glue::{loading, process, server, sys};
use std::time::Instant;

pub use crate::aof::status::LoadStatus;
use crate::aof::status::SizeUnknown;

/// A single-file AOF from before Redis 7 sits in `dir`: convert the set-up to a manifest
/// when there is no AOF folder, no manifest entries, or only a BASE entry naming that
/// same file which is not in the folder yet.
fn needs_upgrade(am: ManifestRef<'_>) -> bool {
    let old_file = server::aof_filename();
    if !is_regular_file(old_file) {
        return false;
    }
    let incr_count = am.incr_count();
    !is_directory(server::aof_dirname())
        || (am.base().is_none() && incr_count == 0)
        || am.base().is_some_and(|base| {
            incr_count == 0 && base.file_name == old_file && !files::file_exists(old_file)
        })
}

fn is_regular_file(path: &[u8]) -> bool {
    std::fs::metadata(sys::os_path(path)).is_ok_and(|m| m.is_file())
}

fn is_directory(path: &[u8]) -> bool {
    std::fs::metadata(sys::os_path(path)).is_ok_and(|m| m.is_dir())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Base,
    Incr,
}

impl FileKind {
    fn word(self) -> &'static str {
        match self {
            FileKind::Base => "base",
            FileKind::Incr => "incr",
        }
    }
}

/// The files to load, in order, with their total size; or why the load ends before any
/// file is read. Takes the manifest handle by value: it ends here, before the
/// first command replays (from then on a replayed command, or a client served while
/// loading, such as DEBUG LOADAOF, may edit or free the manifest).
fn files_to_load(mut am: ManifestHandle<'_>) -> Result<LoadPlan, EndsUnread> {
    if needs_upgrade(am.view()) {
        crate::aof::manifest::upgrade_prepare(&mut am.editor());
    }
    let manifest = am.view();
    if manifest.base().is_none() && manifest.incr_count() == 0 {
        return Err(EndsUnread::NoFiles);
    }
    let total_files = files::base_and_incr_count(manifest);
    process::assert(total_files > 0, c"total_num > 0");

    // The total is known up front so INFO can report loading progress.
    let total_size = files::base_and_incr_size(manifest).map_err(|unknown| match unknown {
        // A file the manifest lists but the disk lacks is fatal.
        SizeUnknown::NotExist => EndsUnread::ListedFileMissing,
        SizeUnknown::OpenErr => EndsUnread::StatFailed,
    })?;
    if total_size == 0 {
        return Err(EndsUnread::AllEmpty);
    }

    // The names are copied, so nothing refers to the manifest once loading starts.
    let mut to_load: Vec<(FileKind, Vec<u8>)> = Vec::with_capacity(total_files);
    if let Some(base) = manifest.base() {
        process::assert(
            base.file_type == AOF_FILE_TYPE_BASE,
            c"am->base_aof_info->file_type == AOF_FILE_TYPE_BASE",
        );
        to_load.push((FileKind::Base, base.file_name.to_vec()));
    }
    for incr in manifest.incr() {
        process::assert(
            incr.file_type == AOF_FILE_TYPE_INCR,
            c"ai->file_type == AOF_FILE_TYPE_INCR",
        );
        to_load.push((FileKind::Incr, incr.file_name.to_vec()));
    }
    Ok(LoadPlan {
        files: to_load,
        total_size,
    })
}

/// Why [`files_to_load`] ends the load before any file is read: a status that (unlike a
/// [`LoadStatus`]) cannot be `Ok` or a verdict on a replay.
#[derive(Clone, Copy)]
enum EndsUnread {
    /// The manifest lists no file: `AOF_NOT_EXIST`.
    NoFiles,
    /// A listed file is not on disk: `AOF_FAILED`.
    ListedFileMissing,
    /// A listed file cannot be stat'ed: `AOF_OPEN_ERR`.
    StatFailed,
    /// Every listed file is empty: `AOF_EMPTY`.
    AllEmpty,
}

impl From<EndsUnread> for LoadStatus {
    fn from(end: EndsUnread) -> LoadStatus {
        match end {
            EndsUnread::NoFiles => LoadStatus::NotExist,
            EndsUnread::ListedFileMissing => LoadStatus::Failed,
            EndsUnread::StatFailed => LoadStatus::OpenErr,
            EndsUnread::AllEmpty => LoadStatus::Empty,
        }
    }
}

/// What [`files_to_load`] found: the files in loading order and their total size.
struct LoadPlan {
    files: Vec<(FileKind, Vec<u8>)>,
    total_size: i64,
}

/// Upstream's `loadAppendOnlyFiles`.
pub fn load_all(am: ManifestHandle<'_>) -> LoadStatus {
    let LoadPlan {
        files: to_load,
        total_size,
    } = match files_to_load(am) {
        Ok(plan) => plan,
        Err(end) => return end.into(),
    };

    loading::start(total_size as u64);
    let mut ret = LoadStatus::Ok;
    let mut base_size = 0;
    for (index, (kind, name)) in to_load.iter().enumerate() {
        let (kind, name) = (*kind, name.as_slice());
        loading::set_file_name(name);
        if kind == FileKind::Base {
            base_size = files::file_size(name).unwrap_or(0);
        }
        let last_file = index + 1 == to_load.len();
        let started = Instant::now();
        // Only the last file may be cut back: a short earlier one fails the load below,
        // and must still hold its tail when the operator repairs it.
        let short_file = if last_file {
            ShortFile::MayCut
        } else {
            ShortFile::Keep
        };
        crate::aof::presize::plan(name);
        ret = load_file::load_file(name, short_file);
        crate::aof::presize::forget();
        if ret == LoadStatus::Ok || (ret.is_cut() && last_file) {
            Line::new("DB loaded from ")
                .text(kind.word())
                .text(" file ")
                .bytes(name)
                .text(&format!(": {:.3} seconds", started.elapsed().as_secs_f32()))
                .write(Level::Notice);
        }
        // Some file has data (total_size > 0), so an empty INCR is not an empty AOF.
        if kind == FileKind::Incr && ret == LoadStatus::Empty {
            ret = LoadStatus::Ok;
        }
        if ret.is_cut() && !last_file {
            ret = LoadStatus::Failed;
            server_log!(
                Level::Warning,
                "Fatal error: the truncated file is not the last file"
            );
        }
        if ret == LoadStatus::OpenErr || ret == LoadStatus::Failed {
            loading::stop(false);
            return ret;
        }
    }

    // The loader's own scratch memory (glibc's) is all freed by now, and so are the
    // temporaries it allocated from jemalloc: both hand their free pages back.
    aof_glue::sys::release_free_heap();
    aof_glue::arena::purge_unused_pages();
    server::set_aof_current_size(total_size);
    // Not persisted anywhere: the BASE size is the best estimate after a restart
    // (the first automatic rewrite may come a little early).
    server::set_aof_rewrite_base_size(base_size);
    // A recovered corrupt tail loaded, yet upstream reports it to stopLoading (and so to
    // modules' loading events) as a failure.
    loading::stop(ret == LoadStatus::Ok || ret == LoadStatus::Truncated);
    ret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_ends_unread_returns_upstreams_status() {
        for (end, status) in [
            (EndsUnread::NoFiles, LoadStatus::NotExist),
            (EndsUnread::ListedFileMissing, LoadStatus::Failed),
            (EndsUnread::StatFailed, LoadStatus::OpenErr),
            (EndsUnread::AllEmpty, LoadStatus::Empty),
        ] {
            assert_eq!(LoadStatus::from(end), status);
        }
    }
}

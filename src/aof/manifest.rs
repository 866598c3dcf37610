//! The manifest on disk: reading it at start-up, writing it atomically, naming the files
//! it lists, and the edits a rewrite or an upgrade makes to it.

use crate::aof::{files, Reported};
use aof_core::aof_manifest::{self, Entry, ManifestError, TYPE_BASE, TYPE_INCR};
use aof_glue::log::{Level, Line};
use aof_glue::manifest as manifest_view;
use aof_glue::manifest_c::{self, ManifestMut, OwnedManifest};
use aof_glue::server::AofState;
use aof_glue::sys::{self, Errno};
use aof_glue::{process, server};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// Upstream's `aofLoadManifestFromFile`: the manifest at `path`, or the process exits
/// with upstream's report (the server cannot start on a manifest it does not understand,
/// and nothing on disk is touched).
pub fn load_from_file(path: &[u8]) -> OwnedManifest {
    let text = match std::fs::read(sys::os_path(path)) {
        Ok(text) => text,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::EACCES) =>
        {
            Line::new("Fatal error: can't open the AOF manifest file ")
                .bytes(path)
                .text(" for reading: ")
                .text(&Errno::from_io_or_zero(&e).message())
                .write(Level::Warning);
            process::exit(1)
        }
        Err(_) => fatal_manifest_error(None, "Read AOF manifest failed"),
    };
    match aof_manifest::parse(&text) {
        Ok(model) => OwnedManifest::from_model(&model),
        Err(ManifestError { kind, line }) => {
            let message = ManifestError { kind, line: None }.message();
            fatal_manifest_error(line, message)
        }
    }
}

fn fatal_manifest_error(line: Option<(usize, Vec<u8>)>, message: &str) -> ! {
    aof_glue::server_log!(Level::Warning, "\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
    if let Some((number, text)) = line {
        aof_glue::server_log!(
            Level::Warning,
            "Reading the manifest file, at line {number}\n"
        );
        Line::new(">>> '")
            .bytes(&text)
            .text("'\n")
            .write(Level::Warning);
    }
    aof_glue::server_log!(Level::Warning, "{message}\n");
    process::exit(1)
}

/// Upstream's `aofLoadManifestFromDisk`: the server starts with an empty manifest unless
/// the AOF folder holds one.
pub fn load_from_disk() {
    OwnedManifest::empty().install_as_server_over_stale();
    let dir = server::aof_dirname();
    if !std::fs::metadata(sys::os_path(dir)).is_ok_and(|m| m.is_dir()) {
        Line::new("The AOF directory ")
            .bytes(dir)
            .text(" doesn't exist")
            .write(Level::Debug);
        return;
    }
    let name = manifest_name();
    let path = files::path_in_aof_dir(&name);
    if !std::fs::metadata(sys::os_path(&path)).is_ok_and(|m| m.is_file()) {
        Line::new("The AOF manifest file ")
            .bytes(&name)
            .text(" doesn't exist")
            .write(Level::Debug);
        return;
    }
    load_from_file(&path).install_as_server();
}

/// Upstream's `getNewBaseFileNameAndMarkPreAsHistory`: the current BASE becomes
/// HISTORY and a new BASE entry is added (upstream returns its name).
pub fn new_base_name(am: &mut ManifestMut<'_>) {
    am.demote_base_to_history();
    let seq = am.bump_base_seq();
    let rdb = server::aof_use_rdb_preamble() != 0;
    let name = aof_manifest::base_file_name(server::aof_filename(), seq, rdb);
    am.set_base(&Entry::new(name, seq, TYPE_BASE));
    am.set_dirty();
}

/// Upstream's `getNewIncrAofName`: a new INCR entry starting at `start_reploff` (upstream
/// returns its name).
pub fn new_incr_name(am: &mut ManifestMut<'_>, start_reploff: i64) {
    let seq = am.bump_incr_seq();
    let mut entry = Entry::new(
        aof_manifest::incr_file_name(server::aof_filename(), seq),
        seq,
        TYPE_INCR,
    );
    entry.start_offset = start_reploff;
    am.push_incr(&entry);
    am.set_dirty();
}

/// Upstream's `getLastIncrAofName`: makes sure there is an INCR entry, creating one if
/// none (upstream returns the last one's name).
pub fn last_incr_name(am: &mut ManifestMut<'_>) {
    if am.incr_len() == 0 {
        new_incr_name(am, server::master_repl_offset());
    }
}

/// Upstream's `markRewrittenIncrAofAsHistory`: after a rewrite, the INCR files it covers
/// become HISTORY; the one being written (when AOF is on) stays.
pub fn mark_rewritten_incr_as_history(am: &mut ManifestMut<'_>) {
    if am.incr_len() == 0 {
        return;
    }
    let writing = server::aof_fd() != -1;
    am.move_incr_to_history(usize::from(writing));
    am.set_dirty();
}

/// Upstream's `writeAofManifestFile`: temp file, write, fsync, rename over the manifest,
/// fsync of the folder. Any failure leaves the previous manifest in place.
pub fn write_manifest_file(contents: &[u8]) -> Result<(), Reported> {
    let name = manifest_name();
    let path = files::path_in_aof_dir(&name);
    let temp_name = temp_manifest_name();
    let temp_path = files::path_in_aof_dir(&temp_name);
    let fail = |what: &str, subject: &[u8], errno: Errno| {
        Line::new(what)
            .bytes(subject)
            .text(": ")
            .text(&errno.message())
            .write(Level::Warning);
        Err(Reported)
    };

    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(sys::os_path(&temp_path))
        .map_err(|e| Errno::from_io_or_eio(&e))
    {
        Ok(f) => f,
        Err(errno) => return fail("Can't open the AOF manifest file ", &temp_name, errno),
    };
    if let Err(e) = file.write_all(contents) {
        return fail(
            "Error trying to write the temporary AOF manifest file ",
            &temp_name,
            Errno::from_io_or_eio(&e),
        );
    }
    if let Err(errno) = sys::fdatasync(std::os::fd::AsRawFd::as_raw_fd(&file)) {
        Line::new("Fail to fsync the temp AOF file ")
            .bytes(&temp_name)
            .text(&format!(": {}.", errno.message()))
            .write(Level::Warning);
        return Err(Reported);
    }
    if let Err(errno) = sys::rename(&temp_path, &path) {
        Line::new("Error trying to rename the temporary AOF manifest file ")
            .bytes(&temp_name)
            .text(" into ")
            .bytes(&name)
            .text(": ")
            .text(&errno.message())
            .write(Level::Warning);
        return Err(Reported);
    }
    // New AOF files may have been added to the folder too: make the folder durable.
    if let Err(errno) = sys::fsync_file_dir(&path) {
        Line::new("Fail to fsync AOF directory ")
            .bytes(&path)
            .text(&format!(": {}.", errno.message()))
            .write(Level::Warning);
        return Err(Reported);
    }
    Ok(())
}

/// Upstream's `persistAofManifest`: writes the manifest if it changed.
pub fn persist(am: &mut ManifestMut<'_>) -> Result<(), Reported> {
    if !am.is_dirty() {
        return Ok(());
    }
    write_manifest_file(&am.model().to_bytes())?;
    am.clear_dirty();
    Ok(())
}

/// Upstream's `aofUpgradePrepare`: a pre-7.0 `appendonly.aof` in `dir` becomes the BASE
/// of a new manifest in `appenddirname`. Any failure exits (nothing half-moved: the
/// manifest is written before the file moves, and the move is one rename).
pub fn upgrade_prepare(am: &mut ManifestMut<'_>) {
    let old_file = server::aof_filename();
    process::assert(
        !files::file_exists(old_file),
        c"!aofFileExist(server.aof_filename)",
    );
    if !files::create_aof_dir() {
        process::exit(1);
    }
    let dir = server::aof_dirname();
    am.set_base(&Entry::new(old_file.to_vec(), 1, TYPE_BASE));
    am.set_curr_base_seq(1);
    am.set_dirty();
    if persist(am).is_err() {
        process::exit(1);
    }
    if let Err(errno) = sys::rename(old_file, &files::path_in_aof_dir(old_file)) {
        Line::new("Error trying to move the old AOF file ")
            .bytes(old_file)
            .text(" into dir ")
            .bytes(dir)
            .text(": ")
            .text(&errno.message())
            .write(Level::Warning);
        process::exit(1);
    }
    Line::new("Successfully migrated an old-style AOF file (")
        .bytes(old_file)
        .text(") into the AOF directory (")
        .bytes(dir)
        .text(").")
        .write(Level::Notice);
}

/// Upstream's `aofDelHistoryFiles`: deletes HISTORY files in the background and drops
/// them from the manifest (unless `aof-disable-auto-gc`).
pub fn delete_history_files() -> Result<(), Reported> {
    if server::aof_manifest().is_null() || server::aof_disable_auto_gc() == 1 {
        return Ok(());
    }
    manifest_c::with_server_manifest(|am| {
        if am.history_len() == 0 {
            return Ok(());
        }
        am.drain_history(|name| {
            Line::new("Removing the history file ")
                .bytes(name)
                .text(" in the background")
                .write(Level::Notice);
            let _ = sys::bg_unlink(&files::path_in_aof_dir(name));
        });
        am.set_dirty();
        persist(am)
    })
}

/// Upstream's `getAofManifestFileName`: `<appendfilename>.manifest`.
pub fn manifest_name() -> Vec<u8> {
    aof_manifest::manifest_file_name(server::aof_filename())
}

/// Upstream's `getTempAofManifestFileName`: the manifest is written under this name, then
/// renamed over [`manifest_name`].
pub fn temp_manifest_name() -> Vec<u8> {
    aof_manifest::temp_manifest_file_name(server::aof_filename())
}

/// Upstream's `getTempIncrAofName`.
pub fn temp_incr_name() -> Vec<u8> {
    aof_manifest::temp_incr_file_name(server::aof_filename())
}

/// Upstream's `aofDelTempIncrAofFile`.
pub fn delete_temp_incr_file() {
    let name = temp_incr_name();
    Line::new("Removing the temp incr aof file ")
        .bytes(&name)
        .text(" in the background")
        .write(Level::Notice);
    let _ = sys::bg_unlink(&files::path_in_aof_dir(&name));
}

/// Upstream's `aofOpenIfNeededOnServerStart`: with AOF on, make sure a BASE exists (an
/// empty dataset still gets one), open the last INCR file for appending (creating it if
/// needed) and persist the manifest. Any failure exits: the server cannot honour
/// `appendonly yes` otherwise.
pub fn open_on_server_start() {
    if server::aof_state() != AofState::On {
        return;
    }
    let (incr_name, had_incr) = manifest_c::with_server_manifest(|am| {
        process::assert(server::aof_fd() == -1, c"server.aof_fd == -1");
        if !files::create_aof_dir() {
            process::exit(1);
        }

        let model = am.model();
        let had_incr = !model.incr.is_empty();
        if model.base.is_none() && !had_incr {
            new_base_name(am);
            let base_name = am.model().base.map(|b| b.file_name).unwrap_or_default();
            if crate::aof::rewrite_child::rewrite_to_file(&files::path_in_aof_dir(&base_name))
                .is_err()
            {
                process::exit(1);
            }
            Line::new("Creating AOF base file ")
                .bytes(&base_name)
                .text(" on server start")
                .write(Level::Notice);
        }

        last_incr_name(am);
        let incr_name = am
            .model()
            .incr
            .last()
            .map(|e| e.file_name.clone())
            .unwrap_or_default();
        let Some(file) = files::open_for_writing(&incr_name, files::OpenMode::Append) else {
            process::exit(1)
        };
        // The descriptor now belongs to the server (closed by upstream code).
        let fd = std::os::fd::IntoRawFd::into_raw_fd(file);
        server::set_aof_fd(fd);
        // A manifest that changes names a file just created: make its name durable first.
        if (am.is_dirty() && files::make_names_durable().is_err()) || persist(am).is_err() {
            process::exit(1);
        }
        (incr_name, had_incr)
    });
    let size = files::file_size(&incr_name).unwrap_or(0);
    server::set_aof_last_incr_size(size);
    server::set_aof_last_incr_fsync_offset(size);
    let verb = if had_incr { "Opening" } else { "Creating" };
    Line::new(verb)
        .text(" AOF incr file ")
        .bytes(&incr_name)
        .text(" on server start")
        .write(Level::Notice);
}

/// Upstream's `updateCurIncrAofEndOffset`: records the replication offset at the end of
/// the current INCR file in the manifest (best effort: the offset is advisory and can be
/// recomputed from the start offset and the file size).
pub fn record_incr_end_offset() {
    if server::aof_state() != AofState::On {
        return;
    }
    let offset = server::master_repl_offset();
    let updated = manifest_view::update_last_incr(|info| {
        info.end_offset = offset;
        true
    });
    if updated.is_some() {
        // Best effort: the offset is advisory.
        let _ = manifest_c::with_server_manifest(persist);
    }
}

/// Upstream's `updateReplOffsetAndResetEndOffset`: after loading, continue the
/// replication offset from where the last INCR file ended, so a new INCR file never starts
/// below it. A recorded end offset is consumed (and the manifest must be persisted, or
/// the next start would reuse a stale offset: the process exits as upstream does);
/// without one, the offset is the file's start offset plus its size.
pub fn restore_repl_offset_from_last_incr() {
    if server::aof_state() != AofState::On {
        return;
    }
    let mut recorded_end = None;
    let mut start_offset = 0;
    let has_incr = manifest_view::update_last_incr(|info| {
        if info.end_offset != -1 {
            recorded_end = Some(info.end_offset);
            info.end_offset = -1;
            true
        } else {
            start_offset = if info.start_offset == -1 {
                0
            } else {
                info.start_offset
            };
            false
        }
    });
    if has_incr.is_none() {
        return;
    }
    if let Some(offset) = recorded_end {
        server::set_master_repl_offset(offset);
        if manifest_c::with_server_manifest(persist).is_err() {
            process::exit(1);
        }
    } else {
        let name = manifest_view::server_last_incr_name().unwrap_or_default();
        let offset = start_offset + files::file_size(&name).unwrap_or(0);
        server::set_master_repl_offset(offset);
    }
}

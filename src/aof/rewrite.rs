//! AOF rewrite: the forked child writes a new BASE while the parent opens a new INCR.

use crate::aof::{files, fsync_health, manifest, write, Reported};
use aof_core::aof_manifest;
use aof_core::rewrite_policy::{RewriteBackoff, RewriteDecision};
use aof_glue::client::Client;
use aof_glue::log::{Level, Line};
use aof_glue::manifest_c::OwnedManifest;
use aof_glue::server::{AofState, ChildType, Status};
use aof_glue::server_log;
use aof_glue::{aof_buf, child, process, runtime, server, sys};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// The back-off state across cron calls (upstream keeps it in two function statics).
static BACKOFF: Mutex<RewriteBackoff> = Mutex::new(RewriteBackoff::new());

/// Upstream's `aofRewriteLimited`: whether an automatic rewrite must wait after repeated
/// failures. Starting a pause is logged.
pub fn rewrite_limited() -> bool {
    let (failures, now) = (
        server::stat_aofrw_consecutive_failures(),
        server::unixtime(),
    );
    let decision = BACKOFF
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .decide(failures, now);
    match decision {
        RewriteDecision::Allowed => false,
        RewriteDecision::Limited => true,
        RewriteDecision::NewlyLimited { minutes } => {
            server_log!(
                Level::Warning,
                "Background AOF rewrite has repeatedly failed and triggered the limit, will \
                 retry in {minutes} minutes"
            );
            true
        }
    }
}

/// Upstream's `aofRemoveTempFile`: the rewrite child's temporary files, removed in the
/// background (they can be large).
pub fn remove_temp_files(child_pid: libc::pid_t) {
    for name in [
        aof_manifest::temp_bg_rewrite_file_name(child_pid.into()),
        aof_manifest::temp_rewrite_file_name(child_pid.into()),
    ] {
        let _ = sys::bg_unlink(name.as_bytes());
    }
}

/// Upstream's `bgrewriteaofCommand`.
pub fn bgrewriteaof_command(client: &Client) {
    let (child_type, in_exec) = (server::child_type(), server::in_exec());
    if child_type == ChildType::Aof {
        client.reply_error(c"Background append only file rewriting already in progress");
    } else if runtime::has_active_child_process() || in_exec != 0 {
        server::set_aof_rewrite_scheduled(1);
        // A rewrite asked for by hand runs as soon as possible, past any back-off.
        server::set_stat_aofrw_consecutive_failures(0);
        client.reply_status(c"Background append only file rewriting scheduled");
    } else if rewrite_background().is_ok() {
        client.reply_status(c"Background append only file rewriting started");
    } else {
        client.reply_error(
            c"Can't execute an AOF background rewriting. Please check the server logs for more information.",
        );
    }
}

/// Where the temporary INCR file opened for `AOF_WAIT_REWRITE` started in the replication
/// stream; it becomes the start offset of the real INCR file when the rewrite succeeds.
static TEMP_INCR_START_REPL_OFFSET: AtomicI64 = AtomicI64::new(0);

/// Upstream's `openNewIncrAofForAppend`: before a rewrite forks, writes move to a new
/// INCR file (or, while AOF waits for its first rewrite, to a temporary one). The manifest
/// is changed on a copy and persisted before anything switches over.
pub fn open_new_incr_for_append() -> Result<(), Reported> {
    process::assert(
        !server::aof_manifest().is_null(),
        c"server.aof_manifest != NULL",
    );
    let state = server::aof_state();
    if state == AofState::Off {
        return Ok(());
    }
    let mut working_copy = None;
    let name = if state == AofState::WaitRewrite {
        TEMP_INCR_START_REPL_OFFSET.store(server::master_repl_offset(), Ordering::Relaxed);
        manifest::temp_incr_name()
    } else {
        let mut copy = OwnedManifest::copy_of_server();
        let offset = server::master_repl_offset();
        manifest::new_incr_name(&mut copy.editor(), offset);
        let name = copy
            .editor()
            .model()
            .incr
            .last()
            .map(|e| e.file_name.clone())
            .unwrap_or_default();
        working_copy = Some(copy);
        name
    };
    let file = files::open_for_writing(&name, files::OpenMode::Truncate).ok_or(Reported)?;
    if let Some(copy) = &mut working_copy {
        // On failure the new file is closed (dropped) and the copy freed.
        files::make_names_durable()?;
        manifest::persist(&mut copy.editor())?;
    }
    Line::new("Creating AOF incr file ")
        .bytes(&name)
        .text(" on background rewrite")
        .write(Level::Notice);

    // From here nothing fails: switch the server over. The old file is fsynced (its data
    // must be durable under everysec too) and closed in the background.
    let old_fd = server::aof_fd();
    if old_fd != -1 {
        write::background_fsync_and_close(old_fd);
        server::set_aof_last_fsync(server::mstime());
    }
    let new_fd = std::os::fd::IntoRawFd::into_raw_fd(file);
    server::set_aof_fd(new_fd);
    server::set_aof_last_incr_size(0);
    server::set_aof_last_incr_fsync_offset(0);
    if let Some(copy) = working_copy {
        copy.install_as_server();
    }
    Ok(())
}

/// Upstream's `rewriteAppendOnlyFileBackground`: opens the new INCR file, then forks the
/// child that writes the new BASE into `temp-rewriteaof-bg-<pid>.aof`.
pub fn rewrite_background() -> Result<(), Reported> {
    if runtime::has_active_child_process() {
        return Err(Reported);
    }
    if !files::create_aof_dir() {
        server::set_aof_lastbgrewrite_status(Status::Err);
        return Err(Reported);
    }
    // The next command written must start with a SELECT.
    server::set_aof_selected_db(-1);
    write::flush(true);
    if open_new_incr_for_append().is_err() {
        server::set_aof_lastbgrewrite_status(Status::Err);
        return Err(Reported);
    }
    fsync_health::rewrite_switched_files();
    if server::aof_state() == AofState::WaitRewrite {
        // Fsyncs of the previous AOF must not move fsynced_reploff_pending once the new
        // one counts: let them finish, then start from the current offset.
        child::drain_bio_fsync();
        server::set_fsynced_reploff_pending(server::master_repl_offset());
        server::set_fsynced_reploff(0);
    }
    server::set_stat_aof_rewrites(server::stat_aof_rewrites() + 1);

    match child::fork_rewrite_child() {
        child::Forked::Child => run_rewrite_child(),
        child::Forked::Failed(errno) => {
            server::set_aof_lastbgrewrite_status(Status::Err);
            aof_glue::server_log!(
                Level::Warning,
                "Can't rewrite append only file in background: fork: {}",
                errno.message()
            );
            Err(Reported)
        }
        child::Forked::Parent(pid) => {
            aof_glue::server_log!(
                Level::Notice,
                "Background append only file rewriting started by pid {pid}"
            );
            server::set_aof_rewrite_scheduled(0);
            server::set_aof_rewrite_time_start(runtime::unix_time_now());
            Ok(())
        }
    }
}

/// The child: exactly what upstream's child does, then exit.
fn run_rewrite_child() -> ! {
    child::set_process_title(c"redis-aof-rewrite");
    child::set_cpu_affinity_for_rewrite();
    let temp_file = aof_manifest::temp_bg_rewrite_file_name(std::process::id().into());
    if crate::aof::rewrite_child::rewrite_to_file(temp_file.as_bytes()).is_ok() {
        aof_glue::server_log!(
            Level::Notice,
            "Successfully created the temporary AOF base file {temp_file}"
        );
        child::send_cow_info();
        child::exit_from_child(0)
    }
    child::exit_from_child(1)
}

/// Upstream's `backgroundRewriteDoneHandler`: on success the temporary BASE (and, while
/// waiting for the first rewrite, the temporary INCR) are renamed into place, the
/// rewritten INCR files become HISTORY, and the new manifest is persisted before the
/// server adopts it; any failure leaves the previous files and manifest in charge.
pub fn rewrite_done(exit_code: i32, by_signal: i32) {
    let mut adopted = false;
    if by_signal == 0 && exit_code == 0 {
        adopted = adopt_rewritten_base();
    } else if by_signal == 0 {
        record_rewrite_failure();
        aof_glue::server_log!(
            Level::Warning,
            "Background AOF rewrite terminated with error"
        );
    } else {
        // SIGUSR1 is how a child is stopped on purpose: not a failure.
        if by_signal != libc::SIGUSR1 {
            record_rewrite_failure();
        }
        aof_glue::server_log!(
            Level::Warning,
            "Background AOF rewrite terminated by signal {by_signal}"
        );
    }

    remove_temp_files(server::child_pid());
    let waiting = server::aof_state() == AofState::WaitRewrite;
    if waiting {
        // The next attempt starts from scratch.
        aof_buf::reset();
        manifest::delete_temp_incr_file();
    }
    let now = runtime::unix_time_now();
    server::set_aof_rewrite_time_last(now - server::aof_rewrite_time_start());
    server::set_aof_rewrite_time_start(-1);
    if waiting {
        server::set_aof_rewrite_scheduled(1);
    }
    fsync_health::rewrite_ended(adopted);
}

fn record_rewrite_failure() {
    server::set_aof_lastbgrewrite_status(Status::Err);
    server::set_stat_aofrw_consecutive_failures(server::stat_aofrw_consecutive_failures() + 1);
}

/// Renames the rewrite's temporary `kind` file (`base` or `incr`) into place, with
/// upstream's log lines and latency sample: each side is (path, name), the error line
/// naming the paths, the success line the names. False when the rename failed (logged).
fn rename_temporary(
    kind: &str,
    (temp_path, temp_name): (&[u8], &[u8]),
    (path, name): (&[u8], &[u8]),
) -> bool {
    let latency = runtime::latency_start();
    if let Err(errno) = sys::rename(temp_path, path) {
        Line::new("Error trying to rename the temporary AOF ")
            .text(kind)
            .text(" file ")
            .bytes(temp_path)
            .text(" into ")
            .bytes(path)
            .text(": ")
            .text(&errno.message())
            .write(Level::Warning);
        return false;
    }
    runtime::latency_add_sample_if_needed(c"aof-rename", runtime::latency_end(latency));
    Line::new("Successfully renamed the temporary AOF ")
        .text(kind)
        .text(" file ")
        .bytes(temp_name)
        .text(" into ")
        .bytes(name)
        .write(Level::Notice);
    true
}

/// The success half of the done-handler; false when the new files could not be put in
/// place (the previous ones stay in charge).
fn adopt_rewritten_base() -> bool {
    let started = child::ustime();
    aof_glue::server_log!(
        Level::Notice,
        "Background AOF rewrite terminated with success"
    );
    let temp_file = aof_manifest::temp_bg_rewrite_file_name(server::child_pid().into());
    let mut copy = OwnedManifest::copy_of_server();

    manifest::new_base_name(&mut copy.editor());
    let base_name = copy
        .editor()
        .model()
        .base
        .map(|b| b.file_name)
        .unwrap_or_default();
    let base_path = files::path_in_aof_dir(&base_name);
    if !rename_temporary(
        "base",
        (temp_file.as_bytes(), temp_file.as_bytes()),
        (&base_path, &base_name),
    ) {
        record_rewrite_failure();
        return false;
    }

    let mut new_incr_path = None;
    if server::aof_state() == AofState::WaitRewrite {
        let temp_incr_name = manifest::temp_incr_name();
        let temp_incr_path = files::path_in_aof_dir(&temp_incr_name);
        manifest::new_incr_name(
            &mut copy.editor(),
            TEMP_INCR_START_REPL_OFFSET.load(Ordering::Relaxed),
        );
        let incr_name = copy
            .editor()
            .model()
            .incr
            .last()
            .map(|e| e.file_name.clone())
            .unwrap_or_default();
        let incr_path = files::path_in_aof_dir(&incr_name);
        if !rename_temporary(
            "incr",
            (&temp_incr_path, &temp_incr_name),
            (&incr_path, &incr_name),
        ) {
            let _ = sys::bg_unlink(&base_path);
            record_rewrite_failure();
            return false;
        }
        new_incr_path = Some(incr_path);
    }

    manifest::mark_rewritten_incr_as_history(&mut copy.editor());
    if files::make_names_durable().is_err() || manifest::persist(&mut copy.editor()).is_err() {
        // The new files are not referenced by any manifest on disk: remove them.
        let _ = sys::bg_unlink(&base_path);
        if let Some(path) = new_incr_path {
            let _ = sys::bg_unlink(&path);
        }
        record_rewrite_failure();
        return false;
    }
    copy.install_as_server();

    if server::aof_state() != AofState::Off {
        let base_size = files::file_size(&base_name).unwrap_or(0);
        server::set_aof_current_size(base_size + server::aof_last_incr_size());
        server::set_aof_rewrite_base_size(server::aof_current_size());
    }
    // A failure to delete history files harms nothing: they are retried next time.
    let _ = manifest::delete_history_files();
    server::set_aof_lastbgrewrite_status(Status::Ok);
    server::set_stat_aofrw_consecutive_failures(0);
    aof_glue::server_log!(
        Level::Notice,
        "Background AOF rewrite finished successfully"
    );
    if server::aof_state() == AofState::WaitRewrite {
        // The fsynced offset becomes meaningful now that this AOF counts.
        let pending = server::fsynced_reploff_pending();
        server::set_aof_state(AofState::On);
        server::set_fsynced_reploff(pending);
    }
    aof_glue::server_log!(
        Level::Verbose,
        "Background AOF rewrite signal handler took {}us",
        child::ustime() - started
    );
    true
}

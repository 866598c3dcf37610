//! Switching AOF on and off at runtime (`CONFIG SET appendonly`, replication, modules),
//! and stopping a rewrite child.

use crate::aof::{fsync_health, rewrite, write, Reported};
use aof_glue::log::Level;
use aof_glue::server::{AofState, ChildType, Status};
use aof_glue::server_log;
use aof_glue::sys;
use aof_glue::{aof_buf, process, runtime, server};

/// Upstream's `killAppendOnlyChild`: stops a running rewrite child, waits for it and
/// removes its temporary file.
pub fn kill_rewrite_child() {
    let (child_type, child_pid) = (server::child_type(), server::child_pid());
    if child_type != ChildType::Aof {
        return;
    }
    server_log!(
        Level::Notice,
        "Killing running AOF rewrite child: {child_pid}"
    );
    if sys::kill(child_pid, libc::SIGUSR1).is_ok() {
        while sys::wait_any_child() != child_pid {}
    }
    rewrite::remove_temp_files(child_pid);
    runtime::reset_child_state();
    server::set_aof_rewrite_time_start(-1);
}

/// Upstream's `stopAppendOnly` (`appendonly no` at runtime): flushes and fsyncs what is
/// buffered, closes the INCR file, records its end offset, and stops any rewrite child.
pub fn stop() {
    process::assert(
        server::aof_state() != AofState::Off,
        c"server.aof_state != AOF_OFF",
    );
    write::flush(true);
    let fd = server::aof_fd();
    match sys::fdatasync(fd) {
        Err(errno) => server_log!(
            Level::Warning,
            "Fail to fsync the AOF file: {}",
            errno.message()
        ),
        Ok(()) => server::set_aof_last_fsync(server::mstime()),
    }
    sys::close(fd);
    crate::aof::manifest::record_incr_end_offset();

    server::set_aof_fd(-1);
    server::set_aof_selected_db(-1);
    server::set_aof_state(AofState::Off);
    server::set_aof_rewrite_scheduled(0);
    server::set_aof_last_incr_size(0);
    server::set_aof_last_incr_fsync_offset(0);
    server::set_fsynced_reploff(-1);
    server::set_fsynced_reploff_pending(0);
    fsync_health::reset();
    kill_rewrite_child();
    aof_buf::reset();
}

/// Upstream's `startAppendOnly` (`appendonly yes` at runtime): AOF waits for a first
/// rewrite, started now or scheduled when another child or a transaction is running.
pub fn start() -> Result<(), Reported> {
    process::assert(
        server::aof_state() == AofState::Off,
        c"server.aof_state == AOF_OFF",
    );
    server::set_aof_state(AofState::WaitRewrite);

    let (child_type, in_exec) = (server::child_type(), server::in_exec());
    if runtime::has_active_child_process() && child_type != ChildType::Aof {
        server::set_aof_rewrite_scheduled(1);
        server_log!(
            Level::Notice,
            "AOF was enabled but there is already another background operation. An AOF \
             background was scheduled to start when possible."
        );
    } else if in_exec != 0 {
        server::set_aof_rewrite_scheduled(1);
        server_log!(
            Level::Notice,
            "AOF was enabled during a transaction. An AOF background was scheduled to start \
             when possible."
        );
    } else {
        // A rewrite already running was not accumulating this AOF's data: replace it.
        if child_type == ChildType::Aof {
            server_log!(
                Level::Notice,
                "AOF was enabled but there is already an AOF rewriting in background. \
                 Stopping background AOF and starting a rewrite now."
            );
            kill_rewrite_child();
        }
        if rewrite::rewrite_background().is_err() {
            server::set_aof_state(AofState::Off);
            server_log!(
                Level::Warning,
                "Redis needs to enable the AOF but can't trigger a background AOF rewrite \
                 operation. Check the above logs for more info about the error."
            );
            return Err(Reported);
        }
    }
    server::set_aof_last_fsync(server::mstime());

    // Errors of the previous AOF do not carry over to the reopened one; they are logged.
    if server::aof_bio_fsync_status() == Status::Err {
        server_log!(
            Level::Warning,
            "AOF reopen, just ignore the AOF fsync error in bio job"
        );
        server::set_aof_bio_fsync_status(Status::Ok);
    }
    if server::aof_last_write_status() == Status::Err {
        server_log!(Level::Warning, "AOF reopen, just ignore the last error.");
        server::set_aof_last_write_status(Status::Ok);
    }
    fsync_health::reset();
    Ok(())
}

/// Upstream's `startAppendOnlyWithRetry`: ten attempts a second apart, then exit.
pub fn start_with_retry() {
    const MAX_TRIES: u32 = 10;
    for _ in 0..MAX_TRIES {
        if start().is_ok() {
            return;
        }
        server_log!(
            Level::Warning,
            "Failed to enable AOF! Trying it again in one second."
        );
        sys::sleep_seconds(1);
    }
    server_log!(
        Level::Warning,
        "FATAL: AOF can't be turned on. Exiting now."
    );
    process::exit(1);
}

/// Upstream's `applyAppendOnlyConfig`: brings `aof_state` in line with `appendonly`.
pub fn apply_config() {
    let (enabled, state) = (server::aof_enabled() != 0, server::aof_state());
    if !enabled && state != AofState::Off {
        stop();
    } else if enabled && state == AofState::Off {
        start_with_retry();
    }
}

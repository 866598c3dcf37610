//! The write path: every write command reaches [`feed`], which appends its RESP record to
//! `server.aof_buf`; [`flush`] writes that buffer before replies leave and fsyncs by policy:
//! - `always`: `fdatasync` right after the write; a failed write or fsync ends the process,
//!   because the client's reply is already queued and the contract cannot be kept;
//! - `everysec`: fsync on the bio thread at most once a second; while one is in flight the
//!   write waits up to two seconds (`aof_delayed_fsync` counts when it stops waiting);
//! - `no`: the kernel decides.

use crate::aof::fsync_health;
use aof_core::resp::{self, Arg, RecordWriter, Region};
use aof_glue::log::Level;
use aof_glue::object::{Argv, StringValue};
use aof_glue::server::{AofState, ChildType, FsyncPolicy, Status};
use aof_glue::server_log;
use aof_glue::sys::{self, Errno};
use aof_glue::{aof_buf, process, runtime, server};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds between two logged write errors.
const WRITE_ERROR_LOG_INTERVAL: i64 = 30;
/// A flushed buffer whose allocation stays under this is cleared and kept for reuse;
/// a larger one is freed (upstream: one 4 KiB arena minus overhead).
const REUSABLE_BUFFER_BYTES: usize = 4000;
/// How long a write may wait for an in-flight background fsync (milliseconds).
const MAX_POSTPONE_MS: i64 = 2000;

/// Arguments read onto the stack before a command is encoded (beyond that, a vector).
const ARGS_ON_STACK: usize = 16;

/// The command's arguments as the RESP encoder wants them.
fn args_of<'a>(argv: &Argv<'a>) -> impl Iterator<Item = Arg<'a>> + Clone + 'a {
    argv.values().map(|value| match value {
        StringValue::Bytes(b) => Arg::Bytes(b),
        StringValue::Int(n) => Arg::Int(n),
    })
}

/// Upstream's `genAofTimestampAnnotationIfNeeded`: the time to annotate with, if the
/// record needs one (always when `force`, which the rewrite child uses; otherwise when the
/// clock moved on since the last annotation). Records it as the current annotation.
pub fn next_timestamp_annotation(force: bool) -> Option<i64> {
    if !force && server::aof_cur_timestamp() >= server::unixtime() {
        return None;
    }
    let now = if force {
        runtime::unix_time_now()
    } else {
        server::unixtime()
    };
    server::set_aof_cur_timestamp(now);
    Some(now)
}

/// Size of a command record, for [`write_command_record`].
pub fn command_record_len(argv: &Argv<'_>) -> usize {
    resp::command_len(args_of(argv))
}

/// Upstream's `catAppendOnlyGenericCommand`, writing into a region of exactly
/// [`command_record_len`] bytes.
pub fn write_command_record(argv: &Argv<'_>, region: &mut [MaybeUninit<u8>]) -> usize {
    let mut w = RecordWriter::new(Region::new(region));
    w.command(argv.len(), args_of(argv));
    w.finish()
}

/// Upstream's `feedAppendOnlyFile`: records a command (with the `SELECT` and timestamp
/// annotation it needs) at the end of `server.aof_buf`, sized once and written in place.
/// `dictid` is the db the command ran against, or -1 for "never emit SELECT".
pub fn feed(dictid: i32, argv: &Argv<'_>) {
    let valid_db = dictid == -1 || (dictid >= 0 && dictid < server::dbnum());
    // The selected db and the annotation time advance even when nothing is appended,
    // exactly as upstream's bookkeeping does.
    let timestamp = if server::aof_timestamp_enabled() != 0 {
        next_timestamp_annotation(false)
    } else {
        None
    };
    let select = dictid != -1 && dictid != server::aof_selected_db();
    if select {
        server::set_aof_selected_db(dictid);
    }
    let appending = match server::aof_state() {
        AofState::On => true,
        AofState::WaitRewrite => server::child_type() == ChildType::Aof,
        AofState::Off => false,
    };
    process::assert(
        valid_db,
        c"dictid == -1 || (dictid >= 0 && dictid < server.dbnum)",
    );
    if !appending {
        return;
    }

    // Each argument's value is read once (sized, then written); most commands fit the
    // stack array.
    let mut on_stack = [Arg::Int(0); ARGS_ON_STACK];
    let on_heap: Vec<Arg<'_>>;
    let args: &[Arg<'_>] = if argv.len() <= ARGS_ON_STACK {
        for (slot, arg) in on_stack.iter_mut().zip(args_of(argv)) {
            *slot = arg;
        }
        &on_stack[..argv.len()]
    } else {
        on_heap = args_of(argv).collect();
        &on_heap
    };
    let len = timestamp.map_or(0, resp::timestamp_annotation_len)
        + if select {
            resp::select_len(dictid.into())
        } else {
            0
        }
        + resp::command_len(args.iter().copied());
    aof_buf::append_in_place(len, |region| {
        let mut w = RecordWriter::new(Region::new(region));
        if let Some(ts) = timestamp {
            w.timestamp_annotation(ts);
        }
        if select {
            w.select(dictid.into());
        }
        w.command(args.len(), args.iter().copied());
        w.finish()
    });
}

/// Upstream's `aofWrite`: writes all of `buf`, retrying short writes and EINTR. Returns
/// what was written; an error with nothing written is `Err`.
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<usize, Errno> {
    let mut total = 0;
    while !buf.is_empty() {
        match sys::write(fd, buf) {
            Ok(n) => {
                buf = &buf[n..];
                total += n;
            }
            Err(Errno(libc::EINTR)) => continue,
            Err(e) if total == 0 => return Err(e),
            Err(_) => return Ok(total),
        }
    }
    Ok(total)
}

/// Whether a background fsync of the AOF is queued or running. An fsync-and-close job is
/// not counted: by then `aof_fd` already names the new INCR file.
pub fn fsync_in_progress() -> bool {
    runtime::bio_fsync_pending()
}

/// Queues an fsync of `fd` on the bio thread; when it succeeds, the bio thread moves
/// `fsynced_reploff_pending` to the offset given here (the current one, unless an earlier
/// fsync failed: [`fsync_health`]).
pub fn background_fsync(fd: i32) {
    fsync_health::check();
    runtime::bio_fsync(fd, fsync_health::offset_for_fsync_job());
}

/// As [`background_fsync`], then the bio thread closes `fd`.
pub fn background_fsync_and_close(fd: i32) {
    fsync_health::check();
    runtime::bio_fsync_and_close(fd, fsync_health::offset_for_close_job());
}

/// When the last write error was logged (unix seconds), to log at most one per interval.
static LAST_WRITE_ERROR_LOG: AtomicI64 = AtomicI64::new(0);

/// Upstream's `flushAppendOnlyFile`. `force` writes even while a background fsync runs.
pub fn flush(force: bool) {
    fsync_health::check();
    let buffered = aof_buf::len();
    let fsync_policy = server::aof_fsync();
    let mut sync_in_progress = false;

    if buffered == 0 {
        // A checksummed range left open when writes stopped is closed on the policy's
        // timer, so the unverified tail stays within what the policy may lose.
        crate::aof::checksum::close_if_due(server::aof_fd(), fsync_policy);
        let (incr_fsynced, incr_size, since_fsync) = (
            server::aof_last_incr_fsync_offset(),
            server::aof_last_incr_size(),
            server::mstime() - server::aof_last_fsync(),
        );
        if incr_fsynced == incr_size {
            // Everything written is fsynced: let WAITAOF see the current offset even when
            // the offset moved without AOF data (module RM_Call with NO_AOF).
            if !fsync_in_progress() && {
                // The fsync that just ended may have failed.
                fsync_health::check();
                fsync_health::offsets_count()
            } {
                server::set_fsynced_reploff_pending(server::master_repl_offset());
            }
            return;
        }
        // Data written earlier is not fsynced yet although writes stopped: fsync it now
        // rather than wait for the next write (everysec), or at once (a switch to always).
        let due = fsync_policy == FsyncPolicy::Everysec && since_fsync >= 1000 && {
            sync_in_progress = fsync_in_progress();
            !sync_in_progress
        };
        if due || fsync_policy == FsyncPolicy::Always {
            fsync_by_policy(fsync_policy, sync_in_progress);
        }
        return;
    }

    if fsync_policy == FsyncPolicy::Everysec {
        sync_in_progress = fsync_in_progress();
    }
    if fsync_policy == FsyncPolicy::Everysec && !force && sync_in_progress && postpone_write() {
        return;
    }

    let flush_sleep = server::aof_flush_sleep();
    if flush_sleep > 0 {
        sys::usleep(flush_sleep as u32);
    }

    let fd = server::aof_fd();
    crate::aof::checksum::before_write(fd);
    let started = runtime::latency_start();
    let result = aof_buf::with_bytes(|bytes| write_all(fd, bytes));
    let elapsed = runtime::latency_end(started);
    record_write_latency(sync_in_progress, elapsed);
    server::set_aof_flush_postponed_start(0);

    let written = match result {
        Ok(n) if n == buffered => {
            if server::aof_last_write_status() == Status::Err {
                server_log!(
                    Level::Notice,
                    "AOF write error looks solved, Redis can write again."
                );
                server::set_aof_last_write_status(Status::Ok);
            }
            n
        }
        failed => {
            handle_failed_write(failed, buffered, fsync_policy);
            return;
        }
    };

    server::set_aof_current_size(server::aof_current_size() + written as libc::off_t);
    server::set_aof_last_incr_size(server::aof_last_incr_size() + written as libc::off_t);
    // A checksummed range's bytes, then its closing line when due: before the fsync, so
    // under `always` every reply leaves with its write in a verified range.
    aof_buf::with_bytes(|bytes| crate::aof::checksum::wrote(fd, bytes));
    crate::aof::checksum::close_if_due(fd, fsync_policy);
    aof_buf::recycle(REUSABLE_BUFFER_BYTES);
    fsync_by_policy(fsync_policy, sync_in_progress);
}

/// Under `everysec`, a write while the bio thread still fsyncs would block on it: wait up
/// to two seconds instead. Returns true when the write should wait (again).
fn postpone_write() -> bool {
    let postponed_since = server::aof_flush_postponed_start();
    if postponed_since == 0 {
        server::set_aof_flush_postponed_start(server::mstime());
        return true;
    }
    if server::mstime() - postponed_since < MAX_POSTPONE_MS {
        return true;
    }
    server::set_aof_delayed_fsync(server::aof_delayed_fsync() + 1);
    server_log!(
        Level::Notice,
        "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer \
         without waiting for fsync to complete, this may slow down Redis."
    );
    false
}

fn record_write_latency(sync_in_progress: bool, elapsed: i64) {
    let event = if sync_in_progress {
        c"aof-write-pending-fsync"
    } else if runtime::has_active_child_process() {
        c"aof-write-active-child"
    } else {
        c"aof-write-alone"
    };
    runtime::latency_add_sample_if_needed(event, elapsed);
    runtime::latency_add_sample_if_needed(c"aof-write", elapsed);
}

/// A write that failed or fell short. Under `always` the process exits; otherwise the
/// unwritten data stays buffered, writes are refused (`aof_last_write_status`) until a
/// later flush succeeds, and a partial write is undone with ftruncate when possible.
fn handle_failed_write(result: Result<usize, Errno>, expected: usize, fsync_policy: FsyncPolicy) {
    let now = server::unixtime();
    let can_log = now - LAST_WRITE_ERROR_LOG.load(Ordering::Relaxed) > WRITE_ERROR_LOG_INTERVAL;
    if can_log {
        LAST_WRITE_ERROR_LOG.store(now, Ordering::Relaxed);
    }

    let mut partially_written = 0;
    match result {
        Err(errno) => {
            if can_log {
                server_log!(
                    Level::Warning,
                    "Error writing to the AOF file: {}",
                    errno.message()
                );
            }
            server::set_aof_last_write_errno(errno.0);
        }
        Ok(written) => {
            if can_log {
                server_log!(
                    Level::Warning,
                    "Short write while writing to the AOF file: (nwritten={written}, expected={expected})"
                );
            }
            let (fd, good_size) = (server::aof_fd(), server::aof_last_incr_size());
            match sys::ftruncate(fd, good_size) {
                Ok(()) => {}
                Err(errno) => {
                    if can_log {
                        server_log!(
                            Level::Warning,
                            "Could not remove short write from the append-only file.  Redis may \
                             refuse to load the AOF the next time it starts.  ftruncate: {}",
                            errno.message()
                        );
                    }
                    partially_written = written;
                }
            }
            server::set_aof_last_write_errno(libc::ENOSPC);
        }
    }

    if fsync_policy == FsyncPolicy::Always {
        server_log!(
            Level::Warning,
            "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
        );
        process::exit(1);
    }
    server::set_aof_last_write_status(Status::Err);
    server::set_aof_current_size(server::aof_current_size() + partially_written as libc::off_t);
    server::set_aof_last_incr_size(server::aof_last_incr_size() + partially_written as libc::off_t);
    if partially_written > 0 {
        // The bytes already on disk leave the buffer; the rest is retried. They belong to
        // the open checksummed range, which the rest continues.
        let fd = server::aof_fd();
        aof_buf::with_bytes(|bytes| crate::aof::checksum::wrote(fd, &bytes[..partially_written]));
        aof_buf::drop_front(partially_written);
    }
}

/// The fsync half of a flush: none while a child does I/O and `no-appendfsync-on-rewrite`
/// is set; `always` fsyncs now (exiting on failure); `everysec` hands it to the bio thread
/// once a second.
fn fsync_by_policy(fsync_policy: FsyncPolicy, sync_in_progress: bool) {
    if server::aof_no_fsync_on_rewrite() != 0 && runtime::has_active_child_process() {
        return;
    }
    if fsync_policy == FsyncPolicy::Always {
        let fd = server::aof_fd();
        let started = runtime::latency_start();
        if let Err(errno) = sys::fdatasync(fd) {
            server_log!(
                Level::Warning,
                "Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...",
                errno.message()
            );
            process::exit(1);
        }
        let elapsed = runtime::latency_end(started);
        runtime::latency_add_sample_if_needed(c"aof-fsync-always", elapsed);
        server::set_aof_last_incr_fsync_offset(server::aof_last_incr_size());
        server::set_aof_last_fsync(server::mstime());
        if fsync_health::offsets_count() {
            server::set_fsynced_reploff_pending(server::master_repl_offset());
        }
    } else if fsync_policy == FsyncPolicy::Everysec {
        let (due, fd) = (
            server::mstime() - server::aof_last_fsync() >= 1000,
            server::aof_fd(),
        );
        if !due {
            return;
        }
        if !sync_in_progress {
            background_fsync(fd);
            server::set_aof_last_incr_fsync_offset(server::aof_last_incr_size());
        }
        server::set_aof_last_fsync(server::mstime());
    }
}

//! Checksummed AOF ranges (`aof-checksum`, issue #31): what touches Redis of
//! [`aof_core::checksum`]. The write path's annotations (a `begin` before a file's first
//! checksummed bytes, a closing line after each write under `appendfsync always` and
//! once a second otherwise), and the loader's side: the torn-tail plan read off a file's
//! last bytes before its replay, and the log lines of a failure and of a torn tail.

use aof_core::checksum::{self, Digest, Failure, FailureKind, RangeWriter, TailPlan};
use aof_glue::log::{Level, Line};
use aof_glue::server::FsyncPolicy;
use aof_glue::sys::{self, Errno};
use aof_glue::{config, process, server};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

/// The writer's ranges. The write path runs on the main thread only; the lock is there
/// for the type system and is never contended.
static WRITER: Mutex<RangeWriter> = Mutex::new(RangeWriter::new());

fn writer() -> std::sync::MutexGuard<'static, RangeWriter> {
    WRITER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Before the buffer is written to `fd`: writes the `begin` line when checksums are on
/// and no range is open in this file. A failed write of it leaves the range unbegun
/// (the next write tries again) and is logged.
pub fn before_write(fd: i32) {
    if fd < 0 {
        return;
    }
    let size = server::aof_last_incr_size() as u64;
    if !writer().needs_begin(config::aof_checksum(), fd, size) {
        return;
    }
    if write_line(fd, checksum::BEGIN).is_ok() {
        writer().begun(fd, server::aof_last_incr_size() as u64, server::mstime());
    }
}

/// `bytes` of the buffer reached the file (all of them, or those a short write left that
/// could not be cut off again).
pub fn wrote(fd: i32, bytes: &[u8]) {
    writer().wrote(bytes, fd, server::aof_last_incr_size() as u64);
}

/// After a write (or, with nothing to write, when the fsync policy's timer runs): the
/// closing line, when one is due. Under `always` a closing line that cannot be written
/// ends the process, as a failed write does, since the reply would leave unverified.
pub fn close_if_due(fd: i32, policy: FsyncPolicy) {
    if fd < 0 {
        return;
    }
    let size = server::aof_last_incr_size() as u64;
    let now = server::mstime();
    let due = writer().close_due(
        config::aof_checksum(),
        policy == FsyncPolicy::Always,
        fd,
        size,
        now,
    );
    let Some((digest, end)) = due else {
        return;
    };
    let mut line = [0u8; checksum::LINE_MAX];
    let len = checksum::write_close(digest, end, &mut line);
    match write_line(fd, &line[..len]) {
        Ok(()) => writer().closed(end, fd, server::aof_last_incr_size() as u64, now),
        Err(()) if policy == FsyncPolicy::Always => {
            Line::new(
                "Can't write the AOF checksum annotation when the AOF fsync policy is 'always'. \
                 Exiting...",
            )
            .write(Level::Warning);
            process::exit(1);
        }
        // The range stays open; its closing line is written after the next write.
        Err(()) => {}
    }
}

/// Writes one annotation line whole, counting it in the AOF's sizes; a failed or short
/// write is cut off again, so the next bytes never follow a partial line.
fn write_line(fd: i32, line: &[u8]) -> Result<(), ()> {
    let good_size = server::aof_last_incr_size();
    match crate::aof::write::write_all(fd, line) {
        Ok(n) if n == line.len() => {
            server::set_aof_current_size(server::aof_current_size() + n as libc::off_t);
            server::set_aof_last_incr_size(good_size + n as libc::off_t);
            Ok(())
        }
        result => {
            let why = match result {
                Err(errno) => errno.message(),
                Ok(n) => format!("short write ({n} of {} bytes)", line.len()),
            };
            if let Err(errno) = sys::ftruncate(fd, good_size) {
                Line::new("Could not remove a partial AOF checksum annotation: ")
                    .text(&errno.message())
                    .write(Level::Warning);
            }
            Line::new("Error writing an AOF checksum annotation: ")
                .text(&why)
                .write(Level::Warning);
            Err(())
        }
    }
}

/// The torn-tail plan of a file whose commands start at `start` ([`checksum::plan_tail`]
/// over its last [`checksum::TAIL_SCAN`] bytes). A file that cannot be read here gets no
/// plan: its replay then meets the same error and reports it as upstream does.
pub fn plan(file: &File, start: u64, file_len: u64) -> Option<TailPlan> {
    if file_len <= start {
        return None;
    }
    let tail_offset = file_len.saturating_sub(checksum::TAIL_SCAN).max(start);
    let mut tail = vec![0; (file_len - tail_offset) as usize];
    file.read_exact_at(&mut tail, tail_offset).ok()?;
    // Cheap for a file without checksums: one search of its last bytes finds no tag.
    checksum::plan_tail(&tail, tail_offset, start, file_len, |offset, len| {
        range_crc(file, offset, len)
    })
    .ok()?
}

/// The CRC64 of the file's bytes `offset..offset + len`, read in blocks.
fn range_crc(file: &File, offset: u64, len: u64) -> Result<u64, Errno> {
    let mut digest = Digest::default();
    let mut buf = vec![0; (1 << 20).min(len as usize)];
    let mut at = offset;
    while at < offset + len {
        let n = (offset + len - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| Errno::from_io_or_eio(&e))?;
        digest.update(&buf[..n]);
        at += n as u64;
    }
    Ok(digest.crc)
}

/// The line of a torn tail left out of the replay.
pub fn torn_tail_line(name: &[u8], boundary: u64) {
    Line::new("!!! The append only file ")
        .bytes(name)
        .text(&format!(
            " ends with a torn write after its last verified checksum range (offset \
             {boundary}): the bytes after it are not replayed !!!"
        ))
        .write(Level::Warning);
}

/// The line of a checksum failure that verified data follows: corruption, loading fails
/// and the files are left as they are.
pub fn corruption_line(path: &[u8], failure: Failure) {
    let what = match failure.kind {
        FailureKind::Mismatch => "does not match its checksum",
        FailureKind::NoOpenRange => "has a checksum annotation with no range begun before it",
        FailureKind::Unreadable => "cannot be read as commands",
        FailureKind::Misframed => "does not end at its checksum annotation",
    };
    Line::new("Checksum failure in the append only file ")
        .bytes(path)
        .text(&format!(
            " at offset {}: the range from offset {} {what}, and verified data follows it, so \
             this is corruption, not a torn write. The files are left as they are: make a \
             backup of the AOF directory and restore the damaged data from a replica or a \
             backup.",
            failure.at, failure.range_start
        ))
        .write(Level::Warning);
}

/// The line of a command that cannot run before the file's last verified boundary.
pub fn unrunnable_line(path: &[u8], at: u64, boundary: u64) {
    Line::new("Checksum failure in the append only file ")
        .bytes(path)
        .text(&format!(
            " at offset {at}: a command before the last verified checksum range (which ends at \
             offset {boundary}) cannot be run, so this is corruption, not a torn write. The \
             files are left as they are."
        ))
        .write(Level::Warning);
}

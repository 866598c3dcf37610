//! The files in `appenddirname`: naming, the manifest on disk, open/upgrade/delete.

use crate::glue::{bindings, c_aof, manifest, process, sds, server};

const AOF_ON: i32 = bindings::AOF_ON as i32;
const AOF_OK: i32 = bindings::AOF_OK as i32;

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

/// Upstream's `updateCurIncrAofEndOffset`: records the replication offset at the end of
/// the current INCR file in the manifest (best effort: the offset is advisory and can be
/// recomputed from the start offset and the file size).
pub fn record_incr_end_offset() {
    if server::with(|s| s.aof_state) != AOF_ON {
        return;
    }
    let offset = server::with(|s| s.master_repl_offset);
    let updated = manifest::update_last_incr(|info| {
        info.end_offset = offset;
        true
    });
    if updated.is_some() {
        c_aof::persist_server_manifest();
    }
}

/// Upstream's `updateReplOffsetAndResetEndOffset`: after loading, continue the
/// replication offset from where the last INCR file ended, so a new INCR file never starts
/// below it. A recorded end offset is consumed (and the manifest must be persisted, or
/// the next start would reuse a stale offset: the process exits as upstream does).
pub fn restore_repl_offset_from_last_incr() {
    if server::with(|s| s.aof_state) != AOF_ON {
        return;
    }
    let mut recorded_end = None;
    let mut computed = None;
    manifest::update_last_incr(|info| {
        if info.end_offset != -1 {
            recorded_end = Some(info.end_offset);
            info.end_offset = -1;
            true
        } else {
            let start = if info.start_offset == -1 {
                0
            } else {
                info.start_offset
            };
            computed = Some(start + c_aof::file_size(info));
            false
        }
    });
    if let Some(offset) = recorded_end {
        server::with(|s| s.master_repl_offset = offset);
        if c_aof::persist_server_manifest() != AOF_OK {
            process::exit(1);
        }
    } else if let Some(offset) = computed {
        server::with(|s| s.master_repl_offset = offset);
    }
}
